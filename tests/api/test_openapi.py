"""The OpenAPI document states the constraints the handlers enforce (issue 8, finding 8).

The patterns are checked against the validators themselves on the same
samples, so the document and the code cannot drift apart silently.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from openbook.api import openapi
from openbook.api.hostnames import validate_hostname
from openbook.errors import InvalidRequest
from openbook.store.paths import validate_branch_name, validate_path


@pytest.fixture
async def spec(api: Any, token_for: Any, workspace_id: uuid.UUID) -> dict[str, Any]:
    resp = await api.get("/api/openapi.json", headers=token_for(workspace_id, "reader"))
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def _param(op: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in op["parameters"] if p["name"] == name)
    return found


def _body(op: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


async def test_the_document_states_ranges_patterns_counts_and_types(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for path, default in (("/api/audit", 100), ("/api/branches/{name}/log", 50), ("/api/deployments", 100)):
        assert _param(paths[path]["get"], "limit")["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000,
                                                                 "default": default}
    changes = _body(paths["/api/branches/{name}/commits"]["post"])["properties"]["changes"]
    assert (changes["minItems"], changes["maxItems"], changes["uniqueItems"]) == (1, 100_000, True)
    assert {v["properties"]["op"]["const"] for v in changes["items"]["oneOf"]} == {"put", "delete"}
    assert _param(paths["/api/sites/{id}"]["get"], "id")["schema"]["format"] == "uuid"
    assert _param(paths["/api/commits/{id}"]["get"], "id")["schema"]["pattern"] == "^[0-9a-f]{64}$"
    site = _body(paths["/api/sites"]["post"])["properties"]
    assert site["slug"]["pattern"] == "^[a-z0-9][a-z0-9-]{0,62}$"
    assert "book" in site["theme"]["enum"]
    assert "pattern" in _body(paths["/api/branches"]["post"])["properties"]["name"]
    files = paths["/api/refs/{ref}/files/{path}"]["get"]["responses"]["200"]["content"]
    assert {"text/markdown", "application/octet-stream"} <= set(files)
    health = paths["/health"]["get"]
    assert health["security"] == []
    assert health["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["status", "checks"]
    assert {"401", "403"}.isdisjoint(health["responses"])
    for path, ops in paths.items():
        for method, op in ops.items():
            for status in ("414", "431"):
                assert status in op["responses"], f"{method} {path} {status}"
            for status, answer in op["responses"].items():
                if status.startswith("2") and path.startswith("/git/"):
                    assert list(answer["content"]) == [f"application/x-{path.rsplit('/', 1)[-1]}-result"
                                                       if method == "post"
                                                       else "application/x-git-upload-pack-advertisement"]
                elif status.startswith("2") and path not in ("/api/refs/{ref}/files/{path}", "/metrics"):
                    assert answer["content"]["application/json"]["schema"] != {"type": "object"} or \
                        path == "/api/openapi.json", f"{method} {path} {status}"
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    # git's smart HTTP answers pkt-lines, not JSON.
    assert list(paths["/git/{repo}/git-receive-pack"]["post"]["responses"]["200"]["content"]) == \
        ["application/x-git-receive-pack-result"]


def _accepts(validate: Any, value: str) -> bool:
    try:
        validate(value)
    except InvalidRequest:
        return False
    return True


BRANCHES = ["main", "draft/intro", "a.b_c-d", "commits", "x/commitsy", "-x", "/x", "x/", "a//b", "a..b", "a b",
            "x/commits", "x/log/y", "tree/x", "é", "a" * 200, "a" * 201, "0" * 64, "A" * 64, "0" * 63, ""]
PATHS = ["index.md", "guide/intro.md", "..x", ".hidden", "a/./b", "./a", "a/..", "/a", "a/", "a//b", "a\\b",
         "a\x01b", "a\x85b", "é/ü.md", "a" * 255, "a" * 256, "/".join(["a" * 200] * 5), ""]
HOSTS = ["docs.openbook-ci.dev", "Docs.OpenBook-CI.Dev", "localhost", "a.localhost", "127.0.0.1", "0x7f.1",
         "2130706433", "live", "docs.example.com", "x.EXAMPLE", "main--docs.openbook-ci.dev", "xn--a.dev",
         "docs.xn--a.dev", "a_b.dev", "-a.dev", "a-.dev", "a." * 126 + "dev", "x.home.arpa", "myexample.com",
         "k\u212a.dev", " docs.openbook-ci.dev", "docs.openbook-ci.dev\n"]


@pytest.mark.parametrize(("schema", "validate", "samples"), [
    (openapi.BRANCH_NAME, validate_branch_name, BRANCHES),
    (openapi.CONTENT_PATH, validate_path, PATHS),
    (openapi.HOSTNAME, validate_hostname, HOSTS),
], ids=["branch-name", "content-path", "hostname"])
def test_patterns_agree_with_the_validators(schema: dict[str, Any], validate: Any, samples: list[str]) -> None:
    # JSON Schema patterns are ECMA-262, where $ ends the string; Python's $ also matches before a final newline.
    pattern = re.compile(schema["pattern"].replace("$", r"\Z"))
    for sample in samples:
        documented = pattern.search(sample) is not None and len(sample) <= schema.get("maxLength", len(sample))
        assert documented == _accepts(validate, sample), repr(sample)
