"""YAML front matter: split it from a page and check the fields OpenBook reads."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from openbook.errors import RenderError
from openbook.render.problems import ERROR, Problem

try:  # libyaml is ~10x faster; fall back to the pure loader where it is missing
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The known fields of a page's front matter; `data` keeps every field as written."""

    title: str | None = None
    order: float | None = None
    template: str | None = None
    draft: bool = False
    date: str | None = None
    description: str | None = None
    aliases: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def split(path: str, text: str) -> tuple[FrontMatter, str, int]:
    """Return (front matter, body, number of lines before the body).

    Raises RenderError naming `path` (and the line) when the block is not valid YAML, not a
    mapping, or a known field has the wrong type.
    """
    meta, body, skipped, problem = read(text)
    if problem is not None:
        raise RenderError(path, problem.message, problem.line)
    return meta, body, skipped


def read(text: str) -> tuple[FrontMatter, str, int, Problem | None]:
    """(front matter, body, number of lines before the body, what is wrong with the block).

    When the block is invalid, the problem (kind ERROR, `path` None: this page) says why and
    on which line; the front matter is then the defaults, the body what follows the block
    (the whole text when the block is not closed).
    """
    if not text.startswith("---"):
        return FrontMatter(), text, 0, None
    first_nl = text.find("\n")
    if first_nl < 0 or text[:first_nl].rstrip() != "---":
        return FrontMatter(), text, 0, None
    pos = first_nl + 1
    while True:
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos:nl]
        if line.rstrip() in ("---", "..."):
            block = text[first_nl + 1 : pos]
            body = "" if nl < 0 else text[nl + 1 :]
            break
        if nl < 0:
            return FrontMatter(), text, 0, _invalid(1, "front matter is not closed by a '---' line")
        pos = nl + 1
    skipped = text.count("\n", 0, len(text) - len(body))
    try:
        data = yaml.load(block, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = mark.line + 2 if mark is not None else 1  # the block starts on the page's line 2
        where = f" (line {at})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return FrontMatter(), body, skipped, _invalid(at, f"invalid front matter{where}: {problem}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return FrontMatter(), body, skipped, _invalid(2, "invalid front matter: expected a mapping of fields")
    meta = _validate(data)
    if isinstance(meta, _Wrong):
        return FrontMatter(), body, skipped, _invalid(
            _key_line(block, meta.name), f"invalid front matter: '{meta.name}' must be {meta.expected}")
    return meta, body, skipped, None


def _invalid(line: int, message: str) -> Problem:
    return Problem(None, line, ERROR, message)


def _key_line(block: str, name: str) -> int:
    """The page's line of top-level field `name` in `block` (the lines after the opening `---`)."""
    key = re.compile(rf"""["']?{re.escape(name)}["']?\s*:""")
    for number, line in enumerate(block.splitlines(), start=2):
        if key.match(line):
            return number
    return 1


@dataclass(frozen=True, slots=True)
class _Wrong:
    """A known field of the wrong type."""

    name: str
    expected: str


def _validate(data: dict[Any, Any]) -> FrontMatter | _Wrong:
    title = data.get("title")
    if title is not None and not isinstance(title, (str, int, float)):
        return _Wrong("title", "a string")
    order = data.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
        return _Wrong("order", "a number")
    template = data.get("template")
    if template is not None and not isinstance(template, str):
        return _Wrong("template", "a template file name")
    draft = data.get("draft", False)
    if not isinstance(draft, bool):
        return _Wrong("draft", "true or false")
    date = data.get("date")
    if date is not None and not isinstance(date, (str, dt.date)):
        return _Wrong("date", "a date (YYYY-MM-DD)")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        return _Wrong("description", "a string")
    aliases = data.get("aliases", ())
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, (list, tuple)) or not all(isinstance(a, str) for a in aliases):
        return _Wrong("aliases", "a list of paths")
    return FrontMatter(
        title=None if title is None else str(title),
        order=None if order is None else float(order),
        template=template,
        draft=draft,
        date=None if date is None else (date.isoformat() if isinstance(date, dt.date) else date),
        description=description,
        aliases=tuple(aliases),
        data={str(k): v for k, v in data.items()},
    )
