"""Deployment endpoints (SPEC §6, §7): create (publisher), read, list, switch live.

Creating a deployment commits the row and its outbox row first; the XADD
comes after COMMIT and may fail (Redis down) without failing the request:
the outbox relay sends it later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiohttp import web

from openbook.api import openapi
from openbook.api.auth import Principal, require
from openbook.api.bodies import optional_str, query_int, read_json_object, required_str
from openbook.api.idempotency import idempotent, on_effect
from openbook.api.keys import DATABASE, SETTINGS, STREAM
from openbook.api.sites import path_uuid
from openbook.db import deployments as rows
from openbook.db.content import ContentRepository, Notifier
from openbook.db.idempotency import OnEffect, no_effect_hook
from openbook.db.previews import Preview
from openbook.db.sites import Sites
from openbook.errors import Conflict, InvalidRequest, NotFound, PublishFailed, Unavailable
from openbook.fs import storage

log = logging.getLogger("openbook.api")

PUBLISH_TIMEOUT_S = 1.0


def sender(app: web.Application, workspace_id: uuid.UUID) -> Notifier:
    """XADDs deployments right after their transaction committed (the outbox relay covers a failure)."""
    deployments = rows.Deployments(app[DATABASE], workspace_id)

    async def send(queued: list[rows.Queued]) -> None:
        for q in queued:
            try:
                await asyncio.wait_for(app[STREAM].publish(str(q.deployment_id)), PUBLISH_TIMEOUT_S)
                await deployments.mark_published(q.outbox_id)
            except (Unavailable, TimeoutError) as exc:
                # Committed already: the outbox relay sends it once Redis (or PostgreSQL) answers.
                why = exc.message if isinstance(exc, Unavailable) else f"no answer within {PUBLISH_TIMEOUT_S:g}s"
                log.warning("XADD after commit failed (%s); the outbox relay will send it", why,
                            extra={"deployment_id": str(q.deployment_id)})

    return send


async def unlink_previews(app: web.Application, workspace_id: uuid.UUID, removed: list[Preview]) -> None:
    """Remove the links of previews whose rows are gone (a failure is logged; the links then dangle)."""
    root = app[SETTINGS].storage_path
    if root is None:
        return
    sites = Sites(app[DATABASE], workspace_id)
    for preview in removed:
        try:
            site = await sites.get(preview.site_id)
            await asyncio.to_thread(storage.remove_preview, root, workspace_id, site.id, preview.key, site.domains)
        except (PublishFailed, NotFound) as exc:
            log.error("cannot remove preview %s: %s", preview.key, exc.message)


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
    dep = await deploy(request.app, who, site_id, ref, on_effect(
        request, 202, lambda d: {"id": str(d.id), "status": d.status, "commit": d.commit_id}))
    return web.json_response({"id": str(dep.id), "status": dep.status, "commit": dep.commit_id}, status=202)


async def deploy(app: web.Application, who: Principal, site_id: uuid.UUID, ref: str | None,
                 effect: OnEffect[rows.Deployment] = no_effect_hook) -> rows.Deployment:
    """Queue a manual deployment of `ref` (default: the site's branch) and send it to the workers.

    NotFound for another workspace's or an unknown site, InvalidRequest for an unknown ref.
    """
    db = app[DATABASE]
    site = await Sites(db, who.workspace_id).get(site_id)
    ref = ref or site.branch
    try:
        commit = await ContentRepository(db, who.workspace_id).resolve_ref(ref)
    except NotFound as exc:
        # The site exists; an unknown ref is bad input, not a missing resource of this URL.
        raise InvalidRequest(exc.message, {"field": "ref", "ref": ref}) from exc
    deployments = rows.Deployments(db, who.workspace_id)
    branch = ref if ref != commit.id else None
    dep, outbox_id = await deployments.create(who.sub, site_id, commit.id, ref, branch=branch, on_effect=effect)
    await sender(app, who.workspace_id)([rows.Queued(dep.id, outbox_id)])
    return dep


async def commit_deployments(request: web.Request) -> web.Response:
    who = require(request, "read")
    commit = await ContentRepository(request.app[DATABASE], who.workspace_id).load_commit(request.match_info["id"])
    deps = await rows.Deployments(request.app[DATABASE], who.workspace_id).of_commit(commit.id)
    return web.json_response({"deployments": [d.to_json() for d in deps]})


async def site_previews(request: web.Request) -> web.Response:
    who = require(request, "read")
    site_id = path_uuid(request, "id", "site")
    site = await Sites(request.app[DATABASE], who.workspace_id).get(site_id)
    found = await rows.Deployments(request.app[DATABASE], who.workspace_id).previews(site_id)
    return web.json_response({"previews": [{
        "branch": preview.branch,
        "key": preview.key,
        "deployment_id": None if preview.deployment_id is None else str(preview.deployment_id),
        "status": None if newest is None else newest.status,
        "newest_deployment_id": None if newest is None else str(newest.id),
        "path": f"{who.workspace_id}/{site.id}/previews/{preview.key}",
        "urls": [f"https://{preview.key}--{host}/" for host in site.domains],
    } for preview, newest in found]})


async def get_deployment(request: web.Request) -> web.Response:
    who = require(request, "read")
    deployment_id = path_uuid(request, "id", "deployment")
    dep = await rows.Deployments(request.app[DATABASE], who.workspace_id).get(deployment_id)
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
    deps = await rows.Deployments(request.app[DATABASE], who.workspace_id).recent(site_id, limit)
    return web.json_response({"deployments": [d.to_json() for d in deps]})


async def switch_live(request: web.Request) -> web.Response:
    who = require(request, "publish")
    site_id = path_uuid(request, "id", "site")
    body = await read_json_object(request)
    deployment_id = _uuid_field(required_str(body, "deployment_id"), "deployment_id")
    dep = await make_live(request.app, who, site_id, deployment_id)
    return web.json_response({"site_id": str(site_id), "live_deployment_id": str(dep.id),
                              "commit": dep.commit_id})


async def make_live(app: web.Application, who: Principal, site_id: uuid.UUID,
                    deployment_id: uuid.UUID) -> rows.Deployment:
    """Switch the site's live link to a deployed deployment (rollback or forward), row and disk together.

    NotFound for another workspace's site or deployment, Conflict when it is not deployed or pruned.
    """
    root = app[SETTINGS].storage_path
    if root is None:
        raise InvalidRequest("this API process has no STORAGE_PATH")

    def switch(workspace_id: uuid.UUID, site: uuid.UUID, commit_id: str) -> None:
        try:
            storage.switch_live(root, workspace_id, site, commit_id)
        except PublishFailed as exc:
            # The row change rolls back with this error: database and disk stay in agreement.
            raise Conflict(f"cannot switch live to {commit_id}: {exc.message}", {"commit": commit_id}) from exc

    return await rows.Deployments(app[DATABASE], who.workspace_id).set_live(who.sub, site_id, deployment_id, switch)


def _document() -> None:
    preview = {"type": "object", "required": ["branch", "key", "deployment_id", "status", "path", "urls"],
               "properties": {"branch": {"type": "string"}, "key": {"type": "string"},
                              "deployment_id": openapi.nullable(openapi.UUID),
                              "newest_deployment_id": openapi.nullable(openapi.UUID),
                              "status": {"type": ["string", "null"]}, "path": {"type": "string"},
                              "urls": {"type": "array", "items": {"type": "string"}}}}
    openapi.document("get", "/api/sites/{id}/previews", "The site's branch previews", role="reader",
                     responses={200: ("OK", {"type": "object", "required": ["previews"], "properties": {
                         "previews": {"type": "array", "items": preview}}}), 404: "not_found"})
    listing = {"type": "object", "required": ["deployments"],
               "properties": {"deployments": {"type": "array", "items": openapi.DEPLOYMENT}}}
    openapi.document("get", "/api/commits/{id}/deployments", "Every deployment built from a commit",
                     role="reader", path_params={"id": openapi.COMMIT_ID},
                     responses={200: ("OK", listing), 404: "not_found: no such commit"})
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
    r.add_post("/api/deployments", idempotent(create_deployment))
    r.add_get("/api/deployments", list_deployments)
    r.add_get("/api/deployments/{id}", get_deployment)
    r.add_post("/api/sites/{id}/live", switch_live)
    r.add_get("/api/sites/{id}/previews", site_previews)
    r.add_get("/api/commits/{id}/deployments", commit_deployments)
    _document()
