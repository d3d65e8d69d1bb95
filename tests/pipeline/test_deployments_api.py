"""Deployments through the real API: creation + outbox + XADD, reads, live switches, Redis down."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openbook.dev.stack import RedisServer
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Headers, Stack, ws_of


async def test_create_resolves_ref_and_publishes(admin: Api, client: Any, token: Callable[..., Headers],
                                                 ws: uuid.UUID, stack: Stack, sql: Any) -> None:
    first = await admin.commit(SAMPLE_BOOK)
    await admin.call("POST", "/api/branches", 201, json={"name": "draft", "from": "main"})
    draft_head = await admin.commit({"extra.md": "# Extra\n"}, branch="draft")
    site = await admin.site()
    publisher = Api(client, token(ws, "publisher"))
    dep = await publisher.deploy(site["id"])
    assert dep == {"id": dep["id"], "status": "pending", "commit": first}
    assert (await publisher.deploy(site["id"], "draft"))["commit"] == draft_head
    assert (await publisher.deploy(site["id"], first))["commit"] == first

    listed = await publisher.call("GET", f"/api/deployments?site_id={site['id']}", 200)
    assert len(listed["deployments"]) == 3 and listed["deployments"][-1]["id"] == dep["id"]
    newest = listed["deployments"][0]
    assert set(newest) >= {"id", "site_id", "commit", "status", "error", "stats", "conditions", "created_at",
                           "finished_at", "trigger", "branch", "target"}
    assert newest["status"] == "pending" and newest["error"] is None and newest["finished_at"] is None
    assert (newest["trigger"], newest["target"]) == ("manual", "live")
    assert [c["status"] for c in newest["conditions"]] == ["pending"]
    assert set(newest["conditions"][0]) == {"status", "reason", "at"}
    # Coalescing: the two older ones never started building, so the newest superseded them.
    full = await publisher.deployment(dep["id"])
    assert full["status"] == "superseded" and full["finished_at"] is not None
    assert [c["status"] for c in full["conditions"]] == ["pending", "superseded"]

    with stack.redis() as r:
        entries = r.xrange("deployments_stream")
    assert [e[1]["deployment_id"] for e in entries] == [d["id"] for d in reversed(listed["deployments"])]
    unpublished = await sql.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    assert unpublished == 0
    audit = await admin.call("GET", "/api/audit", 200)
    assert [e["action"] for e in audit["entries"]].count("deployment.created") == 3


@pytest.mark.parametrize("body, status", [
    ({}, 400),
    ({"site_id": "nope"}, 400),
    ({"site_id": 5}, 400),
    ({"site_id": str(uuid.uuid4())}, 404),
    ("SITE", 400),  # replaced by a real site id with an unknown ref
])
async def test_bad_deployment_requests(admin: Api, body: Any, status: int, sql: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    if body == "SITE":
        body = {"site_id": site["id"], "ref": "no-such-branch"}
    err = await admin.call("POST", "/api/deployments", status, json=body)
    assert err["error"]["code"] in ("invalid_request", "not_found")
    assert await sql.fetchval("SELECT count(*) FROM deployments") == 0
    assert await sql.fetchval("SELECT count(*) FROM outbox") == 0


async def test_roles_for_deployments(admin: Api, client: Any, token: Callable[..., Headers],
                                     ws: uuid.UUID) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    for role in ("reader", "writer"):
        api = Api(client, token(ws, role))
        await api.call("POST", "/api/deployments", 403, json={"site_id": site["id"]})
        await api.call("POST", f"/api/sites/{site['id']}/live", 403,
                       json={"deployment_id": str(uuid.uuid4())})
    reader = Api(client, token(ws, "reader"))
    await reader.call("GET", f"/api/deployments?site_id={site['id']}", 200)
    await reader.call("GET", "/api/deployments?site_id=zzz", 400)
    await reader.call("GET", f"/api/deployments/{uuid.uuid4()}", 404)
    await reader.call("GET", "/api/deployments/123", 404)


async def test_live_switch_rollback_and_refusals(admin: Api, stack: Stack, database: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site(auto_deploy=False)
    deployments = []
    for edit in (None, {"index.md": "# Second edition\n"}, {"bad.md": "---\ntitle: [unclosed\n---\n# Bad\n"}):
        if edit is not None:
            await admin.commit(edit)
        deployments.append(dep := await admin.deploy(site["id"]))
        # Built before the next one is created: a pending one would be superseded.
        assert (await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))).status in ("deployed", "failed")
    old, new, failed = deployments
    pending = await admin.deploy(site["id"])

    # Pending cannot go live.
    live_url = f"/api/sites/{site['id']}/live"
    err = await admin.call("POST", live_url, 409, json={"deployment_id": pending["id"]})
    assert err["error"]["code"] == "conflict"

    done = {d: await admin.deployment(d) for d in (old["id"], new["id"], failed["id"])}
    assert done[old["id"]]["status"] == "deployed" and done[new["id"]]["status"] == "deployed"
    assert done[failed["id"]]["status"] == "failed" and "bad.md" in done[failed["id"]]["error"]
    assert [c["status"] for c in done[new["id"]]["conditions"]] == ["pending", "building", "deployed"]
    stats = done[new["id"]]["stats"]
    assert stats["pages"] == 3 and stats["files"] > 3 and stats["bytes"] > 0 and stats["duration_ms"] >= 0

    site_dir = stack.storage / ws_of(admin) / site["id"]
    assert os.readlink(site_dir / "live") == new["commit"]
    assert (await admin.call("GET", f"/api/sites/{site['id']}", 200))["live_deployment_id"] == new["id"]

    err = await admin.call("POST", f"/api/sites/{site['id']}/live", 409, json={"deployment_id": failed["id"]})
    assert err["error"]["details"]["status"] == "failed"
    await admin.call("POST", f"/api/sites/{site['id']}/live", 404, json={"deployment_id": str(uuid.uuid4())})
    await admin.call("POST", f"/api/sites/{site['id']}/live", 400, json={"deployment_id": "x"})
    other_site = await admin.site("other")
    await admin.call("POST", f"/api/sites/{other_site['id']}/live", 400, json={"deployment_id": old["id"]})
    assert os.readlink(site_dir / "live") == new["commit"]

    # Rollback, then forward again: instant, no rebuild.
    body = await admin.call("POST", f"/api/sites/{site['id']}/live", 200, json={"deployment_id": old["id"]})
    assert body["live_deployment_id"] == old["id"]
    assert os.readlink(site_dir / "live") == old["commit"]
    assert b"Welcome" in (site_dir / "live" / "index.html").read_bytes()
    await admin.call("POST", f"/api/sites/{site['id']}/live", 200, json={"deployment_id": new["id"]})
    assert b"Second edition" in (site_dir / "live" / "index.html").read_bytes()
    actions = [e["action"] for e in (await admin.call("GET", "/api/audit", 200))["entries"]]
    assert actions.count("live.switched") == 4 and actions.count("deployment.finished") == 3


async def test_redis_down_does_not_fail_the_api(aiohttp_client: Any, pg_server: Any, stack: Stack, sql: Any,
                                                token: Callable[..., Headers], ws: uuid.UUID,
                                                tmp_path: Path) -> None:
    from openbook.server import create_app

    private = RedisServer(tmp_path / "redis").start()
    servers = [private]
    try:
        stack.redis_addr = private.addr
        client = await aiohttp_client(create_app(stack.settings()))
        api = Api(client, token(ws, "admin"))
        await api.commit(SAMPLE_BOOK)
        site = await api.site()
        private.kill()
        dep = await api.deploy(site["id"])  # accepted: the row and its outbox row are the record
        assert dep["status"] == "pending"
        assert await sql.fetchval("SELECT published_at FROM outbox WHERE deployment_id = $1",
                                  uuid.UUID(dep["id"])) is None
        health = await client.get("/health")
        assert health.status == 500 and (await health.json())["checks"]["postgres"] == "ok"

        # Same address, empty: the API's client reconnects by itself.
        servers.append(RedisServer(tmp_path / "redis", port=private.port).start())
        deadline = time.monotonic() + 20
        with stack.redis() as r:
            while not r.exists("deployments_stream"):
                assert time.monotonic() < deadline, "the outbox relay never re-sent the deployment"
                await asyncio.sleep(0.2)
            ids = [e[1]["deployment_id"] for e in r.xrange("deployments_stream")]
        assert dep["id"] in ids
    finally:
        for server in servers:
            server.stop()
