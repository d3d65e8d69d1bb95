"""Deployment endpoints (SPEC §6, §7): create (publisher), read, list, switch live.

Creating a deployment commits the row and its outbox row first; the XADD
comes after COMMIT and may fail (Redis down) without failing the request:
the outbox relay sends it later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from openbook.api import openapi
from openbook.api.auth import require
from openbook.api.bodies import optional_str, query_int, read_json_object, required_str
from openbook.api.keys import POOL, REDIS, SETTINGS
from openbook.api.sites import path_uuid
from openbook.db import deployments as rows
from openbook.db.content import ContentRepository
from openbook.db.outbox import mark_published
from openbook.db.sites import get_site
from openbook.errors import Conflict, InvalidRequest, NotFound
from openbook.fs import storage
from openbook.stream.deployments import publish_deployment

log = logging.getLogger("openbook.api")

PUBLISH_TIMEOUT_S = 1.0


def _uuid_field(raw: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest(f"field {name!r} must be a uuid", {"field": name}) from None


async def create_deployment(request: web.Request) -> web.Response:
    who = require(request, "publish")
    body = await read_json_object(request)
    site_id = _uuid_field(required_str(body, "site_id"), "site_id")
    ref = optional_str(body, "ref")
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        site = await get_site(conn, who.workspace_id, site_id)
    ref = ref or site.branch
    try:
        commit = await ContentRepository(pool, who.workspace_id).resolve_ref(ref)
    except NotFound as exc:
        # The site exists; an unknown ref is bad input, not a missing resource of this URL.
        raise InvalidRequest(exc.message, {"field": "ref", "ref": ref}) from exc
    dep, outbox_id = await rows.create_deployment(pool, who.workspace_id, who.sub, site_id, commit.id, ref)
    try:
        await asyncio.wait_for(publish_deployment(request.app[REDIS], str(dep.id)), PUBLISH_TIMEOUT_S)
        await mark_published(pool, outbox_id)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("XADD after commit failed (%s: %s); the outbox relay will send it",
                    type(exc).__name__, exc, extra={"deployment_id": str(dep.id)})
    return web.json_response({"id": str(dep.id), "status": dep.status, "commit": dep.commit_id}, status=202)


async def get_deployment(request: web.Request) -> web.Response:
    who = require(request, "read")
    deployment_id = path_uuid(request, "id", "deployment")
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        dep = await rows.get_deployment(conn, who.workspace_id, deployment_id)
    return web.json_response(dep.to_json())


async def list_deployments(request: web.Request) -> web.Response:
    who = require(request, "read")
    limit = query_int(request, "limit", 100, 1, 1000)
    raw = request.query.get("site_id")
    site_id = None
    if raw:
        try:
            site_id = uuid.UUID(raw)
        except ValueError:
            raise InvalidRequest("query parameter 'site_id' must be a uuid", {"field": "site_id"}) from None
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        if site_id is not None:
            await get_site(conn, who.workspace_id, site_id)
        deps = await rows.list_deployments(conn, who.workspace_id, site_id, limit)
    return web.json_response({"deployments": [d.to_json() for d in deps]})


async def switch_live(request: web.Request) -> web.Response:
    who = require(request, "publish")
    site_id = path_uuid(request, "id", "site")
    body = await read_json_object(request)
    deployment_id = _uuid_field(required_str(body, "deployment_id"), "deployment_id")
    root = request.app[SETTINGS].storage_path
    if root is None:
        raise InvalidRequest("this API process has no STORAGE_PATH")

    def switch(workspace_id: uuid.UUID, site: uuid.UUID, commit_id: str) -> None:
        try:
            storage.switch_live(root, workspace_id, site, commit_id)
        except OSError as exc:
            # The row change rolls back with this error: database and disk stay in agreement.
            raise Conflict(f"cannot switch live to {commit_id}: {exc.strerror or exc}",
                           {"commit": commit_id}) from exc

    dep = await rows.set_live(request.app[POOL], who.workspace_id, who.sub, site_id, deployment_id, switch)
    return web.json_response({"site_id": str(site_id), "live_deployment_id": str(dep.id),
                              "commit": dep.commit_id})


def _document() -> None:
    openapi.document("post", "/api/deployments", "Deploy a ref (default: the site's branch)",
                     role="publisher",
                     body={"type": "object", "required": ["site_id"],
                           "properties": {"site_id": openapi.UUID, "ref": openapi.nullable(
                               {"type": "string", "description": "a ref; absent, null or empty: the site's branch"})}},
                     responses={202: ("{id, status: pending, commit}", {
                         "type": "object", "required": ["id", "status", "commit"], "properties": {
                             "id": openapi.UUID, "status": {"const": "pending"}, "commit": openapi.COMMIT_ID}}),
                                400: "invalid_request: unknown ref", 404: "not_found: site"})
    openapi.document("get", "/api/deployments/{id}", "One deployment with status, error, stats, conditions",
                     role="reader", responses={200: ("the deployment", openapi.DEPLOYMENT), 404: "not_found"})
    openapi.document("get", "/api/deployments", "Deployments, newest first", role="reader",
                     params=[openapi.query("site_id", "only this site's; empty: every site",
                                           schema={"anyOf": [openapi.UUID, {"const": ""}]}), openapi.limit(100)],
                     responses={200: ("OK", {"type": "object", "required": ["deployments"], "properties": {
                         "deployments": {"type": "array", "items": openapi.DEPLOYMENT}}}), 404: "not_found: site"})
    openapi.document("post", "/api/sites/{id}/live", "Make a deployed deployment live (rollback/forward)",
                     role="publisher",
                     body={"type": "object", "required": ["deployment_id"],
                           "properties": {"deployment_id": openapi.UUID}},
                     responses={200: ("switched", {
                         "type": "object", "required": ["site_id", "live_deployment_id", "commit"], "properties": {
                             "site_id": openapi.UUID, "live_deployment_id": openapi.UUID,
                             "commit": openapi.COMMIT_ID}}),
                                404: "not_found", 409: "conflict: not deployed"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/deployments", create_deployment)
    r.add_get("/api/deployments", list_deployments)
    r.add_get("/api/deployments/{id}", get_deployment)
    r.add_post("/api/sites/{id}/live", switch_live)
    _document()
