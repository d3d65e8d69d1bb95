"""The Redis side of the pipeline: connection, stream and group names, publishing.

Redis is the signal, PostgreSQL the record: anything sent here can be re-sent
from the outbox, so a lost message is at worst a delay.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from openbook.config import RedisSettings
from openbook.errors import Unavailable

STREAM = "deployments_stream"
GROUP = "deployment_group"
DEAD_LETTER_STREAM = "deployments_dead"
# XREADGROUP blocks this long; the socket timeout must exceed it (redis-py
# otherwise retries the blocked read for ~15 s before raising).
BLOCK_MS = 2000
SOCKET_TIMEOUT_S = 10.0


def connect(settings: RedisSettings) -> aioredis.Redis:
    return aioredis.Redis(
        host=settings.host,
        port=settings.port,
        password=settings.password or None,
        db=settings.db,
        socket_connect_timeout=settings.connect_timeout_s,
        socket_timeout=SOCKET_TIMEOUT_S,
        decode_responses=True,
    )


async def wait_until_ready(client: aioredis.Redis, wait_s: float) -> None:
    """Ping until Redis answers or `wait_s` passes (then Unavailable)."""
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            await client.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise Unavailable(f"Redis did not answer within {wait_s:.0f}s: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ensure_group(client: aioredis.Redis) -> None:
    """Create the stream and its consumer group when missing (also after Redis lost them)."""
    try:
        await client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def publish_deployment(client: aioredis.Redis, deployment_id: str) -> str:
    """XADD one deployment id (never trimmed: MAXLEN would drop unacknowledged entries)."""
    entry_id = await client.xadd(STREAM, {"deployment_id": deployment_id})
    return str(entry_id)
