"""mdBook's directives, expanded in a page's text before it is parsed.

    {{#include path}}            a file (relative to the file holding the directive)
    {{#include path:2}}          its line 2; `:2:10`, `::10`, `:2:` for ranges
    {{#include path:name}}       the lines between `ANCHOR: name` and `ANCHOR_END: name`
    {{#rustdoc_include path:..}} the same (mdBook hides the other lines; hidden lines are dropped)
    {{#playground path ...}}     the file as a ```rust code block
    {{#title Text}}              the page's title
    \\{{#include path}}          written as is, without the backslash

Included text is expanded in turn (up to `MAX_DEPTH` levels). Only `content`
is read — the site's own files — so a path that leaves the site's folder
reads nothing. What cannot be expanded stays as written and is reported as
a problem with its file and line. Every file a page tried to include is a
dependency of the page (a missing one too: adding it changes the page).

Each expanded line remembers where it came from (`LineMap`), so a problem
found later in an included listing names the listing and its line.
"""

from __future__ import annotations

import bisect
import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from openbook.render.problems import INCLUDE, SYNTAX, Problem

MAX_DEPTH = 10  # as mdBook
MARKER = b"{{#"  # in a page's bytes: it may hold directives
_DIRECTIVE_RE = re.compile(r"\\\{\{#[^\n]*?\}\}|\{\{\s*#([A-Za-z0-9_]+)[ \t]*([^}]*)\}\}")
_ANCHOR_RE = re.compile(r"ANCHOR:\s*([\w-]+)")
_ANCHOR_END_RE = re.compile(r"ANCHOR_END:\s*([\w-]+)")
_INCLUDES = ("include", "rustdoc_include", "playground", "playpen")

Origin = tuple[str | None, int]  # (file from the site root, None for the page itself; 1-based line)


@dataclass(frozen=True, slots=True)
class LineMap:
    """Where each line of an expanded text was written: runs of consecutive lines of one file."""

    starts: tuple[int, ...] = ()  # the first expanded line (1-based) of each run
    origins: tuple[Origin, ...] = ()  # that line's origin; the run's next lines follow it

    def origin(self, line: int) -> Origin:
        """The file (None: the page) and line that expanded line `line` came from."""
        i = bisect.bisect_right(self.starts, line) - 1
        if i < 0:
            return None, line
        path, first = self.origins[i]
        return path, first + line - self.starts[i]

    def problem(self, problem: Problem) -> Problem:
        """`problem`, found at an expanded line of the page, placed where that line came from."""
        path, line = self.origin(problem.line)
        return Problem(path, line, problem.kind, problem.message)


IDENTITY = LineMap()


@dataclass(frozen=True, slots=True)
class Expanded:
    text: str
    deps: tuple[tuple[str, str | None], ...]  # (path, sha256 hex, None when missing), sorted
    lines: LineMap
    problems: tuple[Problem, ...]  # `path` None: the page itself
    title: str | None  # from {{#title}}


@dataclass(slots=True)
class Digests:
    """sha256 hex of the content's files, each computed once per build (many pages share listings)."""

    content: Mapping[str, bytes]
    _known: dict[str, str | None] = field(default_factory=dict)

    def of(self, path: str) -> str | None:
        if path not in self._known:
            data = self.content.get(path)
            self._known[path] = None if data is None else hashlib.sha256(data).hexdigest()
        return self._known[path]


def expand(path: str, text: str, digests: Digests) -> Expanded:
    """`text`, the page at `path` (from the site root), with its directives expanded."""
    run = _Expansion(digests)
    out, origins = run.text(path, None, text, None, (path,))
    return Expanded(out, tuple(sorted(run.deps.items())), _compress(origins), tuple(run.problems), run.title)


def page_digest(digest: bytes, deps: tuple[tuple[str, str | None], ...]) -> str:
    """sha256 hex of a page's bytes (`digest`) and of every file it includes: what its parse decides."""
    if not deps:
        return digest.hex()
    h = hashlib.sha256(digest)
    for path, dep in deps:
        h.update(f"\0{path}\0{dep or '-'}".encode())
    return h.hexdigest()


class _Expansion:
    def __init__(self, digests: Digests) -> None:
        self.digests = digests
        self.deps: dict[str, str | None] = {}
        self.problems: list[Problem] = []
        self.title: str | None = None

    def text(self, path: str, origin: str | None, text: str, numbers: list[int] | None,
             stack: tuple[str, ...]) -> tuple[str, list[Origin]]:
        """`text` of file `path` (named `origin` in problems) expanded, and the origin of each line.
        `numbers` are the file's line numbers of the text's lines (None: 1, 2, 3...)."""

        def own(i: int) -> Origin:
            return origin, numbers[min(i, len(numbers) - 1)] if numbers else i + 1

        pieces: list[str] = []
        origins = [own(0)]  # of every line begun so far
        lineno = 0  # the text's line at `pos`
        line_start = True  # nothing written yet on the current expanded line

        def write_own(chunk: str) -> None:
            nonlocal lineno, line_start
            pieces.append(chunk)
            for _ in range(chunk.count("\n")):
                lineno += 1
                origins.append(own(lineno))
            if chunk:
                line_start = chunk.endswith("\n")

        pos = 0
        for m in _DIRECTIVE_RE.finditer(text):
            write_own(text[pos:m.start()])
            pos = m.end()
            raw = m.group(0)
            if raw.startswith("\\"):
                write_own(raw[1:])
                continue
            inserted = self.directive(path, m.group(1), m.group(2), own(lineno), stack)
            if inserted is None:
                write_own(raw)
                continue
            body, body_origins = inserted
            pieces.append(body)
            if line_start:  # the expanded line starts with the inserted text: it comes from there
                origins[-1] = body_origins[0]
            origins.extend(body_origins[1:])
            if body:
                line_start = body.endswith("\n")
            lineno += raw.count("\n")
        write_own(text[pos:])
        return "".join(pieces), origins

    def directive(self, path: str, kind: str, arg: str, here: Origin,
                  stack: tuple[str, ...]) -> tuple[str, list[Origin]] | None:
        """What the directive stands for, or None (left as written; a problem says why)."""
        arg = arg.strip()
        if kind == "title":
            if len(stack) == 1 and arg:
                self.title = arg
            return "", [here]
        if kind not in _INCLUDES:
            self.problem(here, SYNTAX, f"unknown directive {{{{#{kind}}}}}: left as written")
            return None
        target, _, props = arg.partition(" ")
        file, _, selector = target.partition(":")
        found = self.include(path, file, selector, here, stack)
        if found is None or kind not in ("playground", "playpen"):
            return found
        body, origins = found
        attrs = ",".join(props.split())
        return f"```rust{',' + attrs if attrs else ''}\n{body}\n```", [here, *origins, here]

    def include(self, path: str, file: str, selector: str, here: Origin,
                stack: tuple[str, ...]) -> tuple[str, list[Origin]] | None:
        if not file:
            self.problem(here, INCLUDE, "include names no file")
            return None
        full = posixpath.normpath(posixpath.join(posixpath.dirname(path), file))
        if full == ".." or full.startswith("../") or file.startswith("/"):
            self.problem(here, INCLUDE, f"include of {file}: outside the site's folder, not read")
            return None
        self.deps[full] = self.digests.of(full)
        data = self.digests.content.get(full)
        if data is None:
            self.problem(here, INCLUDE, f"include of {file}: no such file ({full})")
            return None
        if full in stack:
            cycle = " → ".join((*stack[stack.index(full):], full))
            self.problem(here, INCLUDE, f"include of {file}: a cycle ({cycle})")
            return None
        if len(stack) > MAX_DEPTH:
            self.problem(here, INCLUDE, f"include of {file}: nested more than {MAX_DEPTH} deep")
            return None
        lines = data.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's last newline ends its last line (mdBook joins lines with "\n")
        lines = [line.removesuffix("\r") for line in lines]
        chosen = _select(lines, selector)
        if isinstance(chosen, str):
            self.problem(here, INCLUDE, f"include of {file}: {chosen}")
            return None
        numbers = [n for n, _ in chosen] or [1]
        return self.text(full, full, "\n".join(line for _, line in chosen), numbers, (*stack, full))

    def problem(self, here: Origin, kind: str, message: str) -> None:
        self.problems.append(Problem(here[0], here[1], kind, message))


def _select(lines: list[str], selector: str) -> list[tuple[int, str]] | str:
    """The (line number, line) pairs a selector names, or what is wrong with it."""
    numbered = list(enumerate(lines, 1))
    if not selector:
        return numbered
    parts = selector.split(":")
    if len(parts) == 1 and not parts[0].isdigit():
        return _anchored(numbered, parts[0])
    if len(parts) > 2 or not all(p.isdigit() or p == "" for p in parts):
        return f"{selector!r} is neither a line range nor an anchor name"
    start = int(parts[0]) if parts[0] else 1
    end = start if len(parts) == 1 else int(parts[1]) if parts[1] else len(lines)
    if start < 1 or start > len(lines) or end < start:
        return f"lines {selector} are not in the file ({len(lines)} lines)"
    return numbered[start - 1:end]


def _anchored(numbered: list[tuple[int, str]], name: str) -> list[tuple[int, str]] | str:
    """The lines between `ANCHOR: name` and `ANCHOR_END: name` (to the end without one), without
    any anchor lines inside."""
    chosen: list[tuple[int, str]] = []
    inside = False
    for n, line in numbered:
        start, end = _ANCHOR_RE.search(line), _ANCHOR_END_RE.search(line)
        if not inside:
            inside = start is not None and start.group(1) == name
            continue
        if end is not None and end.group(1) == name:
            return chosen
        if start is None and end is None:
            chosen.append((n, line))
    return chosen if inside else f"no anchor {name!r} (no line with `ANCHOR: {name}`)"


def _compress(origins: list[Origin]) -> LineMap:
    """Runs of consecutive lines of one file, from the origin of every line."""
    starts: list[int] = []
    runs: list[Origin] = []
    previous: Origin | None = None
    for i, (path, line) in enumerate(origins, 1):
        if previous is None or path != previous[0] or line != previous[1] + 1:
            starts.append(i)
            runs.append((path, line))
        previous = (path, line)
    if len(runs) == 1 and runs[0] == (None, 1):
        return IDENTITY
    return LineMap(tuple(starts), tuple(runs))
