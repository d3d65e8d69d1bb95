"""Where a key is written in a TOML document: its line, for error messages.

`tomllib` returns plain values without positions, so this reads the text a
second time, statement by statement (table headers and key/value pairs),
skipping values (strings of every kind, arrays and inline tables, comments)
without interpreting them. It never raises: on an invalid document it reads
as far as it can, which is what a syntax error's message needs.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass

Key = tuple[str, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Statement:
    """A table header or a key/value pair: the line it starts on and its full key."""

    line: int  # 1-based
    key: Key  # the table's path plus the dotted key, e.g. ("params", "colors", "accent")


def statements(text: str) -> list[Statement]:
    """Every table header and key/value pair of `text`, in document order."""
    found: list[Statement] = []
    table: Key = ()
    i, line, end = 0, 1, len(text)
    while i < end:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            i = _line_end(text, i)
        elif c == "[":
            key, i = _key(text, i + (2 if text.startswith("[[", i) else 1))
            table = key
            found.append(Statement(line, key))
            i = _line_end(text, i)  # the closing brackets and any comment
        else:
            key, after = _key(text, i)
            if not key:  # not a key at all: the rest of the line is garbage
                i = _line_end(text, i)
                continue
            found.append(Statement(line, table + key))
            i, line = _skip_value(text, after, line)
    return found


class KeyLines:
    """The line of each key of a valid document (its first statement wins).

    A key not written as such (inside an inline table, or an array of tables)
    gets the line of its longest written prefix.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[Key, int] = {}
        for st in statements(text):
            for n in range(1, len(st.key) + 1):
                self._lines.setdefault(st.key[:n], st.line)

    def line(self, key: Key) -> int:
        for n in range(len(key), 0, -1):
            found = self._lines.get(key[:n])
            if found is not None:
                return found
        return 1


def statement_at(text: str, line: int | None) -> Statement | None:
    """The statement that holds `line` (the last one when `line` is None: the end of the document)."""
    candidates = [st for st in statements(text) if line is None or st.line <= line]
    return candidates[-1] if candidates else None


def show_key(key: Key) -> str:
    """A key as TOML writes it: `params.colors`, `redirects."old/a.md"`."""
    return ".".join(part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False) for part in key)


def _line_end(text: str, i: int) -> int:
    nl = text.find("\n", i)
    return len(text) if nl < 0 else nl


def _key(text: str, i: int) -> tuple[Key, int]:
    """A dotted key starting at `i` (spaces allowed around dots) and the index after it."""
    parts: list[str] = []
    while True:
        i = _skip_blanks(text, i)
        if i < len(text) and text[i] in "\"'":
            close = _string_end(text, i, text[i])
            parts.append(_unquote(text[i:close]))
            i = close
        else:
            bare = _BARE.match(text, i)
            if bare is None:
                return tuple(parts), i
            parts.append(bare.group())
            i = bare.end()
        after = _skip_blanks(text, i)
        if after >= len(text) or text[after] != ".":
            return tuple(parts), i
        i = after + 1


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _string_end(text: str, i: int, quote: str) -> int:
    """Index after a one-line string starting at `i`; an unterminated one ends at the line's end."""
    j = i + 1
    while j < len(text) and text[j] != "\n":
        if text[j] == "\\" and quote == '"':
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    return j


def _unquote(raw: str) -> str:
    try:
        return next(iter(tomllib.loads(f"{raw} = 0")))
    except tomllib.TOMLDecodeError:
        return raw.strip("\"'")  # an invalid document: the raw text names the key well enough


def _skip_value(text: str, i: int, line: int) -> tuple[int, int]:
    """Skip `= value` up to the newline ending the statement; return (index, line) there."""
    depth = 0
    end = len(text)
    while i < end:
        c = text[i]
        if c == "\n":
            if depth == 0:
                return i, line
            line += 1
            i += 1
        elif c == "#":
            i = _line_end(text, i)
        elif c in "\"'":
            triple = c * 3
            if text.startswith(triple, i):
                close = text.find(triple, i + 3) if c == "'" else _basic_multiline_end(text, i + 3)
                close = end if close < 0 else close + 3
                for _ in range(2):  # `""""` and `"""""` close the string too: the extra quotes are content
                    if close < end and text[close] == c:
                        close += 1
                line += text.count("\n", i, close)
                i = close
            else:
                i = _string_end(text, i, c)
        elif c in "[{":
            depth += 1
            i += 1
        elif c in "]}":
            depth = max(0, depth - 1)
            i += 1
        else:
            i += 1
    return i, line


def _basic_multiline_end(text: str, i: int) -> int:
    """Index of the `\"\"\"` closing a multi-line basic string whose content starts at `i`, or -1."""
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith('"""', i):
            return i
        else:
            i += 1
    return -1
