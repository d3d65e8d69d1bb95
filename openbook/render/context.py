"""Template contexts, and the renderer that turns one render job into bytes.

Every template gets the common variables (`PageRenderer.context`). Every
output that shows a page — a content page, a theme output, the contents
page, the 404 page — gets its page variables from `page_context`, the one
place that builds them, so all of them offer templates the same names.

The same `PageRenderer` runs in the building process and in pool processes
(`parallel`), built from a picklable `RenderState`: a parallel build writes
byte for byte what a serial one writes. Templates see only what the context
holds, plus `url_for` (page URLs) and `asset` (hashed static names).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from openbook.errors import BuildLimitExceeded
from openbook.render import progress, sitefiles
from openbook.render.cache import SiteCache
from openbook.render.frames import NO_FRAME, Frame, Link
from openbook.render.markdown import TocEntry
from openbook.render.nav import NavItem
from openbook.render.pages import Page
from openbook.render.search import SEARCH_DIR
from openbook.render.templates import Templates
from openbook.render.theme import ThemeChain

GENERATED_DIR = "_openbook/"
TOC_JS = f"{GENERATED_DIR}toc.js"


@dataclass(frozen=True, slots=True)
class RenderState:
    """Everything templates may read that is the same for every output of one build."""

    chain: ThemeChain
    site: dict[str, Any]  # the `site` variable
    contents_url: str  # site-root-relative, quoted
    assets: dict[str, str]  # theme static path → content-hashed output path
    page_urls: dict[str, str]  # page source → URL, for url_for()
    nav: tuple[NavItem, ...]
    max_file_bytes: int | None = None  # a rendered file over this fails the build (BUILD_MAX_FILE_MB)

    def without_static(self) -> RenderState:
        """The same state minus theme static bytes, which workers never read (smaller to send)."""
        layers = tuple(dataclasses.replace(layer, static={}) for layer in self.chain.layers)
        return dataclasses.replace(self, chain=ThemeChain(layers))


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One output to render: its template and the output's own part of the context."""

    describe: str  # errors say "while rendering <describe>": a page's source, "the 404 page", ...
    template: str
    root: str  # from the output's folder back to the site root ("../../"); "/" for 404.html
    context: dict[str, Any]  # page, prev, next, breadcrumbs, ... (`page_context`)
    nav: bool  # the template reads `nav`


@dataclass(frozen=True, slots=True)
class PageView:
    """What templates see as `page`. A content page fills every field from its file; the
    contents page, the 404 page and theme outputs without a page have a title and URL."""

    title: str
    url: str  # from the site root, quoted; "" for the home page
    path: str = ""  # the source file in the content
    html: str = ""  # the rendered body, links written
    toc: tuple[TocEntry, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    date: str | None = None
    starts_with_h1: bool = False
    terms: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)
    last_commit: Mapping[str, str] | None = None
    shows_last_commit: bool = False  # the template reads `page.last_commit`: give it, even if None

    @classmethod
    def of(cls, page: Page, html: str, terms: Mapping[str, list[dict[str, str]]]) -> PageView:
        return cls(
            title=page.title,
            url=sitefiles.quote(page.url),
            path=page.source,
            html=html,
            toc=tuple(page.doc.toc),
            meta=page.meta.data,
            description=page.meta.description,
            date=page.meta.date,
            starts_with_h1=page.doc.starts_with_h1,
            terms=terms,
        )


def page_context(view: PageView, frame: Frame = NO_FRAME, listing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The page variables of a template: `page`, `prev`, `next`, `breadcrumbs`, and for a
    theme output its listing (`pages`, `terms`, `term`)."""
    page: dict[str, Any] = {
        "title": view.title,
        "url": view.url,
        "path": view.path,
        "html": Markup(view.html),
        "toc": [{"level": t.level, "id": t.id, "title": t.title} for t in view.toc],
        "meta": copy.deepcopy(dict(view.meta)),  # shared with the parse cache: a theme must not change it
        "description": view.description,
        "date": view.date,
        "starts_with_h1": view.starts_with_h1,
        "terms": view.terms,
    }
    if view.shows_last_commit:
        page["last_commit"] = None if view.last_commit is None else dict(view.last_commit)
    context: dict[str, Any] = {
        "page": page,
        "prev": _link(frame.prev),
        "next": _link(frame.next),
        "breadcrumbs": [_link(c) for c in frame.crumbs],
    }
    if listing is not None:
        context.update(listing)
    return context


def _link(link: Link | None) -> dict[str, str] | None:
    return None if link is None else {"title": link[0], "url": link[1]}


class PageRenderer:
    """Renders templates of one build; every failure is a RenderError naming file and line.
    With the site's `cache` (never in pool processes), compiled templates are kept."""

    def __init__(self, state: RenderState, cache: SiteCache | None = None) -> None:
        self.state = state

        @jinja2.pass_context
        def url_for(ctx: jinja2.runtime.Context, path: str) -> str:
            clean = path.lstrip("/")
            url = state.page_urls.get(clean)
            return sitefiles.href(ctx["root"], quote(url if url is not None else clean))

        @jinja2.pass_context
        def asset(ctx: jinja2.runtime.Context, path: str) -> str:
            out = state.assets.get(path.lstrip("/"))
            if out is None:
                raise ValueError(f"asset({path!r}): the theme has no static file {path!r}")
            return sitefiles.href(ctx["root"], out)

        self.templates = Templates(state.chain, {"url_for": url_for, "asset": asset}, cache)

    def context(self, root: str) -> dict[str, Any]:
        """The variables every template gets, for an output whose root prefix is `root`."""
        return {
            "site": self.state.site,
            "root": root,
            "home_url": sitefiles.href(root, ""),
            "toc_js": sitefiles.href(root, TOC_JS),
            "search_index": sitefiles.href(root, f"{SEARCH_DIR}index.js"),
            "contents_url": sitefiles.href(root, self.state.contents_url),
        }

    def render(self, job: RenderJob) -> bytes:
        """Raises RenderError naming the template and line, BuildLimitExceeded for a file over
        `state.max_file_bytes` or a resource limit met while rendering."""
        origin = self.templates.origin_of(job.template)
        progress.at(origin, f"rendering {job.describe}")
        ctx = self.context(job.root)
        ctx.update(job.context)
        if job.nav:
            ctx["nav"] = self.state.nav
        data = self.templates.render(job.template, ctx, job.describe).encode()
        limit = self.state.max_file_bytes
        if limit is not None and len(data) > limit:
            raise BuildLimitExceeded(origin, f"wrote {_mib(len(data))} for {job.describe}, over the limit of "
                                             f"{_mib(limit)} per file (BUILD_MAX_FILE_MB)", "file_size")
        return data


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
