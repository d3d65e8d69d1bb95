"""Input PostgreSQL cannot store is a 4xx naming the field, never a 500 (issue 8, finding 4).

Bodies are written as raw JSON text so that `\\ud800` reaches the server as the
JSON escape of a lone surrogate, exactly as an attacker would send it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from openbook.api.bodies import MAX_JSON_DEPTH
from tests.conftest import JWT_TEST_SECRET

NIL = "00000000-0000-0000-0000-000000000000"
PUT = '{"op": "put", "path": "a.md", "content": "x"}'


def _json_headers(token_for: Any, workspace_id: uuid.UUID) -> dict[str, str]:
    headers: dict[str, str] = token_for(workspace_id, "admin") | {"Content-Type": "application/json"}
    return headers


async def _expect_400(api: Any, headers: dict[str, str], method: str, path: str, body: str, field: str) -> None:
    resp = await api.request(method, path, data=body.encode(), headers=headers)
    text = await resp.text()
    assert resp.status == 400, f"{method} {path} {body}: {resp.status} {text}"
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["field"] == field, error
    assert error["message"].startswith(f"{field}: ")


BODIES = [
    ("POST", "/api/branches", '{"name": "X"}', "name"),
    ("POST", "/api/branches", '{"name": "b", "from": "X"}', "from"),
    ("POST", "/api/branches/main/commits", '{"message": "X", "changes": [' + PUT + "]}", "message"),
    ("POST", "/api/branches/main/commits", '{"message": "m", "changes": [{"op": "put", "path": "X", "content": "x"}]}',
     "changes[0].path"),
    ("POST", "/api/branches/main/commits",
     '{"message": "m", "changes": [' + PUT.replace("a.md", "b.md")
     + ', {"op": "put", "path": "a.md", "content": "X"}]}',
     "changes[1].content"),
    ("POST", "/api/branches/main/commits", '{"message": "m", "expected_head": "X", "changes": [' + PUT + "]}",
     "expected_head"),
    ("POST", "/api/merge", '{"source": "X", "target": "main"}', "source"),
    ("POST", "/api/merge", '{"source": "main", "target": "X"}', "target"),
    ("POST", "/api/merge", '{"source": "main", "target": "main", "message": "X"}', "message"),
    ("POST", "/api/merge", '{"source": "main", "target": "main", "strategy": "X"}', "strategy"),
    ("POST", "/api/sites", '{"name": "X", "slug": "s", "theme": "book"}', "name"),
    ("POST", "/api/sites", '{"name": "n", "slug": "X", "theme": "book"}', "slug"),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "X"}', "theme"),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "book", "branch": "X"}', "branch"),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "book", "root": "X"}', "root"),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "book", "settings": {"params": {"a": ["X"]}}}',
     "settings.params.a[0]"),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "book", "settings": {"params": {"X": 1}}}',
     'settings.params["X"]'),
    ("POST", "/api/sites", '{"name": "n", "slug": "s", "theme": "book", "settings": {"base_url": "http://X"}}',
     "settings.base_url"),
    ("PATCH", f"/api/sites/{NIL}", '{"root": "X"}', "root"),
    ("POST", f"/api/sites/{NIL}/domains", '{"hostname": "X"}', "hostname"),
    ("POST", "/api/deployments", '{"site_id": "X"}', "site_id"),
    ("POST", "/api/deployments", '{"site_id": "' + NIL + '", "ref": "X"}', "ref"),
    ("POST", f"/api/sites/{NIL}/live", '{"deployment_id": "X"}', "deployment_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in BODIES])
@pytest.mark.parametrize("bad", ["\\ud800", "a\\u0000"], ids=["surrogate", "nul"])
async def test_text_that_cannot_be_stored_is_400_naming_the_field(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                                  method: str, path: str, body: str, field: str,
                                                                  bad: str) -> None:
    headers = _json_headers(token_for, workspace_id)
    json_field = field.replace('"X"', '"' + bad + '"')
    await _expect_400(api, headers, method, path, body.replace("X", bad), json_field)
    # Nothing was written: the workspace is as it started.
    branches = await (await api.get("/api/branches", headers=headers)).json()
    assert [b["name"] for b in branches["branches"]] == ["main"]
    assert (await (await api.get("/api/audit", headers=headers)).json())["entries"] == []


async def test_content_with_nul_points_to_content_base64(api: Any, token_for: Any, workspace_id: uuid.UUID) -> None:
    headers = _json_headers(token_for, workspace_id)
    body = '{"message": "m", "changes": [{"op": "put", "path": "a.bin", "content": "\\u0000"}]}'
    resp = await api.post("/api/branches/main/commits", data=body.encode(), headers=headers)
    assert resp.status == 400 and "content_base64" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
async def test_numbers_json_cannot_carry_are_400(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                 number: str) -> None:
    body = '{"name": "n", "slug": "s", "theme": "book", "settings": {"params": {"n": ' + number + "}}}"
    resp = await api.post("/api/sites", data=body.encode(), headers=_json_headers(token_for, workspace_id))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")], ids=["arrays", "objects"])
async def test_a_body_nested_100000_deep_is_400(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                opening: str, closing: str) -> None:
    body = '{"name": "deep", "x": ' + opening * 100_000 + "1" + closing * 100_000 + "}"
    resp = await api.post("/api/branches", data=body.encode(), headers=_json_headers(token_for, workspace_id))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request" and f"deeper than {MAX_JSON_DEPTH} levels" in error["message"]


async def test_the_depth_limit_is_exact_and_names_the_field(api: Any, token_for: Any, workspace_id: uuid.UUID) -> None:
    headers = _json_headers(token_for, workspace_id)
    # The body object is level 1; "x" then holds MAX_JSON_DEPTH - 1 more levels of arrays.
    at_limit = '{"name": "at-limit", "x": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    assert (await api.post("/api/branches", data=at_limit.encode(), headers=headers)).status == 201
    over = '{"name": "over", "x": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"
    await _expect_400(api, headers, "POST", "/api/branches", over, "x" + "[0]" * (MAX_JSON_DEPTH - 1))


def _token(workspace_id: uuid.UUID, **over: Any) -> dict[str, str]:
    claims: dict[str, Any] = {"sub": "alice", "workspace_id": str(workspace_id), "roles": ["writer"],
                              "exp": int(time.time()) + 600} | over
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_TEST_SECRET, algorithm="HS256")}


@pytest.mark.parametrize("over", [
    {"sub": "\ud800"}, {"sub": "a\x00b"}, {"sub": "x\udc00"}, {"roles": ["writer", "\ud800"]},
    {"name": "\ud800"}, {"extra": {"deep": ["\x00"]}},
    {"exp": str(int(time.time()) + 600)}, {"iat": str(int(time.time()))}, {"nbf": str(int(time.time()) - 5)},
    {"exp": True}, {"iat": [1]},
], ids=["sub-surrogate", "sub-nul", "sub-low-surrogate", "role-surrogate", "other-claim-surrogate",
        "nested-claim-nul", "exp-string", "iat-string", "nbf-string", "exp-bool", "iat-list"])
async def test_token_claims_that_cannot_be_stored_or_are_not_numbers_are_401(
        api: Any, workspace_id: uuid.UUID, over: dict[str, Any]) -> None:
    resp = await api.post("/api/branches", json={"name": "by-token"}, headers=_token(workspace_id, **over))
    assert resp.status == 401, await resp.text()
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_numeric_time_claims_still_work(api: Any, workspace_id: uuid.UUID) -> None:
    now = time.time()
    resp = await api.get("/api/branches", headers=_token(workspace_id, exp=now + 600.5, iat=int(now), nbf=now - 5))
    assert resp.status == 200


@pytest.mark.parametrize(("path", "field"), [
    ("/api/branches/%00", "name"),
    ("/api/branches/a%00b/log", "name"),
    ("/api/branches/a%00b/commits", "name"),
    ("/api/refs/%00/tree", "ref"),
    ("/api/refs/%00/files/a.md", "ref"),
    ("/api/refs/main/files/a%00b", "path"),
    ("/api/refs/main/tree?path=a%00", "path"),
    ("/api/diff?from=%00&to=main", "from"),
    ("/api/diff?from=main&to=x%00", "to"),
    ("/api/commits/%00", "id"),
    ("/api/audit?limit=%00", "limit"),
    (f"/api/sites/{NIL}/domains/%00", "hostname"),
])
async def test_nul_in_path_or_query_parameters_is_400(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                      path: str, field: str) -> None:
    method = "DELETE" if "/domains/" in path else "POST" if path.endswith("/commits") else "GET"
    resp = await api.request(method, path, headers=token_for(workspace_id, "admin"))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request" and error["details"]["field"] == field


@pytest.mark.parametrize("path", [
    "/api/branches/%ED%A0%80", "/api/branches/%ff", "/api/branches/%ED%A0%80/log", "/api/commits/%ED%A0%80",
    "/api/refs/%ED%A0%80/tree", "/api/refs/main/files/%ED%A0%80", "/api/refs/main/tree?path=%ED%A0%80",
    "/api/branches/main/log?limit=%ff", "/api/audit?limit=%ED%A0%80", "/api/diff?from=%ff&to=%ED%A0%80",
    "/api/deployments?site_id=%ff", "/api/deployments?limit=%ff", "/api/sites/%ED%A0%80",
    "/api/deployments/%ff",
])
async def test_invalid_utf8_in_urls_is_a_4xx_in_the_envelope(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                             path: str) -> None:
    resp = await api.get(path, headers=token_for(workspace_id, "admin"))
    assert 400 <= resp.status < 500, f"{path}: {resp.status} {await resp.text()}"
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] in ("invalid_request", "not_found")


@pytest.mark.parametrize("path", ["/api/audit?limit=", "/api/branches/main/log?limit=", "/api/deployments?limit=",
                                  "/api/audit?limit=0", "/api/audit?limit=1001", "/api/audit?limit=ten"])
async def test_limit_outside_its_documented_range_is_400(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                         path: str) -> None:
    resp = await api.get(path, headers=token_for(workspace_id, "reader"))
    assert resp.status == 400
    assert (await resp.json())["error"]["details"] == {"field": "limit"}


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "S", "slug": "docs\n", "theme": "book"}, "slug"),
    ({"name": "S", "slug": "docs", "theme": "book\n"}, "theme"),
])
async def test_a_trailing_newline_does_not_slip_past_an_anchored_pattern(api: Any, token_for: Any,
                                                                         workspace_id: uuid.UUID, body: Any,
                                                                         field: str) -> None:
    resp = await api.post("/api/sites", json=body, headers=token_for(workspace_id, "admin"))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["details"]["field"] == field
