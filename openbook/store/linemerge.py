"""Line-level three-way merge (diff3) of file contents, never looser than git.

Breezy's `merge3` does the diff3 part: it splits the three texts at *sync
lines* (base lines kept, in place, by both sides), and between two sync
lines takes the side that changed, or either when both made the same change;
anything else is a conflict. Two edits that touch (adjacent lines, or an
insertion right where the other side edits) have no sync line between them,
so they conflict, as in git, GNU diff3 and Mercurial.

Which base lines count as kept depends on the two-way diff, and with repeated
lines (blank lines, list markers, fences) several equally short diffs exist.
git picks one by tie-breaking rules (Myers' algorithm, then sliding hunks
down), and any other choice - patience diff's included - merges some texts
git reports as conflicts, or merges them to a different text. So the sync
lines here are the *anchors*: base lines that every shortest diff of that
side (every longest common subsequence of lines) keeps, at the same line of
that side. The merge is then the same for every pair of shortest diffs, git's
among them (xdiff's diff is a shortest one unless its speed heuristics for
large or highly repetitive inputs step in). Hence:

* whenever this merge is clean, `git merge-file` is clean with the same text;
* it conflicts where git merges cleanly only when the merge is *ambiguous*:
  some other pair of shortest diffs of ours and theirs against the base would
  make the two sides' edits touch, or merge them to a different text. git's
  answer there rests on its tie-breaking (example: base ``x,-,-,y``, ours
  ``X,-,y`` deletes one of two identical lines and edits ``x``, theirs edits
  ``y``; git merges because it slides the deletion away from ``y``);
* a side whose diff would take more than `ANCHOR_BUDGET` table cells to
  analyse (about a 2,000-line file with 500 lines added or deleted) has no
  anchors, so any edit of the same file by the other side conflicts.

`tests/store/test_linemerge_git.py` checks the first two claims against the
git binary, `tests/store/test_linemerge.py` the third. Lines are split at
``\\n`` only, as git does; content that is not UTF-8 text (or holds NUL
bytes) is not line-merged at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from merge3 import Merge3

# Table cells (base lines x edit distance) one side's anchor search may use:
# at most ~0.3 s of CPU per table (the merge runs on the event loop), enough
# for a 2,000-line file with ~500 lines added or deleted.
ANCHOR_BUDGET = 1_000_000
_NEG = -(1 << 60)


def _lines(data: bytes) -> list[bytes] | None:
    """Lines with their ``\\n``, or None if `data` is not UTF-8 text."""
    if b"\0" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _distance(a: Sequence[int], b: Sequence[int], limit: int) -> int | None:
    """Insert/delete edit distance between `a` and `b` (Myers' greedy search), or None if above `limit`."""
    n, m = len(a), len(b)
    reach = {1: 0}
    for d in range(limit + 1):
        for k in range(-d, d + 1, 2):
            # Extend whichever neighbouring diagonal reached further (an insertion or a deletion).
            x = reach[k + 1] if k == -d or (k != d and reach[k - 1] < reach[k + 1]) else reach[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            reach[k] = x
            if x >= n and y >= m:
                return d
    return None


def anchors(a: Sequence[bytes], b: Sequence[bytes]) -> list[tuple[int, int]]:
    """Pairs (i, j), increasing, such that every longest common subsequence matches a[i] with b[j].

    Works on the diagonal band that holds every optimal alignment, so the cost
    is O(len(a) x edit distance). Returns [] when that exceeds `ANCHOR_BUDGET`.
    """
    ids: dict[bytes, int] = {}
    x = [ids.setdefault(line, len(ids)) for line in a]
    y = [ids.setdefault(line, len(ids)) for line in b]
    n, m = len(x), len(y)
    dist = _distance(x, y, max(0, ANCHOR_BUDGET // (n + 1) - 1))
    if dist is None:
        return []
    total = (n + m - dist) // 2
    # A cell (i, j) on an optimal path satisfies |i-j| + |(n-m)-(i-j)| <= dist,
    # so its diagonal i - j lies in [lo, hi]. Row i of a table keeps columns
    # j = i - hi + k for k in range(width); in those coordinates the diagonal
    # neighbour of (i, j) is the same k one row away.
    lo, hi = (n - m - dist) // 2, (n - m + dist) // 2
    width = hi - lo + 1
    fwd = _band(x, y, hi, width, forward=True)
    bwd = _band(x, y, hi, width, forward=False)
    out: list[tuple[int, int]] = []
    for i in range(n):
        f, g = fwd[i], bwd[i + 1]
        xi, only = x[i], -1
        for k in range(width):
            fk = f[k]
            if fk < 0:
                continue
            j = i - hi + k
            if k > 0 and fk + g[k - 1] == total:
                break  # an optimal alignment leaves x[i] unmatched (steps from (i, j) to (i+1, j))
            if j < m and xi == y[j] and fk + 1 + g[k] == total:
                if only >= 0:
                    break  # two optimal alignments match x[i] to different lines
                only = j
        else:
            if only >= 0:
                out.append((i, only))
    return out


def _band(x: Sequence[int], y: Sequence[int], hi: int, width: int, forward: bool) -> list[list[int]]:
    """LCS lengths of prefixes (x[:i], y[:j]) or suffixes (x[i:], y[j:]) on the band; _NEG outside it."""
    n, m = len(x), len(y)
    t = [[_NEG] * width for _ in range(n + 1)]
    for i in range(n + 1) if forward else range(n, -1, -1):
        row, j0 = t[i], i - hi
        ks = range(max(0, -j0), min(width, m - j0 + 1))
        if (i == 0) if forward else (i == n):
            for k in ks:
                row[k] = 0
            continue
        prev = t[i - 1] if forward else t[i + 1]
        xi = x[i - 1] if forward else x[i]
        if forward:
            for k in ks:
                j = j0 + k
                if j == 0:
                    row[k] = 0
                    continue
                up = prev[k + 1] if k + 1 < width else _NEG
                left = row[k - 1] if k > 0 else _NEG
                best = up if up > left else left
                if xi == y[j - 1] and prev[k] >= best:
                    best = prev[k] + 1
                row[k] = best
        else:
            for k in reversed(ks):
                j = j0 + k
                if j == m:
                    row[k] = 0
                    continue
                down = prev[k - 1] if k > 0 else _NEG
                right = row[k + 1] if k + 1 < width else _NEG
                best = down if down > right else right
                if xi == y[j] and prev[k] >= best:
                    best = prev[k] + 1
                row[k] = best
    return t


class _AnchorMatcher:
    """The `merge3` sequence-matcher seam, answering with `anchors` only."""

    def __init__(
        self,
        isjunk: Callable[[bytes], bool] | None = None,
        a: Sequence[bytes] = (),
        b: Sequence[bytes] = (),
        autojunk: bool = False,
    ) -> None:
        self.a, self.b = a, b

    def get_matching_blocks(self) -> list[tuple[int, int, int]]:
        blocks: list[tuple[int, int, int]] = []
        for i, j in anchors(self.a, self.b):
            if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
                blocks[-1] = (blocks[-1][0], blocks[-1][1], blocks[-1][2] + 1)
            else:
                blocks.append((i, j, 1))
        blocks.append((len(self.a), len(self.b), 0))
        return blocks


def merge3(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Merge two edits of `base`; None on conflict. Never raises.

    Identical edits count once; edits separated by an anchor line combine;
    edits that touch (or might, under another equally short diff) conflict.
    Content that is not UTF-8 text (or holds NUL bytes) conflicts as a whole
    unless one side is unchanged.
    """
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    b, o, t = _lines(base), _lines(ours), _lines(theirs)
    if b is None or o is None or t is None:
        return None
    out: list[bytes] = []
    for group in Merge3(b, o, t, sequence_matcher=_AnchorMatcher).merge_groups():
        if group[0] == "conflict":
            return None
        out.extend(group[1])
    return b"".join(out)
