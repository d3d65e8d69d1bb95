"""Branches, the file tree, files and history (reading content, and branch create/delete)."""

from __future__ import annotations

from aiohttp import web

from openbook.api.auth import Permission, require
from openbook.api.deployments import sender, unlink_previews
from openbook.api.keys import DATABASE
from openbook.db.content import ContentRepository
from openbook.errors import InvalidRequest
from openbook.store.paths import validate_branch_name
from openbook.studio.pages import api_app, render, see_other, url


def repo(request: web.Request, permission: Permission) -> tuple[ContentRepository, str]:
    """The session's workspace's content, after checking the role allows `permission`."""
    who = require(request, permission)
    notify = sender(api_app(request), who.workspace_id)
    return ContentRepository(request.config_dict[DATABASE], who.workspace_id, notify=notify, via="studio"), who.sub


async def form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields (files are read by the handlers that take them)."""
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


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


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", branches)
    r.add_post("/branches", create_branch)
    r.add_post("/branches/delete", delete_branch)
