"""Pages: which content files are Markdown pages, where they are published, their titles."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openbook.render import frontmatter, progress
from openbook.render.frontmatter import FrontMatter
from openbook.render.includes import IDENTITY, Expanded, LineMap
from openbook.render.markdown import HtmlMode, ParsedDoc, TocEntry, render_markdown
from openbook.render.problems import ERROR, Problem
from openbook.render.search import Terms, doc_terms

MARKDOWN_EXTENSIONS = (".md", ".markdown")
INDEX_STEMS = ("index", "README", "readme")
# Configuration files are never published: the site file (openbook.siteconf) and other tools'.
NOT_PUBLISHED = ("SUMMARY.md", "openbook.toml", "book.toml", "mkdocs.yml", "mkdocs.yaml")


@dataclass(slots=True)
class Page:
    source: str  # content path, e.g. "guide/intro.md"
    url: str  # output URL relative to the site root: "guide/intro/", "" for the home page
    output: str  # output file: "guide/intro/index.html"
    meta: FrontMatter
    doc: ParsedDoc
    title: str
    blob_sha: str  # sha256 of the source bytes and of every file they include (`includes.page_digest`)
    terms: Mapping[str, int]  # search terms of the body and headings
    lines: LineMap  # where each line of the expanded text came from (includes)
    problems: tuple[Problem, ...]  # what was left unrendered; `path` None: this page

    @property
    def is_index(self) -> bool:
        return file_stem(self.source) in INDEX_STEMS


@functools.lru_cache(maxsize=1 << 16)
def file_stem(path: str) -> str:
    """`guide/intro.md` → `intro`."""
    return posixpath.splitext(posixpath.basename(path))[0]


def is_markdown(path: str) -> bool:
    return path.endswith(MARKDOWN_EXTENSIONS)


# `.well-known/` is published on purpose; `.gitbook/assets/` holds a GitBook book's images.
PUBLISHED_DOT_FOLDERS = (".well-known", ".gitbook")


def is_hidden(path: str) -> bool:
    """Dot-files and dot-folders are never published (PUBLISHED_DOT_FOLDERS excepted)."""
    return any(seg.startswith(".") and seg not in PUBLISHED_DOT_FOLDERS for seg in path.split("/"))


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
    """What a page's bytes decide (with the HTML mode, and the files they include): cached by
    their digest (and folder, when they include files)."""

    meta: FrontMatter
    doc: ParsedDoc
    terms: Mapping[str, int]  # search.doc_terms of the body and headings (`Terms` from a snapshot)
    deps: tuple[tuple[str, str | None], ...] = ()  # files it includes: (path, sha256 hex or None)
    lines: LineMap = IDENTITY
    problems: tuple[Problem, ...] = ()  # `path` None: the page itself

    def estimated_bytes(self) -> int:
        """Its memory, within a few % of tracemalloc's figure for ASCII pages (what a cache counts)."""
        doc = self.doc
        return (
            1000
            + len(doc.html)
            + len(doc.text)
            + _OBJECT_BYTES * (3 * len(doc.links) + len(doc.anchors) + 2 * len(doc.toc) + len(self.terms)
                               + 2 * len(self.deps) + 2 * len(self.lines.starts) + 2 * len(self.problems))
            + sum(len(href) for _, href in doc.links)
        )


def parsed_out(page: ParsedPage) -> tuple[Any, ...]:
    """`page` as builtins for a site's snapshot (`cache.Codec`); ValueError for front matter
    values no snapshot holds (YAML's binary or set values)."""
    m, d = page.meta, page.doc
    meta = (m.title, m.order, m.template, m.draft, m.date, m.description, m.aliases, _yaml_out(m.data))
    toc = [(t.level, t.id, t.title) for t in d.toc]
    doc = (d.html, d.links, d.link_lines, [_problem_out(p) for p in d.problems], d.anchors, toc, d.first_heading,
           d.starts_with_h1, d.text, d.prefix)
    lines = (page.lines.starts, page.lines.origins)
    return meta, doc, Terms.pack(page.terms), page.deps, lines, [_problem_out(p) for p in page.problems]


def parsed_in(state: tuple[Any, ...]) -> ParsedPage:
    """The page `parsed_out` wrote."""
    (title, order, template, draft, date, description, aliases, data), doc, terms, deps, lines, problems = state
    meta = FrontMatter(title, order, template, draft, date, description, tuple(aliases), _yaml_in(data) if data else {})
    html, links, link_lines, doc_problems, anchors, toc, first_heading, starts_with_h1, text, prefix = doc
    # marshal gives back lists of tuples and sets as they were written: no copies
    parsed = ParsedDoc(html, links, link_lines, [Problem(*p) for p in doc_problems], anchors,
                       [TocEntry(*t) for t in toc], first_heading, starts_with_h1, text, prefix)
    line_map = LineMap(tuple(lines[0]), tuple(lines[1])) if lines[0] else IDENTITY
    return ParsedPage(meta, parsed, Terms(terms), tuple(deps), line_map, tuple(Problem(*p) for p in problems))


def _problem_out(problem: Problem) -> tuple[str | None, int, str, str]:
    return problem.path, problem.line, problem.kind, problem.message


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
    """Parse front matter and render Markdown; depends on `data` and `mode` only.

    A page that is not UTF-8, or whose front matter is invalid, is parsed all the same
    (undecodable bytes replaced, the front matter's defaults) with a problem of kind ERROR
    saying why: `gather` fails the build on it, or lists it when the build collects errors.
    """
    progress.at(source, "parsing the page")
    errors: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        errors.append(Problem(None, line, ERROR, f"not valid UTF-8 (byte {exc.start})"))
        text = data.decode("utf-8-sig", "replace")
    meta, body, skipped, invalid = frontmatter.read(text)
    if invalid is not None:
        errors.append(invalid)
    doc = render_markdown(body, mode, skipped)
    return ParsedPage(meta, doc, doc_terms(doc.text, (t.title for t in doc.toc)), problems=(*errors, *doc.problems))


def with_expansion(parsed: ParsedPage, expanded: Expanded) -> ParsedPage:
    """The parse of an expanded text, told what the expansion learnt: the files it read, where
    its lines came from (problems found in them are placed there), its `{{#title}}`."""
    meta = parsed.meta
    if expanded.title and meta.title is None:
        meta = dataclasses.replace(meta, title=expanded.title)
    problems = (*expanded.problems, *(expanded.lines.problem(p) for p in parsed.problems))
    return dataclasses.replace(parsed, meta=meta, deps=expanded.deps, lines=expanded.lines, problems=problems)


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
        lines=parsed.lines,
        problems=parsed.problems,
    )


def _title_from_name(source: str, site_title: str) -> str:
    folder, base = posixpath.split(posixpath.splitext(source)[0])
    if base in INDEX_STEMS:
        return humanize(posixpath.basename(folder)) if folder else site_title
    return humanize(base)


def assign_urls(pages: list[Page]) -> list[tuple[Page, Page]]:
    """Settle URL clashes: `index.md` beats `README.md`. Every other clash is returned as
    (page, the page that has its URL already): the caller fails the build or leaves it out."""
    by_url: dict[str, Page] = {}
    clashes: list[tuple[Page, Page]] = []
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
        clashes.append((page, other))
    return clashes


def _stem_is(page: Page, stem: str) -> bool:
    return file_stem(page.source) == stem


def page_paths(content: Mapping[str, bytes]) -> list[str]:
    return sorted(
        p
        for p in content
        if is_markdown(p) and not p.startswith("_theme/") and p not in NOT_PUBLISHED and not is_hidden(p)
    )


def in_folder(content: Mapping[str, bytes], folder: str) -> Mapping[str, bytes]:
    """The files of `content` in `folder` ("" for all of them), by their path in it."""
    if not folder:
        return content
    prefix = f"{folder}/"
    return {p[len(prefix):]: data for p, data in content.items() if p.startswith(prefix)}
