"""Mirror endpoints without a worker: what a mirror may follow, and hooks that do not prove the secret."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

SECRET = "mirror-secret-0123456789"


@pytest.mark.parametrize("body, why", [
    ({"url": "http://127.0.0.1/x.git"}, "127.0.0.1 is a loopback address"),
    ({"url": "https://user:pw@example.org/x.git"}, "credentials in a mirror URL are not kept"),
    ({"url": "git://example.org/x.git"}, "must be https:// or http://"),
    ({"ref": "refs/tags/v1"}, "HEAD or refs/heads/<name>"),
    ({"branch": "a..b"}, "invalid branch name"),
    ({"secret": "short"}, "field 'secret'"),
    ({"mirror": True}, "unknown field"),
])
async def test_what_a_mirror_may_follow(api: Any, token_for: Any, workspace_id: uuid.UUID, body: dict[str, Any],
                                        why: str) -> None:
    valid = {"url": "https://example.org/book.git", "branch": "upstream", "secret": SECRET}
    resp = await api.post("/api/mirrors", json={**valid, **body}, headers=token_for(workspace_id, "admin"))
    assert resp.status == 400 and why in (await resp.json())["error"]["message"]


async def test_hooks_prove_the_secret_and_are_logged(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                     database: Any) -> None:
    from openbook.db.workspaces import create_workspace

    admin = token_for(workspace_id, "admin")
    writer = token_for(workspace_id, "writer")
    denied = await api.post("/api/mirrors", json={"url": "https://example.org/book.git", "branch": "up",
                                                  "secret": SECRET}, headers=writer)
    assert denied.status == 403
    created = await api.post("/api/mirrors", json={"url": "https://example.org/book.git", "branch": "up",
                                                   "secret": SECRET}, headers=admin)
    mirror = await created.json()
    assert created.status == 201 and mirror["hook"] == f"/hooks/git/{mirror['id']}" and "secret" not in mirror
    again = await api.post("/api/mirrors", json={"url": "https://example.org/other.git", "branch": "up",
                                                 "secret": SECRET}, headers=admin)
    assert again.status == 409
    assert (await api.post(f"/hooks/git/{uuid.uuid4()}", data=b"{}")).status == 404
    assert (await api.post(mirror["hook"], data=b"{}")).status == 401
    assert (await api.post(mirror["hook"], data=b"{}", headers={"X-Gitlab-Token": SECRET[:-1] + "x"})).status == 401
    ping = await api.post(mirror["hook"], data=b"{}", headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "ping"})
    assert ping.status == 200
    seen = await (await api.get(f"/api/mirrors/{mirror['id']}", headers=token_for(workspace_id, "reader"))).json()
    assert [(e["outcome"], e["details"]["provider"]) for e in seen["events"]] == [
        ("ping", "gitlab"), ("refused", "gitlab"), ("refused", "none")]
    other = await create_workspace(database, f"m-{uuid.uuid4().hex[:10]}", "other")
    assert (await api.get(f"/api/mirrors/{mirror['id']}", headers=token_for(other.id, "admin"))).status == 404
