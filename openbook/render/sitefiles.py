"""Small standard files every site gets: sitemap.xml, robots.txt, alias redirects."""

from __future__ import annotations

import functools
import html
import posixpath
from urllib import parse

from openbook.render.pages import Page

# Page URLs are quoted for every link to them (links, prev/next, breadcrumbs, search): once is enough.
quote = functools.lru_cache(maxsize=1 << 16)(parse.quote)


def root_prefix(output: str) -> str:
    """Relative path from an output file's folder back to the site root."""
    return "../" * output.count("/")


def href(root: str, url: str) -> str:
    """A link from a page whose root prefix is `root` to the root-relative `url` (already quoted)."""
    return (root + url) or "./"


def sitemap(pages: list[Page], base_url: str | None) -> bytes:
    base = base_url.rstrip("/") + "/" if base_url else "/"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for page in sorted(pages, key=lambda p: p.url):
        if page.output == "404.html":
            continue
        entry = f"<url><loc>{html.escape(base + quote(page.url))}</loc>"
        if page.meta.date:
            entry += f"<lastmod>{html.escape(page.meta.date[:10])}</lastmod>"
        lines.append(entry + "</url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode()


def robots(base_url: str | None) -> bytes:
    text = "User-agent: *\nAllow: /\n"
    if base_url:
        text += f"Sitemap: {base_url.rstrip('/')}/sitemap.xml\n"
    return text.encode()


def alias_output(alias: str) -> str | None:
    """Output file for a front matter alias, or None when the alias is not a clean path."""
    path = posixpath.normpath(alias.strip().lstrip("/"))
    if path in (".", "") or path.startswith("..") or any(seg.startswith(".") for seg in path.split("/")):
        return None
    return path if path.endswith((".html", ".htm")) else f"{path}/index.html"


def redirect_page(output: str, target_url: str, title: str) -> bytes:
    target = html.escape(href(root_prefix(output), quote(target_url)))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="canonical" href="{target}">'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        '<meta name="robots" content="noindex"></head>\n'
        f'<body><p>This page has moved to <a href="{target}">{html.escape(title)}</a>.</p></body></html>\n'
    ).encode()
