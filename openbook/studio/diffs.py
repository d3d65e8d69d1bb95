"""Line diffs with word-level highlights for the studio's pages (pure; difflib).

A unified diff: hunks of changed lines with `CONTEXT` lines around them.
Within a block where lines were replaced, the old and new lines are paired
in order and each pair is compared word by word, so a one-word edit in a
long paragraph shows as that word, not as the whole line. Every piece of
text is HTML-escaped here; the result is Markup the templates show as is.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

CONTEXT = 3
# Larger texts are not diffed line by line in a page (the answer would be unreadable and slow).
MAX_LINES = 20_000
# Word-level highlighting of a pair of lines is skipped past this length (difflib is quadratic).
MAX_WORD_DIFF_CHARS = 4_000
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")

LineKind = Literal["context", "add", "del", "hunk"]


@dataclass(frozen=True, slots=True)
class Line:
    kind: LineKind
    old: int | None  # 1-based line number in the old text
    new: int | None
    html: Markup


@dataclass(frozen=True, slots=True)
class TextDiff:
    lines: list[Line]
    added: int
    deleted: int
    too_large: bool = False


def split_lines(text: str) -> list[str]:
    return text.splitlines()


def _words(old: str, new: str) -> tuple[Markup, Markup]:
    if len(old) + len(new) > MAX_WORD_DIFF_CHARS:
        return Markup(escape(old)), Markup(escape(new))
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old_part, new_part = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            left.append(old_part)
            right.append(new_part)
            continue
        if old_part:
            left.append(Markup("<del>%s</del>") % old_part)
        if new_part:
            right.append(Markup("<ins>%s</ins>") % new_part)
    return Markup("").join(left), Markup("").join(right)


def diff_text(old: str, new: str, context: int = CONTEXT) -> TextDiff:
    """The unified line diff of two texts, with word-level marks in replaced lines."""
    a, b = split_lines(old), split_lines(new)
    if len(a) > MAX_LINES or len(b) > MAX_LINES:
        return TextDiff([], 0, 0, too_large=True)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    lines: list[Line] = []
    added = deleted = 0
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        header = f"@@ lines {first[1] + 1}–{last[2]} → {first[3] + 1}–{last[4]} @@"
        lines.append(Line("hunk", None, None, Markup(escape(header))))
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                lines.extend(Line("context", i1 + k + 1, j1 + k + 1, Markup(escape(a[i1 + k])))
                             for k in range(i2 - i1))
                continue
            olds, news = a[i1:i2], b[j1:j2]
            deleted += len(olds)
            added += len(news)
            marked_old = [Markup(escape(x)) for x in olds]
            marked_new = [Markup(escape(x)) for x in news]
            if op == "replace":
                for k in range(min(len(olds), len(news))):
                    marked_old[k], marked_new[k] = _words(olds[k], news[k])
            lines.extend(Line("del", i1 + k + 1, None, m) for k, m in enumerate(marked_old))
            lines.extend(Line("add", None, j1 + k + 1, m) for k, m in enumerate(marked_new))
    return TextDiff(lines, added, deleted)


def as_text(data: bytes | None) -> str | None:
    """`data` as UTF-8 text, or None for binary content (then the page shows sizes, not lines)."""
    if data is None:
        return ""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
