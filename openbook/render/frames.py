"""A page's frame: its previous and next pages and its breadcrumbs, as links relative to it.

A frame follows from the page's URL and output folder, the navigation, the
site title and the other pages' titles and URLs: builds in which all of
those are the same share frames (through the site's cache), so a one-page
edit does not recompute 2,000 of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openbook.render import sitefiles
from openbook.render.cache import Codec, SiteCache, Table
from openbook.render.nav import Nav
from openbook.render.pages import Page
from openbook.render.sitefiles import quote

Link = tuple[str, str]  # (title, href relative to the page)


@dataclass(frozen=True, slots=True)
class Frame:
    prev: Link | None
    next: Link | None
    crumbs: tuple[Link, ...]
    json: str  # json.dumps([prev, next, crumbs]) without its brackets: part of the page's render key


NO_FRAME = Frame(None, None, (), "null, null, []")


def _frame_in(state: tuple[Any, ...]) -> Frame:
    prev, nxt, crumbs, text = state
    return Frame(prev, nxt, tuple(crumbs), text)


# (page URL, output) → frame, for one navigation, site title and set of page titles and URLs
FRAMES: Table[tuple[str, str], Frame] = Table(
    "frames", entry_bytes=700, codec=Codec(value_out=lambda f: (f.prev, f.next, f.crumbs, f.json), value_in=_frame_in)
)


class Frames:
    """The frames of one build's pages, computed once each."""

    def __init__(self, nav: Nav, nav_json: str, site_title: str, pages: Mapping[str, Page], cache: SiteCache) -> None:
        self.nav = nav
        self.site_title = site_title
        self.by_url = {p.url: p for p in pages.values()}
        inputs = json.dumps([nav_json, site_title, [[p.url, p.title] for p in pages.values()]])
        self._known = cache.table(FRAMES, hashlib.sha256(inputs.encode()).hexdigest())

    def of(self, page: Page, root: str) -> Frame:
        """The frame of `page`, published at an output whose root prefix is `root`."""
        found = self._known.get((page.url, page.output))
        if found is None:
            found = self._known[(page.url, page.output)] = self._frame(page, root)
        return found

    def _frame(self, page: Page, root: str) -> Frame:
        def neighbour(url: str | None) -> Link | None:
            other = self.by_url.get(url) if url is not None else None
            return None if other is None else (other.title, sitefiles.href(root, quote(other.url)))

        prev_url, next_url = self.nav.neighbours(page.url)
        prev, nxt, crumbs = neighbour(prev_url), neighbour(next_url), self._crumbs(page, root)
        return Frame(prev, nxt, crumbs, json.dumps([prev, nxt, crumbs])[1:-1])

    def _crumbs(self, page: Page, root: str) -> tuple[Link, ...]:
        trail = self.nav.trails.get(page.url, ())
        crumbs = tuple((c.title, sitefiles.href(root, quote(c.url))) for c in trail)
        home = self.nav.order[0] if self.nav.order else None
        if page.url != "" and (not trail or trail[0].url != "") and (home == "" or "" in self.nav.trails):
            crumbs = ((self.site_title, sitefiles.href(root, "")), *crumbs)
        return crumbs
