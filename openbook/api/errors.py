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

# What a client may send: one header (name plus value) and the request target
# each at most 8190 bytes, aiohttp's own defaults. The parser itself is given
# room up to PARSER_LINE_BYTES (see `PARSER_LIMITS`) so that a request between
# the two reaches `header_limit_middleware` and gets the JSON envelope and a
# request id; beyond PARSER_LINE_BYTES aiohttp answers a plain-text 400 before
# any OpenBook code runs. aiohttp also caps a request at 128 header lines.
MAX_HEADER_BYTES = 8190
MAX_TARGET_BYTES = 8190
PARSER_LINE_BYTES = 32 * 1024
PARSER_LIMITS = {"max_field_size": PARSER_LINE_BYTES, "max_line_size": PARSER_LINE_BYTES}


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
async def header_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """431 for a header over MAX_HEADER_BYTES, 414 for a request target over MAX_TARGET_BYTES."""
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER_BYTES:
            header = name[:100].decode("latin-1")
            return error_response(431, "header_too_large",
                                  f"header {header!r} is over {MAX_HEADER_BYTES} bytes (name and value)",
                                  {"header": header, "limit": MAX_HEADER_BYTES})
    if len(request.raw_path) > MAX_TARGET_BYTES:
        return error_response(414, "uri_too_long", f"the request target is over {MAX_TARGET_BYTES} bytes",
                              {"limit": MAX_TARGET_BYTES})
    return await handler(request)


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
        response = error_response(status, exc.code, exc.message, exc.details)
        if status == 401 and request.path.startswith("/git/"):
            # What makes a git client ask for (or send its stored) credentials.
            response.headers["WWW-Authenticate"] = 'Basic realm="OpenBook", charset="UTF-8"'
        return response
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "request body is too large")
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"no route for {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as exc:
        allowed = sorted(exc.allowed_methods)
        response = error_response(405, "method_not_allowed", f"{request.method} is not allowed here",
                                  {"allowed": allowed})
        response.headers["Allow"] = ", ".join(allowed)  # RFC 9110 §15.5.6: a 405 must list them
        return response
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
