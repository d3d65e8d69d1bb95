"""mdBook's `book.toml`: `[book] title, src`, `[output.html] site-url`, redirects, preprocessors.

Preprocessors other than mdBook's built-in `links` and `index` are not run:
each one is reported, since the syntax it would have expanded stays as written.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Mapping
from typing import Any

from openbook.siteconf.books import HTTP_URL, BookFile, Collector, find_index, html_to_page
from openbook.siteconf.locate import KeyLines
from openbook.siteconf.sitefile import Redirect, toml_syntax_problem

BOOK_TOML = "book.toml"
BUILT_IN_PREPROCESSORS = ("links", "index")
DEFAULT_SRC = "src"


def read_book_toml(data: bytes, content: Mapping[str, bytes]) -> BookFile:
    """The book.toml `data`; `content` (the site's files) settles which folder page a redirect
    to `dir/index.html` means. Problems are reported, never raised."""
    check = Collector(BOOK_TOML)
    text = data.decode("utf-8", "replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = toml_syntax_problem(text, str(exc))
        check.problem(line, f"{message}; mdBook's defaults are used")
        return BookFile(BOOK_TOML, "mdBook", source=DEFAULT_SRC, problems=check.found())
    lines = KeyLines(text)
    book = _table(doc, "book", check, lines)
    title = book.get("title")
    if title is not None and not isinstance(title, str):
        check.problem(lines.line(("book", "title")), "book.title must be a string")
        title = None
    src = check.folder(book.get("src", DEFAULT_SRC), lines.line(("book", "src")), "book.src", DEFAULT_SRC)
    if not any(p.startswith(f"{src}/") for p in content) and src:
        check.problem(lines.line(("book", "src")), f"book.src: the folder {src}/ has no files")
    html = _table(_table(doc, "output", check, lines), "html", check, lines)
    site_url = html.get("site-url")
    base_url = site_url if isinstance(site_url, str) and HTTP_URL.fullmatch(site_url) else None
    pages = {p[len(src) + 1:]: b"" for p in content if p.startswith(f"{src}/")} if src else content
    redirects = _redirects(html.get("redirect", {}), check, lines, pages)
    for name in _table(doc, "preprocessor", check, lines):
        if name not in BUILT_IN_PREPROCESSORS:
            check.problem(lines.line(("preprocessor", name)),
                          f"preprocessor {name!r} is not run by OpenBook: its syntax is left as written")
    return BookFile(BOOK_TOML, "mdBook", title=title or None, source=src, base_url=base_url,
                    redirects=redirects, problems=check.found())


def _table(doc: Mapping[str, Any], key: str, check: Collector, lines: KeyLines) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        check.problem(lines.line((key,)), f"{key} must be a table")
        return {}
    return value


def _redirects(table: object, check: Collector, lines: KeyLines, pages: Mapping[str, bytes]) -> tuple[Redirect, ...]:
    """`"/old/page.html" = "new.html"`: the new URL is relative to the old page's folder."""
    key = ("output", "html", "redirect")
    if not isinstance(table, dict):
        check.problem(lines.line(key), "output.html.redirect must be a table")
        return ()
    found: list[Redirect] = []
    for old, new in table.items():
        line = lines.line((*key, old))
        if not isinstance(new, str):
            check.problem(line, f"redirect {old!r} must name a URL")
            continue
        source = find_index(pages, html_to_page(old))
        if HTTP_URL.fullmatch(new):
            target = new
        else:
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), new.split("#", 1)[0]))
            target = find_index(pages, html_to_page(joined))
        redirect = check.redirect(source, target, line, f"redirect {old!r}")
        if redirect is not None:
            found.append(redirect)
    return tuple(found)
