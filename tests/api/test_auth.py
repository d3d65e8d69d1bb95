"""Authentication, roles, tenancy, request ids (SPEC §4, §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from openbook.config import Settings, load_settings
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

    from openbook.server import create_app

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
        raw = info.get("path") or info.get("formatter") or info.get("prefix", "")
        for name in ("name", "ref", "path", "id"):
            raw = raw.replace(f"{{{name}:.+}}", f"{{{name}}}").replace(f"{{{name}:.+?}}", f"{{{name}}}")
        if raw.startswith("/studio"):
            continue  # the studio's HTML pages (docs/studio.md) are for browsers, not part of the API contract
        routes.add((route.method, raw))
    assert routes == documented


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
async def rs256(aiohttp_client: Any, api_settings: Settings, pg_server: Any, redis_server: Any,
                tmp_path: Path) -> tuple[Any, rsa.RSAPrivateKey, str]:
    """The real app configured only through the environment for RS256, with the key pair it trusts."""
    from openbook.server import create_app

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = load_settings("api", {
        "DB_DSN": pg_server.dsn, "REDIS_ADDR": redis_server.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0",
        "APP_PORT": "8080", "STORAGE_PATH": str(api_settings.storage_path),
        "JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": public_pem,
    })
    return await aiohttp_client(create_app(settings)), private, public_pem


async def test_rs256_tokens_signed_by_the_configured_key_are_accepted(rs256: Any, workspace_id: uuid.UUID) -> None:
    client, private, _ = rs256
    token = jwt.encode(claims(workspace_id), _private_pem(private), algorithm="RS256")
    resp = await client.get("/api/branches", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    made = await client.post("/api/branches", json={"name": "rsa"}, headers=bearer(token))
    assert made.status == 201


async def test_rs256_refuses_other_keys_and_algorithm_confusion(rs256: Any, workspace_id: uuid.UUID) -> None:
    client, _, public_pem = rs256
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(workspace_id), _private_pem(stranger), algorithm="RS256")
    # The classic confusion attack: HMAC-sign with the server's *public* key as the shared
    # secret and hope the server verifies HS256 with the key it holds. PyJWT refuses to
    # make such a token, so it is assembled by hand.
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims(workspace_id)).encode())
    mac = hmac.new(public_pem.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{head}.{body}.{_b64url(mac)}"
    unsigned = jwt.encode(claims(workspace_id), None, algorithm="none")  # type: ignore[arg-type]
    hs = jwt.encode(claims(workspace_id), JWT_TEST_SECRET, algorithm="HS256")
    for token in (forged, confused, unsigned, hs):
        resp = await client.get("/api/branches", headers=bearer(token))
        assert resp.status == 401, token
        assert (await resp.json())["error"]["code"] == "unauthorized"
