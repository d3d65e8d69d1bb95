"""Real PostgreSQL and Redis for the whole suite, started once per session.

The servers are processes, so they can be session-scoped; pools and clients
are opened per test inside the test's own event loop (pytest-asyncio 1.x).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from openbook.db.migrate import apply_migrations
from openbook.devstack import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def stack_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="openbook-tests-"))
    os.chmod(path, 0o755)  # the postgres OS user must reach its data folder
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(stack_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(stack_dir / "pg").start()
    apply_migrations(server.dsn)
    yield server
    server.stop("immediate")


@pytest.fixture(scope="session")
def redis_server(stack_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(stack_dir / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def db_dsn(pg_server: PostgresServer) -> str:
    return pg_server.dsn


@pytest.fixture
async def db_pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    from openbook.db.pool import create_pool
    from openbook.config import DatabaseSettings

    pool = await create_pool(DatabaseSettings(dsn=db_dsn, pool_min=1, pool_max=20))
    yield pool
    await pool.close()


@pytest.fixture
async def workspace_id(db_pool: asyncpg.Pool) -> uuid.UUID:
    """A fresh workspace per test: tenancy keeps tests out of each other's data."""
    from openbook.db.workspaces import create_workspace

    ws = await create_workspace(db_pool, f"t-{uuid.uuid4().hex[:12]}", "test workspace")
    return ws.id
