"""Pages rendered as their site renders them: configured and rendered by the worker's own `compose`.

A preview builds a small site: the page itself, the files it includes
(`{{#include}}`, level by level) and links to (images, other pages), the
site's configuration files (`openbook.toml`, and another tool's `book.toml`,
`mkdocs.yml` or `.gitbook.yaml`), its summary (the navigation) and the
content's `_theme/` overrides. It is configured by `publish.compose.configure`
and rendered by `publish.compose.render_site`, as a deployment is, with strict
mode off (the other pages are absent on purpose). The rendered HTML is served
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
import dataclasses
import functools
import posixpath
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from openbook import siteconf
from openbook.db.content import ContentRepository
from openbook.db.sites import Site
from openbook.errors import InvalidRequest, NotFound
from openbook.fs.themes import load_theme, theme_exists
from openbook.publish import compose
from openbook.render import ThemeChain
from openbook.render.includes import MAX_DEPTH, Digests, expand
from openbook.render.markdown import is_internal, render_markdown
from openbook.render.pages import in_folder, is_markdown, output_for_url, page_url
from openbook.siteconf.gitbook import GITBOOK_FILE
from openbook.siteconf.mdbook import BOOK_TOML
from openbook.siteconf.mkdocs import MKDOCS_FILES
from openbook.store.objects import Commit
from openbook.store.trees import list_dir, lookup

# A page's own links and includes are fetched with it, up to these bounds (a page linking
# to thousands of files previews with the rest shown as broken links).
MAX_LINKED_FILES = 64
MAX_LINKED_BYTES = 8 * 1024 * 1024
MAX_PAGE_BYTES = 2 * 1024 * 1024
DEFAULT_THEME = "book"
# Read at the site root, as the worker finds them there (the site file, then another tool's).
CONFIG_FILES = (siteconf.SITE_FILE, BOOK_TOML, *MKDOCS_FILES, GITBOOK_FILE)
HOME_PAGES = ("index.md", "README.md")
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
class DefaultSite:
    """The site a workspace without sites previews as: the default theme, the API's default settings."""

    name: str = "Preview"
    theme: str = DEFAULT_THEME
    root: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PreviewSite:
    """The site a preview renders as: a real one, or the default theme for a workspace without sites."""

    id: str  # a site id, or "-"
    root: str
    row: Site | None

    @property
    def as_row(self) -> siteconf.SiteRow:
        return self.row if self.row is not None else DefaultSite()


@dataclass(frozen=True, slots=True)
class Configured:
    """A site as one commit configures it, for previews: what `compose.configure` made of its files."""

    config: siteconf.SiteConfig
    files: Mapping[str, bytes]  # the configuration files found, by path from the site root

    def source_path(self, rel: str) -> str | None:
        """A file's path in the pages' folder (`rel` from the site root), None when outside it."""
        return relative_to_root(self.config.source, rel)

    def full_path(self, source: str) -> str:
        """A path in the pages' folder, from the site root."""
        return f"{self.config.source}/{source}" if self.config.source else source


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
    """`path` below the folder `root` ("" for all), or None when the file lies outside it."""
    if not root:
        return path
    return path[len(root) + 1:] if path.startswith(root + "/") else None


async def _files(repo: ContentRepository, commit: Commit, prefix: str, paths: list[str]) -> dict[str, str]:
    """The blob id of each of `paths` (below `prefix`) that is a file of the commit."""
    found: dict[str, str] = {}
    for path in paths:
        try:
            entry = await lookup(repo.src, commit.tree, prefix + path)
        except InvalidRequest:
            continue  # not a valid content path: the renderer reports the link or include as missing
        if entry is not None and entry.kind == "blob":
            found[path] = entry.hash
    return found


async def _read(repo: ContentRepository, commit: Commit, prefix: str, paths: list[str]) -> dict[str, bytes]:
    """The files among `paths` (below `prefix`) that the commit has, in one read of their blobs."""
    found = await _files(repo, commit, prefix, paths)
    blobs = await repo.read_blobs(set(found.values()))
    return {path: blobs[h] for path, h in found.items()}


def _configure(site: PreviewSite, content: Mapping[str, bytes],
               themes_path: tuple[Path, ...]) -> siteconf.SiteConfig:
    """What the worker's `compose.configure` makes of the files; raises RenderError for a bad site file."""
    return compose.configure(site.as_row, content, lambda name: theme_exists(name, themes_path))


async def configured(repo: ContentRepository, commit: Commit, site: PreviewSite,
                     themes_path: tuple[Path, ...]) -> Configured:
    """The site's configuration at `commit`. Raises RenderError for an invalid `openbook.toml`."""
    files = await _read(repo, commit, f"{site.root}/" if site.root else "", list(CONFIG_FILES))
    return Configured(_configure(site, files, themes_path), files)


async def page_output(repo: ContentRepository, commit: Commit, conf: Configured, rel: str) -> str | None:
    """Where the page `rel` (from the site root) is published, None when it is not in the pages' folder.

    The home page is the folder's index.md or README.md, else the page the configuration names
    (GitBook's `structure.readme`); a book with neither starts at its first chapter, which a
    preview of that chapter alone cannot know, so there the page is shown at its own URL.
    """
    source = conf.source_path(rel)
    if source is None:
        return None
    if source == conf.config.home and not await _files(repo, commit, _prefix(conf.config.root),
                                                       [conf.full_path(p) for p in HOME_PAGES]):
        return "index.html"
    return output_for_url(page_url(source))


def sources_for_output(conf: Configured, output: str) -> list[str]:
    """The files (from the site root) that could be published at `output`, most likely first."""
    if not output.endswith("index.html"):
        return []
    folder = output[: -len("index.html")].rstrip("/")
    found = [f"{folder}.md", f"{folder}/index.md", f"{folder}/README.md"] if folder else list(HOME_PAGES)
    if not folder and conf.config.home is not None:
        found.append(conf.config.home)
    return [conf.full_path(p) for p in found]


def _prefix(root: str) -> str:
    return f"{root}/" if root else ""


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


class _Budget:
    """Files fetched for one preview, within MAX_LINKED_FILES and MAX_LINKED_BYTES."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def take(self, got: dict[str, bytes]) -> dict[str, bytes]:
        kept: dict[str, bytes] = {}
        for path, data in got.items():
            if self.files >= MAX_LINKED_FILES or self.bytes + len(data) > MAX_LINKED_BYTES:
                break
            self.files += 1
            self.bytes += len(data)
            kept[path] = data
        return kept


async def gather_content(repo: ContentRepository, commit: Commit, conf: Configured, rel: str,
                         text: bytes) -> dict[str, bytes]:
    """The page with what it includes and links to, the configuration files, the summary and
    `_theme/`, keyed by path from the site root."""
    prefix = _prefix(conf.config.root)
    content: dict[str, bytes] = {**conf.files, rel: text}
    budget = _Budget()
    tried: set[str] = set()
    page = text.decode("utf-8", "replace")
    # Each level of includes names the next: expand, fetch what was missing, until nothing new is.
    for _ in range(MAX_DEPTH + 1):
        wanted = [path for path, digest in expand(rel, page, Digests(content)).deps
                  if digest is None and path not in tried]
        if not wanted:
            break
        tried.update(wanted)
        content.update(budget.take(await _read(repo, commit, prefix, wanted)))
    expanded = expand(rel, page, Digests(content)).text
    wanted = [conf.full_path(conf.config.summary),
              *(p for p in _linked_paths(rel, expanded) if p not in content)]
    content.update(budget.take(await _read(repo, commit, prefix, wanted)))
    theme_dir = await lookup(repo.src, commit.tree, prefix + "_theme")
    if theme_dir is not None and theme_dir.kind == "tree":
        theme_files = [path[len(prefix):] for path, entry in
                       await list_dir(repo.src, commit.tree, prefix + "_theme", recursive=True)
                       if entry.kind == "blob"]
        content.update(await _read(repo, commit, prefix, theme_files))
    return content


def _build(content: dict[str, bytes], config: siteconf.SiteConfig, chain: ThemeChain, source: str,
           site_key: str) -> Rendered:
    result = compose.render_site(content, config, chain, workers=1, site_key=site_key)
    url = result.page_urls.get(source)
    files = {f.path: f.data for f in result.files if f.data is not None}
    html = None if url is None else files.get(output_for_url(url))
    if url is None or html is None:
        raise InvalidRequest(f"{source} is not a page of this site (a draft, or not published)", {"path": source})
    published = set(in_folder(content, config.source))
    assets = {p: data for p, data in files.items() if not p.endswith(".html") and p not in published}
    return Rendered(html, output_for_url(url), assets)


async def render_page(repo: ContentRepository, commit: Commit, site: PreviewSite, path: str, text: bytes,
                      themes_path: tuple[Path, ...]) -> Rendered:
    """Render the page at `path` (a full content path) with `text` as its content, as `site` would.

    InvalidRequest when the file is not a Markdown page or lies outside the site's pages'
    folder; RenderError when the site's configuration or the page cannot be rendered.
    """
    if not is_markdown(path):
        raise InvalidRequest(f"{path} is not a Markdown page: only .md files have a rendered view", {"path": path})
    if len(text) > MAX_PAGE_BYTES:
        raise InvalidRequest("this page is too large to preview", {"path": path})
    rel = relative_to_root(site.root, path)
    if rel is None:
        raise InvalidRequest(f"{path} is outside the site's folder {site.root!r}", {"path": path})
    conf = await configured(repo, commit, site, themes_path)
    source = conf.source_path(rel)
    if source is None:
        raise InvalidRequest(f"{path} is outside the folder of the site's pages "
                             f"({conf.config.source}/, as {conf.config.book_file} says)", {"path": path})
    content = await gather_content(repo, commit, conf, rel, text)
    if await page_output(repo, commit, conf, rel) != "index.html" and not any(
            conf.full_path(p) in content for p in HOME_PAGES):
        # The site has its own home page; without one here the renderer would make this page the home
        # page (a book without index.md starts at its first chapter) and render it at another URL.
        content[conf.full_path("index.md")] = b""
    # Configured again with the files gathered, as the worker configures the whole commit; the
    # other pages are absent on purpose, so strict mode would only report them.
    config = dataclasses.replace(_configure(site, content, themes_path), strict=False)
    chain = _theme(config.theme, themes_path)
    rendered = await asyncio.to_thread(_build, content, config, chain, source,
                                       f"studio:{repo.workspace_id}:{site.id}")
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


async def find_blob(repo: ContentRepository, commit: Commit, path: str) -> bytes:
    entry = await lookup(repo.src, commit.tree, path)
    if entry is None or entry.kind != "blob":
        raise NotFound(f"file {path!r} does not exist here", {"path": path})
    return await repo.read_blob(entry.hash)
