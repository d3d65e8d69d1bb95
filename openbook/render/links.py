"""Resolve links written in Markdown to output URLs, check them, and write them into page bodies."""

from __future__ import annotations

import functools
import hashlib
import html
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from openbook.render import sitefiles
from openbook.render.cache import Codec, Table
from openbook.render.images import Size, add_sizes
from openbook.render.markdown import PLACEHOLDER_PREFIX, PLACEHOLDER_RE, ParsedDoc
from openbook.render.pages import INDEX_STEMS, MARKDOWN_EXTENSIONS, Page
from openbook.render.sitefiles import quote

_dirname = functools.lru_cache(maxsize=1 << 16)(posixpath.dirname)
# A link beyond its own page: (source of the linked page or None, its URL or None when broken,
# the unquoted fragment its page must have as an anchor or None).
Target = tuple[str | None, str | None, str | None]
# (folder, href) → Target, for one set of page sources, URLs and files (`universe`)
TARGETS: Table[tuple[str, str], Target] = Table("link targets", entry_bytes=320, codec=Codec())


def universe(pages: Mapping[str, Page], files: set[str]) -> str:
    """Digest of all a link target depends on: the page sources, their URLs and the files."""
    data = json.dumps([[[s, p.url] for s, p in pages.items()], sorted(files)])
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolved:
    url: str | None  # site-root-relative URL (quoted) with query and fragment; None when broken
    page: Page | None


class LinkResolver:
    """Knows every published page and file; resolves hrefs relative to a source file.

    `targets` memoises where an href leads, for builds with the same `universe`
    (the site's cache hands them on); anchors are checked every time.
    """

    def __init__(self, pages: Mapping[str, Page], files: set[str], targets: dict[tuple[str, str], Target]) -> None:
        self.pages = pages  # source path → page
        self.by_url = {p.url: p for p in pages.values()}
        self.files = files  # published non-page content paths
        self._targets = targets

    def resolve(self, from_source: str, href: str) -> Resolved:
        if not href or href[0] in "#?":
            page = self.pages.get(from_source)
            _, hash_, fragment = href.partition("#")
            if hash_ and page is not None and unquote(fragment) not in page.doc.anchors:
                return Resolved(None, None)
            return Resolved(href, page)  # same page: keep the relative href as written
        # Beyond the same page, only the folder matters: pages of one folder share their links.
        folder = _dirname(from_source)
        found = self._targets.get((folder, href))
        if found is None:
            found = self._targets[(folder, href)] = self._target(folder, href)
        source, url, anchor = found
        if source is None:
            return Resolved(url, None)
        page = self.pages[source]
        if anchor is not None and anchor not in page.doc.anchors:
            return Resolved(None, None)
        return Resolved(url, page)

    def _target(self, folder: str, href: str) -> Target:
        rest, hash_, fragment = href.partition("#")
        path, qmark, query = rest.partition("?")
        path = unquote(path)
        suffix = qmark + query + hash_ + fragment
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(folder, path)
        norm = posixpath.normpath(joined) if joined else "."
        if norm == ".":
            norm = ""
        if norm == ".." or norm.startswith("../"):
            return None, None, None
        page = self._page_for(norm, path.endswith("/"))
        if page is not None:
            return page.source, quote(page.url) + suffix, unquote(fragment) if hash_ else None
        if norm in self.files:
            return None, quote(norm) + suffix, None
        if norm.endswith(".html"):  # mdBook's name for a chapter's page: `chapter.html` is `chapter.md`
            page = self.pages.get(norm[: -len(".html")] + ".md")
            if page is not None:
                return page.source, quote(page.url) + suffix, unquote(fragment) if hash_ else None
        return None, None, None

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


def write_links(doc: ParsedDoc, urls: Sequence[str | None], sizes: Sequence[Size | None], root: str) -> str:
    """A page's body with each link placeholder replaced by its URL relative to the page
    (`root`), and internal images given their `sizes`; a broken link keeps its href as written."""

    def link(m: re.Match[str]) -> str:
        i = int(m.group(1))
        target = urls[i]
        if target is None:
            return html.escape(doc.links[i][1])
        if target.startswith(("#", "?")):
            return html.escape(target)
        return html.escape(sitefiles.href(root, target))

    if not doc.links:
        return doc.html
    # Parsed in another process (pool, snapshot): its placeholders carry that process's nonce.
    body = doc.html if doc.prefix == PLACEHOLDER_PREFIX else doc.html.replace(doc.prefix, PLACEHOLDER_PREFIX)
    body = add_sizes(body, sizes) if sizes else body
    return PLACEHOLDER_RE.sub(link, body)
