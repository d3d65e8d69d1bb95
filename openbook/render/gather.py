"""Stage 1, gather: content files → parsed pages, their URLs, the navigation, resolved links.

Everything later stages need to know about the content, checked before
anything renders: front matter, clashing URLs and (in strict mode) broken
links fail here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from openbook.errors import RenderError
from openbook.render import parallel
from openbook.render.cache import Codec, Kind, SiteCache
from openbook.render.links import TARGETS, LinkResolver, universe
from openbook.render.markdown import HtmlMode
from openbook.render.nav import Nav, from_folders, from_summary
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
    parsed_in,
    parsed_out,
)
from openbook.render.settings import SiteSettings
from openbook.render.theme import CONTENT_THEME_DIR, ThemeChain

# (sha256 of a page's bytes, HTML mode) → its parse: what the page's bytes alone decide
PARSED: Kind[ParsedPage] = Kind("parsed page", Codec(value_out=parsed_out, value_in=parsed_in))
_LISTED_BROKEN = 20


@dataclass(frozen=True, slots=True)
class Gathered:
    content: Mapping[str, bytes]
    settings: SiteSettings
    chain: ThemeChain  # the site's theme under the content's own `_theme/` layer
    pages: dict[str, Page]  # source → published page (drafts left out), by source
    drafts: int
    files: list[str]  # published content files that are not pages, sorted
    nav: Nav
    links: dict[str, list[str | None]]  # source → each link's resolved URL (None: broken), by placeholder
    broken: list[dict[str, str]]  # {"path", "target"}, sorted
    parsed: int  # pages this build parsed; the rest came from the site's cache


def gather(
    content: Mapping[str, bytes], theme: ThemeChain, settings: SiteSettings, workers: int, cache: SiteCache
) -> Gathered:
    """Raises RenderError for an unknown HTML mode, a page that does not parse, clashing URLs,
    and — when `settings.strict` — broken internal links (all of them named)."""
    if settings.html not in ("escape", "sanitize", "trusted"):
        raise RenderError("site settings", f"html must be escape, sanitize or trusted, not {settings.html!r}")
    chain = theme.with_content_overrides(content)
    parses, parsed_now = _parse(content, settings.html, workers, cache)
    pages = {
        source: make_page(source, parsed, digest, settings.title)
        for source, (parsed, digest) in parses.items()
        if not parsed.meta.draft
    }
    assign_urls(list(pages.values()))
    files = sorted(
        p
        for p in content
        if not is_markdown(p) and p not in NOT_PUBLISHED and not p.startswith(CONTENT_THEME_DIR) and not is_hidden(p)
    )
    if "SUMMARY.md" in content:
        nav = from_summary(content["SUMMARY.md"].decode("utf-8", "replace"), pages)
    else:
        nav = from_folders(list(pages.values()))

    file_set = set(files)
    resolver = LinkResolver(pages, file_set, cache.table(TARGETS, universe(pages, file_set)))
    links: dict[str, list[str | None]] = {}
    broken = [{"path": p, "target": t} for p, t in nav.broken]
    for page in pages.values():
        urls = links[page.source] = [resolver.resolve(page.source, target).url for _, target in page.doc.links]
        if None in urls:
            broken += [
                {"path": page.source, "target": t}
                for (_, t), url in zip(page.doc.links, urls, strict=True)
                if url is None
            ]
    cache.settle(TARGETS, live=sum(len(p.doc.links) for p in pages.values()))
    broken.sort(key=lambda b: (b["path"], b["target"]))
    if settings.strict and broken:
        listed = ", ".join(f"{b['path']} → {b['target']}" for b in broken[:_LISTED_BROKEN])
        more = f" (and {len(broken) - _LISTED_BROKEN} more)" if len(broken) > _LISTED_BROKEN else ""
        raise RenderError(broken[0]["path"], f"broken links: {listed}{more}")
    drafts = len(parses) - len(pages)
    return Gathered(content, settings, chain, pages, drafts, files, nav, links, broken, parsed_now)


def _parse(
    content: Mapping[str, bytes], mode: HtmlMode, workers: int, cache: SiteCache
) -> tuple[dict[str, tuple[ParsedPage, str]], int]:
    """source → (parse, sha256 hex of the bytes) for every Markdown page, drafts included, by
    source; and how many were parsed: only pages the site's cache does not have are."""
    found: dict[str, tuple[ParsedPage, str]] = {}
    missing: list[tuple[str, bytes, bytes]] = []
    for source in page_paths(content):
        data = content[source]
        digest = hashlib.sha256(data).digest()
        parsed = cache.get(PARSED, (digest, mode))
        if parsed is None:
            missing.append((source, data, digest))
        else:
            found[source] = (parsed, digest.hex())
    if parallel.use_pool(len(missing), workers):
        results = parallel.parse_many([(s, d) for s, d, _ in missing], mode, workers)
    else:
        results = [parse_page(s, d, mode) for s, d, _ in missing]
    for (source, _, digest), parsed in zip(missing, results, strict=True):
        cache.put(PARSED, (digest, mode), parsed, parsed.estimated_bytes())
        found[source] = (parsed, digest.hex())
    return dict(sorted(found.items())), len(missing)
