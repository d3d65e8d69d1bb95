"""Redirect pages of `[redirects]`: at the old page's path, pointing at the new page, relative to it."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from openbook.errors import RenderError
from openbook.fs.themes import load_theme
from openbook.publish.redirects import add_redirects
from openbook.render import BuildResult, SiteSettings, build_site
from openbook.siteconf import Redirect, SiteConfig

PAGES = {
    "index.md": "# Home\n",
    "guide/install.md": "# Installing\n",
    "guide/index.md": "# Guide\n",
    "guide/README.md": "# Guide readme\n",
    "later.md": "---\ndraft: true\n---\n# Later\n",
    "files/report.pdf": "%PDF",
}


def config(*redirects: tuple[str, str], strict: bool = False) -> SiteConfig:
    return SiteConfig(root="docs", title="T", theme="base", base_url=None, html="escape", strict=strict,
                      redirects=tuple(Redirect(old, new, 10 + i) for i, (old, new) in enumerate(redirects)),
                      site_file="docs/openbook.toml")


def build(content: Mapping[str, str] = PAGES) -> tuple[dict[str, bytes], BuildResult]:
    data = {path: text.encode() for path, text in content.items()}
    return data, build_site(data, load_theme("base"), SiteSettings(title="T"), workers=1)


def target_of(page: bytes) -> str:
    text = page.decode()
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]*)">', text)
    canonical = re.search(r'<link rel="canonical" href="([^"]*)">', text)
    link = re.search(r'<a href="([^"]*)">', text)
    assert refresh and canonical and link, text
    assert refresh.group(1) == canonical.group(1) == link.group(1)
    return refresh.group(1)


def test_a_redirect_page_sends_readers_to_the_new_page_relative_to_the_old_one() -> None:
    content, result = build()
    got = add_redirects(result, content, config(("setup.md", "guide/install.md"),
                                                ("old/deep/faq.md", "index.md"),
                                                ("old/guide.md", "guide/README.md")))
    files = {f.path: f for f in got.files}
    assert target_of(files["setup/index.html"].data or b"") == "../guide/install/"
    assert target_of(files["old/deep/faq/index.html"].data or b"") == "../../../"
    # README.md beside index.md publishes at guide/README/ (the renderer's rule).
    assert target_of(files["old/guide/index.html"].data or b"") == "../../guide/README/"
    assert [f.path for f in got.files] == sorted(files)
    assert got.stats["redirects"] == 3
    assert got.stats["files"] == result.stats["files"] + 3
    assert got.stats["rendered"] == result.stats["rendered"] + 3
    assert got.stats["broken_links"] == []
    # The build's own files are untouched.
    assert [f for f in got.files if f.path in {g.path for g in result.files}] == result.files


def test_an_external_target_is_kept_absolute() -> None:
    content, result = build()
    got = add_redirects(result, content, config(("old/faq.md", "https://help.example.org/faq?a=1&b=2")))
    page = next(f.data for f in got.files if f.path == "old/faq/index.html")
    assert target_of(page or b"") == "https://help.example.org/faq?a=1&amp;b=2"


def test_render_keys_follow_the_bytes() -> None:
    content, result = build()
    first = add_redirects(result, content, config(("setup.md", "guide/install.md")))
    again = add_redirects(result, content, config(("setup.md", "guide/install.md")))
    other = add_redirects(result, content, config(("setup.md", "index.md")))

    def key(r: BuildResult) -> str:
        return next(f.render_key for f in r.files if f.path == "setup/index.html")

    assert key(first) == key(again) != key(other)


def test_a_target_that_is_not_a_page_is_a_broken_link() -> None:
    content, result = build()
    got = add_redirects(result, content, config(("a.md", "gone.md"), ("b.md", "later.md"),
                                                ("c.md", "files/report.pdf"), ("d.md", "guide/install.md")))
    assert got.stats["broken_links"] == [
        {"path": "openbook.toml", "line": 10, "target": "gone.md", "count": 1},
        {"path": "openbook.toml", "line": 11, "target": "later.md", "count": 1},  # a draft is not published
        {"path": "openbook.toml", "line": 12, "target": "files/report.pdf", "count": 1},
    ]
    assert got.stats["redirects"] == 1
    assert {f.path for f in got.files} - {f.path for f in result.files} == {"d/index.html"}


def test_a_broken_target_fails_a_strict_build_naming_line_and_key() -> None:
    content, result = build()
    with pytest.raises(RenderError) as caught:
        add_redirects(result, content, config(("a.md", "index.md"), ("old/b.md", "gone.md"), strict=True))
    assert caught.value.message == 'docs/openbook.toml: line 11, key redirects."old/b.md": gone.md is not a page' \
                                   " of the site"


def test_an_old_page_that_is_still_a_page_is_an_error() -> None:
    content, result = build()
    with pytest.raises(RenderError) as caught:
        add_redirects(result, content, config(("guide/install.md", "index.md"), ("later.md", "index.md")))
    assert caught.value.path == "docs/openbook.toml"
    assert caught.value.cause == (
        'line 10, key redirects."guide/install.md": guide/install.md is a page of the site; remove the page or the'
        ' redirect; line 11, key redirects."later.md": later.md is a page of the site; remove the page or the'
        " redirect")


def test_an_output_path_already_taken_is_an_error() -> None:
    content, result = build({**PAGES, "old/index.html": "<p>kept by hand</p>"})
    with pytest.raises(RenderError) as caught:
        add_redirects(result, content, config(("old.md", "index.md")))
    assert caught.value.cause == (
        'line 10, key redirects."old.md": the redirect would publish old/index.html, which the site already'
        " publishes")
    # Two redirects to one output path: the second is named.
    with pytest.raises(RenderError, match=r'line 11, key redirects."x/index.md": the redirect would publish'):
        add_redirects(result, content, config(("x.md", "index.md"), ("x/index.md", "index.md")))


def test_without_redirects_the_build_is_returned_as_it_is() -> None:
    content, result = build()
    assert add_redirects(result, content, config()) is result
