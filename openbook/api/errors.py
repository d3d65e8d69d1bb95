"""The one place where OpenBook errors become HTTP answers (the JSON envelope)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from openbook import errors
from openbook.logs import request_id_var

log = logging.getLogger("openbook.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS: dict[type[errors.OpenBookError], int] = {
    errors.InvalidRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.IdempotencyMismatch: 422,
    errors.TooLarge: 413,
    errors.Unavailable: 503,
}

# Seconds a client should wait before retrying after a 503: the pool reconnects
# and a restarted PostgreSQL or Redis accepts connections within a few seconds.
RETRY_AFTER_S = 2

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)


def status_for(exc: errors.OpenBookError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return web.json_response(body, status=status, dumps=json.dumps)


def _clean_request_id(raw: str | None) -> str:
    if raw and len(raw) <= 128 and raw.isascii() and raw.isprintable():
        return raw
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Echo or mint the request id; put it in every log line and every response."""
    rid = _clean_request_id(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        response.headers[REQUEST_ID_HEADER] = rid
        return response
    finally:
        request_id_var.reset(token)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors and aiohttp's own HTTP errors to the JSON envelope; never leak a trace."""
    try:
        return await handler(request)
    except errors.Unavailable as exc:
        # An outage, not a bug: 503 lets clients and load balancers retry, and the
        # adapters reconnect by themselves.
        log.error("backend unavailable on %s %s: %s", request.method, request.path, exc.message)
        response = error_response(503, exc.code, "a backing service is unavailable, retry shortly",
                                  {"backend": exc.details.get("backend")})
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    except errors.OpenBookError as exc:
        status = status_for(exc)
        if status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc.message)
            return error_response(status, exc.code, "internal server error", {})
        return error_response(status, exc.code, exc.message, exc.details)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "request body is too large")
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"no route for {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as exc:
        return error_response(405, "method_not_allowed", f"{request.method} is not allowed here",
                              {"allowed": sorted(exc.allowed_methods)})
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
