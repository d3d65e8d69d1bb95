"""Link rewriting, link checking, strict mode, and a crawl of a whole built site."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

import pytest

from openbook.errors import RenderError
from openbook.render import ThemeChain
from tests.render.conftest import Build, Site

CONTENT = {
    "index.md": (
        "# Home\n\nRead [the intro](guide/intro.md), [setup](guide/intro.md#set-up) and [top](#home).\n"
    ),
    "guide/intro.md": (
        "# Intro\n\n## Set up\n\n[back home](../index.md) · [sibling](other.md?x=1#part-two) · "
        "[folder](../guide/) · [picture](../img/a.png) ![alt](../img/a.png) · [abs](/guide/other.md)\n"
    ),
    "guide/other.md": "# Other\n\n## Part two\n\n[external](https://example.org/a.md) [mail](mailto:a@b.c)\n",
    "guide/index.md": "# Guide\n",
    "img/a.png": b"png",
}


def _in_article(site: Site, path: str) -> list[str]:
    doc = site.html(path)
    out, inside = [], False
    for el in doc.elements:
        if el.tag == "article":
            inside = True
        elif inside and el.tag in ("nav", "aside", "footer"):
            break
        elif inside and el.tag == "a":
            out.append(el.attrs["href"])
        elif inside and el.tag == "img":
            out.append(el.attrs["src"])
    return out


def test_md_links_are_rewritten_to_output_urls(build: Build) -> None:
    site = build(CONTENT)
    assert _in_article(site, "index.html") == ["guide/intro/", "guide/intro/#set-up", "#home"]
    assert _in_article(site, "guide/intro/index.html") == [
        "../../",
        "../../guide/other/?x=1#part-two",
        "../../guide/",
        "../../img/a.png",
        "../../img/a.png",
        "../../guide/other/",
    ]
    assert _in_article(site, "guide/other/index.html") == ["https://example.org/a.md", "mailto:a@b.c"]
    assert site.stats["broken_links"] == []


def test_broken_links_and_anchors_are_reported(build: Build) -> None:
    content = dict(CONTENT)
    content["guide/bad.md"] = (
        "# Bad\n\n[gone](missing.md) [anchor](other.md#nope) [here](#nowhere) [up](../../outside.md) "
        "[draft](wip.md) ![img](nope.png)\n"
    )
    content["guide/wip.md"] = "---\ndraft: true\n---\n# WIP\n"
    site = build(content)
    assert site.stats["broken_links"] == [
        {"path": "guide/bad.md", "line": 3, "target": t, "count": 1}
        for t in sorted(["missing.md", "other.md#nope", "#nowhere", "../../outside.md", "wip.md", "nope.png"])
    ]
    # a broken link stays as written, it is not silently pointed elsewhere
    assert "missing.md" in _in_article(site, "guide/bad/index.html")


def test_strict_mode_fails_naming_every_broken_link(build: Build) -> None:
    content = dict(CONTENT)
    content["a.md"] = "# A\n[x](missing.md)"
    content["b.md"] = "# B\n[y](#nope)"
    build(CONTENT, strict=True)  # a clean site builds in strict mode
    with pytest.raises(RenderError) as err:
        build(content, strict=True)
    assert err.value.path == "a.md"
    assert "missing.md" in err.value.cause and "b.md" in err.value.cause and "#nope" in err.value.cause


def test_unicode_and_space_paths(build: Build) -> None:
    site = build(
        {"index.md": "[x](<my page.md>) [y](中文.md#小节)", "my page.md": "# S", "中文.md": "## 小节"}
    )
    assert site.stats["broken_links"] == []
    hrefs = _in_article(site, "index.html")
    assert hrefs[0] == "my%20page/"
    assert unquote(hrefs[1]) == "中文/#小节"
    assert "中文/index.html" in site.files


def _target(page: str, ref: str) -> tuple[str, str] | None:
    """The output file and fragment a reference from `page` points to (None: external)."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc:
        return None
    if not parts.path:
        return page, parts.fragment
    joined = parts.path if parts.path.startswith("/") else posixpath.join(posixpath.dirname(page), parts.path)
    norm = posixpath.normpath(unquote(joined).lstrip("/"))
    assert not norm.startswith(".."), f"{page}: {ref} leaves the site"
    if norm == ".":
        return "index.html", parts.fragment
    if parts.path.endswith("/"):
        norm += "/index.html"
    return norm, parts.fragment


def crawl(site: Site) -> list[tuple[str, str]]:
    """Follow every internal href/src of every HTML file; return the ones that 404 (or miss their anchor)."""
    missing = []
    for path in site.files:
        if not path.endswith(".html"):
            continue
        for el in site.html(path).elements:
            for ref in (el.attrs.get("href", ""), el.attrs.get("src", "")):
                target = _target(path, ref) if ref else None
                if target is None:
                    continue
                file, fragment = target
                if file not in site.files:
                    missing.append((path, ref))
                elif fragment and file.endswith(".html"):
                    ids = {e.attrs.get("id") for e in site.html(file).elements}
                    if unquote(fragment) not in ids:
                        missing.append((path, ref))
    return missing


def test_crawl_every_link_of_a_built_book(build: Build) -> None:
    content = dict(CONTENT)
    content["SUMMARY.md"] = (
        "# Summary\n\n[Home](index.md)\n\n# Part one\n\n- [Guide](guide/index.md)\n"
        "  - [Intro](guide/intro.md)\n  - [Other](guide/other.md)\n- [Draft chapter]()\n"
    )
    content["guide/aliased.md"] = "---\naliases: [old-url]\n---\n# Aliased\n[home](../index.md)\n"
    site = build(content)
    assert crawl(site) == []
    assert "contents/index.html" in site.files and "404.html" in site.files


def test_crawl_folder_nav_site_with_base_theme(build: Build, base: ThemeChain) -> None:
    site = build(CONTENT, theme=base)
    assert crawl(site) == []


def test_raw_html_is_sanitized_by_default_and_its_links_are_rewritten(build: Build) -> None:
    page = ('# Raw\n\n<div class="hero" align="center">\n  <img src="../img/a.png" alt="A" onerror="x()">\n'
            '  <a href="other.md#part-two" onclick="steal()">Other</a> <a href="gone.md">gone</a>\n'
            "  <script>alert(1)</script>\n</div>\n\nInline <a href='../index.md'>home</a>.\n")
    site = build({**CONTENT, "guide/raw.md": page})
    assert _in_article(site, "guide/raw/index.html") == [
        "../../img/a.png", "../../guide/other/#part-two", "gone.md", "../../"]
    body = site.text("guide/raw/index.html").split("<article", 1)[1].split("</article>", 1)[0]
    assert '<div class="hero" align="center">' in body
    assert "onclick" not in body and "onerror" not in body and "<script>" not in body and "alert(1)" not in body
    assert site.stats["broken_links"] == [{"path": "guide/raw.md", "line": 5, "target": "gone.md", "count": 1}]
    # a site can still choose to show raw HTML as text, or to trust it
    escaped = build({**CONTENT, "guide/raw.md": page}, html="escape")
    assert "&lt;div class=&quot;hero&quot;" in escaped.text("guide/raw/index.html")
    trusted = build({**CONTENT, "guide/raw.md": page}, html="trusted")
    assert 'onclick="steal()"' in trusted.text("guide/raw/index.html")  # the author's choice
    assert _in_article(trusted, "guide/raw/index.html")[:2] == ["../../img/a.png", "../../guide/other/#part-two"]
