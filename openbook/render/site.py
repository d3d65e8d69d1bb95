"""build_site: content files + theme chain + settings → every output file, in memory.

Four stages, everything known before anything is written (the caller writes):

1. gather (`gather`): content → parsed pages, their URLs, the navigation, resolved links;
2. plan (`plan`): every output's render key, before any renders; an output
   whose key equals the previous deployment's is reused;
3. render (`rendering`): only the outputs whose key changed, in a process
   pool when there are many;
4. assemble (`assemble`): the generated site files (sitemap, search index,
   assets), then the BuildResult.

A render key hashes everything its file depends on and is known before the
file is rendered: that is what lets a one-page edit cost one page of work.
What a site's builds learn (parsed pages, templates, ...) is kept for its
next build in the site's cache (`cache`).
"""

from __future__ import annotations

from collections.abc import Mapping

from openbook.render import parallel, progress
from openbook.render.assemble import assemble
from openbook.render.cache import SITE_CACHES
from openbook.render.gather import gather
from openbook.render.plan import LastCommits, plan
from openbook.render.problems import Failures
from openbook.render.rendering import render
from openbook.render.result import BuildResult, OutputFile
from openbook.render.search import SHARD_LIMIT
from openbook.render.settings import SiteSettings
from openbook.render.theme import ThemeChain


def build_site(
    content: Mapping[str, bytes],
    theme: ThemeChain,
    settings: SiteSettings,
    *,
    previous: Mapping[str, str] | None = None,
    last_commits: LastCommits | None = None,
    workers: int | None = None,
    search_shard_limit: int = SHARD_LIMIT,
    site_key: str = "",
    max_file_bytes: int | None = None,
    collect: bool = False,
) -> BuildResult:
    """Render a whole site. Pure: the result depends on the arguments only, nothing is written.

    `previous` maps output paths to render keys (the live deployment's manifest):
    files whose key is unchanged come back with `data=None` and are not rendered.
    `last_commits` maps content paths to {"id", "author", "date", "message"} for
    templates that show `page.last_commit`. `workers` caps the processes used for
    large builds (default: the CPUs available; 1 renders in this process).
    `site_key` says which site this is: builds with the same key share what earlier
    ones learnt (parsed pages, templates, search index...), kept per site and bounded
    by bytes (`cache.SITE_CACHES`). It only saves time, never changes the output.
    `max_file_bytes` bounds each rendered file (BuildLimitExceeded names the template).

    Raises RenderError(path, cause) for invalid front matter or encoding, a
    missing or failing template (file and line), clashing output paths, and
    — when `settings.strict` — broken internal links (all of them named).
    With `collect` (`openbook check`, whose build publishes nothing), it raises
    none of these: each is listed in `stats["problems"]` (kind `error`), and
    the build goes on without what failed (a page whose front matter is
    invalid renders with the defaults); BuildLimitExceeded still stops it.
    """
    workers = parallel.default_workers() if workers is None else max(1, workers)
    previous = previous or {}
    with SITE_CACHES.site(site_key) as cache:
        progress.at("the build", "reading the pages")
        failures = Failures(collect)
        gathered = gather(content, theme, settings, workers, cache, failures)
        progress.at("the build", "planning the outputs")
        planned = plan(gathered, previous, last_commits or {}, cache, failures, max_file_bytes)
        rendered = render(planned, workers)
        progress.at("the build", "building the search index and sitemap")
        return assemble(gathered, planned, rendered, previous, search_shard_limit, cache)


__all__ = ["BuildResult", "OutputFile", "SiteSettings", "build_site"]
