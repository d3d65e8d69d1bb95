"""Outgoing webhook endpoints (SPEC §11, docs/webhooks.md): admins subscribe, list, delete, read deliveries."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from openbook.api import openapi
from openbook.api.auth import require
from openbook.api.bodies import query_int, read_json_object, required_str
from openbook.api.idempotency import idempotent, on_effect
from openbook.api.keys import DATABASE, SETTINGS
from openbook.api.sites import path_uuid
from openbook.db import webhooks as rows
from openbook.errors import InvalidRequest
from openbook.pipeline.targets import MAX_URL, check_literal, parse_url

FIELDS = ("url", "events", "secret")
LISTED, MAX_LISTED = 20, 100


async def create_webhook(request: web.Request) -> web.Response:
    who = require(request, "admin")
    body = await read_json_object(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}",
                             {"fields": unknown})
    missing = [name for name in FIELDS if name not in body]
    if missing:
        raise InvalidRequest(f"field(s) {', '.join(missing)} required", {"fields": missing})
    url = parse_url(required_str(body, "url"))
    if not request.app[SETTINGS].webhooks.allow_private:
        check_literal(url)
    events = rows.validate_events(body["events"])
    secret = rows.validate_secret(body["secret"])
    hook = await rows.Webhooks(request.app[DATABASE], who.workspace_id).create(
        who.sub, str(url), events, secret, on_effect(request, 201, rows.Webhook.to_json))
    return web.json_response(hook.to_json(), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    who = require(request, "admin")
    hooks = await rows.Webhooks(request.app[DATABASE], who.workspace_id).all()
    return web.json_response({"webhooks": [h.to_json() for h in hooks]})


async def delete_webhook(request: web.Request) -> web.Response:
    who = require(request, "admin")
    webhook_id = path_uuid(request, "id", "webhook")
    await rows.Webhooks(request.app[DATABASE], who.workspace_id).delete(who.sub, webhook_id)
    return web.json_response({"id": str(webhook_id), "deleted": True})


async def list_deliveries(request: web.Request) -> web.Response:
    who = require(request, "admin")
    webhook_id = path_uuid(request, "id", "webhook")
    limit = query_int(request, "limit", LISTED, 1, MAX_LISTED)
    found = await rows.Webhooks(request.app[DATABASE], who.workspace_id).deliveries(webhook_id, limit)
    return web.json_response({"deliveries": [d.to_json() for d in found]})


# The document states what the handler checks: a body outside it is refused. Inside it, a URL can still
# be refused (no host, an unparsable port, a private IP literal): JSON Schema cannot state those rules.
WEBHOOK_BODY: dict[str, Any] = {
    "type": "object", "required": list(FIELDS), "additionalProperties": False, "properties": {
        "url": {"type": "string", "maxLength": MAX_URL, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$",
                "description": "an http(s) URL with a host; loopback and private addresses are refused unless"
                               " WEBHOOK_ALLOW_PRIVATE=1", "examples": ["https://ci.example.com/openbook"]},
        "events": {"type": "array", "minItems": 1, "items": {"enum": list(rows.EVENTS)},
                   "description": "duplicates are ignored"},
        "secret": {"type": "string", "pattern": f"^{rows.SECRET_RE.pattern}$",
                   "description": f"the HMAC-SHA256 key: {rows.MIN_SECRET_BYTES} to {rows.MAX_SECRET_BYTES}"
                                  " printable ASCII characters; never returned"}}}
WEBHOOK: dict[str, Any] = {
    "type": "object", "required": ["id", "url", "events", "created_at"], "properties": {
        "id": openapi.UUID, "url": {"type": "string"},
        "events": {"type": "array", "items": {"enum": list(rows.EVENTS)}}, "created_at": openapi.TIMESTAMP}}
ATTEMPT: dict[str, Any] = {
    "type": "object", "required": ["attempt", "status_code", "error", "duration_ms", "at"], "properties": {
        "attempt": {"type": "integer", "minimum": 1}, "status_code": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]}, "duration_ms": {"type": "integer", "minimum": 0},
        "at": openapi.TIMESTAMP}}
DELIVERY: dict[str, Any] = {
    "type": "object", "required": ["id", "event", "status", "attempts", "created_at", "finished_at",
                                   "next_attempt_at"], "properties": {
        "id": openapi.UUID, "event": {"enum": list(rows.EVENTS)},
        "status": {"enum": ["pending", "delivered", "failed"]}, "attempts": {"type": "array", "items": ATTEMPT},
        "created_at": openapi.TIMESTAMP, "finished_at": openapi.nullable(openapi.TIMESTAMP),
        "next_attempt_at": openapi.nullable(openapi.TIMESTAMP)}}


def _listing(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [name], "properties": {name: {"type": "array", "items": item}}}


def _document() -> None:
    openapi.document("post", "/api/webhooks", "Subscribe a URL to events (signed POSTs)", role="admin",
                     body=WEBHOOK_BODY, responses={201: ("the webhook, without its secret", WEBHOOK),
                                                   409: "conflict: the workspace has the most webhooks allowed"})
    openapi.document("get", "/api/webhooks", "List the workspace's webhooks", role="admin",
                     responses={200: ("OK", _listing("webhooks", WEBHOOK))})
    openapi.document("delete", "/api/webhooks/{id}", "Delete a webhook and its deliveries", role="admin",
                     responses={200: ("deleted", {"type": "object", "required": ["id", "deleted"], "properties": {
                         "id": openapi.UUID, "deleted": {"const": True}}}), 404: "not_found"})
    openapi.document("get", "/api/webhooks/{id}/deliveries", "Deliveries newest first, with every attempt",
                     role="admin", params=[openapi.query(
                         "limit", "1 to 100, default 20",
                         schema={"type": "integer", "minimum": 1, "maximum": MAX_LISTED, "default": LISTED})],
                     responses={200: ("OK", _listing("deliveries", DELIVERY)), 404: "not_found"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/webhooks", idempotent(create_webhook))
    r.add_get("/api/webhooks", list_webhooks)
    r.add_delete("/api/webhooks/{id}", delete_webhook)
    r.add_get("/api/webhooks/{id}/deliveries", list_deliveries)
    _document()
