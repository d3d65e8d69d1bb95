"""Branches, the file tree at any ref, files (source, rendered page, raw bytes), history, commits."""

from __future__ import annotations

import mimetypes
import posixpath
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from openbook.api.auth import Permission, require
from openbook.api.deployments import sender, unlink_previews
from openbook.api.keys import DATABASE, SETTINGS
from openbook.db.content import ContentRepository
from openbook.db.sites import Sites
from openbook.errors import InvalidRequest, NotFound, RenderError
from openbook.render.pages import is_markdown, output_for_url, page_url
from openbook.store import dirs
from openbook.store.commits import log
from openbook.store.diff import diff_trees
from openbook.store.objects import EMPTY_TREE, Commit, ObjectId, TNode, TreeEntry
from openbook.store.paths import is_commit_id, validate_branch_name, validate_dir_path, validate_path
from openbook.store.reader import Reader
from openbook.store.trees import dir_entries, lookup
from openbook.studio import preview
from openbook.studio.pages import api_app, render, see_other, url

TREE_PAGE = 200
# Folders up to this size are listed sorted by name (reading all their entries, once per tree id);
# larger ones page through the store's own order, which reads only the nodes a page needs.
SORTED_FOLDER_MAX = 5_000
LOG_PAGE = 50
# A file's history is found by comparing each commit with its parent: at most this many commits back.
FILE_HISTORY_SCAN = 400
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "image/avif")
MAX_SOURCE_BYTES = 1024 * 1024


def repo(request: web.Request, permission: Permission) -> tuple[ContentRepository, str]:
    """The session's workspace's content, after checking the role allows `permission`."""
    who = require(request, permission)
    notify = sender(api_app(request), who.workspace_id)
    return ContentRepository(request.config_dict[DATABASE], who.workspace_id, notify=notify, via="studio"), who.sub


async def form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields (files are read by the handlers that take them)."""
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def crumbs(path: str) -> list[tuple[str, str]]:
    """(name, folder path) for each folder of `path`, for breadcrumb links."""
    parts = [p for p in path.split("/") if p]
    return [(name, "/".join(parts[: i + 1])) for i, name in enumerate(parts)]


def kind_of(path: str, data: bytes) -> str:
    """How a file is shown: page (Markdown), image, text or binary."""
    if is_markdown(path):
        return "page"
    ctype, _ = mimetypes.guess_type(path)
    if ctype in IMAGE_TYPES:
        return "image"
    if len(data) <= MAX_SOURCE_BYTES and b"\0" not in data[:8192]:
        try:
            data.decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return "binary"


async def sites_of(request: web.Request, workspace_id: uuid.UUID) -> list[Any]:
    return await Sites(request.config_dict[DATABASE], workspace_id).all()


# --- Branches ------------------------------------------------------------------------------------------------------

async def branches(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    listed = sorted(await content.branches(), key=lambda b: (b.name != "main", b.name))
    return render(request, "branches.html", {"branches": listed, "nav": "branches"})


async def create_branch(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    fields = await form(request)
    name = validate_branch_name(fields.get("name", "").strip())
    start = fields.get("from", "").strip() or "main"
    await content.create_branch(name, start, actor)
    return see_other(url("tree", ref=name))


async def delete_branch(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    name = (await form(request)).get("name", "")
    if name == "main":
        raise InvalidRequest("main is the workspace's first branch and cannot be deleted here")
    removed = await content.delete_branch(name, actor)
    await unlink_previews(api_app(request), content.workspace_id, removed)
    return see_other(url(""))


# --- The tree ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Row:
    name: str
    kind: str  # "tree" | "blob"
    size: int | None


class Listings:
    """Sorted listings of folders (up to SORTED_FOLDER_MAX entries) by (workspace, folder tree id).

    Trees are immutable, so a listing never goes stale; paging through a
    folder reads and sorts it once. Bounded by the number of rows kept.
    """

    def __init__(self, max_rows: int = 400_000) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self._lru: OrderedDict[tuple[uuid.UUID, str], list[Row]] = OrderedDict()

    def clear(self) -> None:
        self._lru.clear()
        self.rows = 0

    async def get(self, content: ContentRepository, folder: ObjectId) -> list[Row]:
        key = (content.workspace_id, folder)
        found = self._lru.get(key)
        if found is not None:
            self._lru.move_to_end(key)
            return found
        entries = await dir_entries(Reader(content.src), folder)
        rows = _sorted_rows(entries)
        self._lru[key] = rows
        self.rows += len(rows)
        while self.rows > self.max_rows and len(self._lru) > 1:
            _, dropped = self._lru.popitem(last=False)
            self.rows -= len(dropped)
        return rows


LISTINGS = Listings()


async def _folder(content: ContentRepository, commit: Commit, path: str) -> ObjectId:
    if not path:
        return commit.tree
    entry = await lookup(content.src, commit.tree, path)
    if entry is None:
        raise NotFound(f"there is no folder {path!r} here", {"path": path})
    if entry.kind != "tree":
        raise InvalidRequest(f"{path!r} is a file, not a folder", {"path": path})
    return entry.hash


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise InvalidRequest("page must be a number from 1", {"field": "page"})
    return int(raw)


def _sorted_rows(entries: list[TreeEntry]) -> list[Row]:
    return sorted((Row(e.name, e.kind, e.size) for e in entries), key=lambda r: (r.kind != "tree", r.name))


async def tree(request: web.Request) -> web.StreamResponse:
    content, _ = repo(request, "read")
    ref = request.query.get("ref", "main")
    path = validate_dir_path(request.query.get("path", "").strip("/"))
    commit = await content.resolve_ref(ref)
    join = (lambda name: f"{path}/{name}") if path else (lambda name: name)
    name = request.query.get("name", "").strip()
    if name:
        # "Go to": a name looked up directly, whatever the folder's size.
        entry = await lookup(content.src, commit.tree, join(validate_path(name)))
        if entry is not None:
            return see_other(url("tree" if entry.kind == "tree" else "file", ref=ref, path=join(name)))
    folder = await _folder(content, commit, path)
    page = _page_number(request)
    start = (page - 1) * TREE_PAGE
    node = await Reader(content.src).node(folder)
    large = isinstance(node, TNode) and node.count > SORTED_FOLDER_MAX
    if large:
        entries, total = await dirs.page(Reader(content.src), folder, start, TREE_PAGE)
        shown = _sorted_rows(entries)
    else:
        rows = await LISTINGS.get(content, folder)
        shown, total = rows[start:start + TREE_PAGE], len(rows)
    return render(request, "tree.html", {
        "nav": "branches", "ref": ref, "commit": commit, "path": path, "crumbs": crumbs(path), "rows": shown,
        "total": total, "page": page, "pages": max(1, -(-total // TREE_PAGE)), "is_branch": not is_commit_id(ref),
        "join": join, "large": large, "missing": name if name else None,
    })


# --- Files ---------------------------------------------------------------------------------------------------------

async def file(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    ref = request.query.get("ref", "main")
    path = validate_path(request.query.get("path", ""))
    commit = await content.resolve_ref(ref)
    data = await content.read_file(commit.id, path)
    kind = kind_of(path, data)
    site = preview.preview_site(await sites_of(request, content.workspace_id), None if is_commit_id(ref) else ref)
    rel = preview.relative_to_root(site.root, path)
    rendered_url = None
    if kind == "page" and rel is not None:
        try:
            conf = await preview.configured(content, commit, site, request.config_dict[SETTINGS].themes_path)
            output = await preview.page_output(content, commit, conf, rel)
        except RenderError:  # the site's file is invalid: the frame shows why, as the page would
            output = output_for_url(page_url(rel))
        if output is not None:
            rendered_url = url(f"render/{site.id}/{commit.id}/{output}")
    return render(request, "file.html", {
        "nav": "branches", "ref": ref, "commit": commit, "path": path, "crumbs": crumbs(posixpath.dirname(path)),
        "name": posixpath.basename(path), "kind": kind, "size": len(data),
        "text": data.decode("utf-8", "replace") if kind in ("page", "text") else None,
        "rendered_url": rendered_url, "is_branch": not is_commit_id(ref), "saved": request.query.get("saved"),
    })


def _sandboxed(body: bytes, path: str) -> web.Response:
    ctype, _ = mimetypes.guess_type(path)
    if ctype is None or ctype.startswith("text/html") or ctype == "application/xhtml+xml":
        # Shown as what it is, never run: HTML from content is rendered only through the site renderer.
        ctype = "text/plain" if ctype else "application/octet-stream"
    charset = "utf-8" if ctype.startswith("text/") else None
    return web.Response(body=body, content_type=ctype, charset=charset,
                        headers={"Content-Security-Policy": preview.SANDBOX_CSP,
                                 "Cache-Control": "private, max-age=60"})


async def raw(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    path = validate_path(request.query.get("path", ""))
    return _sandboxed(await content.read_file(request.query.get("ref", "main"), path), path)


async def rendered(request: web.Request) -> web.Response:
    """`/studio/render/<site>/<commit>/<output path>`: a page as its site renders it, its assets, its files."""
    content, _ = repo(request, "read")
    site_text, commit_id, tail = (request.match_info[k] for k in ("site", "commit", "tail"))
    commit = await content.load_commit(commit_id)
    site = preview.PreviewSite("-", "", None)
    if site_text != "-":
        try:
            site_id = uuid.UUID(site_text)
        except ValueError as exc:
            raise NotFound("no such site", {"site": site_text}) from exc
        row = await Sites(request.config_dict[DATABASE], content.workspace_id).get(site_id)
        site = preview.PreviewSite(str(row.id), row.root, row)
    themes_path = request.config_dict[SETTINGS].themes_path
    conf = await preview.configured(content, commit, site, themes_path)
    prefix = f"{site.root}/" if site.root else ""
    if tail == "" or tail.endswith("/") or tail.endswith(".html"):
        output = tail + "index.html" if tail == "" or tail.endswith("/") else tail
        for source in preview.sources_for_output(conf, output):
            entry = await lookup(content.src, commit.tree, prefix + source)
            if entry is None or entry.kind != "blob":
                continue
            page = await preview.render_page(content, commit, site, prefix + source,
                                             await content.read_blob(entry.hash), themes_path)
            if page.output == output:
                response = web.Response(body=page.html, content_type="text/html", charset="utf-8")
                response.headers["Content-Security-Policy"] = preview.SANDBOX_CSP
                return response
        raise NotFound(f"no page renders to {output}", {"path": output})
    asset = preview.ASSETS.get(site.id, content.workspace_id, tail)
    if asset is not None:
        return _sandboxed(asset, tail)
    return _sandboxed(await preview.find_blob(content, commit, prefix + conf.full_path(validate_path(tail))), tail)


# --- History -------------------------------------------------------------------------------------------------------

async def _file_history(content: ContentRepository, start: Commit, path: str) -> tuple[list[Commit], bool]:
    """Commits (newest first) among the last FILE_HISTORY_SCAN that changed `path`; whether older ones exist."""
    scanned = await log(content.src, ObjectId(start.id), FILE_HISTORY_SCAN + 1)
    truncated = len(scanned) > FILE_HISTORY_SCAN
    scanned = scanned[:FILE_HISTORY_SCAN]
    by_id = {c.id: c for c in scanned}
    changed: list[Commit] = []
    for c in scanned:
        mine = await lookup(content.src, c.tree, path)
        parent = by_id.get(c.parents[0]) if c.parents else None
        if parent is None and c.parents:
            parent = await content.load_commit(c.parents[0])
        theirs = await lookup(content.src, parent.tree, path) if parent is not None else None
        if (mine.hash if mine else None) != (theirs.hash if theirs else None):
            changed.append(c)
    return changed, truncated


async def history(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    ref = request.query.get("ref", "main")
    path = request.query.get("path", "")
    start = await content.resolve_ref(request.query.get("from") or ref)
    if path:
        path = validate_path(path)
        commits, truncated = await _file_history(content, start, path)
        older = None
    else:
        commits = await log(content.src, ObjectId(start.id), LOG_PAGE + 1)
        older = commits[LOG_PAGE].id if len(commits) > LOG_PAGE else None
        commits, truncated = commits[:LOG_PAGE], False
    return render(request, "history.html", {
        "nav": "branches", "ref": ref, "path": path, "commits": commits, "older": older, "truncated": truncated,
        "scan": FILE_HISTORY_SCAN, "crumbs": crumbs(path),
    })


async def commit_page(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    commit = await content.load_commit(request.match_info["id"])
    parent = await content.load_commit(commit.parents[0]) if commit.parents else None
    changes = await diff_trees(content.src, parent.tree if parent else EMPTY_TREE, commit.tree)
    return render(request, "commit.html", {"nav": "branches", "commit": commit, "parent": parent,
                                           "changes": changes})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", branches)
    r.add_post("/branches", create_branch)
    r.add_post("/branches/delete", delete_branch)
    r.add_get("/tree", tree)
    r.add_get("/file", file)
    r.add_get("/raw", raw)
    r.add_get(r"/render/{site}/{commit}/{tail:.*}", rendered)
    r.add_get("/history", history)
    r.add_get("/commit/{id}", commit_page)
