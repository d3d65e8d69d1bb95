"""POST /api/merge with `resolutions` (SPEC §13): a conflicted merge finished by any client."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

Headers = dict[str, str]


def put(path: str, content: str) -> dict[str, str]:
    return {"op": "put", "path": path, "content": content}


async def commit(api: Any, h: Headers, branch: str, changes: list[dict[str, Any]]) -> None:
    resp = await api.post(f"/api/branches/{branch}/commits", json={"message": "m", "changes": changes}, headers=h)
    assert resp.status == 201, await resp.text()


async def head(api: Any, h: Headers, branch: str) -> str:
    return str((await (await api.get(f"/api/branches/{branch}", headers=h)).json())["head"])


async def read(api: Any, h: Headers, path: str) -> bytes | None:
    resp = await api.get(f"/api/refs/main/files/{path}", headers=h)
    return await resp.read() if resp.status == 200 else None


@pytest.fixture
async def h(api: Any, token_for: Any, workspace_id: uuid.UUID) -> Headers:
    """main and dev diverged: five conflicting files of four kinds, plus one clean change on each side."""
    headers: Headers = token_for(workspace_id, "writer")
    await commit(api, headers, "main", [put(f"{n}.md", f"{n} base\n") for n in "abcd"] + [put("keep.md", "k\n")])
    assert (await api.post("/api/branches", json={"name": "dev"}, headers=headers)).status == 201
    await commit(api, headers, "dev", [put(f"{n}.md", f"{n} dev\n") for n in "abc"]
                 + [{"op": "delete", "path": "d.md"}, put("new.md", "dev new\n"), put("dev-only.md", "x\n")])
    await commit(api, headers, "main", [put(f"{n}.md", f"{n} main\n") for n in "abcd"]
                 + [put("new.md", "main new\n"), put("main-only.md", "y\n")])
    return headers


async def test_every_form_of_resolution_ends_in_one_merge_commit(api: Any, h: Headers) -> None:
    before = await head(api, h, "main")
    resolutions = {
        "a.md": {"take": "ours"},
        "b.md": {"take": "theirs"},
        "c.md": {"content": "c <b>merged</b> by hand\n"},
        "d.md": {"take": "theirs"},  # dev deleted it: taking dev's side deletes it
        "new.md": {"content_base64": base64.b64encode(b"\x00binary\xff").decode()},
    }
    resp = await api.post("/api/merge", headers=h, json={"source": "dev", "target": "main",
                                                         "message": "Merge dev by hand", "resolutions": resolutions})
    assert resp.status == 201, await resp.text()
    merged = (await resp.json())["commit"]
    assert merged["parents"] == [before, await head(api, h, "dev")] and merged["message"] == "Merge dev by hand"
    assert await read(api, h, "a.md") == b"a main\n"
    assert await read(api, h, "b.md") == b"b dev\n"
    assert await read(api, h, "c.md") == b"c <b>merged</b> by hand\n"
    assert await read(api, h, "d.md") is None
    assert await read(api, h, "new.md") == b"\x00binary\xff"
    assert await read(api, h, "dev-only.md") == b"x\n" and await read(api, h, "main-only.md") == b"y\n"
    audit = (await (await api.get("/api/audit?limit=1", headers=h)).json())["entries"][0]
    assert audit["action"] == "merge.executed"
    assert audit["details"]["resolved"] == ["a.md", "b.md", "c.md", "d.md", "new.md"]


async def test_delete_resolution_and_strategy_for_the_rest(api: Any, h: Headers) -> None:
    resp = await api.post("/api/merge", headers=h, json={
        "source": "dev", "target": "main", "strategy": "theirs",
        "resolutions": {"a.md": {"delete": True}, "d.md": {"take": "ours"}}})
    assert resp.status == 201, await resp.text()
    assert await read(api, h, "a.md") is None
    assert await read(api, h, "d.md") == b"d main\n"  # the resolution wins over the strategy
    assert await read(api, h, "b.md") == b"b dev\n"  # the strategy settles what no resolution names


async def test_unresolved_conflicts_are_listed_and_nothing_changes(api: Any, h: Headers) -> None:
    before = await head(api, h, "main")
    resp = await api.post("/api/merge", headers=h, json={
        "source": "dev", "target": "main", "resolutions": {"a.md": {"take": "ours"}, "c.md": {"content": "c\n"}}})
    assert resp.status == 409
    err = (await resp.json())["error"]
    assert err["code"] == "merge_conflict"
    assert [(c["path"], c["kind"]) for c in err["details"]["conflicts"]] == [
        ("b.md", "modify/modify"), ("d.md", "modify/delete"), ("new.md", "add/add")]
    assert await head(api, h, "main") == before


@pytest.mark.parametrize("resolutions, problem", [
    ({"keep.md": {"take": "ours"}}, "keep.md"),  # unchanged on both sides
    ({"dev-only.md": {"take": "theirs"}}, "dev-only.md"),  # changed on one side only: merges cleanly
    ({"a.md": {"take": "both"}}, "take must be"),
    ({"a.md": {"take": "ours", "delete": True}}, "exactly one of"),
    ({"a.md": {}}, "exactly one of"),
    ({"a.md": "ours"}, "exactly one of"),
    ({"a.md": {"delete": False}}, "delete must be true"),
    ({"a.md": {"content": 3}}, "content must be a string"),
    ({"a.md": {"content_base64": "!!"}}, "not valid base64"),
    ({"../a.md": {"take": "ours"}}, "../a.md"),
    (["a.md"], "must be an object"),
])
async def test_bad_resolutions_are_400_and_change_nothing(api: Any, h: Headers, resolutions: Any,
                                                          problem: str) -> None:
    before = await head(api, h, "main")
    full = {"b.md": {"take": "ours"}, "c.md": {"take": "ours"}, "d.md": {"take": "ours"},
            "new.md": {"take": "ours"}}
    body = {**full, **resolutions} if isinstance(resolutions, dict) else resolutions
    resp = await api.post("/api/merge", headers=h, json={"source": "dev", "target": "main", "resolutions": body})
    assert resp.status == 400, await resp.text()
    err = (await resp.json())["error"]
    assert err["code"] == "invalid_request" and problem in err["message"]
    assert await head(api, h, "main") == before


async def test_resolutions_when_already_up_to_date_are_400(api: Any, h: Headers) -> None:
    resp = await api.post("/api/merge", headers=h, json={"source": "main", "target": "dev",
                                                         "strategy": "ours"})
    assert resp.status == 201
    again = await api.post("/api/merge", headers=h, json={"source": "main", "target": "dev",
                                                          "resolutions": {"a.md": {"take": "ours"}}})
    assert again.status == 400 and (await again.json())["error"]["details"]["paths"] == ["a.md"]
