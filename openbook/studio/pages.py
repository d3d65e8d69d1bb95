"""Rendering studio pages: the template environment, the context every page gets, error pages."""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from openbook.api.auth import Permission
from openbook.studio.credentials import CSRF_FIELD, role_permissions
from openbook.studio.signin import SESSION

TEMPLATES = web.AppKey("studio_templates", jinja2.Environment)
API_APP = web.AppKey("studio_api_app", web.Application)


def api_app(request: web.Request) -> web.Application:
    """The API application the studio is mounted in: its database, stream and settings."""
    return request.app[API_APP]


def url(where: str, /, **query: Any) -> str:
    """A studio URL: `where` below /studio/ (each segment quoted), then the non-empty query values."""
    base = "/studio/" + quote(where.lstrip("/"), safe="/")
    params = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{base}?{urlencode(params)}" if params else base


def _static_versions() -> dict[str, str]:
    """A content hash per static file, appended to its URL so a changed file is never served stale."""
    folder = importlib.resources.files("openbook.studio") / "static"
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in folder.iterdir() if f.is_file()}


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, app_key=TEMPLATES, loader=jinja2.PackageLoader("openbook.studio", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        default_helpers=False)
    versions = _static_versions()
    env.globals["url"] = url
    env.globals["static"] = lambda name: f"/studio/static/{name}?v={versions[name]}"
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.filters["short"] = lambda commit_id: str(commit_id)[:10]


def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None,
           status: int = 200) -> web.Response:
    """The page `template` with the common context: who is signed in, what they may do, the CSRF token."""
    session = request.get(SESSION)
    permissions: frozenset[Permission] = role_permissions(session.role) if session is not None else frozenset()
    common = {
        "session": session,
        "csrf": session.csrf if session is not None else "",
        "can_write": "write" in permissions,
        "can_publish": "publish" in permissions,
        "can_admin": "admin" in permissions,
        "nav": "",
    }
    response = aiohttp_jinja2.render_template(template, request, {**common, **(context or {})},
                                              app_key=TEMPLATES, status=status)
    return response


def see_other(location: str) -> web.Response:
    """303 to `location`: after a form's POST, the browser GETs the page that shows the result."""
    return web.Response(status=303, headers={"Location": location})


def wants_json(request: web.Request) -> bool:
    """A fetch from the studio's own script (it asks for JSON), not a page load."""
    return "application/json" in request.headers.get("Accept", "")
