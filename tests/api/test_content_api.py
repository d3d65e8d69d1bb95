"""The content API end to end: real app, real PostgreSQL, real Redis."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import uuid
from typing import Any

import pytest

Headers = dict[str, str]


async def commit(api: Any, h: Headers, branch: str, changes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    resp = await api.post(f"/api/branches/{branch}/commits", json={"message": "m", "changes": changes, **extra},
                          headers=h)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def put(path: str, content: str) -> dict[str, str]:
    return {"op": "put", "path": path, "content": content}


@pytest.fixture
def h(token_for: Any, workspace_id: uuid.UUID) -> Headers:
    headers: Headers = token_for(workspace_id, "writer")
    return headers


async def test_workspace_starts_with_root_commit_on_main(api: Any, h: Headers) -> None:
    resp = await api.get("/api/branches", headers=h)
    assert resp.status == 200
    (main,) = (await resp.json())["branches"]
    assert main["name"] == "main"
    root = await (await api.get(f"/api/commits/{main['head']}", headers=h)).json()
    assert root["parents"] == []
    tree = await (await api.get("/api/refs/main/tree", headers=h)).json()
    assert tree == {"entries": []}


async def test_commit_read_log_tree_and_diff(api: Any, h: Headers) -> None:
    first = await commit(api, h, "main", [put("index.md", "# Home\n"), put("guide/intro.md", "hi\n"),
                                           {"op": "put", "path": "img/logo.png",
                                            "content_base64": base64.b64encode(b"\x89PNG\0").decode()}])
    second = await commit(api, h, "main", [{"op": "delete", "path": "guide/intro.md"}, put("index.md", "# Home 2\n")])
    assert second["parents"] == [first["id"]]
    assert (await (await api.get("/api/refs/main/files/index.md", headers=h)).read()) == b"# Home 2\n"
    old = await api.get(f"/api/refs/{first['id']}/files/img/logo.png", headers=h)
    assert old.status == 200 and await old.read() == b"\x89PNG\0" and old.content_type == "image/png"
    assert old.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in old.headers["Content-Security-Policy"]
    md = await api.get(f"/api/refs/{first['id']}/files/guide/intro.md", headers=h)
    assert md.content_type == "text/markdown"
    log = (await (await api.get("/api/branches/main/log?limit=2", headers=h)).json())["commits"]
    assert [c["id"] for c in log] == [second["id"], first["id"]]
    tree = (await (await api.get("/api/refs/main/tree?recursive=1", headers=h)).json())["entries"]
    assert {(e["path"], e["kind"]) for e in tree} == {("index.md", "blob"), ("img", "tree"),
                                                      ("img/logo.png", "blob")}
    assert next(e for e in tree if e["path"] == "index.md")["size"] == len("# Home 2\n")
    sub = (await (await api.get("/api/refs/main/tree?path=img", headers=h)).json())["entries"]
    assert [e["path"] for e in sub] == ["img/logo.png"]
    diff = (await (await api.get(f"/api/diff?from={first['id']}&to=main", headers=h)).json())["changes"]
    assert diff == [{"path": "guide/intro.md", "status": "deleted"}, {"path": "index.md", "status": "modified"}]


async def test_branches_with_slashes_and_from(api: Any, h: Headers) -> None:
    base = await commit(api, h, "main", [put("a.md", "a\n")])
    resp = await api.post("/api/branches", json={"name": "feature/x", "from": "main"}, headers=h)
    assert resp.status == 201 and (await resp.json()) == {"name": "feature/x", "head": base["id"]}
    await commit(api, h, "feature/x", [put("b.md", "b\n")])
    got = await (await api.get("/api/branches/feature/x", headers=h)).json()
    assert got["name"] == "feature/x" and got["head"] != base["id"]
    assert (await (await api.get("/api/refs/feature/x/files/b.md", headers=h)).read()) == b"b\n"
    dup = await api.post("/api/branches", json={"name": "feature/x"}, headers=h)
    assert dup.status == 409 and (await dup.json())["error"]["code"] == "already_exists"
    from_commit = await api.post("/api/branches", json={"name": "old", "from": base["id"]}, headers=h)
    assert (await from_commit.json())["head"] == base["id"]


async def test_merge_clean_up_to_date_and_conflicts(api: Any, h: Headers) -> None:
    await commit(api, h, "main", [put("a.md", "1\n2\n3\n4\n5\n"), put("b.md", "b\n")])
    await api.post("/api/branches", json={"name": "dev"}, headers=h)
    await commit(api, h, "dev", [put("a.md", "1\nTWO\n3\n4\n5\n"), put("c.md", "c\n")])
    await commit(api, h, "main", [put("a.md", "1\n2\n3\n4\nFIVE\n")])
    resp = await api.post("/api/merge", json={"source": "dev", "target": "main"}, headers=h)
    assert resp.status == 201, await resp.text()
    merged = await resp.json()
    assert merged["result"] == "merged" and len(merged["commit"]["parents"]) == 2
    text = await (await api.get("/api/refs/main/files/a.md", headers=h)).read()
    assert text == b"1\nTWO\n3\n4\nFIVE\n"
    again = await api.post("/api/merge", json={"source": "dev", "target": "main"}, headers=h)
    assert again.status == 200 and (await again.json())["result"] == "up_to_date"

    await commit(api, h, "dev", [put("b.md", "dev\n")])
    await commit(api, h, "main", [put("b.md", "main\n")])
    before = (await (await api.get("/api/branches/main", headers=h)).json())["head"]
    conflict = await api.post("/api/merge", json={"source": "dev", "target": "main"}, headers=h)
    assert conflict.status == 409
    err = (await conflict.json())["error"]
    assert err["code"] == "merge_conflict"
    (c,) = err["details"]["conflicts"]
    assert c["path"] == "b.md" and c["kind"] == "modify/modify"
    assert c["base"] and c["ours"] and c["theirs"] and len({c["base"], c["ours"], c["theirs"]}) == 3
    assert (await (await api.get("/api/branches/main", headers=h)).json())["head"] == before
    theirs = await api.post("/api/merge", json={"source": "dev", "target": "main", "strategy": "theirs"},
                            headers=h)
    assert theirs.status == 201
    assert (await (await api.get("/api/refs/main/files/b.md", headers=h)).read()) == b"dev\n"


async def test_expected_head_mismatch_is_stale_head_and_changes_nothing(api: Any, h: Headers) -> None:
    first = await commit(api, h, "main", [put("a.md", "a\n")])
    await commit(api, h, "main", [put("a.md", "b\n")], expected_head=first["id"])
    resp = await api.post("/api/branches/main/commits", headers=h, json={
        "message": "late", "expected_head": first["id"], "changes": [put("a.md", "c\n")]})
    assert resp.status == 409
    err = (await resp.json())["error"]
    assert err["code"] == "stale_head" and err["details"]["current_head"] != first["id"]
    assert (await (await api.get("/api/refs/main/files/a.md", headers=h)).read()) == b"b\n"


async def test_fifty_concurrent_commits_all_land_linearly(api: Any, h: Headers) -> None:
    async def one(i: int) -> str:
        body = await commit(api, h, "main", [put(f"pages/p{i}.md", f"page {i}\n")])
        return str(body["id"])

    ids = await asyncio.gather(*(one(i) for i in range(50)))
    log = (await (await api.get("/api/branches/main/log?limit=100", headers=h)).json())["commits"]
    assert len(log) == 51  # 50 commits + the root
    assert {c["id"] for c in log[:50]} == set(ids)
    for newer, older in itertools.pairwise(log):
        assert newer["parents"] == [older["id"]]  # linear: every commit's parent is the previous one
    tree = (await (await api.get("/api/refs/main/tree?path=pages", headers=h)).json())["entries"]
    assert len(tree) == 50


BAD_CHANGES = [
    ("dotdot", [put("../x.md", "x")]),
    ("absolute", [put("/x.md", "x")]),
    ("empty segment", [put("a//x.md", "x")]),
    ("nul", [put("a\0.md", "x")]),
    ("backslash", [put("a\\x.md", "x")]),
    ("over-long", [put("a/" + "x" * 300, "x")]),
    ("empty path", [put("", "x")]),
    ("unknown op", [{"op": "move", "path": "a.md"}]),
    ("bad base64", [{"op": "put", "path": "a.md", "content_base64": "!!!not base64"}]),
    ("both contents", [{"op": "put", "path": "a.md", "content": "x", "content_base64": "eA=="}]),
    ("no content", [{"op": "put", "path": "a.md"}]),
    ("content not a string", [{"op": "put", "path": "a.md", "content": 12}]),
    ("path not a string", [{"op": "put", "path": ["a"], "content": "x"}]),
    ("change not an object", ["a.md"]),
    ("same path twice", [put("a.md", "x"), put("a.md", "y")]),
    ("no changes", []),
    ("delete missing", [{"op": "delete", "path": "nope.md"}]),
]


@pytest.mark.parametrize(("case", "changes"), BAD_CHANGES, ids=[c for c, _ in BAD_CHANGES])
async def test_bad_commits_are_4xx_and_change_nothing(api: Any, h: Headers, case: str,
                                                      changes: list[Any]) -> None:
    head = (await (await api.get("/api/branches/main", headers=h)).json())["head"]
    resp = await api.post("/api/branches/main/commits", json={"message": "bad", "changes": changes}, headers=h)
    assert 400 <= resp.status < 500, case
    err = (await resp.json())["error"]
    assert err["code"] in ("invalid_request", "not_found") and err["message"]
    assert (await (await api.get("/api/branches/main", headers=h)).json())["head"] == head


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/branches", b"{not json", 400),
        ("post", "/api/branches", b"[1, 2]", 400),
        ("post", "/api/branches", {"name": 5}, 400),
        ("post", "/api/branches", {"name": "../x"}, 400),
        ("post", "/api/branches", {"name": "-x"}, 400),
        ("post", "/api/branches", {"name": "/x"}, 400),
        ("post", "/api/branches", {"name": "a..b"}, 400),
        ("post", "/api/branches", {"name": "sp ace"}, 400),
        ("post", "/api/branches", {"name": "x" * 201}, 400),
        ("post", "/api/branches", {"name": "ab" * 32}, 400),
        ("post", "/api/branches", {"name": "release/log"}, 400),
        ("post", "/api/branches", {"name": "a/files/b"}, 400),
        ("post", "/api/branches", {"name": "ok", "from": "nope"}, 404),
        ("post", "/api/branches/nope/commits", {"message": "m", "changes": [put("a", "b")]}, 404),
        ("post", "/api/branches/main/commits", {"changes": [put("a", "b")]}, 400),
        ("post", "/api/branches/main/commits", {"message": "m", "changes": "x"}, 400),
        ("post", "/api/branches/main/commits", {"message": "m", "expected_head": "zz", "changes": []}, 400),
        ("get", "/api/branches/nope", None, 404),
        ("get", "/api/branches/main/log?limit=0", None, 400),
        ("get", "/api/branches/main/log?limit=x", None, 400),
        ("get", "/api/commits/" + "0" * 64, None, 404),
        ("get", "/api/commits/nothex", None, 404),
        ("get", "/api/refs/nope/tree", None, 404),
        ("get", "/api/refs/main/tree?path=../x", None, 400),
        ("get", "/api/refs/main/tree?path=missing", None, 404),
        ("get", "/api/refs/main/files/missing.md", None, 404),
        ("get", "/api/diff?from=main", None, 400),
        ("get", "/api/diff?from=main&to=nope", None, 404),
        ("post", "/api/merge", {"source": "main"}, 400),
        ("post", "/api/merge", {"source": "main", "target": "main", "strategy": "mine"}, 400),
        ("post", "/api/merge", {"source": "nope", "target": "main"}, 404),
        ("post", "/api/merge", {"source": "main", "target": "nope"}, 404),
        ("get", "/api/nothing-here", None, 404),
    ],
)
async def test_bad_requests_get_the_error_envelope(api: Any, h: Headers, method: str, path: str,
                                                   body: Any, status: int) -> None:
    kwargs: dict[str, Any] = {"headers": h}
    if isinstance(body, bytes):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    before = await (await api.get("/api/audit?limit=1000", headers=h)).json()
    resp = await getattr(api, method)(path, **kwargs)
    assert resp.status == status, await resp.text()
    err = (await resp.json())["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == {400: "invalid_request", 404: "not_found"}[status]
    assert await (await api.get("/api/audit?limit=1000", headers=h)).json() == before


async def test_body_over_limit_is_413(api: Any, h: Headers) -> None:
    big = b'{"message": "m", "changes": [], "pad": "' + b"x" * (65 * 1024 * 1024) + b'"}'
    resp = await api.post("/api/branches/main/commits", data=io.BytesIO(big), headers=h)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"


async def test_audit_rows_for_branch_commit_merge(api: Any, h: Headers) -> None:
    await api.post("/api/branches", json={"name": "dev"}, headers=h | {"X-Request-ID": "req-branch-1"})
    await commit(api, h, "dev", [put("a.md", "a\n")])
    await api.post("/api/merge", json={"source": "dev", "target": "main"}, headers=h)
    entries = (await (await api.get("/api/audit", headers=h)).json())["entries"]
    assert [e["action"] for e in entries] == ["merge.executed", "commit.created", "branch.created"]
    assert entries[2]["request_id"] == "req-branch-1" and entries[2]["actor"] == "tester"
    assert entries[2]["target"] == "branch:dev"


async def test_audit_log_is_append_only_in_the_database(admin_sql: Any, api: Any, h: Headers) -> None:
    await api.post("/api/branches", json={"name": "dev"}, headers=h)
    import asyncpg

    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await admin_sql.execute(sql)


async def test_a_blob_missing_from_the_store_is_corruption_not_a_missing_file(admin_sql: Any, api: Any,
                                                                               h: Headers,
                                                                               workspace_id: Any) -> None:
    resp = await api.post("/api/branches/main/commits", headers=h, json={
        "message": "m", "changes": [{"op": "put", "path": "a.md", "content": "lost soon\n"}]})
    assert resp.status == 201
    tree = await (await api.get("/api/refs/main/tree", headers=h)).json()
    blob = tree["entries"][0]["hash"]
    await admin_sql.execute("DELETE FROM objects WHERE workspace_id = $1 AND hash = $2", workspace_id, blob)
    resp = await api.get("/api/refs/main/files/a.md", headers=h)
    body = await resp.json()
    assert resp.status == 500 and body["error"]["code"] == "corrupt_object", body
    assert (await api.get("/api/refs/main/files/absent.md", headers=h)).status == 404
