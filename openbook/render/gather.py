"""Stage 1, gather: content files → parsed pages, their URLs, the navigation, resolved links.

Everything later stages need to know about the content, checked before
anything renders: front matter, clashing URLs and (in strict mode) broken
links and other problems fail here — or, in a build that collects its errors
(`problems.Failures`), are listed, the pages that failed rendered with their
front matter's defaults or left out.

The pages come from the settings' `source` folder of the content (mdBook's
`src`, MkDocs' `docs_dir`); from here on every path is relative to it, and
errors and stats name files by their path from the site root again.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from openbook.errors import RenderError
from openbook.render import parallel
from openbook.render.cache import Codec, Kind, SiteCache
from openbook.render.includes import MARKER, Digests, Expanded, expand, page_digest
from openbook.render.links import TARGETS, LinkResolver, universe
from openbook.render.markdown import HtmlMode
from openbook.render.nav import Nav, from_entries, from_folders, from_summary
from openbook.render.pages import (
    NOT_PUBLISHED,
    Page,
    ParsedPage,
    assign_urls,
    in_folder,
    is_hidden,
    is_markdown,
    make_page,
    page_paths,
    parse_page,
    parsed_in,
    parsed_out,
    with_expansion,
)
from openbook.render.problems import ERROR, Failures, Problem, summarize, summarize_links
from openbook.render.settings import SiteSettings
from openbook.render.theme import CONTENT_THEME_DIR, ThemeChain

# (sha256 of a page's bytes, HTML mode[, its folder when it has directives]) → its parse: what
# the page's bytes decide, with the files they include (checked against `ParsedPage.deps` on use)
PARSED: Kind[ParsedPage] = Kind("parsed page", Codec(value_out=parsed_out, value_in=parsed_in))
_LISTED_BROKEN = 20
# The last navigation made from folders (`from_folders`, which reads each page's source, title, URL
# and order), with those: 5,000 pages cost ~25 ms to order, plus its JSON. In memory only.
FOLDER_NAV: Kind[tuple[tuple[object, ...], Nav]] = Kind("folder navigation")
_NAV_ENTRY_BYTES = 400


@dataclass(frozen=True, slots=True)
class Gathered:
    content: Mapping[str, bytes]  # the files of the pages' folder (`settings.source`), by path in it
    settings: SiteSettings
    chain: ThemeChain  # the site's theme under the content's own `_theme/` layer
    pages: dict[str, Page]  # source → published page (drafts left out), by source
    drafts: int
    files: list[str]  # published content files that are not pages, sorted
    nav: Nav
    links: dict[str, list[str | None]]  # source → each link's resolved URL (None: broken), by placeholder
    broken: list[dict[str, object]]  # stats' broken_links: {"path", "line", "target", "count"}, sorted
    problems: list[dict[str, object]]  # stats' problems (`problems.summarize`)
    parsed: int  # pages this build parsed; the rest came from the site's cache

    def path_of(self, source: str) -> str:
        """A path in the pages' folder → its path from the site root (what errors name)."""
        return _from_root(self.settings.source)(source)


def gather(
    content: Mapping[str, bytes], theme: ThemeChain, settings: SiteSettings, workers: int, cache: SiteCache,
    failures: Failures,
) -> Gathered:
    """Raises RenderError for an unknown HTML mode; through `failures`, for a page that does not
    parse (not UTF-8, invalid front matter) and clashing URLs; and — when `settings.strict` and
    not collecting — for broken internal links and problems (all of them named)."""
    if settings.html not in ("escape", "sanitize", "trusted"):
        raise RenderError("site settings", f"html must be escape, sanitize or trusted, not {settings.html!r}")
    chain = theme.with_content_overrides(content)
    full = _from_root(settings.source)
    tree = in_folder(content, settings.source)
    parses, parsed_now = _parse(tree, settings.html, workers, cache, settings.summary, full, Digests(content))
    for source, (parsed, _) in parses.items():  # in order of path: a deployment fails on the first
        for error in (p for p in parsed.problems if p.kind == ERROR):
            failures.fail(RenderError(error.path or full(source), error.message, error.line))
    # A Markdown file another page includes is a snippet, not a page of its own (as in mdBook).
    snippets = {path for parsed, _ in parses.values() for path, _ in parsed.deps}
    pages = {
        source: make_page(source, parsed, digest, settings.title)
        for source, (parsed, digest) in parses.items()
        if not parsed.meta.draft and full(source) not in snippets
    }
    for page, other in assign_urls(list(pages.values())):
        failures.fail(RenderError(full(page.source), f"publishes to {page.output}, like {full(other.source)}"))
        del pages[page.source]
    files = sorted(
        p
        for p in tree
        if not is_markdown(p) and p not in NOT_PUBLISHED and not p.startswith(CONTENT_THEME_DIR) and not is_hidden(p)
    )
    nav = _navigation(tree, pages, settings, full, cache)
    if _without_home(pages, files, chain):
        home = _first_chapter(nav, pages, settings.home)
        if home is not None:
            home.url, home.output = "", "index.html"
            nav = _navigation(tree, pages, settings, full, cache)

    file_set = set(files)
    resolver = LinkResolver(pages, file_set, cache.table(TARGETS, universe(pages, file_set)))
    links: dict[str, list[str | None]] = {}
    broken = list(nav.broken)
    problems: list[Problem] = []
    for page in pages.values():
        urls = links[page.source] = [resolver.resolve(page.source, target).url for _, target in page.doc.links]
        if None in urls:
            for (_, target), url, line in zip(page.doc.links, urls, page.doc.link_lines, strict=True):
                if url is None:
                    path, at = page.lines.origin(line)  # the listing an include brought it from
                    broken.append((path or full(page.source), at, target))
        if page.problems:
            problems += (p.at(full(page.source)) for p in page.problems if p.kind != ERROR)
    cache.settle(TARGETS, live=sum(len(p.doc.links) for p in pages.values()))
    if settings.strict and (broken or problems) and not failures.collect:  # collecting, they are listed
        raise _strict_failure(broken, problems)
    drafts = sum(parsed.meta.draft for parsed, _ in parses.values())
    return Gathered(tree, settings, chain, pages, drafts, files, nav, links, summarize_links(broken),
                    summarize(problems), parsed_now)


def _from_root(source: str) -> Callable[[str], str]:
    """A path in the pages' folder → its path from the site root (what errors and stats name)."""
    return (lambda path: f"{source}/{path}") if source else (lambda path: path)


def _navigation(tree: Mapping[str, bytes], pages: dict[str, Page], settings: SiteSettings,
                full: Callable[[str], str], cache: SiteCache) -> Nav:
    if settings.nav is not None:
        return from_entries(settings.nav, pages)
    summary = tree.get(settings.summary)
    if summary is not None:
        return from_summary(summary.decode("utf-8", "replace"), pages, full(settings.summary))
    # What the folders' navigation is made of: an edit that changes none of it reuses the last one.
    made_of = tuple((p.source, p.title, p.url, p.meta.order) for p in pages.values())
    kept = cache.get(FOLDER_NAV, None)
    if kept is not None and kept[0] == made_of:
        return kept[1]
    nav = from_folders(list(pages.values()))
    cache.put(FOLDER_NAV, None, (made_of, nav), _NAV_ENTRY_BYTES * len(made_of))
    return nav


def _without_home(pages: dict[str, Page], files: list[str], chain: ThemeChain) -> bool:
    """Whether nothing publishes the home page: no index page, no index.html file, no theme output."""
    return (
        all(p.url != "" for p in pages.values())
        and "index.html" not in files
        and all(out.path != "index.html" for out in chain.outputs())
    )


def _first_chapter(nav: Nav, pages: dict[str, Page], home: str | None) -> Page | None:
    """The page that becomes the home page of a site without one, as mdBook does: the page the
    site's configuration names (GitBook's `structure.readme`), else the first in reading order."""
    if home is not None and home in pages:
        return pages[home]
    by_url = {p.url: p for p in pages.values()}
    for url in nav.order:
        page = by_url.get(url)
        if page is not None and page.output != "404.html":
            return page
    return None


def _strict_failure(broken: list[tuple[str, int, str]], problems: list[Problem]) -> RenderError:
    listed = [f"{d['path']}:{d['line']} → {d['target']}" for d in summarize_links(broken)]
    listed += [f"{d['path']}:{d['line']}: {d['message']}" for d in summarize(problems)]
    more = f" (and {len(listed) - _LISTED_BROKEN} more)" if len(listed) > _LISTED_BROKEN else ""
    first = broken[0][0] if broken else str(problems[0].path)
    what = "broken links" if not problems else "problems" if not broken else "broken links and problems"
    return RenderError(first, f"{what}: {', '.join(listed[:_LISTED_BROKEN])}{more}")


def _parse(
    content: Mapping[str, bytes], mode: HtmlMode, workers: int, cache: SiteCache, exclude: str,
    full: Callable[[str], str], digests: Digests,
) -> tuple[dict[str, tuple[ParsedPage, str]], int]:
    """source → (parse, `includes.page_digest`) for every Markdown page, drafts included, by
    source; and how many were parsed: only pages the site's cache does not have are (with
    the same bytes, and the same bytes of every file they include)."""
    found: dict[str, tuple[ParsedPage, str]] = {}
    missing: list[tuple[str, bytes, bytes, tuple[object, ...]]] = []
    for source in page_paths(content):
        if source == exclude:
            continue
        data = content[source]
        digest = hashlib.sha256(data).digest()
        # Relative includes read other files from another folder: the folder is part of the key.
        key: tuple[object, ...] = (digest, mode)
        if MARKER in data:
            key = (digest, mode, posixpath.dirname(full(source)))
        parsed = cache.get(PARSED, key)
        if parsed is not None and all(digests.of(path) == dep for path, dep in parsed.deps):
            found[source] = (parsed, page_digest(digest, parsed.deps))
        else:
            missing.append((source, data, digest, key))
    # Directives are expanded here (pool processes do not hold the other files), chunk by chunk
    # as the pool takes pages, so that expanding overlaps parsing.
    expansions: list[Expanded | None] = []

    def jobs() -> Iterator[tuple[str, bytes]]:
        for source, data, _, key in missing:
            expanded = _expand(full(source), data, digests) if len(key) == 3 else None
            expansions.append(expanded)
            yield full(source), data if expanded is None else expanded.text.encode()

    if parallel.use_pool(len(missing), workers):
        results = parallel.parse_many(jobs(), len(missing), mode, workers)
    else:
        results = [parse_page(s, d, mode) for s, d in jobs()]
    for (source, _, digest, key), expanded, parsed in zip(missing, expansions, results, strict=True):
        if expanded is not None:
            parsed = with_expansion(parsed, expanded)
        cache.put(PARSED, key, parsed, parsed.estimated_bytes())
        found[source] = (parsed, page_digest(digest, parsed.deps))
    return dict(sorted(found.items())), len(missing)


def _expand(path: str, data: bytes, digests: Digests) -> Expanded | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # parse_page names the page and the byte
    return expand(path, text, digests)
