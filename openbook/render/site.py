"""build_site: content files + theme chain + settings → every output file, in memory.

Stages (everything gathered first, nothing written: the caller writes):
pages (parse + render Markdown once) → URLs → nav → links resolved and
checked → templates → site files (contents, 404, toc.js, sitemap, robots,
search index, assets, copied content files).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from openbook.errors import RenderError
from openbook.render import sitefiles
from openbook.render.assets import Assets, build_assets
from openbook.render.links import LinkResolver
from openbook.render.markdown import PLACEHOLDER_RE, HtmlMode
from openbook.render.nav import Nav, NavItem, from_folders, from_summary
from openbook.render.pages import (
    NOT_PUBLISHED,
    Page,
    assign_urls,
    is_hidden,
    is_markdown,
    page_paths,
    read_page,
)
from openbook.render.search import SEARCH_DIR, SHARD_LIMIT, SearchDoc, build_index
from openbook.render.templates import Templates, references_nav, valid_template_name
from openbook.render.theme import CONTENT_THEME_DIR, ThemeChain

# Bump when the renderer's output changes for the same inputs: keys must change too.
RENDERER_VERSION = "1"
GENERATED_DIR = "_openbook/"
TOC_JS = f"{GENERATED_DIR}toc.js"
CONTENTS = "contents/index.html"
USER_OVERRIDABLE = frozenset({"robots.txt", "sitemap.xml", "404.html"})


@dataclass(frozen=True, slots=True)
class SiteSettings:
    title: str
    base_url: str | None = None  # absolute URL of the primary domain (sitemap); None without a domain
    html: Literal["escape", "sanitize", "trusted"] = "escape"
    strict: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutputFile:
    path: str  # relative POSIX path, e.g. "guide/intro/index.html"
    data: bytes
    render_key: str  # sha256 hex of everything this file depends on


@dataclass(frozen=True, slots=True)
class BuildResult:
    files: list[OutputFile]
    stats: dict[str, Any]


def _sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


@jinja2.pass_context
def _url_for(ctx: jinja2.runtime.Context, path: str) -> str:
    site: _Site = ctx["_ob"]
    page = site.pages.get(path.lstrip("/"))
    url = quote(page.url) if page is not None else quote(path.lstrip("/"))
    return sitefiles.href(ctx["root"], url)


@jinja2.pass_context
def _asset(ctx: jinja2.runtime.Context, path: str) -> str:
    site: _Site = ctx["_ob"]
    out = site.assets.output_path(path)
    if out is None:
        raise ValueError(f"asset({path!r}): the theme has no static file {path!r}")
    return sitefiles.href(ctx["root"], out)


@dataclass(slots=True)
class _Site:
    settings: SiteSettings
    chain: ThemeChain
    pages: dict[str, Page]  # source → page
    nav: Nav
    assets: Assets
    templates: Templates
    common_key: str
    nav_key: str
    uses_nav: bool
    site_ctx: dict[str, Any]
    outputs: dict[str, OutputFile] = field(default_factory=dict)
    contents_url: str = "contents/"

    def add(self, path: str, data: bytes, key: str, owner: str) -> None:
        if path in self.outputs:
            raise RenderError(owner, f"publishes {path}, which another file already publishes")
        self.outputs[path] = OutputFile(path, data, key)

    def base_context(self, root: str) -> dict[str, Any]:
        return {
            "_ob": self,
            "site": self.site_ctx,
            "root": root,
            "home_url": sitefiles.href(root, ""),
            "toc_js": sitefiles.href(root, TOC_JS),
            "search_index": sitefiles.href(root, f"{SEARCH_DIR}index.js"),
            "contents_url": sitefiles.href(root, quote(self.contents_url)),
        }


def build_site(
    content: Mapping[str, bytes],
    theme: ThemeChain,
    settings: SiteSettings,
    *,
    search_shard_limit: int = SHARD_LIMIT,
) -> BuildResult:
    """Render a whole site. Pure: reads only its arguments, writes nothing.

    Raises RenderError(path, cause) for invalid front matter or encoding, a
    missing or failing template (file and line), clashing output paths, and
    — when `settings.strict` — broken internal links (all of them named).
    """
    if settings.html not in ("escape", "sanitize", "trusted"):
        raise RenderError("site settings", f"html must be escape, sanitize or trusted, not {settings.html!r}")
    chain = theme.with_content_overrides(content)
    mode: HtmlMode = settings.html
    pages: dict[str, Page] = {}
    drafts: set[str] = set()
    for source in page_paths(content):
        page = read_page(source, content[source], mode, settings.title)
        if page.meta.draft:
            drafts.add(source)
        else:
            pages[source] = page
    assign_urls(list(pages.values()))
    files = {
        p
        for p in content
        if not is_markdown(p)
        and p not in NOT_PUBLISHED
        and not p.startswith(CONTENT_THEME_DIR)
        and not is_hidden(p)
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
    settings_json = json.dumps(
        [settings.title, settings.base_url, settings.html, settings.strict, merged_settings],
        sort_keys=True,
        default=str,
    )
    common_key = _sha(RENDERER_VERSION, chain.digest(), settings_json)
    templates = Templates(chain, {"url_for": _url_for, "asset": _asset})
    site = _Site(
        settings=settings,
        chain=chain,
        pages=pages,
        nav=nav,
        assets=assets,
        templates=templates,
        common_key=common_key,
        nav_key=_sha(nav.to_json()),
        uses_nav=references_nav(chain, exclude=("contents.html",)),
        site_ctx={
            "title": settings.title,
            "base_url": settings.base_url,
            "settings": merged_settings,
            "theme": {"name": chain.name, "version": chain.version},
        },
    )

    if CONTENTS in files or any(p.output == CONTENTS for p in pages.values()):
        site.contents_url = f"{GENERATED_DIR}contents/"
    # Content files first: their paths are the author's, generated files must not take them.
    for path in sorted(files):
        site.add(path, content[path], _sha("file", path, content[path]), path)
    by_url = {p.url: p for p in pages.values()}
    for page in sorted(pages.values(), key=lambda p: p.source):
        if page.output in USER_OVERRIDABLE and page.output in site.outputs:
            continue
        _render_page(site, page, resolved[page.source], by_url)
    for page in sorted(pages.values(), key=lambda p: p.source):
        for alias in page.meta.aliases:
            out = sitefiles.alias_output(alias)
            if out is None:
                raise RenderError(page.source, f"alias {alias!r} is not a clean site path")
            data = sitefiles.redirect_page(out, page.url, page.title)
            site.add(out, data, _sha("alias", out, page.url, page.title), page.source)

    _site_files(site, search_shard_limit)
    outputs = sorted(site.outputs.values(), key=lambda f: f.path)
    search_bytes = sum(len(f.data) for f in outputs if f.path.startswith(SEARCH_DIR))
    stats = {
        "pages": len(pages),
        "drafts": len(drafts),
        "files": len(outputs),
        "bytes": sum(len(f.data) for f in outputs),
        "broken_links": broken,
        "search_index_bytes": search_bytes,
    }
    return BuildResult(outputs, stats)


def _crumbs(site: _Site, page: Page, root: str) -> list[dict[str, str]]:
    trail = site.nav.trails.get(page.url, ())
    crumbs = [{"title": c.title, "url": sitefiles.href(root, quote(c.url))} for c in trail]
    home = site.nav.order[0] if site.nav.order else None
    if page.url != "" and (not trail or trail[0].url != "") and (home == "" or "" in site.nav.trails):
        crumbs.insert(0, {"title": site.settings.title, "url": sitefiles.href(root, "")})
    return crumbs


def _render_page(site: _Site, page: Page, urls: list[str | None], by_url: dict[str, Page]) -> None:
    root = "/" if page.output == "404.html" else sitefiles.root_prefix(page.output)
    template = page.meta.template or "page.html"
    if not valid_template_name(template) or not site.templates.has(template):
        raise RenderError(page.source, f"template {template!r} is not in theme {site.chain.name!r}")

    def link(m: Any) -> str:
        i = int(m.group(1))
        target = urls[i]
        if target is None:
            return html.escape(page.doc.links[i][1])
        if target.startswith(("#", "?")):
            return html.escape(target)
        return html.escape(sitefiles.href(root, target))

    body = PLACEHOLDER_RE.sub(link, page.doc.html) if page.doc.links else page.doc.html
    prev_url, next_url = site.nav.neighbours(page.url)
    prev = by_url.get(prev_url) if prev_url is not None else None
    nxt = by_url.get(next_url) if next_url is not None else None
    crumbs = _crumbs(site, page, root)
    ctx = site.base_context(root)
    ctx.update(
        page={
            "title": page.title,
            "url": quote(page.url),
            "path": page.source,
            "html": Markup(body),
            "toc": [{"level": t.level, "id": t.id, "title": t.title} for t in page.doc.toc],
            "meta": page.meta.data,
            "description": page.meta.description,
            "date": page.meta.date,
            "starts_with_h1": page.doc.starts_with_h1,
        },
        prev=None if prev is None else {"title": prev.title, "url": sitefiles.href(root, quote(prev.url))},
        next=None if nxt is None else {"title": nxt.title, "url": sitefiles.href(root, quote(nxt.url))},
        breadcrumbs=crumbs,
    )
    if site.uses_nav:
        ctx["nav"] = site.nav.items
    data = site.templates.render(template, ctx, page.source).encode()
    key = _sha(
        site.common_key,
        "page",
        page.source,
        page.blob_sha,
        page.url,
        template,
        json.dumps([ctx["prev"], ctx["next"], crumbs, urls], sort_keys=True),
        site.nav_key if site.uses_nav else "",
    )
    site.add(page.output, data, key, page.source)


def _site_files(site: _Site, shard_limit: int) -> None:
    common = site.common_key
    contents_out = f"{site.contents_url}index.html"
    if site.templates.has("contents.html"):
        ctx = site.base_context(sitefiles.root_prefix(contents_out))
        ctx.update(nav=site.nav.items, page={"title": "Contents", "url": quote(site.contents_url)})
        data = site.templates.render("contents.html", ctx, "the contents page").encode()
        site.add(contents_out, data, _sha(common, "contents", site.nav_key), "contents.html")

    if "404.html" not in site.outputs:
        ctx = site.base_context("/")
        ctx.update(page={"title": "Page not found", "url": "404.html"})
        name = "404.html" if site.templates.has("404.html") else "page.html"
        if name == "page.html":
            ctx["page"].update(html=Markup("<h1>Page not found</h1>"), toc=[], meta={}, path="")
        data = site.templates.render(name, ctx, "the 404 page").encode()
        site.add("404.html", data, _sha(common, "404"), "404.html")

    if site.templates.has("toc.js"):
        ctx = site.base_context("")
        ctx.update(nav_json=Markup(site.nav.to_json().replace("</", "<\\/")))
        data = site.templates.render("toc.js", ctx, "toc.js").encode()
        site.add(TOC_JS, data, _sha("toc", data), "toc.js")

    pages = sorted(site.pages.values(), key=lambda p: p.source)
    if "sitemap.xml" not in site.outputs:
        data = sitefiles.sitemap(pages, site.settings.base_url)
        site.add("sitemap.xml", data, _sha("sitemap", data), "sitemap.xml")
    if "robots.txt" not in site.outputs:
        data = sitefiles.robots(site.settings.base_url)
        site.add("robots.txt", data, _sha("robots", data), "robots.txt")

    order = {url: i for i, url in enumerate(site.nav.order)}
    docs = [
        SearchDoc(
            url=quote(p.url),
            title=p.title,
            headings=tuple(t.title for t in p.doc.toc),
            text=p.doc.text,
            description=p.meta.description,
        )
        for p in sorted(pages, key=lambda p: (order.get(p.url, len(order)), p.source))
        if p.output != "404.html"
    ]
    for path, data in build_index(docs, shard_limit).items():
        site.add(path, data, _sha("search", path, data), "search index")
    for path, data in site.assets.files.items():
        site.add(path, data, _sha("asset", path, data), f"theme static {path}")


__all__ = ["BuildResult", "NavItem", "OutputFile", "SiteSettings", "build_site"]
