"""PostgreSQL out of connection slots, for real: the API answers 503, the worker retries, nothing fails.

A private server with a low `max_connections`; the superuser (who keeps
reserved slots) terminates the pools' own connections, then "hog"
connections of the application role take every slot left, so the pools'
next use must open a connection — which PostgreSQL refuses with `too many
connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from openbook.api.auth import mint_token
from openbook.config import DatabaseSettings, Settings, WebhookSettings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.deployments import Deployments
from openbook.db.migrate import apply_migrations
from openbook.db.sites import Sites
from openbook.db.webhooks import Webhooks
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PG_DATABASE, PostgresServer
from openbook.errors import Unavailable
from openbook.pipeline.webhooks import WebhookDelivery
from openbook.store.trees import Change
from openbook.worker.deploy import Context, Verdict, run_deployment

HOG = "hog"


@pytest.fixture(scope="module")
def small_pg() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="openbook-outage-"))
    os.chmod(base, 0o755)  # the postgres OS user must reach its data folder
    server = PostgresServer(base / "pg", max_connections=8).start()  # 5 for us, 3 reserved for superusers
    apply_migrations(server.dsn)
    yield server
    server.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def admin(small_pg: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(small_pg.dsn_for(PG_DATABASE, admin=True))
    yield conn
    await conn.close()


class Hogs:
    """Connections of the application role holding every free slot; `release` gives them back."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conns: list[asyncpg.Connection] = []

    async def take_all(self) -> None:
        while True:
            try:
                self.conns.append(await asyncpg.connect(self.dsn, server_settings={"application_name": HOG}))
            except asyncpg.TooManyConnectionsError:
                return

    async def release(self) -> None:
        for conn in self.conns:
            await conn.close()
        self.conns.clear()


@pytest.fixture
async def hogs(small_pg: PostgresServer) -> AsyncIterator[Hogs]:
    h = Hogs(small_pg.dsn)
    yield h
    await h.release()


async def starve_pools(admin: asyncpg.Connection, hogs: Hogs) -> None:
    """Cut every pool connection of the application role and let hogs take every slot.

    Repeated until no pool connection is left: a pool's background task (the
    outbox relay) may reconnect between a termination and the hogs.
    """
    deadline = time.monotonic() + 15
    pooled = ("SELECT count(*) FROM pg_stat_activity WHERE usename = 'openbook' AND application_name <> $1")
    while True:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE usename = 'openbook' AND application_name <> $1", HOG)
        await hogs.take_all()
        await asyncio.sleep(0.1)  # terminated backends finish exiting; their slots go to the hogs too
        await hogs.take_all()
        if not await admin.fetchval(pooled, HOG):
            return
        assert time.monotonic() < deadline, "the pools kept reconnecting"


def settings_for(small_pg: PostgresServer, base: Settings) -> Settings:
    database = DatabaseSettings(dsn=small_pg.dsn, pool_min=1, pool_max=3, acquire_timeout_s=1.0)
    return dataclasses.replace(base, database=database)


async def test_out_of_connections_is_503_with_retry_after(aiohttp_client: Any, api_settings: Settings,
                                                          small_pg: PostgresServer, admin: asyncpg.Connection,
                                                          hogs: Hogs) -> None:
    from openbook.server import create_app

    settings = settings_for(small_pg, api_settings)
    setup = await Database.open(settings.database)
    ws = (await create_workspace(setup, f"out-{uuid.uuid4().hex[:8]}", "outage")).id
    await setup.close()
    assert settings.jwt is not None
    headers = {"Authorization": f"Bearer {mint_token(settings.jwt, ws, 't', ['admin'], 600, time.time())}"}
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/api/branches", headers=headers)).status == 200

    await starve_pools(admin, hogs)
    for _ in range(3):
        resp = await client.get("/api/branches", headers=headers)
        body = await resp.json()
        assert resp.status == 503, body
        assert body["error"]["code"] == "unavailable" and int(resp.headers["Retry-After"]) > 0
    health = await client.get("/health")
    assert health.status == 500 and (await health.json())["failed"] == ["postgres"]

    await hogs.release()
    resp = await client.get("/api/branches", headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await client.get("/health")).status == 200


async def test_the_worker_retries_and_never_fails_a_deployment_for_it(small_pg: PostgresServer,
                                                                       admin: asyncpg.Connection, hogs: Hogs,
                                                                       tmp_path: Path) -> None:
    db = await Database.open(DatabaseSettings(dsn=small_pg.dsn, pool_min=1, pool_max=2, acquire_timeout_s=1.0))
    try:
        ws = (await create_workspace(db, f"wk-{uuid.uuid4().hex[:8]}", "worker outage")).id
        commit = await ContentRepository(db, ws).commit(
            "main", [Change.put("index.md", b"# Home\n")], "first", "t", None)
        site = await Sites(db, ws).create("t", name="Book", slug="book", theme="book", branch="main", root="")
        dep, _ = await Deployments(db, ws).create("t", site.id, commit.id, "main")
        ctx = Context(db=db, storage=tmp_path, themes_path=(), owner="w-outage")

        await starve_pools(admin, hogs)
        for _ in range(3):
            result = await run_deployment(ctx, dep.id)
            assert result.verdict is Verdict.RETRY and result.transient, result
        assert await admin.fetchval("SELECT status FROM deployments WHERE id = $1", dep.id) == "pending"
        with pytest.raises(Unavailable):
            await db.ping()

        await hogs.release()
        result = await run_deployment(ctx, dep.id)
        assert (result.verdict, result.status) == (Verdict.ACK, "deployed"), result
        assert (tmp_path / str(ws) / str(site.id) / "live" / "index.html").is_file()
    finally:
        await db.close()


async def test_the_webhook_loop_logs_an_outage_and_delivers_after_it(small_pg: PostgresServer,
                                                                     admin: asyncpg.Connection, hogs: Hogs,
                                                                     aiohttp_server: Any,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    received: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(request.headers["X-OpenBook-Delivery"])
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = await aiohttp_server(app)
    db = await Database.open(DatabaseSettings(dsn=small_pg.dsn, pool_min=1, pool_max=2, acquire_timeout_s=1.0))
    loop = asyncio.create_task(WebhookDelivery(db, WebhookSettings(allow_private=True, poll_s=0.1)).run())
    try:
        ws = (await create_workspace(db, f"wh-{uuid.uuid4().hex[:8]}", "webhook outage")).id
        await Webhooks(db, ws).create("t", f"http://127.0.0.1:{server.port}/hook", ("branch.updated",), "s" * 16)
        await starve_pools(admin, hogs)
        # The event is committed by the superuser (whose reserved slots remain) while the loop cannot connect.
        await admin.execute(
            "INSERT INTO webhook_deliveries (id, workspace_id, webhook_id, event, body)"
            " SELECT gen_random_uuid(), workspace_id, id, 'branch.updated', '{}' FROM webhooks WHERE workspace_id = $1",
            ws)
        deadline = time.monotonic() + 30
        while not any("webhook delivery: PostgreSQL is unavailable" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline and not loop.done(), "no outage logged"
            await asyncio.sleep(0.05)
        assert received == [] and not loop.done()

        await hogs.release()
        while not received:
            assert time.monotonic() < deadline + 30 and not loop.done(), "not delivered after the outage"
            await asyncio.sleep(0.05)
        delivery = await admin.fetchval("SELECT id::text FROM webhook_deliveries WHERE workspace_id = $1", ws)
        assert received[0] == delivery
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(loop, 10)  # a loop that ignores its cancellation fails here, not hangs
        await db.close()
