"""Line-level three-way merge (diff3) of file contents."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import NamedTuple


class _Hunk(NamedTuple):
    start: int  # base line range [start, end) replaced by `lines`
    end: int
    lines: tuple[bytes, ...]


def _lines(data: bytes) -> list[bytes] | None:
    """Lines with their endings, or None if `data` is not UTF-8 text."""
    if b"\0" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return data.splitlines(keepends=True)


def _hunks(base: list[bytes], other: list[bytes]) -> list[_Hunk]:
    sm = SequenceMatcher(None, base, other, autojunk=False)
    return [_Hunk(i1, i2, tuple(other[j1:j2])) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]


def _clash(x: _Hunk, y: _Hunk) -> bool:
    """True if the two edits touch the same base region (so their order is ambiguous)."""
    if x.start == y.start:
        return True
    if x.start == x.end:  # insertion strictly inside y's range
        return y.start < x.start < y.end
    if y.start == y.end:
        return x.start < y.start < x.end
    return max(x.start, y.start) < min(x.end, y.end)


def merge3(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Merge two edits of `base`; None on conflict.

    Edits to different line regions combine; identical edits on both sides
    count once; edits touching the same region conflict. Content that is not
    UTF-8 text (or holds NUL bytes) conflicts as a whole unless one side is
    unchanged.
    """
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    b, o, t = _lines(base), _lines(ours), _lines(theirs)
    if b is None or o is None or t is None:
        return None
    ho, ht = _hunks(b, o), _hunks(b, t)
    shared = set(ho) & set(ht)
    ho = [h for h in ho if h not in shared]
    ht = [h for h in ht if h not in shared]
    # Within one list hunks are separated by unchanged lines, so each hunk can
    # only clash with the few hunks of the other lists starting before it ends.
    tagged = sorted(
        [(h, 0) for h in shared] + [(h, 1) for h in ho] + [(h, 2) for h in ht],
        key=lambda hs: (hs[0].start, hs[0].end),
    )
    for i, (x, sx) in enumerate(tagged):
        k = i + 1
        while k < len(tagged) and tagged[k][0].start <= x.end:
            y, sy = tagged[k]
            if sx != sy and _clash(x, y):
                return None
            k += 1
    out: list[bytes] = []
    pos = 0
    for h, _ in tagged:
        out.extend(b[pos : h.start])
        out.extend(h.lines)
        pos = h.end
    out.extend(b[pos:])
    return b"".join(out)
