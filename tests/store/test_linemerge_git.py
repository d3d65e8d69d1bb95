"""`linemerge.merge3` against the real `git merge-file` on edits shaped like git users' edits.

Small line vocabularies make edits collide, repeat lines, and give the diffs
several equally short alignments: the cases where merge tools disagree. The
claim under test (see the module docstring of `openbook.store.linemerge`):
when we merge, git merges to the same text; when we conflict and git merges,
the merge is *ambiguous*, shown here by brute force: some pair of shortest
diffs of ours and theirs against the base makes the merge conflict or give
another text than git's.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from openbook.store.linemerge import merge3

VOCAB = [b"a\n", b"b\n", b"c\n", b"\n"]
NEW = [b"X\n", b"Y\n", b"Z\n"]
LINE = st.sampled_from(VOCAB + NEW)

# An edit is (position, lines removed, lines inserted); positions index the
# text as it is when the edit applies, so they collide often on short texts.
EDIT = st.tuples(st.integers(0, 7), st.integers(0, 2), st.lists(LINE, max_size=2))
Edit = tuple[int, int, list[bytes]]


def apply(lines: list[bytes], edits: list[Edit]) -> list[bytes]:
    out = list(lines)
    for pos, removed, inserted in edits:
        at = min(pos, len(out))
        out[at : at + removed] = inserted
    return out


def text(lines: list[bytes], final_newline: bool) -> bytes:
    data = b"".join(lines)
    return data if final_newline or not data.endswith(b"\n") else data[:-1]


@st.composite
def three_way(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    base = draw(st.lists(st.sampled_from(VOCAB), max_size=7))
    ours_edits = draw(st.lists(EDIT, min_size=1, max_size=3))
    shape = draw(st.sampled_from(["independent", "same edit", "ours plus more", "shared edit plus own"]))
    theirs_edits = draw(st.lists(EDIT, min_size=1, max_size=3))
    if shape == "same edit":
        theirs_edits = ours_edits
    elif shape == "ours plus more":
        theirs_edits = ours_edits + theirs_edits
    elif shape == "shared edit plus own":
        theirs_edits = ours_edits[:1] + theirs_edits
    newline = draw(st.booleans())
    return (
        text(base, newline),
        text(apply(base, ours_edits), newline and draw(st.booleans())),
        text(apply(base, theirs_edits), newline and draw(st.booleans())),
    )


def git_merge_file(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """`git merge-file -p ours base theirs`: the merged text, or None on conflict."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, name) for name in ("ours", "base", "theirs")]
        for path, data in zip(paths, (ours, base, theirs), strict=True):
            path.write_bytes(data)
        env = {"PATH": os.environ["PATH"], "HOME": tmp, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        run = subprocess.run(["git", "merge-file", "-p", *map(str, paths)], capture_output=True, env=env)
    # Exit status: 0 clean, 1..127 the number of conflicts, 255 an error.
    assert 0 <= run.returncode < 128, run.stderr
    return run.stdout if run.returncode == 0 else None


def lines_of(data: bytes) -> tuple[bytes, ...]:
    return tuple(data.splitlines(keepends=True))  # the vocabulary has no \r: the same lines as git's


Alignment = tuple[tuple[int, int], ...]


def shortest_diffs(a: Sequence[bytes], b: Sequence[bytes]) -> frozenset[Alignment]:
    """Every longest common subsequence of lines, as (i, j) pairs: each one a shortest diff of a → b."""

    @functools.cache
    def best(i: int, j: int) -> int:
        if i == len(a) or j == len(b):
            return 0
        here = 1 + best(i + 1, j + 1) if a[i] == b[j] else 0
        return max(here, best(i + 1, j), best(i, j + 1))

    @functools.cache
    def every(i: int, j: int) -> frozenset[Alignment]:
        if best(i, j) == 0:
            return frozenset([()])
        out: set[Alignment] = set()
        if a[i] == b[j] and 1 + best(i + 1, j + 1) == best(i, j):
            out.update(((i, j), *rest) for rest in every(i + 1, j + 1))
        if best(i + 1, j) == best(i, j):
            out.update(every(i + 1, j))
        if best(i, j + 1) == best(i, j):
            out.update(every(i, j + 1))
        return frozenset(out)

    return every(0, 0)


def diff3(b: Sequence[bytes], o: Sequence[bytes], t: Sequence[bytes], mo: Alignment, mt: Alignment) -> bytes | None:
    """Textbook diff3 given both alignments: split at base lines both keep, take the changed side."""
    in_o, in_t = dict(mo), dict(mt)
    syncs = [(i, in_o[i], in_t[i]) for i in range(len(b)) if i in in_o and i in in_t]
    out: list[bytes] = []
    ib = io = it = 0
    for sb, so, s_t in [*syncs, (len(b), len(o), len(t))]:
        chunk_b, chunk_o, chunk_t = b[ib:sb], o[io:so], t[it:s_t]
        if chunk_o == chunk_t or chunk_t == chunk_b:
            out.extend(chunk_o)
        elif chunk_o == chunk_b:
            out.extend(chunk_t)
        else:
            return None
        out.extend(b[sb : sb + 1])
        ib, io, it = sb + 1, so + 1, s_t + 1
    return b"".join(out)


def ambiguous(base: bytes, ours: bytes, theirs: bytes, git_text: bytes) -> bool:
    """True if some pair of shortest diffs makes diff3 conflict, or merge to other text than git's."""
    b, o, t = lines_of(base), lines_of(ours), lines_of(theirs)
    return any(diff3(b, o, t, mo, mt) != git_text for mo in shortest_diffs(b, o) for mt in shortest_diffs(b, t))


@settings(max_examples=400, deadline=None)
@given(three_way())
def test_agrees_with_git_merge_file(case: tuple[bytes, bytes, bytes]) -> None:
    base, x, y = case
    for ours, theirs in ((x, y), (y, x)):
        git = git_merge_file(base, ours, theirs)
        mine = merge3(base, ours, theirs)
        if mine is not None:
            assert git is not None, "merged what git reports as a conflict"
            assert mine == git
        elif git is not None:
            # Deliberately stricter: git's clean answer rests on its diff's tie-breaking.
            assert ambiguous(base, ours, theirs, git), "conflict on an unambiguous merge that git makes"
