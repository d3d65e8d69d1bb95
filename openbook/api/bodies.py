"""Reading and validating JSON request bodies: every mistake is a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web

from openbook.errors import InvalidRequest

T = TypeVar("T")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; malformed JSON or another JSON type is InvalidRequest."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def field(body: dict[str, Any], name: str, kind: type[T], *, required: bool = True,
          default: T | None = None) -> T | None:
    """`body[name]` checked against `kind` (bool is not accepted as int)."""
    if name not in body or body[name] is None:
        if required:
            raise InvalidRequest(f"field {name!r} is required", {"field": name})
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"field {name!r} must be {kind.__name__}", {"field": name})
    return value


def required_str(body: dict[str, Any], name: str) -> str:
    value = field(body, name, str)
    assert value is not None
    return value


def optional_str(body: dict[str, Any], name: str) -> str | None:
    return field(body, name, str, required=False)


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"query parameter {name!r} must be an integer", {"field": name}) from exc
    if not lo <= value <= hi:
        raise InvalidRequest(f"query parameter {name!r} must be between {lo} and {hi}", {"field": name})
    return value
