"""Line diffs with word-level marks (pure)."""

from __future__ import annotations

from openbook.studio.diffs import as_text, diff_text


def test_a_one_word_edit_marks_that_word_and_counts_lines() -> None:
    old = "# Title\n\nThe quick brown fox.\nSecond line.\n"
    new = "# Title\n\nThe quick red fox.\nSecond line.\nA new line.\n"
    d = diff_text(old, new)
    assert (d.added, d.deleted) == (2, 1)
    kinds = [(line.kind, line.old, line.new) for line in d.lines]
    assert kinds[0][0] == "hunk"
    assert ("del", 3, None) in kinds and ("add", None, 3) in kinds and ("add", None, 5) in kinds
    removed = next(line for line in d.lines if line.kind == "del")
    added = next(line for line in d.lines if line.kind == "add")
    assert str(removed.html) == "The quick <del>brown</del> fox."
    assert str(added.html) == "The quick <ins>red</ins> fox."


def test_everything_is_escaped() -> None:
    d = diff_text("<b>x</b>\n", "<script>alert(1)</script>\n")
    html = "".join(str(line.html) for line in d.lines)
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;<ins>script</ins>&gt;" in html and "&lt;/<del>b</del>&gt;" in html


def test_identical_texts_have_no_hunks_and_binary_is_not_text() -> None:
    assert diff_text("a\nb\n", "a\nb\n").lines == []
    assert as_text(b"\x89PNG\0\0") is None and as_text(b"\xff\xfe") is None
    assert as_text(None) == "" and as_text("é".encode()) == "é"
