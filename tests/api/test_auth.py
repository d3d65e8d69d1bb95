"""Authentication, roles, tenancy, request ids (SPEC §4, §6)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from openbook.config import Settings
from openbook.db.workspaces import create_workspace
from tests.conftest import JWT_TEST_SECRET


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(ws: uuid.UUID, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "alice", "workspace_id": str(ws), "roles": ["admin"],
                            "exp": int(time.time()) + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "make_token",
    [
        lambda ws: "",
        lambda ws: "not-a-jwt",
        lambda ws: jwt.encode(claims(ws), "w" * 40, algorithm="HS256"),  # wrong key
        lambda ws: jwt.encode(claims(ws, exp=int(time.time()) - 10), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, sub=None), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, roles=None), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, workspace_id=None), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, exp=None), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, workspace_id="not-a-uuid"), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, workspace_id=str(uuid.uuid4())), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws, roles="admin"), JWT_TEST_SECRET, algorithm="HS256"),
        lambda ws: jwt.encode(claims(ws), JWT_TEST_SECRET * 2, algorithm="HS512"),  # algorithm not pinned
        lambda ws: jwt.encode(claims(ws), None, algorithm="none"),  # type: ignore[arg-type]
    ],
    ids=["empty", "garbage", "wrong-key", "expired", "no-sub", "no-roles", "no-workspace", "no-exp",
         "bad-workspace", "unknown-workspace", "roles-not-list", "other-alg", "alg-none"],
)
async def test_bad_tokens_are_401(api: Any, workspace_id: uuid.UUID, make_token: Any) -> None:
    resp = await api.get("/api/branches", headers=bearer(make_token(workspace_id)))
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_missing_header_is_401_and_health_needs_none(api: Any) -> None:
    assert (await api.get("/api/branches")).status == 401
    health = await api.get("/health")
    assert health.status == 200
    assert (await health.json()) == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_issuer_and_audience_enforced_when_configured(aiohttp_client: Any, api_settings: Settings,
                                                            workspace_id: uuid.UUID) -> None:
    from dataclasses import replace

    from openbook.api.app import create_app

    assert api_settings.jwt is not None
    settings = replace(api_settings, jwt=replace(api_settings.jwt, issuer="ob", audience="api"))
    client = await aiohttp_client(create_app(settings))
    plain = jwt.encode(claims(workspace_id), JWT_TEST_SECRET, algorithm="HS256")
    assert (await client.get("/api/branches", headers=bearer(plain))).status == 401
    wrong = jwt.encode(claims(workspace_id, iss="ob", aud="other"), JWT_TEST_SECRET, algorithm="HS256")
    assert (await client.get("/api/branches", headers=bearer(wrong))).status == 401
    good = jwt.encode(claims(workspace_id, iss="ob", aud="api"), JWT_TEST_SECRET, algorithm="HS256")
    assert (await client.get("/api/branches", headers=bearer(good))).status == 200


@pytest.mark.parametrize(
    ("roles", "method", "path", "body", "allowed"),
    [
        (["reader"], "get", "/api/branches", None, True),
        (["reader"], "post", "/api/branches", {"name": "r"}, False),
        (["reader"], "post", "/api/merge", {"source": "main", "target": "main"}, False),
        (["publisher"], "post", "/api/branches", {"name": "p"}, False),
        (["publisher"], "get", "/api/audit", None, True),
        (["writer"], "post", "/api/branches", {"name": "w"}, True),
        ([], "get", "/api/branches", None, False),
        (["unknown"], "get", "/api/branches", None, False),
    ],
)
async def test_roles(api: Any, token_for: Any, workspace_id: uuid.UUID, roles: list[str], method: str,
                     path: str, body: Any, allowed: bool) -> None:

    headers = token_for(workspace_id, *roles) if roles else {
        "Authorization": "Bearer " + jwt.encode(claims(workspace_id, roles=[]), JWT_TEST_SECRET, algorithm="HS256")
    }
    resp = await getattr(api, method)(path, json=body, headers=headers) if body else \
        await getattr(api, method)(path, headers=headers)
    if allowed:
        assert resp.status in (200, 201), await resp.text()
    else:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"


async def test_other_workspace_objects_are_404(api: Any, token_for: Any, database: Any,
                                               workspace_id: uuid.UUID) -> None:
    mine = token_for(workspace_id, "writer")
    other_ws = await create_workspace(database, f"o-{uuid.uuid4().hex[:10]}", "other")
    theirs = token_for(other_ws.id, "writer")
    resp = await api.post("/api/branches/main/commits", headers=mine,
                          json={"message": "m", "changes": [{"op": "put", "path": "s.md", "content": "secret"}]})
    commit = await resp.json()
    await api.post("/api/branches", json={"name": "private"}, headers=mine)
    for path in (f"/api/commits/{commit['id']}", f"/api/refs/{commit['id']}/tree",
                 f"/api/refs/{commit['id']}/files/s.md", "/api/branches/private",
                 f"/api/diff?from={commit['id']}&to=main"):
        resp = await api.get(path, headers=theirs)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    merge = await api.post("/api/merge", json={"source": commit["id"], "target": "main"}, headers=theirs)
    assert merge.status == 404
    other_branches = (await (await api.get("/api/branches", headers=theirs)).json())["branches"]
    assert [b["name"] for b in other_branches] == ["main"]
    assert (await (await api.get("/api/audit", headers=theirs)).json())["entries"] == []


async def test_request_id_is_echoed_or_minted(api: Any, token_for: Any, workspace_id: uuid.UUID) -> None:
    h = token_for(workspace_id, "reader")
    echoed = await api.get("/api/branches", headers=h | {"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    minted = await api.get("/api/branches/none", headers=h)
    assert minted.status == 404 and len(minted.headers["X-Request-ID"]) == 32
    unauth = await api.get("/api/branches")
    assert unauth.headers["X-Request-ID"]


async def test_openapi_documents_every_route(api: Any, token_for: Any, workspace_id: uuid.UUID) -> None:
    spec = await (await api.get("/api/openapi.json", headers=token_for(workspace_id, "reader"))).json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routes = set()
    for route in api.server.app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        raw = info.get("path") or info.get("formatter", "")
        for name in ("name", "ref", "path", "id"):
            raw = raw.replace(f"{{{name}:.+}}", f"{{{name}}}").replace(f"{{{name}:.+?}}", f"{{{name}}}")
        routes.add((route.method, raw))
    assert routes == documented
