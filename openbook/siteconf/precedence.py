"""Precedence: the site file of the commit being built wins over another tool's configuration
file (book.toml, mkdocs.yml, .gitbook.yaml), which wins over the settings given through the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from openbook.render.nav import NavSpec
from openbook.render.problems import Problem
from openbook.siteconf.books import BookFile
from openbook.siteconf.sitefile import HtmlMode, Redirect, SiteFile


class SiteRow(Protocol):
    """What precedence reads of a site as the API stores it (`openbook.db.sites.Site` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def theme(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...  # html, strict, base_url, params (validated by the API)
    @property
    def domains(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """A site as one commit configures it: the site row with its site file applied."""

    root: str  # the site's folder in the content tree (the row's; the file cannot move it)
    title: str
    theme: str
    base_url: str | None
    html: HtmlMode
    strict: bool
    params: Mapping[str, Any] = field(default_factory=dict)  # theme settings, over the theme's defaults
    redirects: tuple[Redirect, ...] = ()
    keep_deployments: int | None = None  # None: the file does not say
    site_file: str | None = None  # the site file's path in the content tree, None without one
    # from another tool's configuration file (`books.BookFile`), when the site has one
    book_file: str | None = None  # its path from the site root
    source: str = ""  # the pages' folder, from the site root
    summary: str = "SUMMARY.md"
    home: str | None = None
    nav: NavSpec | None = None
    problems: tuple[Problem, ...] = ()  # what that file could not say, with its lines


def combine(site: SiteRow, file: SiteFile | None, book: BookFile | None = None) -> SiteConfig:
    """Apply `book`, then `file` to `site`: each value a file sets wins over the API's (the site
    file's over the book file's), and `params` merge key by key (top-level keys; the file's value
    of a key replaces the API's whole). Redirects of both files apply, the site file's winning
    for the same old page.

    Without any, `base_url` is `https://<first domain>/` (None without a domain)
    and `html` is `sanitize`.
    """
    api = site.settings
    f = file if file is not None else SiteFile(path="")
    b = book if book is not None else BookFile(path="", tool="")
    base_url: str | None = f.base_url or b.base_url or api.get("base_url")
    if base_url is None and site.domains:
        base_url = f"https://{site.domains[0]}/"
    html = f.html or api.get("html") or "sanitize"
    redirects = {r.source: r for r in (*b.redirects, *f.redirects)}
    strict = f.strict if f.strict is not None else api.get("strict", False)
    return SiteConfig(
        root=site.root,
        title=f.title or b.title or site.name,
        theme=f.theme or site.theme,
        base_url=base_url,
        html=cast(HtmlMode, html),
        strict=bool(strict),
        params={**api.get("params", {}), **(f.params or {})},
        redirects=tuple(redirects.values()),
        keep_deployments=f.keep_deployments,
        site_file=f.path or None,
        book_file=b.path or None,
        source=b.source,
        summary=b.summary,
        home=b.home,
        nav=b.nav,
        problems=b.problems,
    )
