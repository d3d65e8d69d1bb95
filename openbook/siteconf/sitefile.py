"""`openbook.toml`: a site's settings as of one commit, parsed and checked.

Every problem of a file is reported at once, each with its line and key, in
one RenderError whose path is the file's path in the content tree — or, for
`openbook check`, as one problem each (`collect_site_file`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from openbook.errors import InvalidPath, RenderError
from openbook.render.pages import is_markdown
from openbook.render.problems import ERROR, Problem
from openbook.siteconf.locate import Key, KeyLines, show_key, statement_at
from openbook.store.paths import validate_path

SITE_FILE = "openbook.toml"
HTML_MODES = ("escape", "sanitize", "trusted")
KEYS = ("title", "theme", "base_url", "html", "strict", "params", "redirects", "keep_deployments")
MAX_TITLE = 200  # as the API's site name
KEEP_RANGE = range(1, 1001)

HtmlMode = Literal["escape", "sanitize", "trusted"]
ThemeExists = Callable[[str], bool]

_THEME_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a theme folder's name (openbook.fs.themes)
_HTTP_URL = re.compile(r"https?://[^/\s]+(/\S*)?")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")
_TOML_TYPES = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
               dict: "a table"}


@dataclass(frozen=True, slots=True)
class Redirect:
    """`"old/page.md" = "new/page.md"` of `[redirects]`: paths relative to the site root."""

    source: str  # the old page's content path (a Markdown path)
    target: str  # the new page's content path, or an absolute http(s) URL
    line: int  # where the file names it, for later errors
    file: str = SITE_FILE  # the file that names it, from the site root (book.toml lists some too)

    @property
    def external(self) -> bool:
        return _HTTP_URL.fullmatch(self.target) is not None


@dataclass(frozen=True, slots=True)
class SiteFile:
    """The values an `openbook.toml` sets; a key the file leaves out stays None (or empty)."""

    path: str  # the file's path in the content tree, e.g. "docs/openbook.toml"
    title: str | None = None
    theme: str | None = None
    base_url: str | None = None
    html: HtmlMode | None = None
    strict: bool | None = None
    params: Mapping[str, Any] | None = None
    redirects: tuple[Redirect, ...] = ()
    keep_deployments: int | None = None


def site_file_path(root: str) -> str:
    """Where a site whose root folder is `root` keeps its site file."""
    return f"{root}/{SITE_FILE}" if root else SITE_FILE


def read_site_file(content: Mapping[str, bytes], root: str, theme_exists: ThemeExists) -> SiteFile | None:
    """The site file among `content` (paths relative to the site root `root`), or None without one.

    Raises RenderError as `parse_site_file` does.
    """
    data = content.get(SITE_FILE)
    return None if data is None else parse_site_file(data, site_file_path(root), theme_exists)


def collect_site_file(content: Mapping[str, bytes], root: str,
                      theme_exists: ThemeExists) -> tuple[SiteFile | None, tuple[Problem, ...]]:
    """`read_site_file` that never raises: the keys whose values are valid (None when the file
    is missing, not UTF-8 or not TOML), and each problem `parse_site_file` would name, of kind
    ERROR (a deployment fails on them) with its line."""
    data = content.get(SITE_FILE)
    if data is None:
        return None, ()
    path = site_file_path(root)
    found, issues = _parse(data, path, theme_exists)
    return found, tuple(Problem(path, i.line, ERROR, i.alone()) for i in issues)


def parse_site_file(data: bytes, path: str, theme_exists: ThemeExists) -> SiteFile:
    """Parse and check the bytes of a site file found at `path`.

    `theme_exists(name)` says whether a theme of that name can be loaded. Raises
    RenderError(path, cause) listing every problem with its line and key: bytes
    that are not UTF-8, invalid TOML, an unknown key, a value of the wrong type,
    a value out of range (an html mode, a URL, a path, keep_deployments), an
    unknown theme.
    """
    found, issues = _parse(data, path, theme_exists)
    if issues:
        raise RenderError(path, "; ".join(i.located() for i in issues), issues[0].line)
    assert found is not None  # a file without issues is read
    return found


@dataclass(frozen=True, slots=True)
class _Issue:
    """One problem of a file: its line, where on it (", column 3", ", key title"), and what."""

    line: int
    where: str
    what: str

    def located(self) -> str:
        """As a deployment's error says it, among the file's others: `line 3, key title: ...`."""
        return f"line {self.line}{self.where}: {self.what}"

    def alone(self) -> str:
        """As `openbook check` lists it after `file:line:`: `key title: ...`."""
        return f"{self.where.removeprefix(', ')}: {self.what}" if self.where else self.what


def _parse(data: bytes, path: str, theme_exists: ThemeExists) -> tuple[SiteFile | None, list[_Issue]]:
    """The file with the keys whose values are valid (None when it is not UTF-8 or not TOML),
    and every issue, in the order of their lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [_Issue(line, "", f"not valid UTF-8 (byte {exc.start})")]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_toml_syntax(text, str(exc))]
    check = _Checker(KeyLines(text))
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in KEYS:
            check.problem((key,), f"unknown key (known: {', '.join(KEYS)})")
        else:
            values[key] = _CHECKS[key](check, value, theme_exists)
    found = SiteFile(path=path, **{k: v for k, v in values.items() if v is not None})
    return found, sorted(check.problems, key=lambda i: i.line)


def toml_syntax_problem(text: str, message: str) -> tuple[int, str]:
    """(line, description) of tomllib's error `message` about `text`, the key there named."""
    issue = _toml_syntax(text, message)
    return issue.line, issue.located()


def _toml_syntax(text: str, message: str) -> _Issue:
    position = _POSITION.search(message)
    what = message[: position.start()] if position else message
    what = what[:1].lower() + what[1:]  # tomllib's sentences continue ours
    line = int(position.group(1)) if position and position.group(1) else None
    column = f", column {position.group(2)}" if position and position.group(2) else ""
    where = statement_at(text, line)
    if line is None:
        line = where.line if where is not None else text.count("\n") + 1
    key = f", key {show_key(where.key)}" if where is not None and where.key else ""
    return _Issue(line, f"{column}{key}", f"invalid TOML: {what}")


class _Checker:
    def __init__(self, lines: KeyLines) -> None:
        self.lines = lines
        self.problems: list[_Issue] = []

    def problem(self, key: Key, what: str) -> None:
        self.problems.append(_Issue(self.lines.line(key), f", key {show_key(key)}", what))

    def typed(self, key: Key, value: Any, kind: type) -> bool:
        # bool is an int in Python, never in TOML
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return True
        self.problem(key, f"must be {_TOML_TYPES[kind]}, not {_toml_type(value)}")
        return False


def _toml_type(value: Any) -> str:
    for kind, name in _TOML_TYPES.items():
        if isinstance(value, kind):
            return name
    return "a date or time"


def _title(check: _Checker, value: Any, _: ThemeExists) -> str | None:
    if not check.typed(("title",), value, str):
        return None
    if not value.strip() or len(value) > MAX_TITLE or _CONTROL.search(value):
        check.problem(("title",), f"must be 1 to {MAX_TITLE} printable characters")
        return None
    return cast(str, value)


def _theme(check: _Checker, value: Any, theme_exists: ThemeExists) -> str | None:
    if not check.typed(("theme",), value, str):
        return None
    if not _THEME_NAME.fullmatch(value) or not theme_exists(value):
        check.problem(("theme",), f"unknown theme {value!r} (neither a built-in theme nor one in THEMES_PATH)")
        return None
    return cast(str, value)


def _base_url(check: _Checker, value: Any, _: ThemeExists) -> str | None:
    if not check.typed(("base_url",), value, str):
        return None
    if not _HTTP_URL.fullmatch(value):
        check.problem(("base_url",), f"must be an absolute http(s) URL, not {value!r}")
        return None
    return cast(str, value)


def _html(check: _Checker, value: Any, _: ThemeExists) -> HtmlMode | None:
    if not check.typed(("html",), value, str):
        return None
    if value not in HTML_MODES:
        check.problem(("html",), f"must be one of {', '.join(HTML_MODES)}, not {value!r}")
        return None
    return cast(HtmlMode, value)


def _strict(check: _Checker, value: Any, _: ThemeExists) -> bool | None:
    return cast(bool, value) if check.typed(("strict",), value, bool) else None


def _params(check: _Checker, value: Any, _: ThemeExists) -> Mapping[str, Any] | None:
    return cast(dict[str, Any], value) if check.typed(("params",), value, dict) else None


def _keep(check: _Checker, value: Any, _: ThemeExists) -> int | None:
    if not check.typed(("keep_deployments",), value, int):
        return None
    if value not in KEEP_RANGE:
        check.problem(("keep_deployments",), f"must be from {KEEP_RANGE.start} to {KEEP_RANGE.stop - 1}, not {value}")
        return None
    return cast(int, value)


def _redirects(check: _Checker, value: Any, _: ThemeExists) -> tuple[Redirect, ...] | None:
    if not check.typed(("redirects",), value, dict):
        return None
    found: dict[str, Redirect] = {}
    for old, new in value.items():
        key = ("redirects", old)
        if isinstance(new, dict):
            # `old.md = ...` unquoted is a dotted key: TOML reads a table `old` holding `md`.
            check.problem(key, 'must be a string; quote paths used as keys ("old/page.md" = "new/page.md")')
            continue
        if not check.typed(key, new, str):
            continue
        source = _clean(check, key, old, "the old page (a Markdown path relative to the site root)")
        if source is not None and not is_markdown(source):
            check.problem(key, f"the old page {old!r} must be a Markdown path (.md or .markdown)")
            source = None
        target = new if _HTTP_URL.fullmatch(new) else _clean(
            check, key, new, "the new page (a path relative to the site root, or an absolute http(s) URL)")
        if source is None or target is None:
            continue
        if source in found:
            check.problem(key, f"names the same page as line {found[source].line}")
            continue
        found[source] = Redirect(source, target, check.lines.line(key))
    return tuple(found.values())


def _clean(check: _Checker, key: Key, path: str, what: str) -> str | None:
    try:
        return validate_path(path)
    except InvalidPath as exc:
        check.problem(key, f"{what}: {exc.message}")
        return None


_CHECKS: dict[str, Callable[[_Checker, Any, ThemeExists], Any]] = {
    "title": _title,
    "theme": _theme,
    "base_url": _base_url,
    "html": _html,
    "strict": _strict,
    "params": _params,
    "redirects": _redirects,
    "keep_deployments": _keep,
}
