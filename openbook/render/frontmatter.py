"""YAML front matter: split it from a page and check the fields OpenBook reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from openbook.errors import RenderError

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

    Raises RenderError naming `path` when the block is not valid YAML, not a
    mapping, or a known field has the wrong type.
    """
    if not text.startswith("---"):
        return FrontMatter(), text, 0
    first_nl = text.find("\n")
    if first_nl < 0 or text[:first_nl].rstrip() != "---":
        return FrontMatter(), text, 0
    pos = first_nl + 1
    while True:
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos:nl]
        if line.rstrip() in ("---", "..."):
            block = text[first_nl + 1 : pos]
            body = "" if nl < 0 else text[nl + 1 :]
            break
        if nl < 0:
            raise RenderError(path, "front matter is not closed by a '---' line")
        pos = nl + 1
    skipped = text.count("\n", 0, len(text) - len(body))
    try:
        data = yaml.load(block, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RenderError(path, f"invalid front matter{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RenderError(path, "invalid front matter: expected a mapping of fields")
    return _validate(path, data), body, skipped


def _validate(path: str, data: dict[Any, Any]) -> FrontMatter:
    def fail(name: str, expected: str) -> RenderError:
        return RenderError(path, f"invalid front matter: '{name}' must be {expected}")

    title = data.get("title")
    if title is not None and not isinstance(title, (str, int, float)):
        raise fail("title", "a string")
    order = data.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
        raise fail("order", "a number")
    template = data.get("template")
    if template is not None and not isinstance(template, str):
        raise fail("template", "a template file name")
    draft = data.get("draft", False)
    if not isinstance(draft, bool):
        raise fail("draft", "true or false")
    date = data.get("date")
    if date is not None and not isinstance(date, (str, dt.date)):
        raise fail("date", "a date (YYYY-MM-DD)")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise fail("description", "a string")
    aliases = data.get("aliases", ())
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, (list, tuple)) or not all(isinstance(a, str) for a in aliases):
        raise fail("aliases", "a list of paths")
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
