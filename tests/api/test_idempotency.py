"""`Idempotency-Key`: a retried POST answers what the first did, and does it once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

Headers = dict[str, str]


@pytest.fixture
def h(token_for: Any, workspace_id: uuid.UUID) -> Headers:
    headers: Headers = token_for(workspace_id, "admin")
    return headers


def commit_body(text: str) -> dict[str, Any]:
    return {"message": "m", "changes": [{"op": "put", "path": "a.md", "content": text}]}


async def log_length(api: Any, h: Headers) -> int:
    return len((await (await api.get("/api/branches/main/log", headers=h)).json())["commits"])


async def test_a_retried_commit_is_replayed_not_repeated(api: Any, h: Headers) -> None:
    keyed = {**h, "Idempotency-Key": "commit-1"}
    first = await api.post("/api/branches/main/commits", json=commit_body("one"), headers=keyed)
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    again = await api.post("/api/branches/main/commits", json=commit_body("one"), headers=keyed)
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    assert await log_length(api, h) == 2  # the root commit and one commit, not two


async def test_the_same_key_with_another_request_is_422(api: Any, h: Headers) -> None:
    keyed = {**h, "Idempotency-Key": "k"}
    assert (await api.post("/api/branches/main/commits", json=commit_body("one"), headers=keyed)).status == 201
    other = await api.post("/api/branches/main/commits", json=commit_body("two"), headers=keyed)
    body = await other.json()
    assert other.status == 422 and body["error"]["code"] == "idempotency_mismatch"
    other_path = await api.post("/api/branches", json={"name": "x"}, headers=keyed)
    assert other_path.status == 422
    assert await log_length(api, h) == 2


async def test_concurrent_requests_with_one_key_commit_once(api: Any, h: Headers) -> None:
    keyed = {**h, "Idempotency-Key": "race"}
    answers = await asyncio.gather(*(api.post("/api/branches/main/commits", json=commit_body("same"),
                                              headers=keyed) for _ in range(8)))
    bodies = [await a.json() for a in answers]
    assert {a.status for a in answers} == {201}
    assert all(b == bodies[0] for b in bodies)
    assert await log_length(api, h) == 2


async def test_a_failed_request_stores_nothing(api: Any, h: Headers) -> None:
    keyed = {**h, "Idempotency-Key": "fails-first"}
    stale = {**commit_body("x"), "expected_head": "0" * 64}
    assert (await api.post("/api/branches/main/commits", json=stale, headers=keyed)).status == 409
    assert (await api.post("/api/branches/main/commits", json=stale, headers=keyed)).status == 409
    assert (await api.post("/api/branches/main/commits", json=commit_body("x"), headers=keyed)).status == 201


async def test_every_creating_post_replays(api: Any, h: Headers) -> None:
    async def twice(path: str, body: dict[str, Any], key: str) -> Any:
        keyed = {**h, "Idempotency-Key": key}
        one = await api.post(path, json=body, headers=keyed)
        two = await api.post(path, json=body, headers=keyed)
        assert one.status == two.status and two.headers.get("Idempotent-Replayed") == "true", await two.text()
        assert await one.json() == await two.json()
        return await one.json()

    await api.post("/api/branches/main/commits", json=commit_body("base"), headers=h)
    await twice("/api/branches", {"name": "side"}, "b")
    await api.post("/api/branches/side/commits", json={"message": "s", "changes": [
        {"op": "put", "path": "side.md", "content": "side"}]}, headers=h)
    merged = await twice("/api/merge", {"source": "side", "target": "main"}, "m")
    assert merged["result"] == "merged"
    site = await twice("/api/sites", {"name": "S", "slug": "s", "theme": "book", "auto_deploy": False}, "s")
    dep = await twice("/api/deployments", {"site_id": site["id"]}, "d")
    listed = await (await api.get(f"/api/deployments?site_id={site['id']}", headers=h)).json()
    assert [d["id"] for d in listed["deployments"]] == [dep["id"]]
    sites = await (await api.get("/api/sites", headers=h)).json()
    assert len(sites["sites"]) == 1


async def test_keys_belong_to_their_workspace(api: Any, token_for: Any, database: Any) -> None:
    from openbook.db.workspaces import create_workspace

    for _ in range(2):
        ws = await create_workspace(database, f"idem-{uuid.uuid4().hex[:8]}", "idem")
        keyed = {**token_for(ws.id, "writer"), "Idempotency-Key": "shared"}
        resp = await api.post("/api/branches/main/commits", json=commit_body("mine"), headers=keyed)
        # The second workspace's request runs: another tenant's stored answer is invisible to it.
        assert resp.status == 201 and "Idempotent-Replayed" not in resp.headers


async def test_a_bad_key_is_400(api: Any, h: Headers) -> None:
    resp = await api.post("/api/branches/main/commits", json=commit_body("x"),
                          headers={**h, "Idempotency-Key": "k" * 256})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_request"
    assert await log_length(api, h) == 1
