"""Redirect pages for the `[redirects]` of a site file, added to a finished build.

Kept beside the renderer rather than in it, behind one function that reads
only the content's paths and the build's output files, so that it can move
into `build_site` as it is.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping
from dataclasses import replace

from openbook.errors import RenderError
from openbook.render import BuildResult, OutputFile
from openbook.render.pages import output_for_url, page_url
from openbook.render.problems import ERROR, Problem, summarize
from openbook.render.sitefiles import redirect_page
from openbook.siteconf import SITE_FILE, Redirect, SiteConfig
from openbook.siteconf.locate import show_key


def add_redirects(result: BuildResult, content: Mapping[str, bytes], site: SiteConfig, *,
                  collect: bool = False) -> BuildResult:
    """`result` plus, for each redirect of `site`, a page at the old page's output path
    (`old/page.md` → `old/page/index.html`) that sends readers to the new page's URL,
    relative to the old page (so it works under any domain and path prefix), or to
    the absolute URL the redirect names.

    `content` holds the files of the pages' folder (paths as redirects name them). A redirect
    whose new page is not a page of the site publishes nothing: it is listed in
    `stats["broken_links"]` (with the file that names it, `openbook.toml` or another tool's),
    and fails the build in strict mode. Raises RenderError naming the file, the line and the
    key for those, and for an old page that is still a file of the content or whose output
    path another file already publishes. With `collect`, raises nothing: those are listed in
    `stats["problems"]` (kind `error`), and the broken ones in `stats["broken_links"]` only.
    """
    if not site.redirects:
        return result
    taken = {f.path for f in result.files}
    urls = result.page_urls
    problems: list[tuple[Redirect, str]] = []
    broken: list[Redirect] = []
    added: list[OutputFile] = []
    for redirect in site.redirects:
        output = output_for_url(page_url(redirect.source))
        if redirect.source in content:
            problems.append((redirect, f"{redirect.source} is a page of the site; remove the page or the redirect"))
            continue
        if output in taken:
            problems.append((redirect, f"the redirect would publish {output}, which the site already publishes"))
            continue
        taken.add(output)
        if redirect.external:
            data = _external_page(redirect.target)
        else:
            url = urls.get(redirect.target)
            if url is None:  # not a page, or a draft
                broken.append(redirect)
                continue
            data = redirect_page(output, url, f"/{url}")
        key = hashlib.sha256(b"redirect\0" + output.encode() + b"\0" + data).hexdigest()
        added.append(OutputFile(output, data, key))
    if problems and not collect:
        raise RenderError(_file(problems[0][0], site), "; ".join(f"{_where(r)}: {what}" for r, what in problems),
                          problems[0][0].line)
    if broken and site.strict and not collect:
        raise RenderError(_file(broken[0], site), "; ".join(
            f"{_where(r)}: {r.target} is not a page of the site" for r in broken), broken[0].line)
    return _with(result, added, broken, [_problem(r, site, what) for r, what in problems])


def _where(redirect: Redirect) -> str:
    """Where a deployment's error places `redirect`: `line 3, key redirects."a.md"`."""
    if redirect.file == SITE_FILE:
        return f"line {redirect.line}, key {_key(redirect)}"
    return f"{redirect.file} line {redirect.line}"


def _problem(redirect: Redirect, site: SiteConfig, what: str) -> Problem:
    """What is wrong with `redirect` as `openbook check` lists it, after its file and line."""
    named = f"key {_key(redirect)}: " if redirect.file == SITE_FILE else ""
    return Problem(_file(redirect, site), redirect.line, ERROR, named + what)


def _key(redirect: Redirect) -> str:
    return show_key(("redirects", redirect.source))


def _file(redirect: Redirect, site: SiteConfig) -> str:
    """The file an error about `redirect` names: the site file by its path in the content tree."""
    return (site.site_file or SITE_FILE) if redirect.file == SITE_FILE else redirect.file


def _with(result: BuildResult, added: list[OutputFile], broken: Iterable[Redirect],
          errors: list[Problem]) -> BuildResult:
    stats = dict(result.stats)
    if errors:
        problems = [*stats.get("problems", []), *summarize(errors)]
        stats["problems"] = sorted(problems, key=lambda p: (p["path"], p["line"], p["kind"], p["message"]))
    links = [*stats.get("broken_links", []), *({"path": r.file, "line": r.line, "target": r.target, "count": 1}
                                               for r in broken)]
    stats["broken_links"] = sorted(links, key=lambda b: (b["path"], b["line"], b["target"]))
    stats["redirects"] = len(added)
    stats["files"] = stats.get("files", 0) + len(added)
    stats["rendered"] = stats.get("rendered", 0) + len(added)
    stats["bytes"] = stats.get("bytes", 0) + sum(len(f.data or b"") for f in added)
    return replace(result, files=sorted([*result.files, *added], key=lambda f: f.path), stats=stats)


def _external_page(url: str) -> bytes:
    # sitefiles.redirect_page makes its target relative to the page: an absolute URL must stay as written.
    target = html.escape(url)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{target}</title>"
        f'<link rel="canonical" href="{target}">'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        '<meta name="robots" content="noindex"></head>\n'
        f'<body><p>This page has moved to <a href="{target}">{target}</a>.</p></body></html>\n'
    ).encode()
