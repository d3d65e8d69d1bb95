"""Finding a key's line in TOML text: values of every kind are skipped, never read as keys."""

from __future__ import annotations

import tomllib

from openbook.siteconf.locate import KeyLines, Statement, show_key, statement_at, statements

TRICKY = '''\
# a comment with key = "value"
title = "a # not a comment" # a comment
"quoted key" = 'literal \\ string'
"esc\\"aped" . 'dotted' = 1
notes = """
fake = "inside a multi-line string"
[fake]
""\""
raw = \'\'\'
[also.fake]
\'\'\'
list = [
  "x = 1",  # a comment inside an array
  [1, 2],
  { a = "]" },
]
inline = { x = 1, y = [2] }

[[params.links]]
title = "One"

[[params.links]]
title = "Two"

[ redirects ]
"a.md" = "b.md"
'''


def test_the_text_is_valid_toml() -> None:
    assert tomllib.loads(TRICKY)["params"]["links"][1]["title"] == "Two"


def test_statements_skip_strings_arrays_and_comments() -> None:
    assert statements(TRICKY) == [
        Statement(2, ("title",)),
        Statement(3, ("quoted key",)),
        Statement(4, ('esc"aped', "dotted")),
        Statement(5, ("notes",)),
        Statement(9, ("raw",)),
        Statement(12, ("list",)),
        Statement(17, ("inline",)),
        Statement(19, ("params", "links")),
        Statement(20, ("params", "links", "title")),
        Statement(22, ("params", "links")),
        Statement(23, ("params", "links", "title")),
        Statement(25, ("redirects",)),
        Statement(26, ("redirects", "a.md")),
    ]


def test_key_lines_take_the_first_statement_and_fall_back_to_a_prefix() -> None:
    lines = KeyLines(TRICKY)
    assert lines.line(("params", "links", "title")) == 20
    assert lines.line(("params",)) == 19
    assert lines.line(("inline", "x")) == 17  # written inside the inline table on line 17
    assert lines.line(('esc"aped',)) == 4
    assert lines.line(("redirects", "a.md")) == 26
    assert lines.line(("nowhere",)) == 1


def test_an_invalid_document_is_read_as_far_as_it_goes() -> None:
    text = 'title = "x"\nlist = [1,\n  2,\ntheme "book"\n'
    assert statement_at(text, 3) == Statement(2, ("list",))
    assert statement_at(text, None) == Statement(2, ("list",))  # the array swallows the rest
    assert statement_at('title = "unterminated\nhtml = "x"\n', 2) == Statement(2, ("html",))
    assert statement_at("= 1\n", 1) is None


def test_keys_are_shown_as_toml_writes_them() -> None:
    assert show_key(("params", "colors")) == "params.colors"
    assert show_key(("redirects", "old/a.md")) == 'redirects."old/a.md"'
    assert show_key(("redirects", 'a "b".md')) == 'redirects."a \\"b\\".md"'
