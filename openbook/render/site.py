"""build_site: content files + theme chain + settings → every output file, in memory.

Stages (everything gathered first, nothing written: the caller writes):
pages parsed (cached by their bytes; in a process pool when many) → URLs →
nav → links resolved and checked → every output's render key → only the
outputs whose key differs from the previous deployment's are rendered (in a
process pool when many) → site files (contents, 404, toc.js, sitemap, robots,
search index, assets, copied content files).

A render key hashes everything its file depends on, and is known before the
file is rendered: that is what lets a one-page edit cost one page of work.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from markupsafe import Markup

from openbook.errors import RenderError
from openbook.render import parallel, sitefiles
from openbook.render.assets import Assets, build_assets
from openbook.render.context import GENERATED_DIR, TOC_JS, PageJob, PageRenderer, RenderState
from openbook.render.images import ImageSizes, Size, add_sizes
from openbook.render.links import LinkResolver
from openbook.render.markdown import PLACEHOLDER_RE, HtmlMode
from openbook.render.nav import Nav, NavItem, from_folders, from_summary
from openbook.render.outputs import Claim, Listing
from openbook.render.pages import (
    NOT_PUBLISHED,
    Page,
    ParsedPage,
    assign_urls,
    is_hidden,
    is_markdown,
    make_page,
    page_paths,
    parse_page,
)
from openbook.render.parsecache import PARSE_CACHE
from openbook.render.search import SHARD_LIMIT, SearchDoc, build_index
from openbook.render.sitefiles import quote
from openbook.render.templates import TemplateUses, valid_template_name
from openbook.render.theme import CONTENT_THEME_DIR, ThemeChain

# Bump when the renderer's output changes for the same inputs: keys must change too.
RENDERER_VERSION = "3"
CONTENTS = "contents/index.html"
USER_OVERRIDABLE = frozenset({"robots.txt", "sitemap.xml", "404.html"})

LastCommits = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class SiteSettings:
    title: str
    base_url: str | None = None  # absolute URL of the primary domain (sitemap); None without a domain
    html: Literal["escape", "sanitize", "trusted"] = "escape"
    strict: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One file of the site. `data` is None when the file was not rendered because `previous`
    maps its path to the same render key: the caller reuses the previous deployment's file."""

    path: str  # relative POSIX path, e.g. "guide/intro/index.html"
    data: bytes | None
    render_key: str  # sha256 hex of everything this file depends on

    @property
    def reused(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class BuildResult:
    files: list[OutputFile]  # every file of the site, sorted by path
    stats: dict[str, Any]


_json_str = json.encoder.encode_basestring_ascii  # json.dumps of a str (ensure_ascii, the default)


def _sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


class _Outputs:
    """Output paths claimed so far; a path whose key matches `previous` is not produced."""

    def __init__(self, previous: Mapping[str, str]) -> None:
        self.previous = previous
        self.files: dict[str, OutputFile] = {}

    def claim(self, path: str, key: str, owner: str) -> bool:
        """Reserve `path`; True when its bytes must be produced (then `put` them)."""
        if path in self.files:
            raise RenderError(owner, f"publishes {path}, which another file already publishes")
        self.files[path] = OutputFile(path, None, key)
        return self.previous.get(path) != key

    def put(self, path: str, data: bytes) -> None:
        self.files[path] = OutputFile(path, data, self.files[path].render_key)

    def add(self, path: str, key: str, owner: str, data: bytes | Callable[[], bytes]) -> None:
        if self.claim(path, key, owner):
            self.put(path, data() if callable(data) else data)


@dataclass(slots=True)
class _Site:
    settings: SiteSettings
    chain: ThemeChain
    pages: dict[str, Page]  # source → page
    nav: Nav
    assets: Assets
    renderer: PageRenderer
    common_key: str
    nav_json: str
    nav_key: str
    outputs: _Outputs
    last_commits: LastCommits
    listing: Listing
    claims: dict[str, Claim]  # theme outputs: output path → what renders it
    frames: dict[tuple[str, str], _Frame]  # (page URL, output) → prev, next, crumbs (see _frames)
    _deps_keys: dict[TemplateUses, str] = field(default_factory=dict)
    _page_templates: dict[str, bool] = field(default_factory=dict)

    def uses(self, template: str) -> TemplateUses:
        return self.renderer.templates.uses(template)

    def page_template(self, name: str) -> bool:
        """Whether front matter may name template `name`: a valid name the theme has."""
        ok = self._page_templates.get(name)
        if ok is None:
            ok = self._page_templates[name] = valid_template_name(name) and self.renderer.templates.has(name)
        return ok

    def deps_key(self, uses: TemplateUses) -> str:
        """The part of a key for what a template reads beyond its own context: the nav and
        url_for targets (the named pages' URLs, or every page URL for a computed name)."""
        key = self._deps_keys.get(uses)
        if key is None:
            urls = self.renderer.state.page_urls
            if uses.url_for is None:
                targets = json.dumps(sorted(urls.items()))
            else:
                targets = json.dumps([(p, urls.get(p.lstrip("/"))) for p in sorted(uses.url_for)])
            key = self._deps_keys[uses] = _sha(self.nav_key if uses.nav else "", targets)
        return key


def build_site(
    content: Mapping[str, bytes],
    theme: ThemeChain,
    settings: SiteSettings,
    *,
    previous: Mapping[str, str] | None = None,
    last_commits: LastCommits | None = None,
    workers: int | None = None,
    search_shard_limit: int = SHARD_LIMIT,
) -> BuildResult:
    """Render a whole site. Pure: the result depends on the arguments only, nothing is written.
    (Parsed pages and search postings are cached per process: that only saves time.)

    `previous` maps output paths to render keys (the live deployment's manifest):
    files whose key is unchanged come back with `data=None` and are not rendered.
    `last_commits` maps content paths to {"id", "author", "date", "message"} for
    templates that show `page.last_commit`. `workers` caps the processes used for
    large builds (default: the CPUs available; 1 renders in this process).

    Raises RenderError(path, cause) for invalid front matter or encoding, a
    missing or failing template (file and line), clashing output paths, and
    — when `settings.strict` — broken internal links (all of them named).
    """
    if settings.html not in ("escape", "sanitize", "trusted"):
        raise RenderError("site settings", f"html must be escape, sanitize or trusted, not {settings.html!r}")
    chain = theme.with_content_overrides(content)
    mode: HtmlMode = settings.html
    workers = parallel.default_workers() if workers is None else max(1, workers)
    pages: dict[str, Page] = {}
    drafts: set[str] = set()
    parses, parsed_now = _parse_pages(content, mode, workers)
    for source, (parsed, blob_sha) in parses.items():
        if parsed.meta.draft:
            drafts.add(source)
        else:
            pages[source] = make_page(source, parsed, blob_sha, settings.title)
    assign_urls(list(pages.values()))
    files = {
        p
        for p in content
        if not is_markdown(p) and p not in NOT_PUBLISHED and not p.startswith(CONTENT_THEME_DIR) and not is_hidden(p)
    }

    if "SUMMARY.md" in content:
        nav = from_summary(content["SUMMARY.md"].decode("utf-8", "replace"), pages)
    else:
        nav = from_folders(sorted(pages.values(), key=lambda p: p.source))

    resolver = LinkResolver(pages, files, drafts)
    resolved: dict[str, list[str | None]] = {}
    broken: list[dict[str, str]] = [{"path": p, "target": t} for p, t in nav.broken]
    for page in pages.values():
        urls = []
        for _, target in page.doc.links:
            r = resolver.resolve(page.source, target)
            urls.append(r.url)
            if r.url is None:
                broken.append({"path": page.source, "target": target})
        resolved[page.source] = urls
    broken.sort(key=lambda b: (b["path"], b["target"]))
    if settings.strict and broken:
        listed = ", ".join(f"{b['path']} → {b['target']}" for b in broken[:20])
        more = f" (and {len(broken) - 20} more)" if len(broken) > 20 else ""
        raise RenderError(broken[0]["path"], f"broken links: {listed}{more}")

    assets = build_assets(chain.static_files())
    merged_settings = {**chain.settings(), **settings.extra}
    contents_url = "contents/"
    if CONTENTS in files or any(p.output == CONTENTS for p in pages.values()):
        contents_url = f"{GENERATED_DIR}contents/"
    settings_json = json.dumps(
        [settings.title, settings.base_url, settings.html, settings.strict, merged_settings, contents_url],
        sort_keys=True,
        default=str,
    )
    nav_json = nav.to_json()
    state = RenderState(
        chain=chain,
        site={
            "title": settings.title,
            "base_url": settings.base_url,
            "settings": merged_settings,
            "theme": {"name": chain.name, "version": chain.version},
        },
        contents_url=quote(contents_url),
        assets=assets.names,
        page_urls={p.source: p.url for p in pages.values()},
        nav=nav.items,
    )
    renderer = PageRenderer(state)
    listing = Listing.build(chain, list(pages.values()), settings.base_url)
    site = _Site(
        settings=settings,
        chain=chain,
        pages=pages,
        nav=nav,
        assets=assets,
        renderer=renderer,
        common_key=_sha(RENDERER_VERSION, chain.digest(), settings_json),
        nav_json=nav_json,
        nav_key=_sha(nav_json),
        outputs=_Outputs(previous or {}),
        last_commits=last_commits or {},
        listing=listing,
        claims=listing.claims(renderer.templates.has),
        frames=_frames(_sha(nav_json), settings.title, pages),
    )

    # Content files first: their paths are the author's, generated files must not take them.
    for path in sorted(files):
        site.outputs.add(path, _sha("file", path, content[path]), path, content[path])
    _render_pages(site, resolved, ImageSizes(content), workers)
    for page in sorted(pages.values(), key=lambda p: p.source):
        for alias in page.meta.aliases:
            out = sitefiles.alias_output(alias)
            if out is None:
                raise RenderError(page.source, f"alias {alias!r} is not a clean site path")
            key = _sha(RENDERER_VERSION, "alias", out, page.url, page.title)
            site.outputs.add(out, key, page.source, functools.partial(_redirect, out, page))
    for path, claim in sorted(site.claims.items()):
        if path not in site.outputs.files:  # content files, pages and aliases win
            _render_output(site, path, claim)
    search_bytes = _site_files(site, search_shard_limit)

    outputs = sorted(site.outputs.files.values(), key=lambda f: f.path)
    rendered = [f.data for f in outputs if f.data is not None]
    stats = {
        "pages": len(pages),
        "drafts": len(drafts),
        "parsed": parsed_now,  # pages this build parsed: the rest came from the parse cache
        "files": len(outputs),
        "rendered": len(rendered),
        "reused": len(outputs) - len(rendered),
        "bytes": sum(len(d) for d in rendered),  # of the rendered files only
        "broken_links": broken,
        "search_index_bytes": search_bytes,
    }
    return BuildResult(outputs, stats)


def _parse_pages(
    content: Mapping[str, bytes], mode: HtmlMode, workers: int
) -> tuple[dict[str, tuple[ParsedPage, str]], int]:
    """source → (parse, sha256 hex of the bytes) for every Markdown page, drafts included,
    and how many were parsed: only pages missing from the process's parse cache are."""
    found: dict[str, tuple[ParsedPage, str]] = {}
    missing: list[tuple[str, bytes, bytes]] = []
    for source in page_paths(content):
        data = content[source]
        digest = hashlib.sha256(data).digest()
        parsed = PARSE_CACHE.get(digest, mode)
        if parsed is None:
            missing.append((source, data, digest))
        else:
            found[source] = (parsed, digest.hex())
    if parallel.use_pool(len(missing), workers):
        results = parallel.parse_many([(s, d) for s, d, _ in missing], mode, workers)
    else:
        results = [parse_page(s, d, mode) for s, d, _ in missing]
    for (source, _, digest), parsed in zip(missing, results, strict=True):
        PARSE_CACHE.put(digest, mode, parsed)
        found[source] = (parsed, digest.hex())
    return dict(sorted(found.items())), len(missing)


# Every input of a page key (when all are hashable: strings, None, ints) → the key
_PAGE_KEYS: dict[tuple[object, ...], str] = {}


@dataclass(frozen=True, slots=True)
class _PagePlan:
    """A page's context inputs, known before rendering: its key hashes them."""

    page: Page
    template: str
    uses: TemplateUses
    root: str
    urls: list[str | None]  # resolved link targets, one per placeholder
    sizes: list[Size | None]  # image sizes, one per placeholder ([] without images)
    prev: _Link | None
    next: _Link | None
    crumbs: tuple[_Link, ...]
    frame_json: str  # json.dumps([prev, next, crumbs]) without its brackets
    last_commit: tuple[tuple[str, str], ...] | None  # sorted items
    terms: dict[str, list[dict[str, str]]]  # the page's own tags etc., linked (theme outputs)
    listing: dict[str, Any] | None  # pages/terms/term when a theme output renders this page
    listing_key: str  # digest of `listing` ("" without)

    def key(self, site: _Site) -> str:
        # Everything else in the context (title, toc, meta, body) follows from the page's
        # bytes, its URL, the site title and HTML mode (in common_key) and the links.
        page = self.page
        deps = site.deps_key(self.uses)
        memo: tuple[object, ...] | None = None
        if not any(self.terms.values()):  # then every input below is hashable, and equal iff its JSON is
            memo = (site.common_key, deps, page.source, page.blob_sha, page.url, self.template, self.frame_json)
            memo += (tuple(self.urls), tuple(self.sizes), self.last_commit, tuple(self.terms), self.listing_key)
            found = _PAGE_KEYS.get(memo)
            if found is not None:
                return found
        # json.dumps(parts) for parts = [source, blob_sha, url, template, deps, prev, next, crumbs,
        # urls, sizes, last_commit, terms, listing_key], with [prev, next, crumbs] dumped once per frame.
        head = "[" + ", ".join(map(_json_str, (page.source, page.blob_sha, page.url, self.template, deps))) + "]"
        tail = json.dumps([self.urls, self.sizes, self.last_commit, self.terms, self.listing_key])
        parts = f"{head[:-1]}, {self.frame_json}, {tail[1:]}"
        key = hashlib.sha256(f"{site.common_key}page{parts}".encode()).hexdigest()
        if memo is not None:
            if len(_PAGE_KEYS) >= 50_000:
                _PAGE_KEYS.clear()
            _PAGE_KEYS[memo] = key
        return key

    def job(self) -> PageJob:
        page, doc, urls, root = self.page, self.page.doc, self.urls, self.root

        def link(m: Any) -> str:
            i = int(m.group(1))
            target = urls[i]
            if target is None:
                return html.escape(doc.links[i][1])
            if target.startswith(("#", "?")):
                return html.escape(target)
            return html.escape(sitefiles.href(root, target))

        body = add_sizes(doc.html, self.sizes) if self.sizes else doc.html
        body = PLACEHOLDER_RE.sub(link, body) if doc.links else body
        page_ctx: dict[str, Any] = {
            "title": page.title,
            "url": quote(page.url),
            "path": page.source,
            "html": Markup(body),
            "toc": [{"level": t.level, "id": t.id, "title": t.title} for t in doc.toc],
            "meta": copy.deepcopy(page.meta.data),  # shared with the parse cache: a theme must not change it
            "description": page.meta.description,
            "date": page.meta.date,
            "starts_with_h1": doc.starts_with_h1,
            "terms": self.terms,
        }
        if self.uses.last_commit:
            page_ctx["last_commit"] = None if self.last_commit is None else dict(self.last_commit)
        context = {
            "page": page_ctx,
            "prev": _link_dict(self.prev),
            "next": _link_dict(self.next),
            "breadcrumbs": [_link_dict(c) for c in self.crumbs],
        }
        if self.listing is not None:
            context.update(self.listing)
        return PageJob(page.output, page.source, self.template, root, context, self.uses.nav)


_Link = tuple[str, str]  # (title, href relative to the page)


@overload
def _link_dict(link: _Link) -> dict[str, str]: ...
@overload
def _link_dict(link: None) -> None: ...
def _link_dict(link: _Link | None) -> dict[str, str] | None:
    return None if link is None else {"title": link[0], "url": link[1]}


def _plan(site: _Site, page: Page, urls: list[str | None], images: ImageSizes, by_url: dict[str, Page]) -> _PagePlan:
    claim = site.claims.get(page.output)  # a theme output at this page's path renders it
    template = claim.output.template if claim else page.meta.template or "page.html"
    if claim is None and not site.page_template(template):
        raise RenderError(page.source, f"template {template!r} is not in theme {site.chain.name!r}")
    root = "/" if page.output == "404.html" else sitefiles.root_prefix(page.output)
    listing, listing_key = site.listing.context(root, claim) if claim else (None, "")
    uses = site.uses(template)

    frame = site.frames.get((page.url, page.output))
    if frame is None:
        frame = site.frames[(page.url, page.output)] = _frame(site, page, root, by_url)
    commit = site.last_commits.get(page.source) if uses.last_commit else None
    return _PagePlan(
        page=page,
        template=template,
        uses=uses,
        root=root,
        urls=urls,
        sizes=images.for_links(page.doc.links, urls) if any(k == "img" for k, _ in page.doc.links) else [],
        prev=frame[0],
        next=frame[1],
        crumbs=frame[2],
        frame_json=frame[3],
        last_commit=None if commit is None else tuple(sorted((str(k), str(v)) for k, v in commit.items())),
        terms=site.listing.page_terms(page, root),
        listing=listing,
        listing_key=listing_key,
    )


def _render_output(site: _Site, path: str, claim: Claim) -> None:
    """A theme output no content page publishes: its key known first, rendered (in this
    process, serial and parallel builds alike) only when `previous` has another key."""
    root = sitefiles.root_prefix(path)
    template = claim.output.template
    uses = site.uses(template)
    listing, listing_key = site.listing.context(root, claim)
    page: dict[str, Any] = {
        "title": listing["term"]["name"] if "term" in listing else site.settings.title,
        "url": quote(path.removesuffix("index.html")),
        "path": "",
        "html": Markup(""),
        "toc": [],
        "meta": {},
        "description": None,
        "date": None,
        "starts_with_h1": False,
        "terms": {},
    }
    extra: dict[str, Any] = {"page": page, **listing, **({"nav": site.nav.items} if uses.nav else {})}
    key = _sha(site.common_key, "output", path, template, listing_key, site.deps_key(uses))
    owner = f"theme output {path}"
    site.outputs.add(path, key, owner, lambda: site.renderer.render(template, root, extra, owner))


def _render_pages(site: _Site, resolved: dict[str, list[str | None]], images: ImageSizes, workers: int) -> None:
    by_url = {p.url: p for p in site.pages.values()}
    todo: list[_PagePlan] = []
    for page in sorted(site.pages.values(), key=lambda p: p.source):
        if page.output in USER_OVERRIDABLE and page.output in site.outputs.files:
            continue
        plan = _plan(site, page, resolved[page.source], images, by_url)
        if site.outputs.claim(page.output, plan.key(site), page.source):
            todo.append(plan)
    jobs = (plan.job() for plan in todo)
    if parallel.use_pool(len(todo), workers):
        rendered = parallel.render_many(site.renderer.state, jobs, len(todo), workers)
    else:
        rendered = [site.renderer.render_page(job) for job in jobs]
    for plan, data in zip(todo, rendered, strict=True):
        site.outputs.put(plan.page.output, data)


_Frame = tuple[_Link | None, _Link | None, tuple[_Link, ...], str]
# digest of what frames depend on → (page URL, output) → (prev, next, crumbs, their JSON); one digest kept
_FRAMES: dict[str, dict[tuple[str, str], _Frame]] = {}


def _frames(nav_key: str, site_title: str, pages: Mapping[str, Page]) -> dict[tuple[str, str], _Frame]:
    """The process's frames for this nav, site title and page titles and URLs (all a frame reads)."""
    digest = _sha(nav_key, json.dumps([site_title, [[p.url, p.title] for p in pages.values()]]))
    if digest not in _FRAMES:
        _FRAMES.clear()
        _FRAMES[digest] = {}
    return _FRAMES[digest]


def _frame(site: _Site, page: Page, root: str, by_url: dict[str, Page]) -> _Frame:
    """A page's prev/next links and breadcrumbs: they follow from its URL and output (root),
    the nav, the site title and the other pages' titles and URLs."""

    def neighbour(url: str | None) -> _Link | None:
        other = by_url.get(url) if url is not None else None
        return None if other is None else (other.title, sitefiles.href(root, quote(other.url)))

    prev_url, next_url = site.nav.neighbours(page.url)
    prev, nxt, crumbs = neighbour(prev_url), neighbour(next_url), _crumbs(site, page, root)
    return prev, nxt, crumbs, json.dumps([prev, nxt, crumbs])[1:-1]


def _crumbs(site: _Site, page: Page, root: str) -> tuple[_Link, ...]:
    trail = site.nav.trails.get(page.url, ())
    crumbs = tuple((c.title, sitefiles.href(root, quote(c.url))) for c in trail)
    home = site.nav.order[0] if site.nav.order else None
    if page.url != "" and (not trail or trail[0].url != "") and (home == "" or "" in site.nav.trails):
        crumbs = ((site.settings.title, sitefiles.href(root, "")), *crumbs)
    return crumbs


def _redirect(output: str, page: Page) -> bytes:
    return sitefiles.redirect_page(output, page.url, page.title)


def _site_files(site: _Site, shard_limit: int) -> int:
    """Add the generated files; return the search index's size in bytes."""
    common, out, renderer = site.common_key, site.outputs, site.renderer
    contents_out = f"{renderer.state.contents_url}index.html"
    if renderer.templates.has("contents.html"):
        key = _sha(common, "contents", site.nav_key, site.deps_key(site.uses("contents.html")))
        contents = {"nav": site.nav.items, "page": {"title": "Contents", "url": renderer.state.contents_url}}
        root = sitefiles.root_prefix(contents_out)
        out.add(
            contents_out,
            key,
            "contents.html",
            lambda: renderer.render("contents.html", root, contents, "the contents page"),
        )

    if "404.html" not in out.files:
        name = "404.html" if renderer.templates.has("404.html") else "page.html"
        uses = site.uses(name)
        page: dict[str, Any] = {"title": "Page not found", "url": "404.html"}
        if name == "page.html":
            page.update(html=Markup("<h1>Page not found</h1>"), toc=[], meta={}, path="")
        extra: dict[str, Any] = {"page": page, **({"nav": site.nav.items} if uses.nav else {})}
        key = _sha(common, "404", name, site.deps_key(uses))
        out.add("404.html", key, "404.html", lambda: renderer.render(name, "/", extra, "the 404 page"))

    if renderer.templates.has("toc.js"):

        def toc_js() -> bytes:
            nav_json = Markup(site.nav_json.replace("</", "<\\/"))
            return renderer.render("toc.js", "", {"nav_json": nav_json}, "toc.js")

        out.add(TOC_JS, _sha(common, "toc", site.nav_key, site.deps_key(site.uses("toc.js"))), "toc.js", toc_js)

    pages = sorted(site.pages.values(), key=lambda p: p.source)
    if "sitemap.xml" not in out.files:
        data = sitefiles.sitemap(pages, site.settings.base_url)
        out.add("sitemap.xml", _sha("sitemap", data), "sitemap.xml", data)
    if "robots.txt" not in out.files:
        data = sitefiles.robots(site.settings.base_url)
        out.add("robots.txt", _sha("robots", data), "robots.txt", data)

    order = {url: i for i, url in enumerate(site.nav.order)}
    docs = [
        SearchDoc(
            url=quote(p.url),
            title=p.title,
            headings=tuple(t.title for t in p.doc.toc),
            text=p.doc.text,
            description=p.meta.description,
            terms=p.terms,
        )
        for p in sorted(pages, key=lambda p: (order.get(p.url, len(order)), p.source))
        if p.output != "404.html"
    ]
    search_bytes = 0
    for path, data in build_index(docs, shard_limit).items():
        search_bytes += len(data)
        out.add(path, _sha("search", path, data), "search index", data)
    for path, data in site.assets.files.items():
        out.add(path, _sha("asset", path, data), f"theme static {path}", data)
    return search_bytes


__all__ = ["BuildResult", "NavItem", "OutputFile", "SiteSettings", "build_site"]
