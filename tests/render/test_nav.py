"""Navigation from SUMMARY.md and from folders; prev/next, breadcrumbs, toc.js, output size."""

from __future__ import annotations

import json
import re
from typing import Any

from openbook.render.nav import Nav, NavItem
from tests.render.conftest import Build, Site

SUMMARY = """# Summary

[Preface](README.md)

# Part one

- [Getting started](start.md)
    - [Install](start/install.md)
    - [Configure](start/configure.md)
        - [Deep](start/deep.md)
- [Not written yet]()

---

# Part two

- [Usage](usage.md)

[Appendix](appendix.md)
"""


def _summary_site(build: Build) -> Site:
    pages = [
        "README.md",
        "start.md",
        "start/install.md",
        "start/configure.md",
        "start/deep.md",
        "usage.md",
        "appendix.md",
        "orphan.md",
    ]
    content = {p: f"# {p}\n" for p in pages}
    content["SUMMARY.md"] = SUMMARY
    return build(content)


def _nav(site: Site) -> Any:
    js = site.text("_openbook/toc.js")
    m = re.search(r"var NAV = (.*);\n", js)
    assert m
    return json.loads(m.group(1))


def test_summary_parts_nesting_drafts_and_separators(build: Build) -> None:
    nav = _nav(_summary_site(build))
    assert [(i[0], i[3]) for i in nav] == [
        ("Preface", "chapter"),
        ("Part one", "part"),
        ("Getting started", "chapter"),
        ("Not written yet", "chapter"),
        ("", "separator"),
        ("Part two", "part"),
        ("Usage", "chapter"),
        ("Appendix", "chapter"),
    ]
    start = nav[2]
    assert start[1] == "start/" and start[4] == "1."
    assert [(c[0], c[1], c[4]) for c in start[2]] == [
        ("Install", "start/install/", "1.1."),
        ("Configure", "start/configure/", "1.2."),
    ]
    assert start[2][1][2][0][:2] == ["Deep", "start/deep/"]
    assert nav[3][1] is None and nav[3][4] == "2."  # draft chapter: listed, no link
    assert nav[0][4] is None  # prefix chapters are not numbered


def test_summary_reading_order_prev_next_and_breadcrumbs(build: Build) -> None:
    site = _summary_site(build)
    doc = site.html("start/configure/index.html")
    assert doc.find("a", rel="prev").attrs["href"] == "../../start/install/"
    assert doc.find("a", rel="next").attrs["href"] == "../../start/deep/"
    crumbs = doc.find("nav", class_="breadcrumbs").text.split()
    assert crumbs[:2] == ["Test", "Book"] and "started" in crumbs and crumbs[-1] == "start/configure.md"
    deep = site.html("start/deep/index.html")
    assert deep.find("a", rel="next").attrs["href"] == "../../usage/"
    assert not site.html("appendix/index.html").find_all("a", rel="next")
    assert not site.html("index.html").find_all("a", rel="prev")
    assert "orphan/index.html" in site.files  # pages outside SUMMARY.md are still published


def test_summary_link_to_missing_page_is_a_broken_link(build: Build) -> None:
    site = build({"README.md": "# Hi", "SUMMARY.md": "- [Gone](gone.md)\n"})
    assert site.stats["broken_links"] == [{"path": "SUMMARY.md", "line": 1, "target": "gone.md", "count": 1}]


def test_summary_links_outside_the_book_or_to_dot_paths_are_broken(build: Build) -> None:
    content = {"README.md": "# Hi", "x.md": "# X", "well-known/x.md": "# W",
               "SUMMARY.md": "- [Up](../x.md)\n- [Dot](.well-known/x.md)\n- [Here](./x.md)\n"}
    site = build(content)
    assert site.stats["broken_links"] == [{"path": "SUMMARY.md", "line": 1, "target": "../x.md", "count": 1},
                                          {"path": "SUMMARY.md", "line": 2, "target": ".well-known/x.md", "count": 1}]


def test_folder_nav_uses_order_then_file_name(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home",
            "b.md": "# Bee",
            "a.md": "# Ay",
            "z.md": "---\norder: 1\n---\n# Zed first",
            "guide/index.md": "---\norder: 2\ntitle: The Guide\n---\n",
            "guide/two.md": "# Two",
            "guide/one.md": "# One",
            "loose/x.md": "# X",
        }
    )
    nav = _nav(site)
    assert [i[0] for i in nav] == ["Home", "Zed first", "The Guide", "Ay", "Bee", "Loose"]
    assert [c[0] for c in nav[2][2]] == ["One", "Two"]
    assert nav[5][1] is None  # a folder without an index page is a section without a link
    doc = site.html("guide/one/index.html")
    assert doc.find("a", rel="prev").attrs["href"] == "../../guide/"
    assert doc.find("a", rel="next").attrs["href"] == "../../guide/two/"


def test_pages_do_not_repeat_the_whole_nav(build: Build) -> None:
    content = {"index.md": "# Home"}
    content.update({f"ch{i:03}.md": f"# Chapter {i}\n\nText.\n" for i in range(300)})
    site = build(content)
    sizes = [len(d) for p, d in site.files.items() if p.startswith("ch") and p.endswith(".html")]
    toc = site.files["_openbook/toc.js"]
    assert b"Chapter 299" in toc
    page = site.text("ch150/index.html")
    assert "Chapter 299" not in page and "Chapter 17<" not in page
    assert max(sizes) < 8_000  # per-page size does not grow with the number of pages
    contents = site.html("contents/index.html")
    assert len([a for a in contents.find_all("a") if a.attrs["href"].startswith("../ch")]) == 300


def test_page_is_readable_without_js(build: Build) -> None:
    site = build({"index.md": "# Home", "guide/a.md": "# A\n\nThe body text.", "guide/b.md": "# B"})
    doc = site.html("guide/a/index.html")
    assert "The body text." in doc.find("main").text
    assert doc.find("nav", class_="breadcrumbs")
    assert doc.find("a", rel="next")
    assert [a for a in doc.find_all("a") if a.attrs["href"] == "../../contents/"]


def test_a_page_listed_twice_keeps_its_first_place_in_reading_order() -> None:
    again = NavItem("A again", "a/")
    nav = Nav((NavItem("A", "a/"), NavItem("B", "b/", (again, NavItem("D", "d/"))), NavItem("C", "c/")))
    assert nav.order == ["a/", "b/", "d/", "c/"]
    assert nav.neighbours("a/") == (None, "b/") and nav.neighbours("b/") == ("a/", "d/")
    assert nav.neighbours("c/") == ("d/", None) and nav.neighbours("off-nav/") == (None, None)
    assert nav.trails["a/"] == () and [c.title for c in nav.trails["d/"]] == ["B"]
