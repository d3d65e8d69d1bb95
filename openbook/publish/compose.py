"""A site as one commit configures it, rendered: what the worker deploys and `openbook check` checks.

Pure: content bytes and a theme chain in, a BuildResult out. The site's
configuration files are read (`openbook.toml` over another tool's `book.toml`,
`mkdocs.yml` or `.gitbook.yaml`, over the API's settings), the renderer runs,
the redirects are added, and the problems of the configuration files join the
renderer's in `stats["problems"]`, so one list holds everything not rendered.

A deployment fails on the first error (an invalid `openbook.toml`, a page
that does not parse, a template that fails...). `openbook check` collects
them instead (`collect=True`): each is listed in `stats["problems"]` with its
file and line (kind `error`), and everything else is still built and checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from openbook import siteconf
from openbook.errors import RenderError
from openbook.publish.redirects import add_redirects
from openbook.render import BuildResult, SiteSettings, ThemeChain, build_site
from openbook.render.pages import in_folder
from openbook.render.problems import summarize

_LISTED = 20


def configure(site: siteconf.SiteRow, content: Mapping[str, bytes],
              theme_exists: siteconf.ThemeExists, *, collect: bool = False) -> siteconf.SiteConfig:
    """The site as the commit configures it: its configuration files applied to the row.

    Raises RenderError naming the file, the line and the key for an invalid `openbook.toml`
    (another tool's file never fails: its problems are kept in the result). With `collect`,
    raises nothing: each problem of `openbook.toml` is kept too (kind `error`), and the keys
    whose values are valid apply.
    """
    if not collect:
        found = siteconf.read_site_file(content, site.root, theme_exists)
        return siteconf.combine(site, found, siteconf.read_book_file(content))
    found, errors = siteconf.collect_site_file(content, site.root, theme_exists)
    config = siteconf.combine(site, found, siteconf.read_book_file(content))
    return dataclasses.replace(config, problems=(*errors, *config.problems)) if errors else config


def site_settings(site: siteconf.SiteConfig) -> SiteSettings:
    """Renderer settings: `params` are the theme's settings, over the theme's own defaults."""
    return SiteSettings(title=site.title, base_url=site.base_url, html=site.html, strict=site.strict,
                        extra=site.params, source=site.source, summary=site.summary, home=site.home,
                        nav=site.nav)


def render_site(content: Mapping[str, bytes], site: siteconf.SiteConfig, chain: ThemeChain, *,
                previous: Mapping[str, str] | None = None, site_key: str = "",
                workers: int | None = None, max_file_bytes: int | None = None,
                collect: bool = False) -> BuildResult:
    """`build_site` of the site, its redirects added, every problem in `stats["problems"]`.

    Raises RenderError as `build_site` and `add_redirects` do, and — when the site is strict —
    for problems of its configuration files. With `collect`, as `build_site(collect=True)`:
    every error is listed instead, and strictness fails nothing (the caller judges the list).
    """
    if site.strict and site.problems and not collect:
        listed = summarize(site.problems)
        more = f" (and {len(listed) - _LISTED} more)" if len(listed) > _LISTED else ""
        raise RenderError(listed[0]["path"], "problems: " + ", ".join(
            f"{p['path']}:{p['line']}: {p['message']}" for p in listed[:_LISTED]) + more)
    result = build_site(content, chain, site_settings(site), previous=previous, site_key=site_key, workers=workers,
                         max_file_bytes=max_file_bytes, collect=collect)
    result = add_redirects(result, in_folder(content, site.source), site, collect=collect)
    if site.problems:
        problems = [*result.stats.get("problems", []), *summarize(site.problems)]
        result.stats["problems"] = sorted(problems, key=lambda p: (p["path"], p["line"], p["kind"], p["message"]))
    return result
