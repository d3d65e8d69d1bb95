"""The asyncpg pool: explicit sizes and timeouts, a bounded start-up wait."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg

from openbook.config import DatabaseSettings
from openbook.errors import Unavailable

Pool = asyncpg.Pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(settings: DatabaseSettings) -> Any:
    """Open the pool, retrying until `startup_wait_s`; raise Unavailable after that."""
    deadline = time.monotonic() + settings.startup_wait_s
    delay = 0.2
    while True:
        try:
            return await asyncpg.create_pool(
                settings.dsn,
                min_size=settings.pool_min,
                max_size=settings.pool_max,
                command_timeout=settings.command_timeout_s,
                timeout=settings.connect_timeout_s,
                init=_init_connection,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            if time.monotonic() + delay > deadline:
                raise Unavailable(f"PostgreSQL did not answer within {settings.startup_wait_s:.0f}s: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ping(pool: Any) -> None:
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1", timeout=2)
