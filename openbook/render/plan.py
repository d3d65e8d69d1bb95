"""Stage 2, plan: every output with its render key, before any renders, and what to render.

A render key hashes everything its output depends on (see `keys`); an output
whose key equals the previous deployment's is reused, not rendered. Outputs
claim their paths in this order, the first one winning or a clash failing
the build: content files (their paths are the author's), pages, aliases,
theme outputs, the contents page, the 404 page, toc.js. A build that collects
its errors (`problems.Failures`) lists each clash and leaves out the output
that met it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from openbook.errors import RenderError
from openbook.render import sitefiles
from openbook.render.assets import Assets, build_assets
from openbook.render.cache import Codec, Kind, SiteCache, Table
from openbook.render.context import GENERATED_DIR, TOC_JS, PageRenderer, PageView, RenderJob, RenderState, page_context
from openbook.render.frames import FRAMES, Frame, Frames
from openbook.render.gather import Gathered
from openbook.render.images import ImageSizes, Size
from openbook.render.keys import settings_json, sha
from openbook.render.links import write_links
from openbook.render.outputs import Claim, Listing
from openbook.render.pages import Page
from openbook.render.problems import Failures
from openbook.render.sitefiles import quote
from openbook.render.templates import Templates, TemplateUses, valid_template_name
from openbook.render.version import RENDERER_VERSION

CONTENTS = "contents/index.html"
USER_OVERRIDABLE = frozenset({"robots.txt", "sitemap.xml", "404.html"})

LastCommits = Mapping[str, Mapping[str, str]]
# Every input of a page key (when all are hashable: strings, None, ints) → the key
PAGE_KEYS: Table[tuple[object, ...], str] = Table("page keys", entry_bytes=500, codec=Codec())
# The last build's page URLs and their JSON, which a template calling url_for() with a computed
# name depends on: an edit that moves no page reuses it (5,000 pages: 20 ms a build). In memory only.
ALL_URLS: Kind[tuple[dict[str, str], str]] = Kind("all page URLs")
_json_str = json.encoder.encode_basestring_ascii  # json.dumps of a str (ensure_ascii, the default)


@dataclass(frozen=True, slots=True)
class Planned:
    """One output: its path and render key, and how to produce it."""

    path: str
    key: str
    # None: the previous deployment's file is reused. Else the bytes when known without
    # rendering (content files, redirects), or what builds the job that renders it.
    produce: bytes | Callable[[], RenderJob] | None
    pooled: bool  # a content page: rendered in the process pool when there are many


@dataclass(slots=True)
class Plan:
    renderer: PageRenderer
    assets: Assets
    previous: Mapping[str, str]  # output path → render key of the previous deployment
    failures: Failures  # where this build's errors go, from planning to assembling
    outputs: dict[str, Planned] = field(default_factory=dict)  # by path, in claim order

    def add(
        self, path: str, key: str, owner: str, produce: bytes | Callable[[], RenderJob], pooled: bool = False
    ) -> None:
        """Claim `path` for `owner` (the file an error names if the path is taken already)."""
        if path in self.outputs:
            self.failures.fail(clash(path, owner))
            return
        # What a reused output would need is dropped at once: kept to the end of a large
        # build, it made the garbage collector run 40% more often.
        self.outputs[path] = Planned(path, key, None if self.previous.get(path) == key else produce, pooled)


def clash(path: str, owner: str) -> RenderError:
    return RenderError(owner, f"publishes {path}, which another file already publishes")


def plan(gathered: Gathered, previous: Mapping[str, str], last_commits: LastCommits, cache: SiteCache,
         failures: Failures, max_file_bytes: int | None = None) -> Plan:
    """Raises RenderError, through `failures`, for clashing outputs, a template the theme lacks,
    a bad alias. `max_file_bytes` bounds each rendered file (checked as it renders)."""
    return _Planner(gathered, previous, last_commits, cache, failures, max_file_bytes).run()


class _Planner:
    """What planning one build needs; `run` claims every output in order."""

    def __init__(
        self,
        gathered: Gathered,
        previous: Mapping[str, str],
        last_commits: LastCommits,
        cache: SiteCache,
        failures: Failures,
        max_file_bytes: int | None,
    ) -> None:
        self.gathered = gathered
        self.settings = settings = gathered.settings
        self.last_commits = last_commits
        self.cache = cache
        chain, pages = gathered.chain, gathered.pages
        contents_url = "contents/"
        if CONTENTS in gathered.files or any(p.output == CONTENTS for p in pages.values()):
            contents_url = f"{GENERATED_DIR}contents/"
        assets = build_assets(chain.static_files())
        state = RenderState(
            chain=chain,
            site={
                "title": settings.title,
                "base_url": settings.base_url,
                "settings": {**chain.settings(), **settings.extra},
                "theme": {"name": chain.name, "version": chain.version},
            },
            contents_url=quote(contents_url),
            assets=assets.names,
            page_urls={p.source: p.url for p in pages.values()},
            nav=gathered.nav.items,
            max_file_bytes=max_file_bytes,
        )
        self.plan = Plan(PageRenderer(state, cache), assets, previous, failures)
        self.templates: Templates = self.plan.renderer.templates
        self.common_key = sha(RENDERER_VERSION, chain.digest(), settings_json(settings), contents_url)
        self.nav_json = gathered.nav.to_json()
        self.nav_key = sha(self.nav_json)
        self.listing = Listing.build(chain, list(pages.values()), settings.base_url)
        self.claims = self.listing.claims(self.templates.has, failures)  # theme outputs: path → what renders it
        self.frames = Frames(gathered.nav, self.nav_json, settings.title, pages, cache)
        self.page_keys = cache.table(PAGE_KEYS)
        self.images = ImageSizes(gathered.content)
        self._deps_keys: dict[TemplateUses, str] = {}
        self._page_templates: dict[str, bool] = {}

    def run(self) -> Plan:
        content, plan = self.gathered.content, self.plan
        for path in self.gathered.files:
            plan.add(path, sha("file", path, content[path]), path, content[path])
        for page in self.gathered.pages.values():
            if page.output in USER_OVERRIDABLE and page.output in plan.outputs:
                continue  # the author's own robots.txt, sitemap.xml or 404.html
            self._page(page)
        for page in self.gathered.pages.values():
            for alias in page.meta.aliases:
                self._alias(page, alias)
        for path, claim in sorted(self.claims.items()):
            if path not in plan.outputs:  # content files, pages and aliases win
                self._theme_output(path, claim)
        if self.templates.has("contents.html"):
            self._contents()
        if "404.html" not in plan.outputs:
            self._not_found()
        if self.templates.has("toc.js"):
            self._toc_js()
        self.cache.settle(PAGE_KEYS, live=len(self.gathered.pages))
        self.cache.settle(FRAMES, live=len(self.gathered.pages))
        return plan

    # --- what keys are made of ---------------------------------------------------------------

    def deps_key(self, uses: TemplateUses) -> str:
        """The part of a key for what a template reads beyond its own context: the nav and
        url_for targets (the named pages' URLs, or every page URL for a computed name)."""
        key = self._deps_keys.get(uses)
        if key is None:
            urls = self.plan.renderer.state.page_urls
            if uses.url_for is None:
                targets = self._all_urls()
            else:
                targets = json.dumps([(p, urls.get(p.lstrip("/"))) for p in sorted(uses.url_for)])
            key = self._deps_keys[uses] = sha(self.nav_key if uses.nav else "", targets)
        return key

    def _all_urls(self) -> str:
        urls = self.plan.renderer.state.page_urls
        kept = self.cache.get(ALL_URLS, None)
        if kept is not None and kept[0] == urls:
            return kept[1]
        targets = json.dumps(sorted(urls.items()))
        self.cache.put(ALL_URLS, None, (dict(urls), targets), len(targets) + 100 * len(urls))
        return targets

    def page_template(self, name: str) -> bool:
        """Whether front matter may name template `name`: a valid name the theme has."""
        ok = self._page_templates.get(name)
        if ok is None:
            ok = self._page_templates[name] = valid_template_name(name) and self.templates.has(name)
        return ok

    # --- one method per kind of output, each adding it to the plan ------------------------------

    def _page(self, page: Page) -> None:
        claim = self.claims.get(page.output)  # a theme output at this page's path renders it
        template = claim.output.template if claim else page.meta.template or "page.html"
        if claim is None and not self.page_template(template):
            theme = self.gathered.chain.name
            where = self.gathered.path_of(page.source)
            self.plan.failures.fail(RenderError(where, f"template {template!r} is not in theme {theme!r}"))
            return
        root = "/" if page.output == "404.html" else sitefiles.root_prefix(page.output)
        listing, listing_key = self.listing.context(root, claim) if claim else (None, "")
        uses = self.templates.uses(template)
        urls = self.gathered.links[page.source]
        commit = self.last_commits.get(page.source) if uses.last_commit else None
        page_plan = _PagePlan(
            page=page,
            template=template,
            uses=uses,
            root=root,
            urls=urls,
            sizes=self.images.for_links(page.doc.links, urls) if any(k == "img" for k, _ in page.doc.links) else [],
            frame=self.frames.of(page, root),
            last_commit=None if commit is None else tuple(sorted((str(k), str(v)) for k, v in commit.items())),
            terms=self.listing.page_terms(page, root),
            listing=listing,
            listing_key=listing_key,
        )
        key = page_plan.key(self.common_key, self.deps_key(uses), self.page_keys)
        self.plan.add(page.output, key, page.source, page_plan, pooled=True)

    def _alias(self, page: Page, alias: str) -> None:
        out = sitefiles.alias_output(alias)
        if out is None:
            where = self.gathered.path_of(page.source)
            self.plan.failures.fail(RenderError(where, f"alias {alias!r} is not a clean site path"))
            return
        key = sha(RENDERER_VERSION, "alias", out, page.url, page.title)
        self.plan.add(out, key, page.source, sitefiles.redirect_page(out, page.url, page.title))

    def _theme_output(self, path: str, claim: Claim) -> None:
        """A theme output no content page publishes."""
        root, template = sitefiles.root_prefix(path), claim.output.template
        uses = self.templates.uses(template)
        listing, listing_key = self.listing.context(root, claim)
        title = listing["term"]["name"] if "term" in listing else self.settings.title
        view = PageView(title, quote(path.removesuffix("index.html")))
        owner = f"theme output {path}"
        job = RenderJob(owner, template, root, page_context(view, listing=listing), uses.nav)
        key = sha(self.common_key, "output", path, template, listing_key, self.deps_key(uses))
        self.plan.add(path, key, owner, lambda: job)

    def _contents(self) -> None:
        contents_url = self.plan.renderer.state.contents_url
        path = f"{contents_url}index.html"
        context = page_context(PageView("Contents", contents_url))
        job = RenderJob("the contents page", "contents.html", sitefiles.root_prefix(path), context, True)
        key = sha(self.common_key, "contents", self.nav_key, self.deps_key(self.templates.uses("contents.html")))
        self.plan.add(path, key, "contents.html", lambda: job)

    def _not_found(self) -> None:
        name = "404.html" if self.templates.has("404.html") else "page.html"
        uses = self.templates.uses(name)
        body = "" if name == "404.html" else "<h1>Page not found</h1>"  # page.html shows the body only
        context = page_context(PageView("Page not found", "404.html", html=body))
        job = RenderJob("the 404 page", name, "/", context, uses.nav)
        key = sha(self.common_key, "404", name, self.deps_key(uses))
        self.plan.add("404.html", key, "404.html", lambda: job)

    def _toc_js(self) -> None:
        uses = self.templates.uses("toc.js")
        # `</` would end an inline <script> should a theme ever inline toc.js
        context = {"nav_json": Markup(self.nav_json.replace("</", "<\\/"))}
        job = RenderJob("toc.js", "toc.js", "", context, uses.nav)
        key = sha(self.common_key, "toc", self.nav_key, self.deps_key(uses))
        self.plan.add(TOC_JS, key, "toc.js", lambda: job)


@dataclass(frozen=True, slots=True)
class _PagePlan:
    """A page's context inputs, known before rendering: its key hashes them."""

    page: Page
    template: str
    uses: TemplateUses
    root: str
    urls: list[str | None]  # resolved link targets, one per placeholder
    sizes: list[Size | None]  # image sizes, one per placeholder ([] without images)
    frame: Frame
    last_commit: tuple[tuple[str, str], ...] | None  # sorted items
    terms: dict[str, list[dict[str, str]]]  # the page's own tags etc., linked (theme outputs)
    listing: dict[str, Any] | None  # pages/terms/term when a theme output renders this page
    listing_key: str  # digest of `listing` ("" without)

    def key(self, common_key: str, deps: str, known: dict[tuple[object, ...], str]) -> str:
        # Everything else in the context (title, toc, meta, body) follows from the page's
        # bytes and those of the files it includes (blob_sha is `includes.page_digest`), its
        # URL, the site title and HTML mode (in common_key) and the links.
        page = self.page
        inputs: tuple[object, ...] | None = None
        if not any(self.terms.values()):  # then every input below is hashable, and equal iff its JSON is
            inputs = (common_key, deps, page.source, page.blob_sha, page.url, self.template, self.frame.json)
            inputs += (tuple(self.urls), tuple(self.sizes), self.last_commit, tuple(self.terms), self.listing_key)
            found = known.get(inputs)
            if found is not None:
                return found
        # json.dumps(parts) for parts = [source, blob_sha, url, template, deps, prev, next, crumbs,
        # urls, sizes, last_commit, terms, listing_key], with [prev, next, crumbs] dumped once per frame.
        head = "[" + ", ".join(map(_json_str, (page.source, page.blob_sha, page.url, self.template, deps))) + "]"
        tail = json.dumps([self.urls, self.sizes, self.last_commit, self.terms, self.listing_key])
        parts = f"{head[:-1]}, {self.frame.json}, {tail[1:]}"
        key = hashlib.sha256(f"{common_key}page{parts}".encode()).hexdigest()
        if inputs is not None:
            known[inputs] = key
        return key

    def __call__(self) -> RenderJob:
        """The page's render job (a plan is called only for a page that is rendered)."""
        page = self.page
        view = PageView.of(page, write_links(page.doc, self.urls, self.sizes, self.root), self.terms)
        if self.uses.last_commit:
            commit = None if self.last_commit is None else dict(self.last_commit)
            view = dataclasses.replace(view, last_commit=commit, shows_last_commit=True)
        context = page_context(view, self.frame, self.listing)
        return RenderJob(page.source, self.template, self.root, context, self.uses.nav)
