"""Pages rendered as their site renders them: the same `build_site`, theme and settings.

A preview builds a small site: the page itself, the files it links to
(images, other pages), the site file (`openbook.toml`) and the content's
`_theme/` overrides, with the site's theme chain and settings (strict mode
off: the other pages are absent on purpose). The rendered HTML is served
under `/studio/render/<site>/<commit>/`, whose other URLs answer with the
theme's assets and the commit's files, so the page's relative links to CSS
and images resolve as on the published site.

Everything under /studio/render/ is the tenant's content rendered: it is
served with a `sandbox` Content-Security-Policy and shown only inside
`<iframe sandbox="allow-same-origin">`: no script runs and no form is sent
(neither `allow-scripts` nor `allow-forms`), so keeping the origin (for the
page's own CSS and images under the studio's `'self'` policy) gives content
nothing to act with.
"""

from __future__ import annotations

import asyncio
import functools
import posixpath
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from openbook import siteconf
from openbook.db.content import ContentRepository
from openbook.db.sites import Site
from openbook.errors import InvalidRequest, NotFound
from openbook.fs.themes import load_theme, theme_exists
from openbook.render import SiteSettings, ThemeChain, build_site
from openbook.render.markdown import is_internal, render_markdown
from openbook.render.pages import is_markdown, output_for_url, page_url
from openbook.store.objects import Commit
from openbook.store.trees import list_dir, lookup

# A page's own links are fetched with it, up to these bounds (a page linking to
# thousands of files previews with the rest shown as broken links).
MAX_LINKED_FILES = 64
MAX_LINKED_BYTES = 8 * 1024 * 1024
MAX_PAGE_BYTES = 2 * 1024 * 1024
DEFAULT_THEME = "book"
# No `allow-scripts`, no `allow-forms`: content runs no script and sends no form. `allow-same-origin`
# only lets the page load its own stylesheet and images ('self'), which an opaque origin could not.
SANDBOX_CSP = ("sandbox allow-same-origin; default-src 'none'; style-src 'self'; img-src 'self' data:; "
               "font-src 'self'; media-src 'self'; frame-ancestors 'self'")


@dataclass(frozen=True, slots=True)
class Rendered:
    html: bytes
    output: str  # the page's output path below the render root, e.g. "guide/intro/index.html"
    assets: Mapping[str, bytes]  # the build's non-page outputs that are the theme's (CSS, fonts, toc.js)


@dataclass(frozen=True, slots=True)
class PreviewSite:
    """The site a preview renders as: a real one, or the default theme for a workspace without sites."""

    id: str  # a site id, or "-"
    root: str
    row: Site | None


def preview_site(sites: list[Site], branch: str | None) -> PreviewSite:
    """The site whose branch this is, else the workspace's first site, else none (default theme)."""
    chosen = next((s for s in sites if s.branch == branch), sites[0] if sites else None)
    if chosen is None:
        return PreviewSite("-", "", None)
    return PreviewSite(str(chosen.id), chosen.root, chosen)


@functools.lru_cache(maxsize=32)
def _theme(name: str, themes_path: tuple[Path, ...]) -> ThemeChain:
    return load_theme(name, themes_path)


def relative_to_root(root: str, path: str) -> str | None:
    """`path` below the site root, or None when the file lies outside the site."""
    if not root:
        return path
    return path[len(root) + 1:] if path.startswith(root + "/") else None


def _linked_paths(rel: str, text: str) -> list[str]:
    """Site-relative paths of the files a page links to (images and pages), in order, deduplicated."""
    doc = render_markdown(text, "escape")
    out: list[str] = []
    for _kind, href in doc.links:
        if not href or not is_internal(href):
            continue
        target = unquote(urlsplit(href).path)
        if not target:
            continue
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target)) if not target.startswith("/") \
            else target.lstrip("/")
        if joined.startswith("../") or joined in (".", "..") or joined in out:
            continue
        out.append(joined)
    return out


async def gather_content(repo: ContentRepository, commit: Commit, root: str, rel: str,
                         text: bytes) -> dict[str, bytes]:
    """The page, its linked files, the site file and `_theme/`, keyed relative to the site root."""
    prefix = f"{root}/" if root else ""
    content: dict[str, bytes] = {rel: text}
    wanted = [siteconf.SITE_FILE, *_linked_paths(rel, text.decode("utf-8", "replace"))]
    total = 0
    for path in wanted[:MAX_LINKED_FILES + 1]:
        try:
            entry = await lookup(repo.src, commit.tree, prefix + path)
        except InvalidRequest:
            continue  # not a valid content path: the renderer reports the link as broken
        if entry is None or entry.kind != "blob" or path in content:
            continue
        total += entry.size or 0
        if total > MAX_LINKED_BYTES:
            break
        content[path] = await repo.read_blob(entry.hash)
    theme_dir = await lookup(repo.src, commit.tree, prefix + "_theme")
    if theme_dir is not None and theme_dir.kind == "tree":
        for path, entry in await list_dir(repo.src, commit.tree, prefix + "_theme", recursive=True):
            if entry.kind == "blob":
                content[path[len(prefix):]] = await repo.read_blob(entry.hash)
    return content


def _settings(site: PreviewSite, content: Mapping[str, bytes],
              themes_path: tuple[Path, ...]) -> tuple[ThemeChain, SiteSettings]:
    if site.row is None:
        return _theme(DEFAULT_THEME, themes_path), SiteSettings(title="Preview", base_url=None, html="sanitize",
                                                                strict=False, extra={})
    found = siteconf.read_site_file(content, "", lambda name: theme_exists(name, themes_path))
    config = siteconf.combine(site.row, found)
    settings = SiteSettings(title=config.title, base_url=config.base_url, html=config.html, strict=False,
                            extra=config.params)
    return _theme(config.theme, themes_path), settings


def _build(content: dict[str, bytes], chain: ThemeChain, settings: SiteSettings, rel: str,
           site_key: str) -> Rendered:
    result = build_site(content, chain, settings, workers=1, site_key=site_key)
    output = output_for_url(page_url(rel))
    files = {f.path: f.data for f in result.files if f.data is not None}
    html = files.get(output)
    if html is None:
        raise InvalidRequest(f"{rel} is not a page of this site (it renders no {output})", {"path": rel})
    linked = {p for p in content}
    assets = {p: data for p, data in files.items() if not p.endswith(".html") and p not in linked}
    return Rendered(html, output, assets)


async def render_page(repo: ContentRepository, commit: Commit, site: PreviewSite, path: str, text: bytes,
                      themes_path: tuple[Path, ...]) -> Rendered:
    """Render the page at `path` (a full content path) with `text` as its content, as `site` would.

    InvalidRequest when the file is not a Markdown page or lies outside the site's root.
    """
    if not is_markdown(path):
        raise InvalidRequest(f"{path} is not a Markdown page: only .md files have a rendered view", {"path": path})
    if len(text) > MAX_PAGE_BYTES:
        raise InvalidRequest("this page is too large to preview", {"path": path})
    rel = relative_to_root(site.root, path)
    if rel is None:
        raise InvalidRequest(f"{path} is outside the site's folder {site.root!r}", {"path": path})
    content = await gather_content(repo, commit, site.root, rel, text)
    if not {"index.md", "README.md"} & set(content):
        # The site has its own home page; without one here the renderer would make this page the home
        # page (a book without index.md starts at its first chapter) and render it at another URL.
        content["index.md"] = b""
    chain, settings = _settings(site, content, themes_path)
    rendered = await asyncio.to_thread(_build, content, chain, settings, rel, f"studio:{repo.workspace_id}:{site.id}")
    ASSETS.update(site.id, repo.workspace_id, rendered.assets)
    return rendered


class _Assets:
    """The theme outputs (CSS, JS, fonts) of each site's latest preview build: small and content-hashed."""

    def __init__(self) -> None:
        self._by_site: dict[tuple[uuid.UUID, str], Mapping[str, bytes]] = {}

    def update(self, site_id: str, workspace_id: uuid.UUID, assets: Mapping[str, bytes]) -> None:
        self._by_site[(workspace_id, site_id)] = dict(assets)
        while len(self._by_site) > 64:
            self._by_site.pop(next(iter(self._by_site)))

    def get(self, site_id: str, workspace_id: uuid.UUID, path: str) -> bytes | None:
        return self._by_site.get((workspace_id, site_id), {}).get(path)


ASSETS = _Assets()


_RELATIVE_URL = re.compile(r'\b(href|src)="(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^"]*)"')


def with_base(html: bytes, base: str) -> str:
    """The page made to work from `srcdoc`: its relative `href`/`src` resolved under `base` (a path).

    Chromium's preload scanner fetches a srcdoc page's resources against the
    embedding page's URL before it sees a `<base>`, so the URLs are rewritten
    here; the `<base>` stays for what the rewrite does not cover.
    """
    text = _RELATIVE_URL.sub(lambda m: f'{m.group(1)}="{urljoin(base, m.group(2))}"', html.decode("utf-8", "replace"))
    tag = f'<base href="{base}">'
    head = text.find("<head>")
    return text[:head + 6] + tag + text[head + 6:] if head >= 0 else tag + text


def source_for_output(output: str) -> list[str]:
    """The content files that could render to `output` (page URLs are pretty: guide/intro/index.html)."""
    if not output.endswith("index.html"):
        return []
    folder = output[: -len("index.html")].rstrip("/")
    if not folder:
        return ["index.md", "README.md"]
    return [f"{folder}.md", f"{folder}/index.md", f"{folder}/README.md"]


async def find_blob(repo: ContentRepository, commit: Commit, path: str) -> bytes:
    entry = await lookup(repo.src, commit.tree, path)
    if entry is None or entry.kind != "blob":
        raise NotFound(f"file {path!r} does not exist here", {"path": path})
    return await repo.read_blob(entry.hash)
