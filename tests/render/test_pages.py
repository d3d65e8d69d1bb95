"""Pretty URLs, titles, front matter, drafts and copied files."""

from __future__ import annotations

import pytest

from openbook.errors import RenderError
from tests.render.conftest import Build


def test_pretty_urls(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home",
            "guide/intro.md": "# Intro",
            "guide/README.md": "# Guide",
            "guide/deep/index.md": "# Deep",
            "guide/deep/page.markdown": "# Page",
        }
    )
    for out in (
        "index.html",
        "guide/intro/index.html",
        "guide/index.html",
        "guide/deep/index.html",
        "guide/deep/page/index.html",
    ):
        assert out in site.files
    assert not [p for p in site.files if p.endswith((".md", ".markdown"))]


def test_readme_is_the_index_and_index_md_wins_a_clash(build: Build) -> None:
    site = build({"README.md": "# From readme", "docs/index.md": "# Index", "docs/README.md": "# Readme"})
    assert site.html("index.html").find("h1").text == "From readme"
    assert site.html("docs/index.html").find("h1").text == "Index"
    assert site.html("docs/README/index.html").find("h1").text == "Readme"


def test_output_clash_is_an_error_naming_the_file(build: Build) -> None:
    with pytest.raises(RenderError) as err:
        build({"a/b.md": "# One", "a/b/index.md": "# Two", "a/b/README.md": "# Three"})
    assert "a/b" in err.value.path


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("---\ntitle: From Front Matter\n---\n# Heading\n", "From Front Matter"),
        ("Some text\n\n## First Heading\n\n# Later\n", "First Heading"),
        ("Just text, no heading.\n", "Getting started"),
    ],
)
def test_title_rules(build: Build, content: str, title: str) -> None:
    doc = build({"index.md": "# Home", "getting-started.md": content}).html("getting-started/index.html")
    assert doc.title() == f"{title} · Test Book"


def test_home_title_without_heading_is_the_site_title(build: Build) -> None:
    doc = build({"index.md": "hello"}, title="My Book").html("index.html")
    assert doc.title() == "My Book"


@pytest.mark.parametrize(
    "front",
    [
        "---\ntitle: [unclosed\n---\n",
        "---\n- a list\n---\n",
        "---\ndraft: maybe\n---\n",
        "---\norder: first\n---\n",
        "---\ntitle: x\n",
        "---\naliases: 3\n---\n",
    ],
)
def test_invalid_front_matter_names_the_file(build: Build, front: str) -> None:
    with pytest.raises(RenderError) as err:
        build({"index.md": "# Home", "guide/bad.md": front + "# Bad\n"})
    assert err.value.path == "guide/bad.md"
    assert "front matter" in err.value.cause
    assert "guide/bad.md" in str(err.value)


def test_invalid_utf8_names_the_file(build: Build) -> None:
    with pytest.raises(RenderError) as err:
        build({"index.md": b"# Home \xff\xfe"})
    assert err.value.path == "index.md"


def test_front_matter_fields_reach_the_page(build: Build) -> None:
    md = "---\ntitle: Dated\ndate: 2024-05-01\ndescription: A page with a date\ncustom: 42\n---\nBody\n"
    doc = build({"index.md": "# Home", "dated.md": md}).html("dated/index.html")
    assert doc.find("meta", name="description").attrs["content"] == "A page with a date"
    assert doc.find("time").attrs["datetime"] == "2024-05-01"


def test_draft_pages_are_not_published(build: Build) -> None:
    site = build({"index.md": "# Home", "wip.md": "---\ndraft: true\n---\n# Secret plans\n"})
    assert "wip/index.html" not in site.files
    assert b"Secret plans" not in b"".join(site.files.values())
    assert site.stats["pages"] == 1 and site.stats["drafts"] == 1


def test_other_files_are_copied_byte_for_byte(build: Build) -> None:
    blob = bytes(range(256)) * 10
    site = build(
        {
            "index.md": "# Home",
            "img/pic.png": blob,
            "files/data.json": b'{"a": 1}',
            "SUMMARY.md": "# Summary\n\n- [Home](index.md)\n",
            "_theme/static/x.css": b"body{}",
            ".git/config": b"secret",
            ".well-known/security.txt": b"Contact: me",
        }
    )
    assert site.files["img/pic.png"] == blob
    assert site.files["files/data.json"] == b'{"a": 1}'
    assert site.files[".well-known/security.txt"] == b"Contact: me"
    assert "SUMMARY.md" not in site.files
    assert not [p for p in site.files if p.startswith(("_theme/", ".git"))]


def test_aliases_become_redirect_pages(build: Build) -> None:
    site = build(
        {"index.md": "# Home", "new/place.md": "---\naliases: [old/place, /older.html]\n---\n# Moved\n"}
    )
    doc = site.html("old/place/index.html")
    refresh = doc.find("meta", http_equiv="refresh").attrs["content"]
    assert refresh == "0; url=../../new/place/"
    assert site.html("older.html").find("link", rel="canonical").attrs["href"] == "new/place/"
