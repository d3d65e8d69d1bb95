"""Real PostgreSQL and Redis for the whole suite, started once per session.

The servers are processes, so they can be session-scoped; pools and clients
are opened per test inside the test's own event loop (pytest-asyncio 1.x).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from openbook.api.auth import mint_token
from openbook.config import DatabaseSettings, Settings, load_settings
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.dev.stack import PG_DATABASE, PostgresServer, RedisServer


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
async def database(db_dsn: str) -> AsyncIterator[Database]:
    """The application's database adapter, as the API and worker open it (RLS applies)."""
    db = await Database.open(DatabaseSettings(dsn=db_dsn, pool_min=1, pool_max=20))
    yield db
    await db.close()


@pytest.fixture
async def admin_sql(pg_server: PostgresServer) -> AsyncIterator[asyncpg.Pool]:
    """A superuser pool on the suite's database: for assertions that look past row-level security."""
    pool = await asyncpg.create_pool(pg_server.dsn_for(PG_DATABASE, admin=True), min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def workspace_id(database: Database) -> uuid.UUID:
    """A fresh workspace per test: tenancy keeps tests out of each other's data."""
    from openbook.db.workspaces import create_workspace

    ws = await create_workspace(database, f"t-{uuid.uuid4().hex[:12]}", "test workspace")
    return ws.id


JWT_TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def api_settings(pg_server: PostgresServer, redis_server: RedisServer, tmp_path: Path) -> Settings:
    """Settings for an in-process API on the session's PostgreSQL and Redis."""
    storage = tmp_path / "storage"
    storage.mkdir()
    return load_settings("api", {
        "DB_DSN": pg_server.dsn,
        "REDIS_ADDR": redis_server.addr,
        "REDIS_PASSWORD": "",
        "REDIS_DB": "0",
        "APP_PORT": "8080",
        "STORAGE_PATH": str(storage),
        "JWT_SECRET": JWT_TEST_SECRET,
        "WORKER_CLAIM_IDLE_MS": "2000",
    })


@pytest.fixture
def token_for(api_settings: Settings) -> Callable[..., dict[str, str]]:
    """`token_for(workspace_id, *roles)` → Authorization headers for a fresh token."""

    def make(workspace_id: uuid.UUID, *roles: str, sub: str = "tester") -> dict[str, str]:
        assert api_settings.jwt is not None
        token = mint_token(api_settings.jwt, workspace_id, sub, roles or ("admin",), 3600, time.time())
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def api(aiohttp_client: Any, api_settings: Settings) -> Any:
    """An aiohttp test client on the real app (real PostgreSQL and Redis)."""
    from openbook.server import create_app

    return await aiohttp_client(create_app(api_settings))
