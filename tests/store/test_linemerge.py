from __future__ import annotations

import pytest

from openbook.store.linemerge import merge3

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
