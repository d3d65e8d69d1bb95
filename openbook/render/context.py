"""Template contexts, and the renderer that turns one page job into bytes.

The same `PageRenderer` runs in the building process and in pool workers
(`parallel`), built from a picklable `RenderState`: a parallel build writes
byte for byte what a serial one writes. Templates see only what the context
holds, plus `url_for` (page URLs) and `asset` (hashed static names).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2

from openbook.render import sitefiles
from openbook.render.nav import NavItem
from openbook.render.search import SEARCH_DIR
from openbook.render.templates import Templates
from openbook.render.theme import ThemeChain

GENERATED_DIR = "_openbook/"
TOC_JS = f"{GENERATED_DIR}toc.js"


@dataclass(frozen=True, slots=True)
class RenderState:
    """Everything templates may read that is the same for every page of one build."""

    chain: ThemeChain
    site: dict[str, Any]  # the `site` variable
    contents_url: str  # site-root-relative, quoted
    assets: dict[str, str]  # theme static path → content-hashed output path
    page_urls: dict[str, str]  # page source → URL, for url_for()
    nav: tuple[NavItem, ...]

    def without_static(self) -> RenderState:
        """The same state minus theme static bytes, which workers never read (smaller to send)."""
        layers = tuple(dataclasses.replace(layer, static={}) for layer in self.chain.layers)
        return dataclasses.replace(self, chain=ThemeChain(layers))


@dataclass(frozen=True, slots=True)
class PageJob:
    """One page to render: its template and the page-specific part of the context."""

    output: str
    source: str  # named in error messages
    template: str
    root: str  # from the output's folder back to the site root ("../../"); "/" for 404.html
    context: dict[str, Any]  # page, prev, next, breadcrumbs
    nav: bool  # the template reads `nav`


class PageRenderer:
    """Renders templates of one build; every failure is a RenderError naming file and line."""

    def __init__(self, state: RenderState) -> None:
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

        self.templates = Templates(state.chain, {"url_for": url_for, "asset": asset})

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

    def render(self, name: str, root: str, extra: dict[str, Any], while_rendering: str) -> bytes:
        ctx = self.context(root)
        ctx.update(extra)
        return self.templates.render(name, ctx, while_rendering).encode()

    def render_page(self, job: PageJob) -> bytes:
        extra = {**job.context, "nav": self.state.nav} if job.nav else job.context
        return self.render(job.template, job.root, extra, job.source)
