"""HTTP protocol details (issue 8, finding 8): Allow on 405, oversized headers and targets in the envelope."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from openbook.api.errors import MAX_HEADER_BYTES, MAX_TARGET_BYTES, PARSER_LINE_BYTES


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/branches", ["GET", "HEAD", "POST"]),
    ("PUT", "/api/merge", ["POST"]),
    ("POST", "/health", ["GET", "HEAD"]),
    ("PATCH", "/api/branches/main/log", ["GET", "HEAD"]),
    # A name ending in /commits is never a branch, so only the commits route answers there.
    ("GET", "/api/branches/main/commits", ["POST"]),
    ("OPTIONS", "/api/branches/draft/x/commits", ["POST"]),
])
async def test_405_lists_the_allowed_methods_in_allow(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                      method: str, path: str, allowed: list[str]) -> None:
    resp = await api.request(method, path, headers=token_for(workspace_id, "admin"))
    assert resp.status == 405
    assert resp.headers["Allow"] == ", ".join(allowed)
    error = (await resp.json())["error"]
    assert error["code"] == "method_not_allowed" and error["details"]["allowed"] == allowed


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES + 1, 9000, 20_000, PARSER_LINE_BYTES - 100])
@pytest.mark.parametrize("path", ["/health", "/api/branches"])
async def test_a_header_over_the_limit_is_431_in_the_envelope(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                                              size: int, path: str) -> None:
    name = "X-Padding"
    headers = token_for(workspace_id, "reader") | {"X-Request-ID": "big-header", name: "a" * (size - len(name))}
    resp = await api.get(path, headers=headers)
    assert resp.status == 431
    assert resp.content_type == "application/json"
    assert resp.headers["X-Request-ID"] == "big-header"
    error = (await resp.json())["error"]
    assert error["code"] == "header_too_large"
    assert error["details"] == {"header": name, "limit": MAX_HEADER_BYTES}


async def test_an_oversized_request_id_or_token_is_431_with_a_fresh_request_id(api: Any) -> None:
    for headers in ({"X-Request-ID": "r" * 9000}, {"Authorization": "Bearer " + "t" * 9000}):
        resp = await api.get("/api/branches", headers=headers)
        assert resp.status == 431
        assert len(resp.headers["X-Request-ID"]) == 32
        assert (await resp.json())["error"]["code"] == "header_too_large"


async def test_a_header_at_the_limit_is_served(api: Any, token_for: Any, workspace_id: uuid.UUID) -> None:
    name = "X-Padding"
    headers = token_for(workspace_id, "reader") | {name: "a" * (MAX_HEADER_BYTES - len(name))}
    assert (await api.get("/api/branches", headers=headers)).status == 200


async def test_a_request_target_over_the_limit_is_414_in_the_envelope(api: Any, token_for: Any,
                                                                      workspace_id: uuid.UUID) -> None:
    path = "/api/refs/main/tree?path=" + "a" * MAX_TARGET_BYTES
    resp = await api.get(path, headers=token_for(workspace_id, "reader") | {"X-Request-ID": "long-url"})
    assert resp.status == 414
    assert resp.headers["X-Request-ID"] == "long-url"
    error = (await resp.json())["error"]
    assert error["code"] == "uri_too_long" and error["details"] == {"limit": MAX_TARGET_BYTES}
