from __future__ import annotations

import pytest

from openbook.store import linemerge
from openbook.store.linemerge import anchors, merge3

BASE = b"a\nb\nc\nd\ne\n"


@pytest.mark.parametrize(
    ("ours", "theirs", "merged"),
    [
        (b"A\nb\nc\nd\ne\n", b"a\nb\nc\nd\nE\n", b"A\nb\nc\nd\nE\n"),  # disjoint edits
        (b"A\nb\nc\nd\ne\n", b"A\nb\nc\nd\ne\n", b"A\nb\nc\nd\ne\n"),  # identical
        (b"A\nb\nc\nd\nE\n", b"A\nb\nc\nd\ne\n", b"A\nb\nc\nd\nE\n"),  # one edit shared, one extra
        (b"a\nb\nc\nd\ne\n", b"x\n", b"x\n"),  # ours unchanged
        (b"x\n", BASE, b"x\n"),  # theirs unchanged
        (b"0\na\nb\nc\nd\ne\n", b"a\nb\nc\nd\ne\nf\n", b"0\na\nb\nc\nd\ne\nf\n"),  # insert at both ends
        (b"a\nc\nd\ne\n", b"a\nb\nc\nd\n", b"a\nc\nd\n"),  # two deletions
        (b"a\nB\nc\nd\ne\n", b"a\nb\nc\nD\ne\n", b"a\nB\nc\nD\ne\n"),
        (b"a\nb\nc\nd\ne", b"A\nb\nc\nd\ne\n", b"A\nb\nc\nd\ne"),  # missing final newline kept
        ("é\nb\nc\nd\ne\n".encode(), b"a\nb\nc\nd\n\xe2\x82\xac\n", "é\nb\nc\nd\n€\n".encode()),
    ],
)
def test_clean_merges(ours: bytes, theirs: bytes, merged: bytes) -> None:
    assert merge3(BASE, ours, theirs) == merged
    assert merge3(BASE, theirs, ours) == merged


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (b"a\nX\nc\nd\ne\n", b"a\nY\nc\nd\ne\n"),  # same line, different edits
        (b"a\nX\nY\nd\ne\n", b"a\nb\nZ\nd\ne\n"),  # overlapping ranges
        (b"a\nnew1\nb\nc\nd\ne\n", b"a\nnew2\nb\nc\nd\ne\n"),  # insertions at the same place
        (b"a\nins\nb\nc\nd\ne\n", b"a\nB\nc\nd\ne\n"),  # insertion right where the other edits
        (b"a\nB\nc\nd\ne\n", b"a\nb\nC\nd\ne\n"),  # edits of adjacent lines (git, diff3, Mercurial)
        (b"a\nb\nc\nd\nE\n", b"a\nb\nc\nd\ne\nf\n"),  # edit of the last line, append after it
        (b"a\nb\nc\nd\ne", b"a\nb\nc\nd\ne\nf\n"),  # final newline dropped, line appended
        (b"a\nb\nc\nd\ne\n\x00", b"A\nb\nc\nd\ne\n"),  # binary on one side
        (b"\xff\xfe\n", b"a\nb\nc\nd\nE\n"),  # not UTF-8
    ],
)
def test_conflicts(ours: bytes, theirs: bytes) -> None:
    assert merge3(BASE, ours, theirs) is None
    assert merge3(BASE, theirs, ours) is None


def test_binary_merges_only_when_one_side_is_unchanged() -> None:
    base, change = b"\x00\x01", b"\x00\x02"
    assert merge3(base, change, base) == change
    assert merge3(base, base, change) == change
    assert merge3(base, change, change) == change
    assert merge3(base, change, b"\x00\x03") is None


def test_ambiguous_merge_conflicts_though_git_merges() -> None:
    # Ours deletes one of two blank lines: the shortest diffs delete either,
    # and deleting the second one touches theirs' edit of y. git merges only
    # because its diff slides the deletion away from y.
    base, ours, theirs = b"x\n\n\ny\n", b"X\n\ny\n", b"x\n\n\nY\n"
    assert merge3(base, ours, theirs) is None
    # With a line both sides keep in between, the same edits merge.
    assert merge3(b"x\n\nk\n\ny\n", b"X\nk\n\ny\n", b"x\n\nk\n\nY\n") == b"X\nk\n\nY\n"


def test_lines_split_at_newline_only() -> None:
    # A lone \r is not a line break in git: this is one line that both sides changed.
    assert merge3(b"a\rb\rc\n", b"A\rb\rc\n", b"a\rb\rC\n") is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([b"x", b"y", b"z"], [b"x", b"Y", b"z"], [(0, 0), (2, 2)]),
        ([b"x", b"-", b"-", b"y"], [b"x", b"-", b"y"], [(0, 0), (3, 2)]),  # either blank line may go
        ([b"c", b"a"], [b"a", b"c"], []),  # a swap: keep c or keep a, equally short
        ([b"a", b"a", b"b"], [b"a", b"b"], [(2, 1)]),  # a slider over the repeated line
        ([], [b"x"], []),
    ],
)
def test_anchors_are_the_lines_every_shortest_diff_keeps(
    a: list[bytes], b: list[bytes], expected: list[tuple[int, int]]
) -> None:
    assert anchors(a, b) == expected


def test_a_diff_over_the_budget_has_no_anchors(monkeypatch: pytest.MonkeyPatch) -> None:
    base = b"".join(b"%d\n" % i for i in range(40))
    ours, theirs = b"first\n" + base[2:], base[:-3] + b"last\n"
    assert merge3(base, ours, theirs) == b"first\n" + base[2:-3] + b"last\n"
    monkeypatch.setattr(linemerge, "ANCHOR_BUDGET", 40)
    assert anchors(base.splitlines(), ours.splitlines()) == []
    assert merge3(base, ours, theirs) is None
