"""Pages: which content files are Markdown pages, where they are published, their titles."""

from __future__ import annotations

import datetime
import functools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openbook.errors import RenderError
from openbook.render import frontmatter, progress
from openbook.render.frontmatter import FrontMatter
from openbook.render.markdown import HtmlMode, ParsedDoc, TocEntry, render_markdown
from openbook.render.search import Terms, doc_terms

MARKDOWN_EXTENSIONS = (".md", ".markdown")
INDEX_STEMS = ("index", "README", "readme")
NOT_PUBLISHED = ("SUMMARY.md", "openbook.toml")  # openbook.toml: the site file (openbook.siteconf)


@dataclass(slots=True)
class Page:
    source: str  # content path, e.g. "guide/intro.md"
    url: str  # output URL relative to the site root: "guide/intro/", "" for the home page
    output: str  # output file: "guide/intro/index.html"
    meta: FrontMatter
    doc: ParsedDoc
    title: str
    blob_sha: str  # sha256 of the source bytes
    terms: Mapping[str, int]  # search terms of the body and headings

    @property
    def is_index(self) -> bool:
        return file_stem(self.source) in INDEX_STEMS


@functools.lru_cache(maxsize=1 << 16)
def file_stem(path: str) -> str:
    """`guide/intro.md` → `intro`."""
    return posixpath.splitext(posixpath.basename(path))[0]


def is_markdown(path: str) -> bool:
    return path.endswith(MARKDOWN_EXTENSIONS)


def is_hidden(path: str) -> bool:
    """Dot-files and dot-folders are never published (`.well-known/` excepted)."""
    return any(seg.startswith(".") and seg != ".well-known" for seg in path.split("/"))


def humanize(name: str) -> str:
    text = name.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


@functools.lru_cache(maxsize=1 << 16)
def page_url(source: str) -> str:
    """`guide/intro.md` → `guide/intro/`; `guide/index.md`, `guide/README.md` → `guide/`."""
    stem = posixpath.splitext(source)[0]
    folder, base = posixpath.split(stem)
    if base in INDEX_STEMS:
        return f"{folder}/" if folder else ""
    if source == "404.md":
        return "404.html"
    return f"{stem}/"


def output_for_url(url: str) -> str:
    return url if url.endswith(".html") else f"{url}index.html"


_OBJECT_BYTES = 72  # a small str, tuple or dict slot, as CPython allocates them


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """What a page's bytes alone decide (with the HTML mode): cached by their digest."""

    meta: FrontMatter
    doc: ParsedDoc
    terms: Mapping[str, int]  # search.doc_terms of the body and headings (`Terms` from a snapshot)

    def estimated_bytes(self) -> int:
        """Its memory, within a few % of tracemalloc's figure for ASCII pages (what a cache counts)."""
        doc = self.doc
        return (
            1000
            + len(doc.html)
            + len(doc.text)
            + _OBJECT_BYTES * (2 * len(doc.links) + len(doc.anchors) + 2 * len(doc.toc) + len(self.terms))
            + sum(len(href) for _, href in doc.links)
        )


def parsed_out(page: ParsedPage) -> tuple[Any, ...]:
    """`page` as builtins for a site's snapshot (`cache.Codec`); ValueError for front matter
    values no snapshot holds (YAML's binary or set values)."""
    m, d = page.meta, page.doc
    meta = (m.title, m.order, m.template, m.draft, m.date, m.description, m.aliases, _yaml_out(m.data))
    toc = [(t.level, t.id, t.title) for t in d.toc]
    doc = (d.html, d.links, d.anchors, toc, d.first_heading, d.starts_with_h1, d.text, d.prefix)
    return meta, doc, Terms.pack(page.terms)


def parsed_in(state: tuple[Any, ...]) -> ParsedPage:
    """The page `parsed_out` wrote."""
    (title, order, template, draft, date, description, aliases, data), doc, terms = state
    meta = FrontMatter(title, order, template, draft, date, description, tuple(aliases), _yaml_in(data) if data else {})
    html, links, anchors, toc, first_heading, starts_with_h1, text, prefix = doc
    # marshal gives back lists of tuples and sets as they were written: no copies
    parsed = ParsedDoc(html, links, anchors, [TocEntry(*t) for t in toc], first_heading, starts_with_h1, text, prefix)
    return ParsedPage(meta, parsed, Terms(terms))


# YAML's dates and times: tagged tuples (YAML itself gives lists, never tuples)
_YAML_TYPES: dict[str, type[datetime.date]] = {"date": datetime.date, "datetime": datetime.datetime}


def _yaml_out(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list):
        return [_yaml_out(v) for v in value]
    if isinstance(value, Mapping):
        return {_yaml_out(k): _yaml_out(v) for k, v in value.items()}
    if isinstance(value, datetime.date):
        return ("datetime" if isinstance(value, datetime.datetime) else "date", value.isoformat())
    raise ValueError(f"no snapshot of a front matter {type(value).__name__}")


def _yaml_in(value: Any) -> Any:
    if isinstance(value, list):
        return [_yaml_in(v) for v in value]
    if isinstance(value, dict):
        return {_yaml_in(k): _yaml_in(v) for k, v in value.items()}
    if isinstance(value, tuple):
        kind, text = value
        return _YAML_TYPES[kind].fromisoformat(text)
    return value


def parse_page(source: str, data: bytes, mode: HtmlMode) -> ParsedPage:
    """Parse front matter and render Markdown. Raises RenderError (naming `source`) for bad
    encoding or front matter; otherwise depends on `data` and `mode` only."""
    progress.at(source, "parsing the page")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RenderError(source, f"not valid UTF-8 (byte {exc.start})") from None
    meta, body, _ = frontmatter.split(source, text)
    doc = render_markdown(body, mode)
    return ParsedPage(meta, doc, doc_terms(doc.text, (t.title for t in doc.toc)))


def make_page(source: str, parsed: ParsedPage, blob_sha: str, site_title: str) -> Page:
    url = page_url(source)
    title = parsed.meta.title or parsed.doc.first_heading or _title_from_name(source, site_title)
    return Page(
        source=source,
        url=url,
        output=output_for_url(url),
        meta=parsed.meta,
        doc=parsed.doc,
        title=title,
        blob_sha=blob_sha,
        terms=parsed.terms,
    )


def _title_from_name(source: str, site_title: str) -> str:
    folder, base = posixpath.split(posixpath.splitext(source)[0])
    if base in INDEX_STEMS:
        return humanize(posixpath.basename(folder)) if folder else site_title
    return humanize(base)


def assign_urls(pages: list[Page]) -> None:
    """Settle URL clashes: `index.md` beats `README.md`; any other clash is an error."""
    by_url: dict[str, Page] = {}
    for page in sorted(pages, key=lambda p: (not _stem_is(p, "index"), p.source)):
        other = by_url.get(page.url)
        if other is None:
            by_url[page.url] = page
            continue
        stem = posixpath.splitext(page.source)[0]
        if page.is_index and f"{stem}/" not in by_url:
            page.url = f"{stem}/"
            page.output = output_for_url(page.url)
            by_url[page.url] = page
            continue
        raise RenderError(page.source, f"publishes to {page.output}, like {other.source}")


def _stem_is(page: Page, stem: str) -> bool:
    return file_stem(page.source) == stem


def page_paths(content: Mapping[str, bytes]) -> list[str]:
    return sorted(
        p
        for p in content
        if is_markdown(p) and not p.startswith("_theme/") and p not in NOT_PUBLISHED and not is_hidden(p)
    )
