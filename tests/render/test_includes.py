"""mdBook syntax: includes (ranges, anchors, rustdoc_include), {{#title}}, fences with attributes,
hidden Rust lines, `chapter.html` links; an included file is a dependency of exactly its pages."""

from __future__ import annotations

import pytest

from openbook.errors import RenderError
from openbook.render.includes import Digests, LineMap, expand
from openbook.render.problems import Problem
from tests.render.conftest import Build
from tests.render.test_incremental import pages, rebuild

LISTING = """\
// ANCHOR: all
use std::io;
// ANCHOR: main
fn main() {
    println!("hello");
}
// ANCHOR_END: main
// ANCHOR_END: all
"""


def expanded(text: str, files: dict[str, str], path: str = "src/page.md") -> tuple[str, LineMap, tuple[Problem, ...]]:
    found = expand(path, text, Digests({p: t.encode() for p, t in files.items()}))
    return found.text, found.lines, found.problems


def test_ranges_anchors_and_escapes() -> None:
    files = {"listings/main.rs": LISTING}
    cases = {
        "{{#include ../listings/main.rs:4}}": "fn main() {",
        "{{#include ../listings/main.rs:4:6}}": 'fn main() {\n    println!("hello");\n}',
        "{{#include ../listings/main.rs::2}}": "// ANCHOR: all\nuse std::io;",
        "{{#include ../listings/main.rs:7:}}": "// ANCHOR_END: main\n// ANCHOR_END: all",
        "{{#include ../listings/main.rs:main}}": 'fn main() {\n    println!("hello");\n}',
        # anchor lines inside the anchor are left out
        "{{#include ../listings/main.rs:all}}": 'use std::io;\nfn main() {\n    println!("hello");\n}',
        "{{#rustdoc_include ../listings/main.rs:main}}": 'fn main() {\n    println!("hello");\n}',
        "\\{{#include ../listings/main.rs}}": "{{#include ../listings/main.rs}}",
        "{{ #include ../listings/main.rs:2 }}": "use std::io;",
    }
    for directive, text in cases.items():
        assert expanded(directive, files)[0] == text, directive
    playground = expanded("{{#playground ../listings/main.rs:2 editable}}", files)[0]
    assert playground == "```rust,editable\nuse std::io;\n```"


def test_nested_includes_and_where_each_line_comes_from() -> None:
    files = {"src/snippet.md": "Intro line\n{{#include ../listings/main.rs:main}}\n",
             "listings/main.rs": LISTING}
    text, lines, problems = expanded("# Title\n\n{{#include snippet.md}}\nAfter\n", files)
    assert text == '# Title\n\nIntro line\nfn main() {\n    println!("hello");\n}\nAfter\n'
    assert problems == ()
    assert [lines.origin(n) for n in range(1, 8)] == [
        (None, 1), (None, 2), ("src/snippet.md", 1), ("listings/main.rs", 4), ("listings/main.rs", 5),
        ("listings/main.rs", 6), (None, 4)]


def test_what_cannot_be_included_stays_as_written_with_a_problem_at_its_line() -> None:
    files = {"src/a.md": "{{#include b.md}}", "src/b.md": "{{#include a.md}}", "listings/main.rs": LISTING}
    text, _, problems = expanded(
        "Intro\n{{#include missing.rs}}\n{{#include ../../etc/passwd}}\n{{#include /etc/passwd}}\n"
        "{{#include ../listings/main.rs:nope}}\n{{#include ../listings/main.rs:40:50}}\n{{#include a.md}}\n"
        "{{#frobnicate x}}\n", files)
    assert "{{#include missing.rs}}" in text and "{{#include ../../etc/passwd}}" in text
    assert "root:" not in text
    assert [(p.path, p.line, p.kind) for p in problems] == [
        (None, 2, "include"), (None, 3, "include"), (None, 4, "include"), (None, 5, "include"),
        (None, 6, "include"), ("src/b.md", 1, "include"), (None, 8, "syntax")]
    messages = [p.message for p in problems]
    assert "no such file (src/missing.rs)" in messages[0]
    assert "outside the site's folder" in messages[1] and "outside the site's folder" in messages[2]
    assert "no anchor 'nope'" in messages[3]
    assert "not in the file (8 lines)" in messages[4]
    assert "a cycle (src/a.md → src/b.md → src/a.md)" in messages[5]
    assert messages[6] == "unknown directive {{#frobnicate}}: left as written"


BOOK = {
    "book.toml": "[book]\ntitle = 'Rust by listing'\n",
    "src/SUMMARY.md": "# Summary\n\n- [Chapter 1](chapter_1.md)\n- [Chapter 2](chapter_2.md)\n"
                      "- [Chapter 3](chapter_3.md)\n",
    "src/chapter_1.md": "{{#title Getting started}}\n# Chapter 1\n\n```rust,ignore\n"
                        "{{#rustdoc_include ../listings/main.rs:main}}\n```\n\nNext: [chapter 2](chapter_2.html).\n",
    "src/chapter_2.md": "# Chapter 2\n\n```rust\n# use std::io;\n#[derive(Debug)]\nstruct S;\n## not hidden\n"
                        "#\nfn f() {}\n```\n\n{{#include shared.md}}\n",
    "src/chapter_3.md": "# Chapter 3\n\n```python title=\"hello.py\"\nprint('hi')\n```\n\n{{#include shared.md}}\n",
    "src/shared.md": "A note shared by two chapters, linking [nowhere](nowhere.md).\n\n{{#include gone.rs}}\n",
    "listings/main.rs": LISTING,
}


def test_an_mdbook_book_renders_its_listings(build: Build) -> None:
    site = build(BOOK, source="src")
    home = site.html("index.html")  # no README.md: the first chapter is the home page
    assert home.title().startswith("Getting started")
    code = home.find("code", class_="language-rust")
    assert code.text == 'fn main() {\n    println!("hello");\n}\n'
    assert home.with_class("nf", "span")  # highlighted by its language, `ignore` aside
    assert "{{#" not in site.text("index.html")
    assert home.find("a", href="chapter_2/").text == "chapter 2"
    two = site.html("chapter_2/index.html")
    assert two.find("code", class_="language-rust").text == "#[derive(Debug)]\nstruct S;\n# not hidden\nfn f() {}\n"
    three = site.html("chapter_3/index.html")
    assert three.find("figcaption").text == "hello.py"
    assert three.find("figure", class_="code-listing").text.startswith("hello.py")
    assert "shared/index.html" not in site.files  # an included file is a snippet, not a page
    # a problem in a snippet is listed once, at the snippet's line, counted per page that meets it
    assert site.stats["problems"] == [
        {"path": "src/shared.md", "line": 3, "kind": "include",
         "message": "include of gone.rs: no such file (src/gone.rs)", "count": 2},
    ]
    assert site.stats["broken_links"] == [
        {"path": "src/shared.md", "line": 1, "target": "nowhere.md", "count": 2}]


def test_lines_after_an_include_are_reported_at_their_own_line(build: Build) -> None:
    page = "# Page\n\n```rust\n{{#include ../listings/main.rs}}\n```\n\n{% tabs %}\n\n[gone](gone.md)\n"
    site = build({"src/page.md": page, "listings/main.rs": LISTING}, source="src")
    assert [(p["path"], p["line"]) for p in site.stats["problems"]] == [("src/page.md", 7)]
    assert [(b["path"], b["line"]) for b in site.stats["broken_links"]] == [("src/page.md", 9)]


def test_strict_mode_fails_on_a_problem(build: Build) -> None:
    with pytest.raises(RenderError) as err:
        build(BOOK, source="src", strict=True)
    assert "src/shared.md:3: include of gone.rs: no such file (src/gone.rs)" in err.value.cause


def test_editing_an_included_file_renders_exactly_the_pages_that_include_it(build: Build) -> None:
    edited = {**BOOK, "listings/main.rs": LISTING.replace('"hello"', '"bonjour"')}
    for site_key in ("", "includes-test"):  # without, then with the site's cache of parsed pages
        _, again, rendered = rebuild(build, BOOK, edited, source="src", site_key=site_key,
                                     before={"source": "src", "site_key": site_key})
        assert pages(rendered) == {"index.html"}, site_key
        assert "bonjour" in again.text("index.html")
    # a file an include missed, once added, renders the pages that tried
    added = {**BOOK, "src/gone.rs": "fn gone() {}\n"}
    _, again, rendered = rebuild(build, BOOK, added, source="src", site_key="includes-test",
                                 before={"source": "src", "site_key": "includes-test"})
    assert pages(rendered) == {"chapter_2/index.html", "chapter_3/index.html", "gone.rs"}
    assert again.stats["problems"] == []
