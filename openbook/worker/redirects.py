"""Redirect pages for the `[redirects]` of a site file, added to a finished build.

Kept beside the renderer rather than in it, behind one function that reads
only the content's paths and the build's output files, so that it can move
into `build_site` as it is.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import replace

from openbook.errors import RenderError
from openbook.render import BuildResult, OutputFile
from openbook.render.pages import file_stem, output_for_url, page_paths, page_url
from openbook.render.sitefiles import redirect_page
from openbook.siteconf import SITE_FILE, Redirect, SiteConfig
from openbook.siteconf.locate import show_key


def add_redirects(result: BuildResult, content: Mapping[str, bytes], site: SiteConfig) -> BuildResult:
    """`result` plus, for each redirect of `site`, a page at the old page's output path
    (`old/page.md` → `old/page/index.html`) that sends readers to the new page's URL,
    relative to the old page (so it works under any domain and path prefix), or to
    the absolute URL the redirect names.

    A redirect whose new page is not a page of the site publishes nothing: it is
    listed in `stats["broken_links"]` (path `openbook.toml`), and fails the build
    in strict mode. Raises RenderError naming the site file, the line and the key
    for those, and for an old page that is still a file of the content or whose
    output path another file already publishes.
    """
    if not site.redirects:
        return result
    published = {f.path for f in result.files}
    taken = set(published)
    urls = _page_urls(page_paths(content))
    problems: list[str] = []
    broken: list[Redirect] = []
    added: list[OutputFile] = []
    for redirect in site.redirects:
        where = f"line {redirect.line}, key {show_key(('redirects', redirect.source))}"
        output = output_for_url(page_url(redirect.source))
        if redirect.source in content:
            problems.append(f"{where}: {redirect.source} is a page of the site; remove the page or the redirect")
            continue
        if output in taken:
            problems.append(f"{where}: the redirect would publish {output}, which the site already publishes")
            continue
        taken.add(output)
        if redirect.external:
            data = _external_page(redirect.target)
        else:
            url = urls.get(redirect.target)
            if url is None or output_for_url(url) not in published:  # not a page, or a draft
                broken.append(redirect)
                continue
            data = redirect_page(output, url, f"/{url}")
        key = hashlib.sha256(b"redirect\0" + output.encode() + b"\0" + data).hexdigest()
        added.append(OutputFile(output, data, key))
    file = site.site_file or SITE_FILE
    if problems:
        raise RenderError(file, "; ".join(problems))
    if broken and site.strict:
        raise RenderError(file, "; ".join(
            f"line {r.line}, key {show_key(('redirects', r.source))}: {r.target} is not a page of the site"
            for r in broken))
    return _with(result, added, broken)


def _with(result: BuildResult, added: list[OutputFile], broken: Iterable[Redirect]) -> BuildResult:
    stats = dict(result.stats)
    links = [*stats.get("broken_links", []), *({"path": SITE_FILE, "target": r.target} for r in broken)]
    stats["broken_links"] = sorted(links, key=lambda b: (b["path"], b["target"]))
    stats["redirects"] = len(added)
    stats["files"] = stats.get("files", 0) + len(added)
    stats["rendered"] = stats.get("rendered", 0) + len(added)
    stats["bytes"] = stats.get("bytes", 0) + sum(len(f.data or b"") for f in added)
    return replace(result, files=sorted([*result.files, *added], key=lambda f: f.path), stats=stats)


def _page_urls(sources: Iterable[str]) -> dict[str, str]:
    """Each page source's URL, a clash settled as `pages.assign_urls` settles it: `index.md` keeps
    its folder's URL and a `README.md` beside it moves to `README/`. (Drafts are not known here:
    a draft's URL has no output, which the caller checks.)"""
    urls: dict[str, str] = {}
    taken: set[str] = set()
    for source in sorted(sources, key=lambda s: (file_stem(s) != "index", s)):
        url = page_url(source)
        if url in taken:
            url = f"{posixpath.splitext(source)[0]}/"
        taken.add(url)
        urls[source] = url
    return urls


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
