"""Parse and check the runnable ```http-example blocks of docs/api.md.

The format (documented for readers in docs/api.md, "Reading the examples"):

    POST /api/branches                     request line: METHOD PATH[?QUERY]
    Authorization: Bearer $WRITER_TOKEN    request headers, one per line
                                           optional blank line
    {"name": "draft/intro"}                optional body (JSON or raw text)
    --> 201                                expected status
    Content-Type: text/markdown; ...       optional expected response headers
                                           optional blank line
    {"name": "draft/intro", ...}           expected body: a JSON subset, or exact text

`$NAME` in request headers is a token the runner mints (see TOKENS); `{{name}}`
anywhere is a value captured by an earlier example. Inside expected strings,
`<commit-id>`, `<hash>`, `<uuid>`, `<timestamp>`, `<string>` and `<any>` match a kind of
value, and `<kind as name>` also captures it as `{{name}}`. A JSON list matches
element by element; a final `"..."` element allows more elements after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

FENCE_RE = re.compile(r"^```http-example[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
REQUEST_RE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD) (/\S*)$")
HEADER_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")
STATUS_RE = re.compile(r"^--> (\d{3})$")
VAR_RE = re.compile(r"\{\{(\w+)\}\}")
TOKEN_RE = re.compile(r"\$([A-Z][A-Z_]*_TOKEN)\b")
PLACEHOLDER_RE = re.compile(r"^<(commit-id|hash|uuid|timestamp|string|any)(?: as (\w+))?>$")

KINDS: dict[str, re.Pattern[str] | None] = {
    "commit-id": re.compile(r"^[0-9a-f]{64}$"),
    "hash": re.compile(r"^[0-9a-f]{64}$"),
    "uuid": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "timestamp": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$"),
    "string": re.compile(r"^.+$", re.S),
    "any": None,
}
MORE = "..."


class ExampleError(AssertionError):
    """An example does not hold: the message names its line in docs/api.md."""


@dataclass(slots=True)
class Example:
    line: int  # line of the request in the Markdown file, for messages
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    expected: str | None = None


def parse(markdown: str) -> list[Example]:
    """Every http-example block of `markdown`, in order; ExampleError for a malformed one."""
    examples = []
    for match in FENCE_RE.finditer(markdown):
        first_line = markdown.count("\n", 0, match.start(1)) + 1
        examples.append(_parse_block(match.group(1), first_line))
    return examples


def _parse_block(text: str, line: int) -> Example:
    lines = text.rstrip("\n").split("\n")
    request = REQUEST_RE.match(lines[0])
    if request is None:
        raise ExampleError(f"line {line}: expected 'METHOD /path', got {lines[0]!r}")
    arrows = [i for i, row in enumerate(lines) if STATUS_RE.match(row)]
    if len(arrows) != 1:
        raise ExampleError(f"line {line}: an example needs exactly one '--> STATUS' line")
    ex = Example(line=line, method=request.group(1), path=request.group(2))
    ex.headers, body = _headers(lines[1:arrows[0]])
    ex.body = body or None
    status = STATUS_RE.match(lines[arrows[0]])
    assert status is not None
    ex.status = int(status.group(1))
    ex.response_headers, expected = _headers(lines[arrows[0] + 1:])
    ex.expected = expected or None
    return ex


def _headers(rows: list[str]) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    i = 0
    while i < len(rows) and (m := HEADER_RE.match(rows[i])):
        headers[m.group(1)] = m.group(2)
        i += 1
    while i < len(rows) and not rows[i].strip():
        i += 1
    return headers, "\n".join(rows[i:]).strip("\n")


def substitute(text: str, variables: dict[str, str], tokens: dict[str, str] | None = None) -> str:
    """Replace `{{name}}` by captured values (and `$X_TOKEN` by tokens when given)."""

    def var(m: re.Match[str]) -> str:
        if m.group(1) not in variables:
            raise KeyError(f"{{{{{m.group(1)}}}}} is used before an example captured it")
        return variables[m.group(1)]

    text = VAR_RE.sub(var, text)
    if tokens is not None:
        text = TOKEN_RE.sub(lambda m: tokens[m.group(1)], text)
    return text


def match(expected: Any, actual: Any, captured: dict[str, str], where: str = "$") -> None:
    """Check that `actual` contains `expected` (see the module docstring); fill `captured`."""
    if isinstance(expected, str) and (p := PLACEHOLDER_RE.match(expected)):
        kind, name = p.group(1), p.group(2)
        pattern = KINDS[kind]
        if pattern is not None and not (isinstance(actual, str) and pattern.match(actual)):
            raise ExampleError(f"{where}: expected {expected}, got {actual!r}")
        if name:
            captured[name] = actual if isinstance(actual, str) else json.dumps(actual)
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise ExampleError(f"{where}: expected an object, got {actual!r}")
        for key, value in expected.items():
            if key not in actual:
                raise ExampleError(f"{where}: missing key {key!r} in {sorted(actual)}")
            match(value, actual[key], captured, f"{where}.{key}")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            raise ExampleError(f"{where}: expected a list, got {actual!r}")
        open_ended = bool(expected) and expected[-1] == MORE
        items = expected[:-1] if open_ended else expected
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            raise ExampleError(f"{where}: expected {len(items)}{'+' if open_ended else ''} items, "
                               f"got {len(actual)}: {actual!r}")
        for i, item in enumerate(items):
            match(item, actual[i], captured, f"{where}[{i}]")
        return
    if expected != actual or type(expected) is not type(actual):
        raise ExampleError(f"{where}: expected {expected!r}, got {actual!r}")
