"""Problems: what a build could not render, with the file and line to fix, each listed once.

A problem does not stop a build (strict mode makes it fail): an include that
names a missing file, a directive no preprocessor knows, a nav entry naming a
missing page, a malformed `mkdocs.yml`. The deployment's stats list each
distinct problem once, with the first line it occurs on and how often it does,
however many pages meet it (a snippet included by 500 pages is one problem).

An error is what fails a build outright (a page that is not UTF-8 or whose
front matter is invalid, a template that fails, two files publishing one
path). A deployment stops at the first; a build that collects them
(`openbook check`) lists each as a problem of kind `error` and goes on
without what failed (`Failures`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openbook.errors import BuildLimitExceeded, RenderError

# kinds, as stats show them
INCLUDE = "include"  # {{#include}} and its kin: a missing, outside, cyclic or anchorless include
SYNTAX = "syntax"  # syntax of another tool left as text: an unknown {{#directive}}, a {% tag %}
CONFIG = "config"  # a site configuration file: book.toml, mkdocs.yml, .gitbook.yaml
NAV = "nav"  # a navigation entry that names no page
ERROR = "error"  # what fails a deployment (`Failures`): only a build that collects them lists it


@dataclass(frozen=True, slots=True)
class Problem:
    """One occurrence. `path` is None for "the page this was found in" (a parse is shared by
    every page with the same bytes, so it cannot name its own file)."""

    path: str | None
    line: int  # 1-based; 0 when the whole file is meant
    kind: str
    message: str

    def at(self, page: str) -> Problem:
        """This problem with `path` filled in for the page it was found in."""
        return self if self.path is not None else Problem(page, self.line, self.kind, self.message)


class Failures:
    """Where a build's errors go: raised at once (a deployment fails on the first, as the
    RenderError met), or — when `collect` — kept as problems of kind ERROR, the build going on
    without the page or file that failed. A limit of the build process (BuildLimitExceeded)
    always stops it."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.found: list[Problem] = []

    def fail(self, error: RenderError) -> None:
        """Raise `error`, or keep it when collecting."""
        if not self.collect or isinstance(error, BuildLimitExceeded):
            raise error
        self.found.append(Problem(error.path, error.line, ERROR, error.cause))


def summarize(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Each distinct problem (same file, kind and message) once: its first line and its count,
    sorted by file and line. Every path must be filled in."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for p in problems:
        assert p.path is not None, p
        entry = found.get((p.path, p.kind, p.message))
        if entry is None:
            found[(p.path, p.kind, p.message)] = {
                "path": p.path, "line": p.line, "kind": p.kind, "message": p.message, "count": 1}
        else:
            entry["count"] += 1
            entry["line"] = min(entry["line"], p.line)
    return sorted(found.values(), key=lambda e: (e["path"], e["line"], e["kind"], e["message"]))


def summarize_links(broken: Iterable[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Broken links (file, line, target) as stats list them: each (file, target) once, with its
    first line and its count, sorted by file, line and target."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, line, target in broken:
        entry = found.get((path, target))
        if entry is None:
            found[(path, target)] = {"path": path, "line": line, "target": target, "count": 1}
        else:
            entry["count"] += 1
            entry["line"] = min(entry["line"], line)
    return sorted(found.values(), key=lambda e: (e["path"], e["line"], e["target"]))


def describe(entry: dict[str, Any]) -> str:
    """One stats entry (a problem or a broken link) as `openbook check` prints it: `file:line: what`,
    `file:line: error: what` for an error (which fails any deployment)."""
    where = f"{entry['path']}:{entry['line']}" if entry["line"] else entry["path"]
    what = entry["message"] if "message" in entry else f"broken link to {entry['target']}"
    if entry.get("kind") == ERROR:
        what = f"error: {what}"
    times = f" ({entry['count']} times)" if entry["count"] > 1 else ""
    return f"{where}: {what}{times}"
