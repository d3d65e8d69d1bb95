"""Books laid out for another tool: pages from a source folder, a nav a config file lists, a home page."""

from __future__ import annotations

import json
import re

from openbook.render.nav import NavEntry, NavSpec
from tests.render.conftest import Build, Site
from tests.render.test_incremental import keys, pages, rebuild

NAV = NavSpec("mkdocs.yml", (
    NavEntry("Home", "index.md", (), 5),
    NavEntry("User guide", None, (
        NavEntry(None, "guide/install.md", (), 7),
        NavEntry("Writing docs", "guide/writing.md", (), 8),
        NavEntry("Gone", "guide/gone.md", (), 9),
    ), 6),
    NavEntry("Issues", "https://github.com/example/docs/issues", (), 10),
    NavEntry("About", "about.md", (), 11),
))
DOCS = {
    "mkdocs.yml": "site_name: Docs\n",
    "docs/index.md": "# Welcome\n",
    "docs/about.md": "# About us\n",
    "docs/guide/install.md": "# Installing\n",
    "docs/guide/writing.md": "# Writing\n\nSee [about](../about.md) and [nowhere](../nowhere.md).\n",
    "docs/img/logo.png": "png",
    "overrides/main.html": "<p>a MkDocs theme override, not a page</p>",
}


def toc(site: Site) -> list[list[object]]:
    script = site.text("_openbook/toc.js")
    found = re.search(r"var NAV = (\[.*?\]);\n", script)
    assert found
    nav: list[list[object]] = json.loads(found.group(1))
    return nav


def test_pages_come_from_the_source_folder_in_the_order_the_nav_lists(build: Build) -> None:
    site = build(DOCS, source="docs", nav=NAV)
    assert {"index.html", "about/index.html", "guide/install/index.html", "img/logo.png"} <= set(site.files)
    assert not [p for p in site.files if p.startswith(("docs/", "overrides/")) or p == "mkdocs.yml"]
    assert [(item[0], item[1], item[3]) for item in toc(site)] == [
        ("Home", "", "chapter"),
        ("User guide", None, "chapter"),
        ("Issues", "https://github.com/example/docs/issues", "link"),
        ("About", "about/", "chapter"),
    ]
    section = toc(site)[1][2]
    assert isinstance(section, list)
    assert [(item[0], item[1]) for item in section] == [  # a bare entry takes the page's title
        ("Installing", "guide/install/"), ("Writing docs", "guide/writing/"), ("Gone", None)]
    # reading order follows the nav, the link out of the site is not a page of it
    install = site.html("guide/install/index.html")
    assert install.find("a", rel="prev").attrs["href"] == "../../"
    assert install.find("a", rel="next").attrs["href"] == "../../guide/writing/"
    assert site.html("guide/writing/index.html").find("a", rel="next").attrs["href"] == "../../about/"
    contents = site.html("contents/index.html")
    assert contents.find("a", href="https://github.com/example/docs/issues").attrs["rel"] == "external"
    # stats name files from the site root: the nav file, and pages inside the source folder
    assert site.stats["broken_links"] == [
        {"path": "docs/guide/writing.md", "line": 3, "target": "../nowhere.md", "count": 1},
        {"path": "mkdocs.yml", "line": 9, "target": "guide/gone.md", "count": 1},
    ]


def test_without_an_index_page_the_first_chapter_is_the_home_page(build: Build) -> None:
    book = {
        "SUMMARY.md": "# Summary\n\n- [Intro](intro.md)\n- [Usage](usage.md)\n",
        "intro.md": "# Introduction\n\nNext: [usage](usage.md).\n",
        "usage.md": "# Usage\n\nBack to [the start](intro.md).\n",
    }
    site = build(book)
    home = site.html("index.html")
    assert home.title().startswith("Introduction")
    assert "intro/index.html" not in site.files
    usage = site.html("usage/index.html")
    assert usage.find("a", rel="prev").attrs["href"] == "../"
    assert "the start" in [a.text for a in usage.find_all("a", href="../")]  # links to the chapter lead home
    # GitBook's structure.readme names the home page instead of the first chapter
    other = build(book, home="usage.md")
    assert other.html("index.html").title().startswith("Usage") and "intro/index.html" in other.files
    # an index page stays the home page
    assert build({**book, "index.md": "# Home"}).html("index.html").title().startswith("Home")


def test_the_blog_home_is_not_replaced_by_a_post(build: Build) -> None:
    from openbook.fs.themes import load_theme

    site = build({"post.md": "---\ntitle: A post\ndate: 2024-01-02\n---\nText.\n"}, theme=load_theme("blog"))
    assert "post/index.html" in site.files and "A post" in site.text("index.html")


def test_nav_edit_renders_what_it_changes_and_equals_a_full_build(build: Build) -> None:
    renamed = NavSpec(NAV.file, (*NAV.entries[:3], NavEntry("About the team", "about.md", (), 11)))
    _, _, rendered = rebuild(build, DOCS, DOCS, source="docs", nav=renamed, before={"source": "docs", "nav": NAV})
    # prev/next links show page titles: only the files that list the nav change
    assert pages(rendered) == {"_openbook/toc.js", "contents/index.html"}
    moved = NavSpec(NAV.file, (NAV.entries[0], NAV.entries[3], NAV.entries[1], NAV.entries[2]))
    _, _, rendered = rebuild(build, DOCS, DOCS, source="docs", nav=moved, before={"source": "docs", "nav": NAV})
    assert {"index.html", "about/index.html", "guide/install/index.html"} <= rendered  # new neighbours
    first = build(DOCS, source="docs", nav=NAV)
    assert keys(build(DOCS, source="docs", nav=NAV).result) == keys(first.result)
