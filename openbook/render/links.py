"""Resolve links written in Markdown to output URLs, and check them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from openbook.render.pages import INDEX_STEMS, MARKDOWN_EXTENSIONS, Page
from openbook.render.sitefiles import quote


@dataclass(frozen=True, slots=True)
class Resolved:
    url: str | None  # site-root-relative URL (quoted) with query and fragment; None when broken
    page: Page | None


class LinkResolver:
    """Knows every published page and file; resolves hrefs relative to a source file."""

    def __init__(self, pages: Mapping[str, Page], files: set[str], drafts: set[str]) -> None:
        self.pages = pages  # source path → page
        self.by_url = {p.url: p for p in pages.values()}
        self.files = files  # published non-page content paths
        self.drafts = drafts
        self._known: dict[tuple[str, str], Resolved] = {}  # (folder, href) → resolved

    def resolve(self, from_source: str, href: str) -> Resolved:
        rest, hash_, fragment = href.partition("#")
        path, qmark, query = rest.partition("?")
        if not path:
            page = self.pages.get(from_source)
            if hash_ and page is not None and unquote(fragment) not in page.doc.anchors:
                return Resolved(None, None)
            return Resolved(href, page)  # same page: keep the relative href as written
        # Beyond the same page, only the folder matters: pages of one folder share their links.
        folder = posixpath.dirname(from_source)
        found = self._known.get((folder, href))
        if found is None:
            found = self._known[(folder, href)] = self._resolve(folder, unquote(path), hash_, fragment, qmark + query)
        return found

    def _resolve(self, folder: str, path: str, hash_: str, fragment: str, query: str) -> Resolved:
        suffix = query + hash_ + fragment
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(folder, path)
        norm = posixpath.normpath(joined) if joined else "."
        if norm == ".":
            norm = ""
        if norm == ".." or norm.startswith("../"):
            return Resolved(None, None)
        page = self._page_for(norm, path.endswith("/"))
        if page is not None:
            if hash_ and unquote(fragment) not in page.doc.anchors:
                return Resolved(None, None)
            return Resolved(quote(page.url) + suffix, page)
        if norm in self.files:
            return Resolved(quote(norm) + suffix, None)
        return Resolved(None, None)

    def _page_for(self, norm: str, is_dir: bool) -> Page | None:
        if not is_dir:
            page = self.pages.get(norm)
            if page is not None:
                return page
            if norm.endswith(MARKDOWN_EXTENSIONS):
                return None  # a missing or draft page
            if norm.endswith("index.html"):
                page = self.by_url.get(norm[: -len("index.html")])
                if page is not None:
                    return page
        for url in (f"{norm}/" if norm else "", norm):
            page = self.by_url.get(url)
            if page is not None:
                return page
        prefix = f"{norm}/" if norm else ""
        for stem in INDEX_STEMS:
            for ext in MARKDOWN_EXTENSIONS:
                page = self.pages.get(f"{prefix}{stem}{ext}")
                if page is not None:
                    return page
        return None
