"""openbook.toml: every key parsed, every kind of error named with its line and key, all at once."""

from __future__ import annotations

import datetime as dt

import pytest

from openbook.errors import RenderError
from openbook.siteconf import Redirect, SiteFile, parse_site_file, read_site_file

THEMES = {"book", "base", "blog"}


def parse(text: str, path: str = "openbook.toml") -> SiteFile:
    return parse_site_file(text.encode(), path, THEMES.__contains__)


def problems(text: str, path: str = "openbook.toml") -> str:
    with pytest.raises(RenderError) as caught:
        parse(text, path)
    assert caught.value.path == path
    return caught.value.cause


FULL = '''\
# The site's settings, versioned with its pages.
title = "Field Notes"
theme = "book"
base_url = "https://notes.example.org/"
html = "sanitize"
strict = true
keep_deployments = 10

[params]
subtitle = "A field guide"
menu = [{ title = "About", url = "about/" }]
since = 2024-03-05
colors.accent = "#7a3"

[redirects]
"setup.md" = "guide/install.md"
"old/faq.md" = "https://help.example.org/faq"
'''


def test_every_key_is_read() -> None:
    assert parse(FULL) == SiteFile(
        path="openbook.toml",
        title="Field Notes",
        theme="book",
        base_url="https://notes.example.org/",
        html="sanitize",
        strict=True,
        params={"subtitle": "A field guide", "menu": [{"title": "About", "url": "about/"}],
                "since": dt.date(2024, 3, 5), "colors": {"accent": "#7a3"}},
        redirects=(Redirect("setup.md", "guide/install.md", 16),
                   Redirect("old/faq.md", "https://help.example.org/faq", 17)),
        keep_deployments=10,
    )


def test_absent_keys_stay_unset() -> None:
    assert parse("") == SiteFile(path="openbook.toml")
    only = parse("strict = false\n")
    assert only.strict is False and only.title is None and only.theme is None and only.html is None
    assert only.params is None and only.redirects == () and only.keep_deployments is None


def test_the_file_is_found_at_the_site_root_and_named_with_it() -> None:
    assert read_site_file({"index.md": b"# Hi\n"}, "docs", THEMES.__contains__) is None
    found = read_site_file({"openbook.toml": b'title = "T"\n'}, "docs", THEMES.__contains__)
    assert found is not None and found.path == "docs/openbook.toml" and found.title == "T"
    with pytest.raises(RenderError) as caught:
        read_site_file({"openbook.toml": b"title = 1\n"}, "docs", THEMES.__contains__)
    assert caught.value.message == "docs/openbook.toml: line 1, key title: must be a string, not an integer"


def test_a_redirect_records_whether_it_leaves_the_site() -> None:
    inside, outside = parse(FULL).redirects
    assert not inside.external and outside.external


@pytest.mark.parametrize(("text", "expected"), [
    ('title = "x"\nbase_url = \n', "line 2, column 12, key base_url: invalid TOML: invalid value"),
    ('title = "x"\ntheme "book"\n', "line 2, column 7, key theme: invalid TOML: expected '=' after a key"),
    ('strict = true\nstrict = false\n', "line 2, column 15, key strict: invalid TOML: cannot overwrite a value"),
    ('[params]\na = 1\n[params]\n', "line 3, column 8, key params: invalid TOML: cannot declare ('params',) twice"),
    # tomllib reports these at the end of the document: the line is the statement's that is left open.
    ('title = "x"\n[params]\nlinks = [\n  "a",\n', "line 3, key params.links: invalid TOML: invalid value"),
    ('title = "x"\nhtml = "escape', "line 2, key html: invalid TOML: unterminated string"),
])
def test_invalid_toml_names_the_line_and_the_key(text: str, expected: str) -> None:
    assert problems(text).startswith(expected)


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    with pytest.raises(RenderError) as caught:
        parse_site_file(b'title = "ok"\nsubtitle = "\xff"\n', "openbook.toml", THEMES.__contains__)
    assert caught.value.cause == "line 2: not valid UTF-8 (byte 25)"


def test_unknown_keys_are_named_with_their_line() -> None:
    text = 'title = "x"\ncolour = "red"\n\n[theme_settings]\nfont = "serif"\n'
    assert problems(text) == (
        "line 2, key colour: unknown key (known: title, theme, base_url, html, strict, params, redirects,"
        " keep_deployments); line 4, key theme_settings: unknown key (known: title, theme, base_url, html,"
        " strict, params, redirects, keep_deployments)")


@pytest.mark.parametrize(("text", "expected"), [
    ("title = 3\n", "line 1, key title: must be a string, not an integer"),
    ("theme = true\n", "line 1, key theme: must be a string, not a boolean"),
    ("base_url = 1.5\n", "line 1, key base_url: must be a string, not a float"),
    ('html = ["escape"]\n', "line 1, key html: must be a string, not an array"),
    ('strict = "yes"\n', "line 1, key strict: must be a boolean, not a string"),
    ('params = "x"\n', "line 1, key params: must be a table, not a string"),
    ("redirects = 2024-01-01\n", "line 1, key redirects: must be a table, not a date or time"),
    ("keep_deployments = true\n", "line 1, key keep_deployments: must be an integer, not a boolean"),
    ("keep_deployments = 5.0\n", "line 1, key keep_deployments: must be an integer, not a float"),
    ('[redirects]\n"a.md" = 1\n', 'line 2, key redirects."a.md": must be a string, not an integer'),
    # A key table where a value belongs: the line of the header.
    ('[title]\nmain = "x"\n', "line 1, key title: must be a string, not a table"),
])
def test_a_value_of_the_wrong_type_is_named(text: str, expected: str) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('title = "  "\n', "line 1, key title: must be 1 to 200 printable characters"),
    (f'title = "{"x" * 201}"\n', "line 1, key title: must be 1 to 200 printable characters"),
    ('title = "a\\u0007b"\n', "line 1, key title: must be 1 to 200 printable characters"),
    ('base_url = "ftp://x.org/"\n', "line 1, key base_url: must be an absolute http(s) URL, not 'ftp://x.org/'"),
    ('html = "raw"\n', "line 1, key html: must be one of escape, sanitize, trusted, not 'raw'"),
    ("keep_deployments = 0\n", "line 1, key keep_deployments: must be from 1 to 1000, not 0"),
    ("keep_deployments = 1001\n", "line 1, key keep_deployments: must be from 1 to 1000, not 1001"),
    ('[redirects]\n"../a.md" = "b.md"\n',
     "line 2, key redirects.\"../a.md\": the old page (a Markdown path relative to the site root): invalid path"
     " '../a.md': '..' segment not allowed"),
    ('[redirects]\n"logo.png" = "b.md"\n',
     "line 2, key redirects.\"logo.png\": the old page 'logo.png' must be a Markdown path (.md or .markdown)"),
    ('[redirects]\n"a.md" = "/b.md"\n',
     "line 2, key redirects.\"a.md\": the new page (a path relative to the site root, or an absolute http(s)"
     " URL): invalid path '/b.md': must be relative (no leading '/')"),
    ('[redirects]\n"a.md" = "ftp://x.org/b"\n',
     "line 2, key redirects.\"a.md\": the new page (a path relative to the site root, or an absolute http(s)"
     " URL): invalid path 'ftp://x.org/b': empty segment"),
    # Unquoted, `old.md` is a dotted key: a table `old` holding `md`.
    ('[redirects]\nold.md = "new.md"\n',
     'line 2, key redirects.old: must be a string; quote paths used as keys ("old/page.md" = "new/page.md")'),
    ('[redirects]\n"caf\\u00e9.md" = "a.md"\n"cafe\\u0301.md" = "b.md"\n',
     'line 3, key redirects."cafe\u0301.md": names the same page as line 2'),
])
def test_a_bad_value_is_named(text: str, expected: str) -> None:
    assert problems(text) == expected


def test_an_unknown_theme_is_named_and_asked_for_by_name() -> None:
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return name == "book"

    with pytest.raises(RenderError) as caught:
        parse_site_file(b'\n\ntheme = "mybook"\n', "openbook.toml", exists)
    assert caught.value.cause == (
        "line 3, key theme: unknown theme 'mybook' (neither a built-in theme nor one in THEMES_PATH)")
    assert asked == ["mybook"]
    assert parse_site_file(b'theme = "book"\n', "openbook.toml", exists).theme == "book"
    # A name that cannot be a theme folder is not even looked up.
    with pytest.raises(RenderError, match=r"unknown theme '\.\./book'"):
        parse_site_file(b'theme = "../book"\n', "openbook.toml", exists)
    assert asked == ["mybook", "book"]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = '''\
keep_deployments = -1
title = ""
theme = "nope"

[params]
anything = { goes = true }

[redirects]
"a.md" = "b.md"
"c.md" = 7
'''
    cause = problems(text, "docs/openbook.toml")
    assert cause.split("; ") == [
        "line 1, key keep_deployments: must be from 1 to 1000, not -1",
        "line 2, key title: must be 1 to 200 printable characters",
        "line 3, key theme: unknown theme 'nope' (neither a built-in theme nor one in THEMES_PATH)",
        'line 10, key redirects."c.md": must be a string, not an integer',
    ]


def test_dotted_keys_and_inline_tables_are_found_on_their_line() -> None:
    text = '''\
params.subtitle = "x"
redirects."a.md" = "b.md"
redirects."c.md" = "../d.md"
'''
    assert problems(text).startswith('line 3, key redirects."c.md": the new page')
    # The keys of an inline table are on its line.
    one_line = 'title = "x"\nredirects = { "a.md" = "b.md", "c.md" = 1 }\n'
    assert problems(one_line) == 'line 2, key redirects."c.md": must be a string, not an integer'
