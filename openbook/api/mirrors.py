"""Mirrors of external git repositories (docs/git.md, "Mirrors"): the API and the push hook.

`POST /api/mirrors` (admin) follows an external repository's ref into a
branch; `POST /hooks/git/{id}` is what the repository's host calls on every
push: it carries no token, so it proves itself with the mirror's secret,
GitHub's way (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`) or
GitLab's (`X-Gitlab-Token: <secret>`), both compared in constant time.
Every delivery is logged, accepted or not; an accepted one makes the mirror
due, and a worker syncs it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web
from yarl import URL

from openbook.api import openapi
from openbook.api.auth import require
from openbook.api.bodies import optional_str, query_int, read_json_object, required_str
from openbook.api.keys import DATABASE, SETTINGS
from openbook.api.sites import path_uuid
from openbook.db import mirrors as rows
from openbook.db.webhooks import MAX_SECRET_BYTES, MIN_SECRET_BYTES, SECRET_RE
from openbook.errors import InvalidRequest, NotFound, Unauthorized
from openbook.pipeline.targets import check_literal
from openbook.store.paths import validate_branch_name

FIELDS = ("url", "branch", "secret", "ref")
EVENTS_LISTED, MAX_EVENTS_LISTED = 20, 100
MAX_HOOK_BYTES = 25 * 1024 * 1024  # GitHub's own cap on a webhook payload


async def create_mirror(request: web.Request) -> web.Response:
    who = require(request, "admin")
    body = await read_json_object(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}",
                             {"fields": unknown})
    url = rows.validate_url(required_str(body, "url"))
    if not request.app[SETTINGS].webhooks.allow_private:
        check_literal(URL(url))
    branch = validate_branch_name(required_str(body, "branch"))
    ref = rows.validate_ref(optional_str(body, "ref") or "HEAD")
    secret = required_str(body, "secret")
    mirror = await rows.Mirrors(request.app[DATABASE], who.workspace_id).create(who.sub, url, ref, branch, secret)
    return web.json_response(mirror.to_json(), status=201)


async def list_mirrors(request: web.Request) -> web.Response:
    who = require(request, "read")
    found = await rows.Mirrors(request.app[DATABASE], who.workspace_id).all()
    return web.json_response({"mirrors": [m.to_json() for m in found]})


async def get_mirror(request: web.Request) -> web.Response:
    who = require(request, "read")
    mirror_id = path_uuid(request, "id", "mirror")
    repo = rows.Mirrors(request.app[DATABASE], who.workspace_id)
    mirror = await repo.get(mirror_id)
    events = await repo.events(mirror_id, query_int(request, "limit", EVENTS_LISTED, 1, MAX_EVENTS_LISTED))
    return web.json_response({**mirror.to_json(), "events": events})


async def sync_mirror(request: web.Request) -> web.Response:
    who = require(request, "write")
    mirror = await rows.Mirrors(request.app[DATABASE], who.workspace_id).request_sync(
        path_uuid(request, "id", "mirror"))
    return web.json_response(mirror.to_json(), status=202)


def verify(headers: Any, body: bytes, secret: str) -> tuple[str, bool]:
    """Which host's scheme a delivery uses (`github`, `gitlab` or `none`) and whether it proves the secret."""
    signature = headers.get("X-Hub-Signature-256")
    if signature is not None:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return "github", hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    token = headers.get("X-Gitlab-Token")
    if token is not None:
        return "gitlab", hmac.compare_digest(secret.encode(), token.encode("utf-8", "replace"))
    return "none", False


async def hook(request: web.Request) -> web.Response:
    try:
        mirror_id = path_uuid(request, "id", "mirror")
    except NotFound:
        raise NotFound("no such hook") from None
    db = request.app[DATABASE]
    target = await rows.hook_target(db, mirror_id)
    if target is None:
        raise NotFound("no such hook")
    body = await request.content.read(MAX_HOOK_BYTES + 1)
    provider, ok = verify(request.headers, body, target.secret)
    event = request.headers.get("X-GitHub-Event") or request.headers.get("X-Gitlab-Event") or ""
    details = {"provider": provider, "event": event[:100], "bytes": len(body),
               "delivery": (request.headers.get("X-GitHub-Delivery") or "")[:100]}
    if not ok or len(body) > MAX_HOOK_BYTES:
        why = "signature does not match" if provider != "none" else "no X-Hub-Signature-256 or X-Gitlab-Token"
        if ok:
            why = f"body over {MAX_HOOK_BYTES:,} bytes"
        await rows.record_delivery(db, target, "refused", {**details, "reason": why}, due=False)
        raise Unauthorized(f"hook refused: {why}")
    if event == "ping":  # GitHub's test delivery when a hook is added
        await rows.record_delivery(db, target, "ping", details, due=False)
        return web.json_response({"mirror": str(mirror_id), "sync": "not needed"})
    await rows.record_delivery(db, target, "accepted", details, due=True)
    return web.json_response({"mirror": str(mirror_id), "sync": "requested"}, status=202)


MIRROR_BODY: dict[str, Any] = {
    "type": "object", "required": ["url", "branch", "secret"], "additionalProperties": False, "properties": {
        "url": {"type": "string", "maxLength": rows.MAX_URL, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$",
                "description": "the repository's https or http URL, without credentials; loopback and private"
                               " addresses are refused unless WEBHOOK_ALLOW_PRIVATE=1"},
        "branch": {**openapi.BRANCH_NAME, "description": "the OpenBook branch that follows it"},
        "ref": {"type": "string", "pattern": "^(HEAD|refs/heads/[A-Za-z0-9._/-]{1,200})$", "not": {"pattern": "\\.\\."},
                "description": "what to follow: HEAD (its default branch, the default) or refs/heads/<name>"},
        "secret": {"type": "string", "pattern": f"^{SECRET_RE.pattern}$",
                   "description": f"what hooks prove: {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} printable ASCII"
                                  " characters; never returned"}}}
TIMES = openapi.nullable(openapi.TIMESTAMP)
MIRROR: dict[str, Any] = {
    "type": "object", "required": ["id", "url", "ref", "branch", "hook", "created_at", "sync_requested_at",
                                   "synced_at", "synced_commit", "last_error"], "properties": {
        "id": openapi.UUID, "url": {"type": "string"}, "ref": {"type": "string"}, "branch": {"type": "string"},
        "hook": {"type": "string", "description": "the path to give the repository's host as its push webhook"},
        "created_at": openapi.TIMESTAMP, "sync_requested_at": TIMES, "synced_at": TIMES,
        "synced_commit": {"type": ["string", "null"], "description": "git id of the external commit last synced"},
        "last_error": {"type": ["string", "null"]}}}
EVENT: dict[str, Any] = {
    "type": "object", "required": ["kind", "outcome", "details", "created_at"], "properties": {
        "kind": {"enum": ["delivery", "sync"]}, "outcome": {"type": "string"}, "details": {"type": "object"},
        "created_at": openapi.TIMESTAMP}}


HOOK_ANSWER: dict[str, Any] = {"type": "object", "required": ["mirror", "sync"], "properties": {
    "mirror": openapi.UUID, "sync": {"enum": ["requested", "not needed"]}}}


def _document() -> None:
    openapi.document("post", "/api/mirrors", "Follow an external git repository into a branch", role="admin",
                     body=MIRROR_BODY, responses={201: ("the mirror, due for its first sync", MIRROR),
                                                  409: "already_exists or conflict"})
    openapi.document("get", "/api/mirrors", "List the workspace's mirrors", role="reader",
                     responses={200: ("OK", {"type": "object", "required": ["mirrors"], "properties": {
                         "mirrors": {"type": "array", "items": MIRROR}}})})
    openapi.document("get", "/api/mirrors/{id}", "One mirror with its newest deliveries and syncs", role="reader",
                     params=[openapi.query("limit", "events, 1 to 100, default 20", schema={
                         "type": "integer", "minimum": 1, "maximum": MAX_EVENTS_LISTED, "default": EVENTS_LISTED})],
                     responses={200: ("OK", {**MIRROR, "required": [*MIRROR["required"], "events"], "properties": {
                         **MIRROR["properties"], "events": {"type": "array", "items": EVENT}}}),
                                404: "not_found"})
    openapi.document("post", "/api/mirrors/{id}/sync", "Ask for a sync now", role="writer",
                     responses={202: ("due", MIRROR), 404: "not_found"})
    openapi.document("post", "/hooks/git/{id}", "Push webhook of a mirror's repository (GitHub or GitLab)",
                     role="none", responses={
                         200: ("a ping, logged", HOOK_ANSWER), 202: ("a sync is due", HOOK_ANSWER),
                         401: "the delivery does not prove the mirror's secret (logged)", 404: "not_found"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/mirrors", create_mirror)
    r.add_get("/api/mirrors", list_mirrors)
    r.add_get("/api/mirrors/{id}", get_mirror)
    r.add_post("/api/mirrors/{id}/sync", sync_mirror)
    r.add_post("/hooks/git/{id}", hook)
    _document()
