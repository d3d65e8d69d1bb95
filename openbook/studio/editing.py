"""Editing on a branch: pages with a live preview, image uploads, rename and delete, each one commit.

Every commit sends the branch head the page was opened on (`expected_head`).
When someone else moved the branch meanwhile, nothing is written: the page
says so, shows how the file changed on the new head against your text, and
offers to re-apply your edit on the new head (one click, a new
`expected_head`) or to start again from their version.
"""

from __future__ import annotations

import mimetypes
import posixpath
import time
from typing import Any

from aiohttp import web

from openbook.api.keys import DATABASE, SETTINGS
from openbook.db.content import ContentRepository
from openbook.db.sites import Sites
from openbook.errors import InvalidRequest, NotFound, StaleHead
from openbook.render.pages import is_markdown
from openbook.store.paths import is_commit_id, validate_dir_path, validate_path
from openbook.store.trees import Change, lookup
from openbook.studio import preview
from openbook.studio.content import IMAGE_TYPES, form, repo
from openbook.studio.diffs import as_text, diff_text
from openbook.studio.pages import render, see_other, url

NEW_PAGE = "# A new page\n\nWrite here in Markdown.\n"


def _branch(value: str) -> str:
    if not value or is_commit_id(value):
        raise InvalidRequest("edits are made on a branch; pick one", {"field": "branch"})
    return value


async def _current(content: ContentRepository, branch: str, path: str) -> bytes | None:
    head = await content.resolve_ref(branch)
    entry = await lookup(content.src, head.tree, path)
    if entry is None:
        return None
    if entry.kind != "blob":
        raise InvalidRequest(f"{path!r} is a folder", {"path": path})
    return await content.read_blob(entry.hash)


async def edit_page(request: web.Request) -> web.Response:
    content, _ = repo(request, "write")
    branch = _branch(request.query.get("branch", ""))
    head = await content.branch(branch)
    if request.query.get("new"):
        folder = validate_dir_path(request.query.get("folder", "").strip("/"))
        path, text, original = (f"{folder}/" if folder else "") + "new-page.md", NEW_PAGE, ""
    else:
        path = validate_path(request.query.get("path", ""))
        data = await _current(content, branch, path)
        if data is None:
            raise NotFound(f"there is no file {path!r} on {branch}", {"path": path})
        decoded = as_text(data)
        if decoded is None:
            raise InvalidRequest(f"{path} is not a text file; upload a new version instead", {"path": path})
        text, original = decoded, path
    return _editor(request, branch=branch, path=path, original=original, text=text, head=head.head, message="")


def _editor(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    return render(request, "edit.html", {"nav": "branches", "stale": None, "diff": None, **values}, status=status)


async def save(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    fields = await form(request)
    branch = _branch(fields.get("branch", ""))
    path = validate_path(fields.get("path", "").strip())
    original = fields.get("original", "")
    text = fields.get("content", "").replace("\r\n", "\n")
    expected = fields.get("expected_head", "")
    message = fields.get("message", "").strip() or (f"Edit {path}" if original else f"Add {path}")
    changes = [Change.put(path, text.encode())]
    if original and original != path:
        changes.append(Change.delete(validate_path(original)))
        if not fields.get("message", "").strip():
            message = f"Rename {original} to {path}"
    try:
        commit = await content.commit(branch, changes, message, actor, expected if is_commit_id(expected) else None)
    except StaleHead as exc:
        return await _stale(request, content, exc, branch=branch, path=path, original=original, text=text,
                            message=fields.get("message", ""))
    return see_other(url("file", ref=branch, path=path, saved=commit.id[:10]))


async def _stale(request: web.Request, content: ContentRepository, exc: StaleHead, **values: Any) -> web.Response:
    """The branch moved: keep the person's text, say what happened, show their file against it."""
    new_head = str(exc.details.get("current_head", ""))
    moved = await content.load_commit(new_head)
    theirs = await _current(content, values["branch"], values["original"] or values["path"])
    their_text = as_text(theirs) if theirs is not None else ""
    diff = diff_text(their_text or "", values["text"]) if their_text is not None else None
    return _editor(request, status=409, head=new_head, stale={"commit": moved, "file_changed": theirs is not None},
                   diff=diff, **values)


async def preview_draft(request: web.Request) -> web.Response:
    """The editor's live preview: the text as the site would render it (JSON: html for an iframe srcdoc)."""
    started = time.perf_counter()
    content, _ = repo(request, "read")
    body = await request.json()
    if not isinstance(body, dict):
        raise InvalidRequest("expected a JSON object")
    branch, path, text = body.get("branch"), body.get("path"), body.get("content")
    if not isinstance(branch, str) or not isinstance(path, str) or not isinstance(text, str):
        raise InvalidRequest("branch, path and content must be strings")
    path = validate_path(path.strip())
    commit = await content.resolve_ref(branch)
    sites = await Sites(request.config_dict[DATABASE], content.workspace_id).all()
    site = preview.preview_site(sites, branch)
    if not is_markdown(path):
        raise InvalidRequest("only .md pages have a preview", {"path": path})
    page = await preview.render_page(content, commit, site, path, text.encode(),
                                     request.config_dict[SETTINGS].themes_path)
    folder = posixpath.dirname(page.output)
    base = url(f"render/{site.id}/{commit.id}/{folder + '/' if folder else ''}")
    return web.json_response({"html": preview.with_base(page.html, base),
                              "server_ms": round((time.perf_counter() - started) * 1000, 1)})


async def upload_page(request: web.Request) -> web.Response:
    content, _ = repo(request, "write")
    branch = _branch(request.query.get("branch", ""))
    head = await content.branch(branch)
    folder = validate_dir_path(request.query.get("folder", "").strip("/"))
    return render(request, "upload.html", {"nav": "branches", "branch": branch, "folder": folder or "images",
                                           "head": head.head})


async def upload(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    posted = await request.post()
    branch = _branch(str(posted.get("branch", "")))
    folder = validate_dir_path(str(posted.get("folder", "")).strip().strip("/"))
    item = posted.get("file")
    if not isinstance(item, web.FileField) or not item.filename:
        raise InvalidRequest("choose an image to upload", {"field": "file"})
    name = posixpath.basename(item.filename.replace("\\", "/"))
    path = validate_path(f"{folder}/{name}" if folder else name)
    ctype, _ = mimetypes.guess_type(path)
    if ctype not in IMAGE_TYPES:
        raise InvalidRequest(f"{name} is not an image (png, jpeg, gif, webp, svg or avif)", {"path": path})
    data = item.file.read()
    message = str(posted.get("message", "")).strip() or f"Upload {path}"
    expected = str(posted.get("expected_head", ""))
    try:
        await content.commit(branch, [Change.put(path, data)], message, actor,
                             expected if is_commit_id(expected) else None)
    except StaleHead:
        # An upload adds a file: nothing of anyone else's is overwritten, so it goes on the new head.
        await content.commit(branch, [Change.put(path, data)], message, actor, None)
    return see_other(url("file", ref=branch, path=path))


async def move_page(request: web.Request) -> web.Response:
    content, _ = repo(request, "write")
    branch = _branch(request.query.get("branch", ""))
    path = validate_path(request.query.get("path", ""))
    if await _current(content, branch, path) is None:
        raise NotFound(f"there is no file {path!r} on {branch}", {"path": path})
    head = await content.branch(branch)
    return render(request, "move.html", {"nav": "branches", "branch": branch, "path": path, "head": head.head})


async def move(request: web.Request) -> web.StreamResponse:
    """Rename (put the bytes at the new path, delete the old) or delete a file, in one commit."""
    content, actor = repo(request, "write")
    fields = await form(request)
    branch = _branch(fields.get("branch", ""))
    path = validate_path(fields.get("path", ""))
    expected = fields.get("expected_head", "")
    data = await _current(content, branch, path)
    if data is None:
        raise NotFound(f"there is no file {path!r} on {branch}", {"path": path})
    if fields.get("action") == "delete":
        changes, message, after = [Change.delete(path)], f"Delete {path}", url("tree", ref=branch,
                                                                              path=posixpath.dirname(path))
    else:
        target = validate_path(fields.get("new_path", "").strip())
        if target == path:
            raise InvalidRequest("the new name is the same as the old one", {"path": path})
        if await _current(content, branch, target) is not None:
            raise InvalidRequest(f"{target} already exists on {branch}; pick another name", {"path": target})
        changes, message, after = ([Change.put(target, data), Change.delete(path)], f"Rename {path} to {target}",
                                   url("file", ref=branch, path=target))
    message = fields.get("message", "").strip() or message
    await content.commit(branch, changes, message, actor, expected if is_commit_id(expected) else None)
    return see_other(after)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/edit", edit_page)
    r.add_post("/edit", save)
    r.add_post("/preview", preview_draft)
    r.add_get("/upload", upload_page)
    r.add_post("/upload", upload)
    r.add_get("/move", move_page)
    r.add_post("/move", move)
