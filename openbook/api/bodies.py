"""Reading and validating request input: every mistake is a 400 naming the field.

Every JSON body goes through `read_json_object`, and every path and query
parameter through `url_text_middleware`, so the rules that keep input from
reaching PostgreSQL in a form it cannot store hold for every handler:

- no lone UTF-16 surrogates (`"\\ud800"`): valid JSON escapes, but not
  Unicode text, so they cannot be encoded to UTF-8;
- no U+0000: PostgreSQL `text` and `jsonb` cannot hold it (binary file
  content goes in `content_base64`);
- finite numbers only (`NaN`, `Infinity`, `1e400` are refused);
- at most `MAX_JSON_DEPTH` levels of nested arrays and objects.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import web

from openbook.api.errors import Handler
from openbook.errors import InvalidRequest

T = TypeVar("T")

# Deep enough for any body the API defines (the deepest, site settings with
# free-form `params`, is 3 levels plus what a theme nests); shallow enough
# that no validator or encoder recurses into trouble.
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None."""
    if "\x00" in text:
        return "must not contain U+0000"
    if not text.isascii() and _SURROGATE.search(text):
        return "must be valid Unicode: lone surrogates (U+D800 to U+DFFF) are not text"
    return None


def field_name(path: tuple[str | int, ...]) -> str:
    """`("changes", 0, "path")` → `changes[0].path`; odd keys are JSON-quoted: `params["a b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def find_bad_text(value: Any, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """The first (field, problem) of a parsed JSON value whose strings or keys cannot be stored, or None.

    Also reports a value nested deeper than `max_depth`. Iterative, so no
    input can exhaust the stack here.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return field_name(path) or "body", problem
        elif isinstance(item, dict | list):
            if len(path) >= max_depth:
                return field_name(path), f"nests deeper than {max_depth} levels"
            if isinstance(item, list):
                stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(item))))
                continue
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            for key, v in item.items():
                problem = text_problem(key)
                if problem is not None:
                    return field_name((*path, key)), f"key {problem}"
                children.append((v, (*path, key)))
            stack.extend(reversed(children))
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object of storable text; InvalidRequest (naming the field) otherwise."""
    raw = await request.read()
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels",
                             {"field": "body"}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    bad = find_bad_text(body)
    if bad is not None:
        field, problem = bad
        if field.endswith(".content"):
            problem += " (send bytes that are not text with content_base64)"
        raise InvalidRequest(f"{field}: {problem}", {"field": field})
    return body


@web.middleware
async def url_text_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse path and query parameters that cannot be stored as text (U+0000, lone surrogates)."""
    for name, value in request.match_info.items():
        problem = text_problem(value)
        if problem is not None:
            raise InvalidRequest(f"path parameter {name!r}: {problem}", {"field": name})
    for name, value in request.query.items():
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            raise InvalidRequest(f"query parameter {name!r}: {problem}", {"field": name})
    return await handler(request)


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
    """The integer query parameter `name` in lo..hi, `default` when absent; InvalidRequest otherwise (even empty)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"query parameter {name!r} must be an integer", {"field": name}) from exc
    if not lo <= value <= hi:
        raise InvalidRequest(f"query parameter {name!r} must be between {lo} and {hi}", {"field": name})
    return value
