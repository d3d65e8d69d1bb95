"""Book navigation: from SUMMARY.md (mdBook format), from entries a configuration file lists
(MkDocs' `nav`), or from folders and front matter."""

from __future__ import annotations

import functools
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from openbook.render.pages import INDEX_STEMS, Page, file_stem, humanize, is_markdown
from openbook.render.sitefiles import quote

_ITEM_RE = re.compile(r"^(\s*)[-*+]\s+\[(.*)\]\((.*)\)\s*$")
_AFFIX_RE = re.compile(r"^\[(.*)\]\((.*)\)\s*$")
_SEPARATOR_RE = re.compile(r"^(-{3,}|\*{3,}|_{3,})\s*$")
_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Entries that leave the site: shown as links, never pages of the reading order.
_EXTERNAL_RE = re.compile(r"^(https?://|mailto:)", re.I)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation tree; `url` is None for parts, separators, sections and draft
    chapters, and an absolute URL for links out of the site."""

    title: str
    url: str | None = None
    children: tuple[NavItem, ...] = ()
    kind: str = "chapter"  # "chapter" | "part" | "separator" | "link" (out of the site)
    number: str | None = None  # "1.2." for numbered SUMMARY.md chapters


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One entry of a navigation a configuration file lists (MkDocs' `nav`): a page or link
    (`target`, relative to the pages' folder, or an absolute URL) or a section (`children`)."""

    title: str | None  # None: the page's own title
    target: str | None
    children: tuple[NavEntry, ...] = ()
    line: int = 0  # where the file lists it


@dataclass(frozen=True, slots=True)
class NavSpec:
    """A navigation listed in a configuration file (`file`, a path from the site root)."""

    file: str
    entries: tuple[NavEntry, ...]


@dataclass(frozen=True, slots=True)
class Crumb:
    title: str
    url: str


@dataclass(slots=True)
class Nav:
    items: tuple[NavItem, ...]
    order: list[str] = field(default_factory=list)  # page URLs in reading order
    trails: dict[str, tuple[Crumb, ...]] = field(default_factory=dict)  # URL → ancestors, outermost first
    broken: list[tuple[str, int, str]] = field(default_factory=list)  # (nav file, line, target)

    _index: dict[str, int] = field(default_factory=dict)
    _json: str | None = None  # `to_json`, once made (a navigation's items never change)

    def __post_init__(self) -> None:
        for item, trail in _walk(self.items, ()):
            if item.url is not None and item.kind != "link" and item.url not in self._index:
                self._index[item.url] = len(self.order)
                self.order.append(item.url)
                self.trails[item.url] = trail

    def neighbours(self, url: str) -> tuple[str | None, str | None]:
        """(previous, next) page URLs in reading order; None at the ends or off the nav."""
        index = self._index.get(url)
        if index is None:
            return None, None
        prev = self.order[index - 1] if index > 0 else None
        nxt = self.order[index + 1] if index + 1 < len(self.order) else None
        return prev, nxt

    def to_json(self) -> str:
        """Compact form for toc.js: [title, url|null, children, kind, number].

        URLs are quoted as in every server-rendered link: an author's path may read
        like a scheme (`javascript:x,/a.md`), and quoted, no `:` is left to make one.
        """

        def url(item: NavItem) -> str | None:
            # a link's URL was checked to be http(s) or mailto when the item was made
            return item.url if item.url is None or item.kind == "link" else quote(item.url)

        def enc(items: tuple[NavItem, ...]) -> list[object]:
            return [[i.title, url(i), enc(i.children), i.kind, i.number] for i in items]

        if self._json is None:
            self._json = json.dumps(enc(self.items), ensure_ascii=False, separators=(",", ":"))
        return self._json


def _walk(
    items: tuple[NavItem, ...], trail: tuple[Crumb, ...]
) -> Iterator[tuple[NavItem, tuple[Crumb, ...]]]:
    for item in items:
        yield item, trail
        if item.children:
            inner = (*trail, Crumb(item.title, item.url)) if item.url is not None else trail
            yield from _walk(item.children, inner)


def from_summary(text: str, pages: Mapping[str, Page], path: str = "SUMMARY.md") -> Nav:
    """Parse mdBook's SUMMARY.md (found at `path`, for broken entries): prefix/suffix chapters,
    `# Part` titles, nested numbered lists, `---` separators, draft chapters (`[Title]()`) and
    links out of the site. Links are relative to the pages' folder."""
    broken: list[tuple[str, int, str]] = []
    # (indent of the list item, the children list new deeper items go into)
    stack: list[tuple[int, list[_Builder]]] = [(-1, [])]
    top: list[_Builder] = stack[0][1]
    seen_title = False
    counters: list[int] = []

    def flush_numbered() -> None:
        nonlocal stack
        stack = [(-1, top)]

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            if not seen_title and not top:
                seen_title = True
                continue
            flush_numbered()
            top.append(_Builder(title, None, "part"))
            continue
        seen_title = True
        if _SEPARATOR_RE.match(line):
            flush_numbered()
            top.append(_Builder("", None, "separator"))
            continue
        m = _ITEM_RE.match(line)
        if m:
            indent = len(m.group(1).expandtabs(4))
            while indent <= stack[-1][0] and len(stack) > 1:
                stack.pop()
            depth = len(stack) - 1
            del counters[depth + 1 :]
            while len(counters) <= depth:
                counters.append(0)
            counters[depth] += 1
            number = ".".join(str(n) for n in counters[: depth + 1]) + "."
            builder = _chapter(m.group(2), m.group(3), pages, (broken, path, lineno), number)
            stack[-1][1].append(builder)
            stack.append((indent, builder.children))
            continue
        m = _AFFIX_RE.match(line)
        if m:
            flush_numbered()
            top.append(_chapter(m.group(1), m.group(2), pages, (broken, path, lineno), None))
    items = [b.freeze() for b in top]
    return Nav(tuple(items), broken=broken)


@dataclass(slots=True)
class _Builder:
    title: str
    url: str | None
    kind: str = "chapter"
    number: str | None = None
    children: list[_Builder] = field(default_factory=list)

    def freeze(self) -> NavItem:
        return NavItem(self.title, self.url, tuple(c.freeze() for c in self.children), self.kind, self.number)


# where a nav entry is listed: (the list broken entries go to, the nav file, the line)
_Where = tuple[list[tuple[str, int, str]], str, int]


def _chapter(title: str, target: str, pages: Mapping[str, Page], where: _Where, number: str | None) -> _Builder:
    title = _ESCAPE_RE.sub(r"\1", title.strip())
    target = target.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target:
        return _Builder(title, None, "chapter", number)  # a draft chapter
    if _EXTERNAL_RE.match(target):
        return _Builder(title or target, target, "link")
    page = find_page(target, pages)
    if page is None:
        broken, path, line = where
        broken.append((path, line, target))
        return _Builder(title, None, "chapter", number)
    return _Builder(title or page.title, page.url, "chapter", number)


def find_page(target: str, pages: Mapping[str, Page]) -> Page | None:
    """The page a nav entry names: its path from the pages' folder (a fragment ignored), or a
    folder's `index.md`/`README.md` (`guide/` or `guide`)."""
    raw = unquote(target.split("#", 1)[0])
    while raw.startswith("./"):
        raw = raw[2:]
    # normpath keeps a leading "..", so a link out of the book stays broken.
    path = posixpath.normpath(raw.lstrip("/") or ".")
    page = pages.get(path)
    if page is not None or path.startswith("../") or path in ("..", ".") or is_markdown(path):
        return page
    for stem in INDEX_STEMS:
        page = pages.get(f"{path}/{stem}.md")
        if page is not None:
            return page
    return None


def from_entries(spec: NavSpec, pages: Mapping[str, Page]) -> Nav:
    """The navigation a configuration file lists, built as SUMMARY.md's would be (without
    chapter numbers, which MkDocs does not show): pages, sections of nested entries, links."""
    broken: list[tuple[str, int, str]] = []

    def build(entry: NavEntry) -> _Builder:
        if entry.target is None:
            section = _Builder(entry.title or "", None)
            section.children = [build(child) for child in entry.children]
            return section
        return _chapter(entry.title or "", entry.target, pages, (broken, spec.file, entry.line), None)

    return Nav(tuple(build(entry).freeze() for entry in spec.entries), broken=broken)


_dirname = functools.lru_cache(maxsize=1 << 16)(posixpath.dirname)


def from_folders(pages: list[Page]) -> Nav:
    """Folders become sections (titled by their index page), ordered by front matter `order`,
    then by file name. The home page comes first."""
    root = _Folder("")
    for page in pages:
        folder = _dirname(page.source)
        node = root
        if folder:
            for seg in folder.split("/"):
                node = node.sub.setdefault(seg, _Folder(seg))
        if page.is_index and node.index is None:
            node.index = page
        else:
            node.pages.append(page)
    items: list[NavItem] = []
    if root.index is not None:
        items.append(NavItem(root.index.title, root.index.url))
    items.extend(root.children())
    return Nav(tuple(items))


@dataclass(slots=True)
class _Folder:
    name: str
    index: Page | None = None
    pages: list[Page] = field(default_factory=list)
    sub: dict[str, _Folder] = field(default_factory=dict)

    def sort_key(self) -> tuple[bool, float, str]:
        order = self.index.meta.order if self.index is not None else None
        return (order is None, order or 0.0, self.name.lower())

    def item(self) -> NavItem:
        title = self.index.title if self.index is not None else humanize(self.name)
        url = self.index.url if self.index is not None else None
        return NavItem(title, url, tuple(self.children()))

    def children(self) -> list[NavItem]:
        entries: list[tuple[tuple[bool, float, str], NavItem]] = []
        for page in self.pages:
            name = file_stem(page.source)
            key = (page.meta.order is None, page.meta.order or 0.0, name.lower())
            entries.append((key, NavItem(page.title, page.url)))
        for folder in self.sub.values():
            entries.append((folder.sort_key(), folder.item()))
        entries.sort(key=lambda e: e[0])
        return [item for _, item in entries]
