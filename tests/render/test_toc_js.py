"""The shared toc.js: its navigation data and the links the script writes, run in Node.

Page paths come from authors, so a path may look like a URL with a scheme
(`javascript:alert(1),/x.md`). Server-rendered links quote it; the script's
links must be just as inert.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from openbook.dev.stack import ensure_debian_package
from tests.render.conftest import Build, Doc, Site

EVIL = "javascript:alert(document.domain),/x.md"
ORIGIN = "https://docs.example.org/book/"

# A document with one [data-ob-toc] element, enough for toc.js; prints the element's HTML.
_RUN = textwrap.dedent(
    """
    const fs = require("fs");
    const [script, root, url] = process.argv.slice(2);
    const target = { innerHTML: "", querySelector: () => null };
    const attrs = { "data-root": root, "data-url": url };
    global.CustomEvent = function (name) { this.type = name; };
    global.document = {
      readyState: "complete",
      documentElement: { getAttribute: (name) => (name in attrs ? attrs[name] : null) },
      querySelectorAll: () => [target],
      dispatchEvent: () => true,
    };
    eval(fs.readFileSync(script, "utf8"));
    process.stdout.write(target.innerHTML);
    """
)


@pytest.fixture(scope="module")
def node() -> str:
    return ensure_debian_package("node", "nodejs")


def _nav_urls(site: Site) -> list[str]:
    match = re.search(r"var NAV = (.*);\n", site.text("_openbook/toc.js"))
    assert match
    urls: list[str] = []

    def walk(items: list[Any]) -> None:
        for _title, url, children, _kind, _number in items:
            if url is not None:
                urls.append(url)
            walk(children)

    walk(json.loads(match.group(1)))
    return urls


def _sidebar(node: str, site: Site, tmp_path: Path, page: str) -> Doc:
    """What toc.js writes into the sidebar of output `page`, run as a browser would run it."""
    script, runner = tmp_path / "toc.js", tmp_path / "run.js"
    script.write_bytes(site.files["_openbook/toc.js"])
    runner.write_text(_RUN)
    html = site.html(page).find("html").attrs
    out = subprocess.run(
        [node, str(runner), str(script), html["data-root"], html["data-url"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return Doc(out)


def _links(sidebar: Doc) -> dict[str, str]:
    return {a.text: a.attrs["href"] for a in sidebar.find_all("a")}


def test_nav_data_carries_only_quoted_urls_without_a_scheme(build: Build) -> None:
    site = build({"index.md": "# Home", EVIL: "# Evil", "guide/intro.md": "# Intro"})
    urls = _nav_urls(site)
    assert "guide/intro/" in urls and len(urls) == 3
    assert all(":" not in url and not url.startswith("/") for url in urls), urls


@pytest.mark.parametrize("page", ["index.html", "guide/intro/index.html", "404.html"])
def test_sidebar_links_never_carry_a_scheme(
    build: Build, node: str, tmp_path: Path, page: str
) -> None:
    site = build({"index.md": "# Home", EVIL: "# Evil", "guide/intro.md": "# Intro"})
    links = _links(_sidebar(node, site, tmp_path, page))
    assert set(links) == {"Home", "Evil", "Intro"}
    page_url = urljoin(ORIGIN, page.removesuffix("index.html"))
    for title, href in links.items():
        assert urlsplit(href).scheme == "", (title, href)
        target = urlsplit(urljoin(page_url, href))
        assert target.scheme == "https" and target.netloc == "docs.example.org", (title, href)
        if page != "404.html":  # served at any depth, it links from the site root ("/")
            path = unquote(target.path.removeprefix("/book/"))
            assert f"{path}index.html" in site.files, (title, href)
    served = {a.text: a.attrs["href"] for a in site.html("contents/index.html").find_all("a")}
    assert served["Evil"] == "../javascript%3Aalert%28document.domain%29%2C/x/"  # server-rendered: quoted


def test_sidebar_marks_the_current_page_even_with_quoted_urls(
    build: Build, node: str, tmp_path: Path
) -> None:
    site = build({"index.md": "# Home", "guide/über uns.md": "# Über", "guide/b.md": "# B"})
    sidebar = _sidebar(node, site, tmp_path, "guide/über uns/index.html")
    assert _links(sidebar)["Über"] == "../../guide/%C3%BCber%20uns/"
    active = [a.text for a in sidebar.find_all("a") if a.attrs.get("aria-current") == "page"]
    assert active == ["Über"]


def test_the_script_keeps_even_unquoted_urls_relative(build: Build, node: str, tmp_path: Path) -> None:
    """Defence in depth: were NAV ever to hold a URL with a scheme or a host, the link stays on the site."""
    site = build({"index.md": "# Home"})
    forged = [["Evil", "javascript:alert(1)", [], "chapter", None], ["Away", "//evil.example/", [], "chapter", None]]
    script = re.sub(r"var NAV = .*;\n", f"var NAV = {json.dumps(forged)};\n", site.text("_openbook/toc.js"))
    site.files["_openbook/toc.js"] = script.encode()
    for title, href in _links(_sidebar(node, site, tmp_path, "index.html")).items():
        target = urlsplit(urljoin(ORIGIN, href))
        assert (target.scheme, target.netloc) == ("https", "docs.example.org"), (title, href)
