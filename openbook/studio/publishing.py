"""Sites, deployments with live status, previews, "Make live" with a confirmation, and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from openbook.api.auth import require
from openbook.api.deployments import deploy, make_live
from openbook.api.keys import DATABASE, SETTINGS
from openbook.db import audit
from openbook.db import deployments as rows
from openbook.db.scopes import Tenant
from openbook.db.sites import THEME_RE, Sites, validate_name, validate_slug
from openbook.errors import InvalidRequest, NotFound
from openbook.fs.themes import available_themes, theme_exists
from openbook.store.paths import validate_branch_name, validate_dir_path
from openbook.studio.content import form
from openbook.studio.pages import api_app, render, see_other, url

DEPLOYMENTS_SHOWN = 30
AUDIT_PAGE = 50


def describe(dep: rows.Deployment) -> str:
    """What happened to a deployment, in words."""
    if dep.status == "failed":
        return f"Failed: {dep.error or 'no reason recorded'}"
    if dep.status == "superseded":
        return "Skipped: a newer deployment of the same target came first."
    if dep.status == "pending":
        return "Waiting for a worker."
    if dep.status == "building":
        return "Building now."
    s = dep.stats or {}
    if s.get("folder_reused"):
        return "Nothing to build: this commit was already published with the same settings."
    parts = [f"Built {s.get('pages', 0):,} page{'' if s.get('pages') == 1 else 's'}"]
    if "rendered" in s:
        parts.append(f"{s.get('rendered', 0):,} rendered, {s.get('reused', 0):,} reused from the previous build")
    if "render_ms" in s:
        parts.append(f"in {s['render_ms'] / 1000:.1f} s")
    words = ", ".join(parts) + "."
    broken = s.get("broken_links") or []
    if broken:
        words += f" {len(broken)} broken link{'' if len(broken) == 1 else 's'}."
    if dep.pruned_at is not None:
        words += " Its files were removed by retention."
    return words


def _site_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError as exc:
        raise NotFound("no such site") from exc


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise NotFound(f"no such {what}") from exc


async def sites(request: web.Request) -> web.Response:
    who = require(request, "read")
    db = request.config_dict[DATABASE]
    listed = await Sites(db, who.workspace_id).all()
    live: dict[uuid.UUID, rows.Deployment] = {}
    deployments = rows.Deployments(db, who.workspace_id)
    for site in listed:
        if site.live_deployment_id is not None:
            found = await deployments.find(site.live_deployment_id)
            if found is not None:
                live[site.id] = found
    themes = available_themes(request.config_dict[SETTINGS].themes_path)
    return render(request, "sites.html", {"nav": "sites", "sites": listed, "live": live, "themes": themes})


async def create_site(request: web.Request) -> web.StreamResponse:
    who = require(request, "admin")
    fields = await form(request)
    theme = fields.get("theme", "book")
    if not THEME_RE.match(theme) or not theme_exists(theme, request.config_dict[SETTINGS].themes_path):
        raise InvalidRequest(f"theme {theme!r} does not exist", {"field": "theme"})
    root = fields.get("root", "").strip().strip("/")
    site = await Sites(request.config_dict[DATABASE], who.workspace_id).create(
        who.sub, name=validate_name(fields.get("name", "")), slug=validate_slug(fields.get("slug", "").strip()),
        theme=theme, branch=validate_branch_name(fields.get("branch", "").strip() or "main"),
        root=validate_dir_path(root), settings={}, auto_deploy=True, previews=fields.get("previews") == "on")
    return see_other(url(f"sites/{site.id}"))


async def site_page(request: web.Request) -> web.Response:
    who = require(request, "read")
    db = request.config_dict[DATABASE]
    site = await Sites(db, who.workspace_id).get(_site_id(request))
    deployments = rows.Deployments(db, who.workspace_id)
    recent = await deployments.recent(site.id, DEPLOYMENTS_SHOWN)
    previews = await deployments.previews(site.id)
    busy = any(not d.terminal for d in recent)
    return render(request, "site.html", {
        "nav": "sites", "site": site, "deployments": recent, "previews": previews, "describe": describe,
        "busy": busy, "workspace_id": who.workspace_id, "switched": request.query.get("switched"),
    })


async def site_status(request: web.Request) -> web.Response:
    """The site's recent deployments as JSON, polled by the site page while any is pending or building."""
    who = require(request, "read")
    db = request.config_dict[DATABASE]
    site = await Sites(db, who.workspace_id).get(_site_id(request))
    recent = await rows.Deployments(db, who.workspace_id).recent(site.id, DEPLOYMENTS_SHOWN)
    return web.json_response({
        "live": str(site.live_deployment_id or ""),
        "deployments": [{"id": str(d.id), "status": d.status, "words": describe(d)} for d in recent],
    })


async def deploy_now(request: web.Request) -> web.StreamResponse:
    who = require(request, "publish")
    fields = await form(request)
    await deploy(api_app(request), who, _site_id(request), fields.get("ref", "").strip() or None)
    return see_other(url(f"sites/{_site_id(request)}"))


async def confirm_live(request: web.Request) -> web.Response:
    """The confirmation before "Make live": what the live site shows now, and what it will show."""
    who = require(request, "publish")
    db = request.config_dict[DATABASE]
    site = await Sites(db, who.workspace_id).get(_site_id(request))
    deployments = rows.Deployments(db, who.workspace_id)
    chosen = await deployments.get(_uuid(request.query.get("deployment", ""), "deployment"))
    if chosen.site_id != site.id:
        raise NotFound("no such deployment of this site")
    current = await deployments.find(site.live_deployment_id) if site.live_deployment_id else None
    return render(request, "make_live.html", {"nav": "sites", "site": site, "chosen": chosen, "current": current,
                                              "describe": describe})


async def switch_live(request: web.Request) -> web.StreamResponse:
    who = require(request, "publish")
    fields = await form(request)
    site_id = _site_id(request)
    await make_live(api_app(request), who, site_id, _uuid(fields.get("deployment_id", ""), "deployment"))
    return see_other(url(f"sites/{site_id}", switched="1"))


async def audit_page(request: web.Request) -> web.Response:
    who = require(request, "read")
    action = request.query.get("action") or None
    actor = request.query.get("actor") or None
    raw_before = request.query.get("before", "")
    before = int(raw_before) if raw_before.isdigit() else None
    async with request.config_dict[DATABASE].transaction(Tenant(who.workspace_id), readonly=True) as tx:
        entries = await audit.search_entries(tx, action=action, actor=actor, before=before, limit=AUDIT_PAGE + 1)
        actions, actors = await audit.actions_and_actors(tx)
    older = entries[AUDIT_PAGE - 1]["id"] if len(entries) > AUDIT_PAGE else None
    context: dict[str, Any] = {"nav": "audit", "entries": entries[:AUDIT_PAGE], "actions": actions,
                               "actors": actors, "action": action or "", "actor": actor or "", "older": older}
    return render(request, "audit.html", context)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/sites", sites)
    r.add_post("/sites", create_site)
    r.add_get("/sites/{id}", site_page)
    r.add_get("/sites/{id}/status", site_status)
    r.add_post("/sites/{id}/deploy", deploy_now)
    r.add_get("/sites/{id}/live", confirm_live)
    r.add_post("/sites/{id}/live", switch_live)
    r.add_get("/audit", audit_page)
