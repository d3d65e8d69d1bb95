"""Files every site gets: 404.html, sitemap.xml, robots.txt, contents, toc.js, theme assets."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from tests.render.conftest import Build

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_every_site_gets_the_standard_files(build: Build) -> None:
    site = build(
        {"index.md": "# Home", "a/b.md": "---\ndate: 2024-01-02\n---\n# B"},
        base_url="https://docs.example.org",
    )
    for path in (
        "404.html",
        "sitemap.xml",
        "robots.txt",
        "contents/index.html",
        "_openbook/toc.js",
        "_openbook/search/index.js",
    ):
        assert path in site.files, path
    assert [p for p in site.files if re.fullmatch(r"static/book\.[0-9a-f]{8}\.css", p)]
    locs = [
        (u.find(f"{SITEMAP_NS}loc").text, getattr(u.find(f"{SITEMAP_NS}lastmod"), "text", None))  # type: ignore[union-attr]
        for u in ElementTree.fromstring(site.files["sitemap.xml"])
    ]
    assert locs == [("https://docs.example.org/", None), ("https://docs.example.org/a/b/", "2024-01-02")]
    assert "Sitemap: https://docs.example.org/sitemap.xml" in site.text("robots.txt")


def test_404_links_from_the_site_root(build: Build) -> None:
    doc = build({"index.md": "# Home"}).html("404.html")
    assert doc.find("h1").text == "Page not found"
    hrefs = [el.attrs["href"] for el in doc.find_all("link", rel="stylesheet")]
    assert hrefs and all(h.startswith("/static/") for h in hrefs)


def test_sitemap_without_domain_uses_root_paths(build: Build) -> None:
    site = build({"index.md": "# Home", "x.md": "# X"})
    assert [u[0].text for u in ElementTree.fromstring(site.files["sitemap.xml"])] == ["/", "/x/"]
    assert "Sitemap" not in site.text("robots.txt")


def test_content_can_supply_its_own_robots_and_404(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home",
            "robots.txt": b"User-agent: *\nDisallow: /\n",
            "404.md": "# Lost?\n\n[home](index.md)",
        }
    )
    assert site.files["robots.txt"] == b"User-agent: *\nDisallow: /\n"
    doc = site.html("404.html")
    assert doc.find("h1").text == "Lost?"
    assert [a for a in doc.find_all("a") if a.attrs["href"] == "/"]


def test_generated_contents_page_moves_when_content_uses_its_path(build: Build) -> None:
    site = build({"index.md": "# Home", "contents.md": "# My contents"})
    assert site.html("contents/index.html").find("h1").text == "My contents"
    assert "_openbook/contents/index.html" in site.files
    assert [a for a in site.html("index.html").find_all("a") if a.attrs["href"] == "_openbook/contents/"]


def test_generated_paths_cannot_be_taken_by_content(build: Build) -> None:
    import pytest

    from openbook.errors import RenderError

    with pytest.raises(RenderError):
        build({"index.md": "# Home", "_openbook/toc.js": b"evil()"})
