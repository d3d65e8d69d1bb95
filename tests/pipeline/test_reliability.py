"""Reliability with real processes and real signals: kill -9, two workers, Redis and PostgreSQL restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openbook.db.migrate import apply_migrations
from openbook.dev.stack import PostgresServer, RedisServer
from openbook.fs.storage import MANIFEST
from tests.pipeline.conftest import Api, Headers, Stack, StartWorker, ws_of
from tests.pipeline.test_worker import big_book, wait_status


def assert_live_complete(site_dir: Path) -> None:
    """`live` is absent or points at a folder that was renamed into place complete."""
    try:
        target = os.readlink(site_dir / "live")
    except FileNotFoundError:
        return
    assert not target.startswith(".tmp-"), target
    assert (site_dir / target / MANIFEST).is_file(), f"live -> {target} is incomplete"
    assert (site_dir / target / "index.html").is_file()


async def assert_all_terminal(sql: Any) -> dict[str, int]:
    rows = await sql.fetch("SELECT status, count(*) AS n FROM deployments GROUP BY status")
    counts = {r["status"]: r["n"] for r in rows}
    assert not counts.get("pending") and not counts.get("building"), counts
    return counts


async def wait_all_terminal(sql: Any, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        left = await sql.fetchval("SELECT count(*) FROM deployments WHERE status IN ('pending', 'building')")
        if left == 0:
            return await assert_all_terminal(sql)
        if time.monotonic() > deadline:
            rows = await sql.fetch("SELECT id, status, attempts, lease_owner, lease_until FROM deployments"
                                    " WHERE status IN ('pending', 'building')")
            raise AssertionError(f"{left} deployment(s) stuck: {[dict(r) for r in rows]}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def keep_deploying(api: Api, site_id: str, every_s: float,
                         commit_every: int = 3) -> AsyncIterator[list[str]]:
    """Create deployments in the background (a new commit every few) until the block ends."""
    created: list[str] = []

    async def loop() -> None:
        n = 0
        while True:
            if n % commit_every == 0:
                await api.commit({f"notes/n{n}.md": f"# Note {n}\n\nwritten at {time.time()}\n"})
            created.append((await api.deploy(site_id))["id"])
            n += 1
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop())
    try:
        yield created
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.slow
async def test_kill_9_mid_build_twenty_times(admin: Api, workers: StartWorker,
                                             stack: Stack, sql: Any) -> None:
    rng = random.Random(7)
    await admin.commit(big_book(200))
    site = await admin.site()
    site_dir = stack.storage / ws_of(admin) / site["id"]
    kills_during_build = 0
    building_by = ("SELECT true FROM deployments WHERE status = 'building' AND lease_owner = $1"
                   " AND lease_until > clock_timestamp() LIMIT 1")
    async with keep_deploying(admin, site["id"], 0.25, commit_every=1) as created:
        for round_no in range(20):
            # Mostly the same name (its own pending entries are re-read at start), sometimes
            # another (the dead one's entries are reclaimed with XAUTOCLAIM).
            worker = workers("w1" if round_no % 4 else f"w{round_no}")
            if rng.random() < 0.8:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not await sql.fetchval(building_by, worker.name):
                    await asyncio.sleep(0.01)
                await asyncio.sleep(rng.uniform(0, 0.15))
            else:
                await asyncio.sleep(rng.uniform(0.2, 1.5))
            if await sql.fetchval(building_by, worker.name):
                kills_during_build += 1
            worker.kill9()
            assert_live_complete(site_dir)
    final = workers("w1")
    counts = await wait_all_terminal(sql, 90)
    assert_live_complete(site_dir)
    print(f"kills during a build: {kills_during_build}/20, deployments: {len(created)}, outcome: {counts}")
    assert kills_during_build >= 8, kills_during_build
    # Every deployment built or was superseded by a newer one (coalescing); none failed, none is lost.
    assert len(created) >= 15 and set(counts) <= {"deployed", "superseded"} and counts["deployed"] >= 1, counts
    # Live ends on the newest commit: the newest deployment of the site always builds.
    newest = await sql.fetchrow("SELECT status, commit_id FROM deployments ORDER BY created_at DESC LIMIT 1")
    assert newest["status"] == "deployed" and os.readlink(site_dir / "live") == newest["commit_id"]
    assert final.alive()
    with stack.redis() as r:
        deadline = time.monotonic() + 10
        while r.xpending("deployments_stream", "deployment_group")["pending"]:
            assert time.monotonic() < deadline, "entries left unacknowledged"
            await asyncio.sleep(0.2)


async def test_two_workers_process_each_deployment_once(admin: Api, workers: StartWorker,
                                                        sql: Any, stack: Stack) -> None:
    await admin.commit(big_book(40))
    ids = []
    for i in range(16):
        # One deployment per site: none supersedes another, so all sixteen build.
        site = await admin.site(f"s{i}", auto_deploy=False)
        ids.append((await admin.deploy(site["id"]))["id"])
    # One slot each: a worker reads only what its free slots can start, so the other
    # worker gets the rest of the burst and the two really compete for every entry.
    stack.extra_env["WORKER_CONCURRENCY"] = "1"
    first, second = workers("alpha"), workers("beta")
    done = await admin.wait_terminal(ids, 90)
    assert {d["status"] for d in done.values()} == {"deployed"}, first.output() + second.output()
    builders = []
    for dep in done.values():
        building = [c for c in dep["conditions"] if c["status"] == "building"]
        assert len(building) == 1, dep["conditions"]
        builders.append(building[0]["reason"].split()[-1])
        assert dep["attempts"] == 1
    assert set(builders) == {"alpha", "beta"}, builders
    finished = await sql.fetchval("SELECT count(*) FROM audit_log WHERE action = 'deployment.finished'")
    assert finished == len(ids)
    assert first.terminate() == 0 and second.terminate() == 0


@pytest.fixture
def private_dir() -> Any:
    # Not under pytest's tmp_path: the postgres OS user must be able to reach it.
    path = Path(tempfile.mkdtemp(prefix="openbook-pl-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_redis_killed_and_restarted_empty(aiohttp_client: Any, stack: Stack, sql: Any, ws: uuid.UUID,
                                                token: Callable[..., Headers], workers: StartWorker,
                                                private_dir: Path) -> None:
    from openbook.server import create_app

    servers = [RedisServer(private_dir / "redis").start()]
    try:
        stack.redis_addr = servers[0].addr
        client = await aiohttp_client(create_app(stack.settings()))
        api = Api(client, token(ws, "admin"))
        await api.commit(big_book(30))
        site = await api.site()
        workers("w1")
        async with keep_deploying(api, site["id"], 0.15) as created:
            await asyncio.sleep(1.5)
            servers[0].kill()
            await asyncio.sleep(2.0)  # deployments keep being accepted meanwhile
            servers.append(RedisServer(private_dir / "redis", port=servers[0].port).start())
            await asyncio.sleep(1.5)
        counts = await wait_all_terminal(sql, 60)
        # Each built or was superseded by a newer one; the newest built; none failed or stayed queued.
        assert set(counts) <= {"deployed", "superseded"} and sum(counts.values()) >= len(created), counts
        newest = await sql.fetchval("SELECT status FROM deployments ORDER BY created_at DESC LIMIT 1")
        assert newest == "deployed" and len(created) >= 15
    finally:
        for server in servers:
            server.stop()


async def test_postgres_restarted_under_worker_and_api(aiohttp_client: Any, stack: Stack,
                                                       workers: StartWorker,
                                                       private_dir: Path) -> None:
    from openbook.config import DatabaseSettings
    from openbook.db.database import Database
    from openbook.db.workspaces import create_workspace
    from openbook.server import create_app
    from tests.pipeline.conftest import JWT_SECRET

    pg = PostgresServer(private_dir / "pg").start()
    try:
        apply_migrations(pg.dsn)
        stack.dsn = pg.dsn
        local = await Database.open(DatabaseSettings(dsn=pg.dsn, pool_min=1, pool_max=2))
        workspace = await create_workspace(local, "pgrestart", "pg restart")
        await local.close()
        settings = stack.settings()
        assert settings.jwt is not None and settings.jwt.key == JWT_SECRET
        from openbook.api.auth import mint_token

        jwt = mint_token(settings.jwt, workspace.id, "t", ["admin"], 600, time.time())
        headers = {"Authorization": f"Bearer {jwt}"}
        client = await aiohttp_client(create_app(settings))
        api = Api(client, headers)
        await api.commit(big_book(300))
        site = await api.site()
        worker = workers("w1")
        first = await api.deploy(site["id"])
        await wait_status(api, first["id"], {"building", "deployed"}, 30)
        pg.stop("fast")  # under a build (or right after it)
        await asyncio.sleep(1.0)
        resp = await client.post("/api/deployments", json={"site_id": site["id"]}, headers=headers)
        assert resp.status == 503 and "Traceback" not in await resp.text()
        assert (await resp.json())["error"]["code"] == "unavailable"
        assert int(resp.headers["Retry-After"]) > 0
        health = await client.get("/health")
        assert health.status == 500 and (await health.json())["failed"] == ["postgres"]
        pg.start()
        deadline = time.monotonic() + 30
        while True:
            resp = await client.post("/api/deployments", json={"site_id": site["id"]}, headers=headers)
            if resp.status == 202:
                second = await resp.json()
                break
            assert time.monotonic() < deadline, f"API did not recover: {resp.status} {await resp.text()}"
            await asyncio.sleep(0.3)
        done = await api.wait_terminal([first["id"], second["id"]], 60)
        # The second always builds; the first too, unless the outage interrupted it and the second,
        # newer, existed when it was taken up again (then it is superseded, never failed).
        assert done[second["id"]]["status"] == "deployed", (done, worker.output()[-3000:])
        assert done[first["id"]]["status"] in ("deployed", "superseded"), (done, worker.output()[-3000:])
        assert worker.alive()
        health = await client.get("/health")
        assert health.status == 200, await health.text()
    finally:
        pg.stop("immediate")
