"""Stage 4, assemble: the generated site files, then the whole site as a BuildResult.

Generated files (sitemap.xml, robots.txt, the search index, the theme's
static assets) are keyed by their own bytes. sitemap.xml and robots.txt are
the author's when the content has them; any other clash fails the build.
"""

from __future__ import annotations

from collections.abc import Mapping

from openbook.render import sitefiles
from openbook.render.cache import SiteCache
from openbook.render.gather import Gathered
from openbook.render.keys import sha
from openbook.render.plan import Plan, clash
from openbook.render.problems import Problem, summarize
from openbook.render.result import BuildResult, OutputFile
from openbook.render.search import SNIPPET_CHARS, SearchDoc, build_index
from openbook.render.sitefiles import quote


def assemble(
    gathered: Gathered,
    plan: Plan,
    rendered: list[OutputFile],
    previous: Mapping[str, str],
    shard_limit: int,
    cache: SiteCache,
) -> BuildResult:
    """Raises RenderError, through the plan's failures, when a generated file's path is taken (a
    content file at a hashed asset name). The stats' problems list the errors a build collected."""
    files = {f.path: f for f in rendered}

    def add(path: str, owner: str, data: bytes, kind: str) -> None:
        if path in files:
            plan.failures.fail(clash(path, owner))
            return
        key = sha(kind, path, data)
        files[path] = OutputFile(path, None if previous.get(path) == key else data, key)

    pages = list(gathered.pages.values())
    base_url = gathered.settings.base_url
    if "sitemap.xml" not in files:
        add("sitemap.xml", "sitemap.xml", sitefiles.sitemap(pages, base_url), "sitemap")
    if "robots.txt" not in files:
        add("robots.txt", "robots.txt", sitefiles.robots(base_url), "robots")
    search_bytes = 0
    for path, data in build_index(_search_docs(gathered), shard_limit, cache).items():
        search_bytes += len(data)
        add(path, "search index", data, "search")
    for path, data in plan.assets.files.items():
        add(path, f"theme static {path}", data, "asset")

    outputs = sorted(files.values(), key=lambda f: f.path)
    written = [f.data for f in outputs if f.data is not None]
    stats = {
        "pages": len(pages),
        "drafts": gathered.drafts,
        "parsed": gathered.parsed,  # pages this build parsed: the rest came from the site's cache
        "files": len(outputs),
        "rendered": len(written),
        "reused": len(outputs) - len(written),
        "bytes": sum(len(d) for d in written),  # of the rendered files only
        "broken_links": gathered.broken,  # each (file, target) once, with its first line and count
        # what was left unrendered, each once, with file, line and count
        "problems": _with_errors(gathered.problems, plan.failures.found),
        "search_index_bytes": search_bytes,
    }
    return BuildResult(outputs, stats, {p.source: p.url for p in pages})


def _with_errors(problems: list[dict[str, object]], errors: list[Problem]) -> list[dict[str, object]]:
    """The problems and the errors a build collected (kind ERROR: never among `problems`), sorted."""
    if not errors:
        return problems
    return sorted([*problems, *summarize(errors)], key=lambda e: (e["path"], e["line"], e["kind"], e["message"]))


def _search_docs(gathered: Gathered) -> list[SearchDoc]:
    """Every page but the 404 page, in reading order (pages off the navigation last)."""
    order = {url: i for i, url in enumerate(gathered.nav.order)}
    pages = sorted(gathered.pages.values(), key=lambda p: (order.get(p.url, len(order)), p.source))
    return [
        SearchDoc(
            url=quote(p.url),
            title=p.title,
            headings=tuple(t.title for t in p.doc.toc),
            text=p.doc.text[:SNIPPET_CHARS],  # all the index shows; the terms are known
            description=p.meta.description,
            terms=p.terms,
        )
        for p in pages
        if p.output != "404.html"
    ]
