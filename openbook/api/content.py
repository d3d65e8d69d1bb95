"""Content endpoints: branches, commits, log, trees, files, diff, merge (SPEC §6)."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

from aiohttp import web

from openbook.api.auth import Permission, require
from openbook.api.bodies import optional_str, query_int, read_json_object, required_str
from openbook.api.deployments import sender, unlink_previews
from openbook.api.idempotency import idempotent, on_effect
from openbook.api.keys import DATABASE
from openbook.db.content import ContentRepository, Strategy, commit_json
from openbook.errors import InvalidRequest
from openbook.store.merge import Resolution
from openbook.store.paths import is_commit_id, validate_branch_name, validate_path
from openbook.store.trees import Change

STRATEGIES: tuple[Strategy, ...] = ("fail", "ours", "theirs")
MAX_CHANGES = 100_000


def _repo(request: web.Request, permission: Permission) -> tuple[ContentRepository, str]:
    who = require(request, permission)
    notify = sender(request.app, who.workspace_id)
    return ContentRepository(request.app[DATABASE], who.workspace_id, notify=notify), who.sub


def parse_changes(body: dict[str, Any]) -> list[Change]:
    """Validate the `changes` array: ops, paths, content encodings, no path twice."""
    raw = body.get("changes")
    if not isinstance(raw, list):
        raise InvalidRequest("field 'changes' must be a list", {"field": "changes"})
    if len(raw) > MAX_CHANGES:
        raise InvalidRequest(f"at most {MAX_CHANGES} changes per commit", {"field": "changes"})
    changes: list[Change] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = {"index": index}
        if not isinstance(item, dict):
            raise InvalidRequest(f"changes[{index}] must be an object", where)
        op, path = item.get("op"), item.get("path")
        if not isinstance(path, str):
            raise InvalidRequest(f"changes[{index}].path must be a string", where)
        path = validate_path(path)
        if path in seen:
            raise InvalidRequest(f"path {path!r} appears twice in one commit", {**where, "path": path})
        seen.add(path)
        if op == "delete":
            changes.append(Change.delete(path))
        elif op == "put":
            changes.append(Change.put(path, _content(item, index)))
        else:
            raise InvalidRequest(f"changes[{index}].op must be 'put' or 'delete', got {op!r}", where)
    return changes


def _content(item: dict[str, Any], index: int) -> bytes:
    has_text, has_b64 = "content" in item, "content_base64" in item
    if has_text == has_b64:
        raise InvalidRequest(f"changes[{index}] needs exactly one of 'content' or 'content_base64'",
                             {"index": index})
    return _bytes_of(item, f"changes[{index}]", {"index": index})


def _bytes_of(item: dict[str, Any], where: str, details: dict[str, Any]) -> bytes:
    """`content` (text) or `content_base64` of an object known to hold exactly one of them."""
    if "content" in item:
        if not isinstance(item["content"], str):
            raise InvalidRequest(f"{where}.content must be a string", details)
        return item["content"].encode()
    if not isinstance(item["content_base64"], str):
        raise InvalidRequest(f"{where}.content_base64 must be a string", details)
    try:
        return base64.b64decode(item["content_base64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{where}.content_base64 is not valid base64", details) from exc


RESOLUTION_FORMS = ("take", "content", "content_base64", "delete")


def parse_resolutions(body: dict[str, Any]) -> dict[str, Resolution]:
    """The merge's optional `resolutions`: path → one of {take}, {content}, {content_base64}, {delete: true}."""
    raw = body.get("resolutions")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("field 'resolutions' must be an object mapping paths to resolutions",
                             {"field": "resolutions"})
    if len(raw) > MAX_CHANGES:
        raise InvalidRequest(f"at most {MAX_CHANGES} resolutions per merge", {"field": "resolutions"})
    out: dict[str, Resolution] = {}
    for key, item in raw.items():
        path = validate_path(key)
        where, details = f"resolutions[{key!r}]", {"field": "resolutions", "path": path}
        if path in out:
            raise InvalidRequest(f"path {path!r} is resolved twice", details)
        forms = [f for f in RESOLUTION_FORMS if isinstance(item, dict) and f in item]
        if not isinstance(item, dict) or len(forms) != 1 or len(item) != 1:
            raise InvalidRequest(f"{where} must be exactly one of {{\"take\": \"ours\"|\"theirs\"}}, "
                                 "{\"content\": ...}, {\"content_base64\": ...} or {\"delete\": true}", details)
        form = forms[0]
        if form == "take":
            if item["take"] not in ("ours", "theirs"):
                raise InvalidRequest(f"{where}.take must be 'ours' or 'theirs'", details)
            out[path] = Resolution(item["take"])
        elif form == "delete":
            if item["delete"] is not True:
                raise InvalidRequest(f"{where}.delete must be true", details)
            out[path] = Resolution("delete")
        else:
            out[path] = Resolution("content", _bytes_of(item, where, details))
    return out


async def create_branch(request: web.Request) -> web.Response:
    repo, actor = _repo(request, "write")
    body = await read_json_object(request)
    name = validate_branch_name(required_str(body, "name"))
    start = optional_str(body, "from") or "main"
    branch = await repo.create_branch(name, start, actor,
                                      on_effect(request, 201, lambda b: {"name": b.name, "head": b.head}))
    return web.json_response({"name": branch.name, "head": branch.head}, status=201)


async def get_branches(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    return web.json_response({"branches": [b.to_json() for b in await repo.branches()]})


async def get_branch(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    return web.json_response((await repo.branch(request.match_info["name"])).to_json())


async def delete_branch(request: web.Request) -> web.Response:
    repo, actor = _repo(request, "write")
    name = request.match_info["name"]
    removed = await repo.delete_branch(name, actor)
    await unlink_previews(request.app, repo.workspace_id, removed)
    return web.json_response({"name": name, "deleted": True, "previews_removed": [p.key for p in removed]})


async def create_commit(request: web.Request) -> web.Response:
    repo, actor = _repo(request, "write")
    body = await read_json_object(request)
    message = required_str(body, "message")
    expected = optional_str(body, "expected_head")
    if expected is not None and not is_commit_id(expected):
        raise InvalidRequest("field 'expected_head' must be a commit id", {"field": "expected_head"})
    changes = parse_changes(body)
    commit = await repo.commit(request.match_info["name"], changes, message, actor, expected,
                               on_effect(request, 201, commit_json))
    return web.json_response(commit_json(commit), status=201)


async def get_log(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    limit = query_int(request, "limit", 50, 1, 1000)
    commits = await repo.log(request.match_info["name"], limit)
    return web.json_response({"commits": [commit_json(c) for c in commits]})


async def get_commit(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    return web.json_response(commit_json(await repo.load_commit(request.match_info["id"])))


async def get_tree(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    recursive = request.query.get("recursive", "0") in ("1", "true", "yes")
    entries = await repo.tree(request.match_info["ref"], request.query.get("path", ""), recursive)
    return web.json_response({"entries": [
        {"path": path, "kind": e.kind, "hash": e.hash, "size": e.size} for path, e in entries
    ]})


async def get_file(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    path = request.match_info["path"]
    data = await repo.read_file(request.match_info["ref"], path)
    ctype, _ = mimetypes.guess_type(path)
    if path.endswith(".md"):
        ctype = "text/markdown"
    ctype = ctype or "application/octet-stream"
    charset = "utf-8" if ctype.startswith("text/") else None
    # Stored content is the tenant's, not ours: never let a browser run it on the API's origin.
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}
    return web.Response(body=data, content_type=ctype, charset=charset, headers=headers)


async def get_diff(request: web.Request) -> web.Response:
    repo, _ = _repo(request, "read")
    a, b = request.query.get("from"), request.query.get("to")
    if not a or not b:
        raise InvalidRequest("query parameters 'from' and 'to' are required")
    changes = await repo.diff(a, b)
    return web.json_response({"changes": [{"path": c.path, "status": c.status} for c in changes]})


async def merge(request: web.Request) -> web.Response:
    repo, actor = _repo(request, "write")
    body = await read_json_object(request)
    source, target = required_str(body, "source"), required_str(body, "target")
    strategy = optional_str(body, "strategy") or "fail"
    if strategy not in STRATEGIES:
        raise InvalidRequest(f"strategy must be one of {', '.join(STRATEGIES)}", {"field": "strategy"})
    resolutions = parse_resolutions(body)
    outcome = await repo.merge(source, target, optional_str(body, "message"), strategy, actor,
                               on_effect(request, 201, lambda c: {"result": "merged", "commit": commit_json(c)}),
                               resolutions)
    status = 201 if outcome.result == "merged" else 200
    return web.json_response({"result": outcome.result, "commit": commit_json(outcome.commit)}, status=status)


BRANCH_ROUTE = r"/api/branches/{name:(?!.*/(?:commits|log)$).+}"


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/branches", idempotent(create_branch))
    r.add_get("/api/branches", get_branches)
    # Branch names may contain '/', so the name pattern is greedy and the
    # sub-resources are matched first.
    r.add_post(r"/api/branches/{name:.+}/commits", idempotent(create_commit))
    r.add_get(r"/api/branches/{name:.+}/log", get_log)
    # A name ending in /commits or /log is never a branch (validate_branch_name reserves those
    # segments): such URLs belong to the commits and log routes only.
    r.add_get(BRANCH_ROUTE, get_branch)
    r.add_delete(BRANCH_ROUTE, delete_branch)
    r.add_get("/api/commits/{id}", get_commit)
    r.add_get(r"/api/refs/{ref:.+}/tree", get_tree)
    r.add_get(r"/api/refs/{ref:.+?}/files/{path:.+}", get_file)
    r.add_get("/api/diff", get_diff)
    r.add_post("/api/merge", idempotent(merge))
