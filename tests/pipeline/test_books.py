"""Books written for mdBook, MkDocs and GitBook (tests/fixtures/books/) deployed as they are through
the real pipeline — API commit, worker process, published folder — and their output crawled."""

from __future__ import annotations

import json
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from openbook.fs.scan import scan_folder
from tests.pipeline.conftest import Api, Stack, StartWorker, ws_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "books"
BOOKS = ("mdbook", "mkdocs", "gitbook")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.asides: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.urls += [found[k] for k in ("href", "src") if k in found]
        if "id" in found:
            self.ids.add(found["id"])
        if tag == "aside" and "admonition" in found.get("class", "").split():
            self.asides.append(found)


def parse(path: Path) -> _Links:
    links = _Links()
    links.feed(path.read_text())
    return links


def crawl(site: Path) -> list[str]:
    """Every local href/src of every page that names no file of the site (or no id in it)."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        rel = page.relative_to(site).as_posix()
        for url in parse(page).urls:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):
                continue
            base = "" if parts.path.startswith("/") else posixpath.dirname(rel)
            target = posixpath.normpath(posixpath.join(base, unquote(parts.path).lstrip("/"))) if parts.path else rel
            file = site / target
            if file.is_dir():
                file = file / "index.html"
            if not file.is_file() or target.startswith(".."):
                broken.append(f"{rel}: {url}")
            elif parts.fragment and file.suffix == ".html" and unquote(parts.fragment) not in parse(file).ids:
                broken.append(f"{rel}: {url} (no #{parts.fragment})")
    return broken


def nav(site: Path) -> list[Any]:
    found = re.search(r"var NAV = (\[.*?\]);\n", (site / "_openbook/toc.js").read_text())
    assert found
    items: list[Any] = json.loads(found.group(1))
    return items


def titles(items: list[Any]) -> list[Any]:
    """[title, url, kind] of each nav entry, children after their parent as a list."""
    out: list[Any] = []
    for title, url, children, kind, _ in items:
        out.append((title, url, kind))
        if children:
            out.append(titles(children))
    return out


def article(page: Path) -> str:
    return page.read_text().split("<article", 1)[1].split("</article>", 1)[0]


async def test_books_for_other_tools_deploy_as_they_are(admin: Api, workers: StartWorker, stack: Stack) -> None:
    worker = workers("w1")
    files = {f"{book}/{path}": data.decode() for book in BOOKS for path, data in scan_folder(FIXTURES / book).items()}
    await admin.commit(files)
    sites = {book: await admin.site(book, name=f"API name of {book}", root=book) for book in BOOKS}
    deployments = {book: (await admin.deploy(site["id"]))["id"] for book, site in sites.items()}
    done = await admin.wait_terminal(list(deployments.values()), 90)
    live = {}
    for book, dep in deployments.items():
        stats = done[dep]["stats"]
        assert done[dep]["status"] == "deployed", (book, done[dep], worker.output())
        assert (stats["problems"], stats["broken_links"], stats["redirects"]) == ([], [], 1), book
        live[book] = stack.storage / ws_of(admin) / sites[book]["id"] / "live"
        assert crawl(live[book]) == [], book
        for page in live[book].rglob("*.html"):
            text = page.read_text()
            assert "{{#" not in text and "{%" not in text, page  # no directive left as text
            assert not re.search(r"&lt;/?(div|img|a|details|summary|kbd|p)\b", text), page  # no escaped tags
        assert not [p for p in live[book].rglob("*") if p.name in ("book.toml", "mkdocs.yml", ".gitbook.yaml")]

    mdbook, mkdocs, gitbook = live["mdbook"], live["mkdocs"], live["gitbook"]
    # mdBook: book.toml's title and src, SUMMARY.md's order, the first chapter as the home page
    home = (mdbook / "index.html").read_text()
    assert "<title>Welcome, crab fans · Ferris Field Guide</title>" in home  # {{#title}} and book.title
    assert titles(nav(mdbook)) == [
        ("Introduction", "", "chapter"), ("User guide", None, "part"),
        ("Getting started", "getting-started/", "chapter"),
        [("Installing", "getting-started/installing/", "chapter")],
        ("Listings", "listings/", "chapter"), ("Notes and callouts", "notes/", "chapter"),
        ("", None, "separator"), ("The Rust website", "https://www.rust-lang.org/", "link")]
    started = article(mdbook / "getting-started/index.html")
    code = re.sub(r"<[^>]+>", "", started)
    assert 'crabs.insert("ferris", 1);' in code and "use std::collections" not in code  # hidden lines dropped
    assert '<span class="nf">main</span>' in started  # the included listing, highlighted
    assert 'href="../getting-started/installing/"' in started  # ./getting-started/installing.html
    assert '<img src="images/ferris.svg"' in article(mdbook / "index.html")
    assert "snippets/shared/index.html" not in {p.relative_to(mdbook).as_posix() for p in mdbook.rglob("*")}
    assert [a["class"] for a in parse(mdbook / "notes/index.html").asides] == [
        "admonition note", "admonition warning"]

    # MkDocs: mkdocs.yml's nav (sections, a bare entry titled by its page, a link out)
    assert titles(nav(mkdocs)) == [
        ("Home", "", "chapter"), ("User Guide", None, "chapter"),
        [("Writing your docs", "user-guide/writing/", "chapter"), ("Styling", "user-guide/styling/", "chapter"),
         ("Advanced", None, "chapter"),
         [("Advanced", "user-guide/advanced/", "chapter"), ("Plugins", "user-guide/advanced/plugins/", "chapter")]],
        ("About", None, "chapter"), [("License", "about/license/", "chapter")],
        ("Source code", "https://github.com/example/widgets", "link")]
    assert "<loc>https://widgets.example/user-guide/writing/</loc>" in (mkdocs / "sitemap.xml").read_text()
    index = parse(mkdocs / "index.html")
    assert [(a["class"], a["role"]) for a in index.asides] == [
        ("admonition note", "note"), ("admonition tip", "note"), ("admonition warning", "note")]
    assert "<details>" in article(mkdocs / "index.html") and "<details open" in article(mkdocs / "index.html")
    assert (mkdocs / "about/release-notes/index.html").is_file()  # not in the nav, still published
    assert "../user-guide/writing/" in (mkdocs / "old-writing/index.html").read_text()  # the redirects plugin

    # GitBook: .gitbook.yaml's root, its summary's groups, hints, .gitbook/assets images
    assert titles(nav(gitbook)) == [
        ("Welcome", "", "chapter"), ("Getting started", None, "part"),
        ("Setup", "setup/", "chapter"), [("Install", "setup/install/", "chapter")],
        ("Concepts", "concepts/", "chapter"), ("Reference", None, "part"), ("API", "reference/api/", "chapter")]
    assert [a["class"] for a in parse(gitbook / "index.html").asides] == ["admonition info"]
    assert [a["class"] for a in parse(gitbook / "setup/install/index.html").asides] == ["admonition tip"]
    assert '<img src="../../.gitbook/assets/diagram.svg" width="200" height="60"' in article(
        gitbook / "setup/install/index.html")
    assert "../setup/install/" in (gitbook / "old-install/index.html").read_text()
