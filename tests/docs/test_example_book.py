"""The example book (`examples/`, published by `make demo`) has no broken links.

Nothing is built: each page is parsed with the renderer's own Markdown setup,
so links inside code fences are ignored exactly as the renderer ignores them,
and heading anchors are the ids the renderer gives.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

from openbook.render import frontmatter
from openbook.render.markdown import ParsedDoc, is_internal, render_markdown

BOOK = Path(__file__).resolve().parents[2] / "examples"
SUMMARY_LINK_RE = re.compile(r"\[[^\]]*\]\(([^)]*)\)")
INDEX_NAMES = ("index.md", "README.md")


def pages() -> list[str]:
    return sorted(p.relative_to(BOOK).as_posix() for p in BOOK.rglob("*.md") if p.name != "SUMMARY.md")


@cache
def parse(source: str) -> tuple[frontmatter.FrontMatter, ParsedDoc]:
    meta, body, _ = frontmatter.split(source, (BOOK / source).read_text(encoding="utf-8"))
    return meta, render_markdown(body, "escape")


def resolve(from_source: str, href: str) -> tuple[str | None, str]:
    """(target file relative to the book, or None when missing; fragment) of a relative link."""
    rest, _, fragment = href.partition("#")
    path = unquote(rest.partition("?")[0])
    if not path:
        return from_source, unquote(fragment)
    target = posixpath.normpath(posixpath.join(posixpath.dirname(from_source), path))
    if target == ".." or target.startswith("../"):
        return None, fragment
    full = BOOK / target
    if full.is_dir():
        target = next((f"{target}/{n}" for n in INDEX_NAMES if (full / n).is_file()), "")
        return target or None, unquote(fragment)
    return (target if full.is_file() else None), unquote(fragment)


def test_the_book_is_a_real_book() -> None:
    assert (BOOK / "SUMMARY.md").is_file()
    assert any((BOOK / n).is_file() for n in INDEX_NAMES)
    assert 8 <= len(pages()) <= 20
    assert any(p.suffix == ".svg" for p in BOOK.rglob("*"))


@pytest.mark.parametrize("source", pages())
def test_page_has_front_matter_title_and_description(source: str) -> None:
    meta, doc = parse(source)
    assert meta.title, f"{source}: front matter needs a title"
    assert meta.description, f"{source}: front matter needs a description"
    assert len(doc.text.split()) >= 150, f"{source}: a page of a few hundred words, please"


@pytest.mark.parametrize("source", pages())
def test_every_relative_link_and_anchor_resolves(source: str) -> None:
    _, doc = parse(source)
    broken = []
    for _kind, href in doc.links:
        if not is_internal(href) or href.startswith("/"):
            continue  # absolute site paths depend on where the site is mounted
        target, fragment = resolve(source, href)
        if target is None:
            broken.append(f"{href}: no such file")
        elif fragment and target.endswith(".md") and fragment not in parse(target)[1].anchors:
            broken.append(f"{href}: {target} has no heading #{fragment}")
        elif fragment and not target.endswith(".md"):
            broken.append(f"{href}: anchors only make sense on pages")
    assert broken == [], f"{source}: broken links"


def test_summary_lists_every_page_and_only_existing_ones() -> None:
    targets = SUMMARY_LINK_RE.findall((BOOK / "SUMMARY.md").read_text(encoding="utf-8"))
    listed = []
    for href in targets:
        target, _ = resolve("SUMMARY.md", href)
        assert target is not None, f"SUMMARY.md links to a missing file: {href}"
        listed.append(target)
    assert len(listed) == len(set(listed)), "SUMMARY.md lists a page twice"
    assert sorted(listed) == pages(), "every page belongs in SUMMARY.md"


def test_images_are_valid_svg() -> None:
    svgs = list(BOOK.rglob("*.svg"))
    for svg in svgs:
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", svg
        assert root.get("viewBox") or (root.get("width") and root.get("height")), svg


def test_resolver_catches_broken_links() -> None:
    """Guard the guard: a made-up link to a missing file or heading must not resolve."""
    assert resolve("guide/themes.md", "../nope.md")[0] is None
    assert resolve("guide/themes.md", "../../outside.md")[0] is None
    target, fragment = resolve("guide/themes.md", "../concepts/content-store.md#no-such-heading")
    assert target == "concepts/content-store.md"
    assert fragment not in parse(target)[1].anchors
