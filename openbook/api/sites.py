"""Site and domain endpoints (SPEC §6): admins create, readers list and read."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiohttp import web

from openbook.api import hostnames, openapi
from openbook.api.auth import require
from openbook.api.bodies import optional_str, read_json_object, required_str
from openbook.api.idempotency import idempotent, on_effect
from openbook.api.keys import DATABASE, SETTINGS
from openbook.db import sites as rows
from openbook.errors import InvalidRequest, NotFound, PublishFailed
from openbook.fs import storage
from openbook.fs.themes import theme_exists
from openbook.store.paths import validate_branch_name, validate_dir_path

log = logging.getLogger("openbook.api")

SETTINGS_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "html": {"enum": ["escape", "sanitize", "trusted"]}, "strict": {"type": "boolean"},
    "base_url": {"type": "string", "pattern": r"^https?://[^/\s]+(/\S*)?$"}, "params": {"type": "object"}}}
FLAGS: dict[str, Any] = {
    "auto_deploy": {"type": "boolean", "default": True, "description": "deploy whenever the site's branch head moves"},
    "previews": {"type": "boolean", "default": False, "description": "deploy previews of every other branch on push"},
}
SITE_PROPERTIES: dict[str, Any] = {
    "name": openapi.SITE_NAME, "slug": openapi.SLUG, "theme": {"type": "string"},
    "branch": openapi.defaulted(openapi.BRANCH_NAME, "main"),
    "root": openapi.nullable(openapi.SITE_ROOT), "settings": openapi.nullable(SETTINGS_SCHEMA), **FLAGS,
}
SITE_BODY = {"type": "object", "required": ["name", "slug", "theme"], "properties": SITE_PROPERTIES,
             "additionalProperties": False}
CREATE_FIELDS = frozenset(SITE_PROPERTIES)


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"field {name!r} must be true or false", {"field": name})
    return value


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    """A uuid path parameter; anything else cannot exist, so it is a 404."""
    raw = request.match_info[name]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{what} {raw!r} does not exist", {name: raw}) from None


def _root(raw: str | None) -> str:
    if raw is None:
        return ""
    cleaned = raw.strip("/") if raw not in ("", "/") else ""
    try:
        return validate_dir_path(cleaned)
    except InvalidRequest as exc:
        raise InvalidRequest(f"root: {exc.message}", {"field": "root", **exc.details}) from exc


def _theme(request: web.Request, theme: str) -> str:
    if not rows.THEME_RE.match(theme) or not theme_exists(theme, request.app[SETTINGS].themes_path):
        raise InvalidRequest(f"theme {theme!r} does not exist", {"field": "theme", "theme": theme})
    return theme


async def create_site(request: web.Request) -> web.Response:
    who = require(request, "admin")
    body = await read_json_object(request)
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(CREATE_FIELDS))}",
                             {"fields": unknown})
    name = rows.validate_name(required_str(body, "name"))
    slug = rows.validate_slug(required_str(body, "slug"))
    theme = _theme(request, required_str(body, "theme"))
    branch = validate_branch_name(optional_str(body, "branch") or "main")
    root = _root(optional_str(body, "root"))
    settings = rows.validate_settings(body["settings"]) if body.get("settings") is not None else {}
    auto_deploy, previews = _flag(body, "auto_deploy", True), _flag(body, "previews", False)
    site = await rows.Sites(request.app[DATABASE], who.workspace_id).create(
        who.sub, name=name, slug=slug, theme=theme, branch=branch, root=root, settings=settings,
        auto_deploy=auto_deploy, previews=previews, on_effect=on_effect(request, 201, rows.Site.to_json))
    return web.json_response(site.to_json(), status=201)


async def update_site(request: web.Request) -> web.Response:
    who = require(request, "admin")
    site_id = path_uuid(request, "id", "site")
    body = await read_json_object(request)
    unknown = sorted(set(body) - set(rows.UPDATABLE))
    if unknown or not body:
        raise InvalidRequest(f"updatable fields are {', '.join(rows.UPDATABLE)}; got {unknown or 'nothing'}",
                             {"fields": unknown})
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = rows.validate_name(required_str(body, "name"))
    if "theme" in body:
        changes["theme"] = _theme(request, required_str(body, "theme"))
    if "branch" in body:
        changes["branch"] = validate_branch_name(required_str(body, "branch"))
    if "root" in body:
        changes["root"] = _root(required_str(body, "root"))
    if "settings" in body:
        changes["settings"] = rows.validate_settings(body["settings"])
    for flag in ("auto_deploy", "previews"):
        if flag in body:
            changes[flag] = _flag(body, flag, False)
    site = await rows.Sites(request.app[DATABASE], who.workspace_id).update(who.sub, site_id, changes)
    return web.json_response(site.to_json())


async def list_sites(request: web.Request) -> web.Response:
    who = require(request, "read")
    sites = await rows.Sites(request.app[DATABASE], who.workspace_id).all()
    return web.json_response({"sites": [s.to_json() for s in sites]})


async def get_site(request: web.Request) -> web.Response:
    who = require(request, "read")
    site_id = path_uuid(request, "id", "site")
    site = await rows.Sites(request.app[DATABASE], who.workspace_id).get(site_id)
    return web.json_response(site.to_json())


async def _sync_host(request: web.Request, hostname: str, site: rows.Site | None) -> None:
    """Create or remove `_hosts/<hostname>` after the row changed (the worker reconciles at start)."""
    root = request.app[SETTINGS].storage_path
    if root is None:
        return
    try:
        if site is None:
            await asyncio.to_thread(storage.unlink_host, root, hostname)
        else:
            await asyncio.to_thread(storage.link_host, root, hostname, site.workspace_id, site.id)
    except PublishFailed as exc:
        log.error("cannot update _hosts/%s: %s (the worker re-links at its next start)", hostname, exc.message)


async def add_domain(request: web.Request) -> web.Response:
    who = require(request, "admin")
    site_id = path_uuid(request, "id", "site")
    body = await read_json_object(request)
    hostname = hostnames.validate_hostname(required_str(body, "hostname"))
    site = await rows.Sites(request.app[DATABASE], who.workspace_id).add_domain(who.sub, site_id, hostname)
    await _sync_host(request, hostname, site)
    return web.json_response({"hostname": hostname, "site_id": str(site_id)}, status=201)


async def remove_domain(request: web.Request) -> web.Response:
    who = require(request, "admin")
    site_id = path_uuid(request, "id", "site")
    raw = request.match_info["hostname"]
    try:
        hostname = hostnames.parse_hostname(raw)
    except InvalidRequest:
        raise NotFound(f"site {site_id} has no domain {raw!r}", {"hostname": raw}) from None
    await rows.Sites(request.app[DATABASE], who.workspace_id).remove_domain(who.sub, site_id, hostname)
    await _sync_host(request, hostname, None)
    return web.json_response({"hostname": hostname, "site_id": str(site_id), "removed": True})


def _document() -> None:
    one = ("the site", openapi.SITE)
    openapi.document("post", "/api/sites", "Create a site", role="admin", body=SITE_BODY,
                     responses={201: one, 409: "already_exists: the slug is taken"})
    openapi.document("patch", "/api/sites/{id}", "Change name, theme, branch, root or settings (next deployment)",
                     role="admin", body={"type": "object", "minProperties": 1, "additionalProperties": False,
                                         "properties": {"name": openapi.SITE_NAME, "theme": {"type": "string"},
                                                        "branch": openapi.BRANCH_NAME, "root": openapi.SITE_ROOT,
                                                        "settings": SETTINGS_SCHEMA, **FLAGS}},
                     responses={200: one, 404: "not_found"})
    openapi.document("get", "/api/sites", "List the workspace's sites", role="reader",
                     responses={200: ("OK", {"type": "object", "required": ["sites"], "properties": {
                         "sites": {"type": "array", "items": openapi.SITE}}})})
    openapi.document("get", "/api/sites/{id}", "One site, with live_deployment_id and domains", role="reader",
                     responses={200: one, 404: "not_found"})
    domain = {"type": "object", "required": ["hostname", "site_id"],
              "properties": {"hostname": {"type": "string"}, "site_id": openapi.UUID}}
    openapi.document("post", "/api/sites/{id}/domains", "Attach a hostname to the site", role="admin",
                     body={"type": "object", "required": ["hostname"], "properties": {"hostname": openapi.HOSTNAME}},
                     responses={201: ("attached", domain), 404: "not_found", 409: "conflict: hostname in use"})
    openapi.document("delete", "/api/sites/{id}/domains/{hostname}", "Detach a hostname", role="admin",
                     responses={200: ("detached", domain), 404: "not_found"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/sites", idempotent(create_site))
    r.add_get("/api/sites", list_sites)
    r.add_get("/api/sites/{id}", get_site)
    r.add_patch("/api/sites/{id}", update_site)
    r.add_post("/api/sites/{id}/domains", add_domain)
    r.add_delete("/api/sites/{id}/domains/{hostname}", remove_domain)
    _document()
