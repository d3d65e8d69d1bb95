"""`openbook check DIR [--strict]`: render a folder as a deployment would, publish nothing, and
print every problem (broken links and anchors, unexpanded syntax, configuration) with its file
and line; exit 1 when a strict deployment would fail. What a docs repository runs in its CI.

The folder is read as `openbook push` reads it (`fs.scan`: no symlinks, no dot-files but
`.well-known/` and GitBook's), configured as the worker configures a commit
(`publish.compose`), and rendered without writing anything.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openbook.errors import InvalidRequest, NotFound, RenderError
from openbook.fs.scan import scan_folder
from openbook.fs.themes import load_theme, theme_exists
from openbook.publish import compose
from openbook.render.problems import ERROR, describe

EXIT_OK, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Folder:
    """A local folder as the site row the worker would have: its name, the book theme, no settings."""

    name: str
    theme: str = "book"
    root: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    lines: list[str]  # one per problem, `path:line: what (N times)`, sorted by file and line
    errors: int  # how many of them fail any deployment (a page that does not parse...)
    error: str | None  # what stopped the build before anything rendered (a theme that does not load)
    strict: bool  # whether the check was strict (--strict, or the site's own `strict`)

    @property
    def fails(self) -> bool:
        """Whether a deployment would fail: an error, or any problem when strict."""
        return self.error is not None or self.errors > 0 or (self.strict and bool(self.lines))


def check_folder(folder: Path, *, strict: bool, themes_path: Sequence[Path] = ()) -> Report:
    """Render `folder` as a deployment of a site whose root it is would (configuration files
    applied), with `strict` forced on when asked. Raises InvalidRequest when the folder cannot be read."""
    content = scan_folder(folder)
    row = _Folder(folder.resolve().name)
    config = compose.configure(row, content, lambda name: theme_exists(name, themes_path), collect=True)
    try:
        chain = load_theme(config.theme, themes_path)
        result = compose.render_site(content, config, chain, workers=1, collect=True)
    except (RenderError, NotFound) as exc:  # a theme that does not load, a build over a limit
        return Report([], 0, exc.message, strict or config.strict)
    entries = [*result.stats.get("problems", []), *result.stats.get("broken_links", [])]
    entries.sort(key=lambda e: (e["path"], e["line"]))
    errors = sum(e.get("kind") == ERROR for e in entries)
    return Report([describe(e) for e in entries], errors, None, strict or config.strict)


def run_check_cli(folder: Path, *, strict: bool, themes_path: Sequence[Path]) -> int:
    """Print the report of `folder` (problems on stdout, the verdict on stderr); the exit code:
    0, 1 when a (strict) deployment would fail, 2 when the folder cannot be read."""
    out, err = sys.stdout, sys.stderr
    if not folder.is_dir():
        print(f"openbook: check: {folder} is not a folder", file=err)
        return EXIT_USAGE
    try:
        report = check_folder(folder, strict=strict, themes_path=themes_path)
    except InvalidRequest as exc:
        print(f"openbook: check: {exc.message}", file=err)
        return EXIT_USAGE
    for line in report.lines:
        print(line, file=out)
    if report.error is not None:
        print(f"openbook: check: the deployment would fail: {report.error}", file=err)
        return EXIT_FAILS
    count = f"{len(report.lines)} problem{'' if len(report.lines) == 1 else 's'}"
    if report.errors:
        errors = f"{report.errors} error{'' if report.errors == 1 else 's'}"
        print(f"openbook: check: {count}; any deployment fails on the {errors} among them", file=err)
        return EXIT_FAILS
    if report.fails:
        print(f"openbook: check: {count}; a strict deployment fails on them", file=err)
        return EXIT_FAILS
    print(f"openbook check: {count}" + ("" if report.strict else " (not strict: a deployment would not fail)"),
          file=err)
    return EXIT_OK
