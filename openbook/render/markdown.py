"""Markdown → HTML body, plus the facts the rest of the build needs.

One `MarkdownIt` per HTML mode per process (building one costs more than
rendering a page). Each page is parsed and rendered exactly once: internal
links and images leave a placeholder in the HTML and are listed in
`ParsedDoc.links`, so they can be resolved after every page is known without
keeping token streams in memory.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
from pygments.lexer import Lexer  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.token import STANDARD_TYPES  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]

from openbook.render.admonitions import admonitions_plugin
from openbook.render.problems import SYNTAX, Problem

HtmlMode = Literal["escape", "sanitize", "trusted"]

# A per-process marker for link placeholders: content cannot guess it, so raw
# HTML (sanitize/trusted modes) cannot forge a placeholder.
_NONCE = secrets.token_hex(6)
PLACEHOLDER_RE = re.compile(rf"ob-{_NONCE}-(\d+)")
# Pool workers draw their own nonce; `parallel` rewrites their prefix to this one.
PLACEHOLDER_PREFIX = f"ob-{_NONCE}-"
# An internal image as rendered (markdown-it and nh3 both write `src` first):
# `images.add_sizes` appends width and height right after it.
IMAGE_TAG_RE = re.compile(rf'<img src="ob-{_NONCE}-(\d+)"')
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# Raw HTML: a comment (left alone) or a start tag, and a URL attribute in a tag
_RAW_TAG_RE = re.compile(r"<!--.*?-->|<[A-Za-z][^>]*>", re.S)
_URL_ATTR_RE = re.compile(r"""(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# Another tool's syntax on a line of its own, left as written: a Liquid/GitBook tag (`{% tabs %}`),
# a pymdownx.snippets include (`--8<-- "file.md"`)
_TAG_LINE_RE = re.compile(r"^[ \t]*(?:\{%-?\s*([A-Za-z_][\w-]*)[^\n]*?%\}|(-{1,2}8<-{1,2}))", re.M)


@dataclass(frozen=True, slots=True)
class TocEntry:
    level: int
    id: str
    title: str


@dataclass(slots=True)
class ParsedDoc:
    """One rendered Markdown body and what was learnt while rendering it."""

    html: str
    links: list[tuple[str, str]]  # (kind "a" | "img", href as written), index = placeholder number
    link_lines: list[int]  # the line of each link in the page's file (1-based, front matter counted)
    problems: list[Problem]  # syntax left unrendered, with its line; `path` None (the page's own)
    anchors: set[str]
    toc: list[TocEntry]
    first_heading: str | None
    starts_with_h1: bool
    text: str
    # The placeholder prefix in `html`: another process's (a pool process, a snapshot)
    # until `links.write_links` writes the links, which reads it.
    prefix: str = PLACEHOLDER_PREFIX


@dataclass(slots=True)
class _Collector:
    line_offset: int  # lines of the file before the Markdown body (front matter)
    links: list[tuple[str, str]] = field(default_factory=list)
    link_lines: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    toc: list[TocEntry] = field(default_factory=list)
    first_heading: str | None = None
    starts_with_h1: bool = False
    text: list[str] = field(default_factory=list)


def slugify(text: str) -> str:
    """GitHub/mdBook-style heading id: lower case, letters/digits/-/_ kept, spaces → '-'."""
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out) or "section"


def is_internal(href: str) -> bool:
    return not (href.startswith("//") or _SCHEME_RE.match(href))


def _inline_text(token: Token) -> str:
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return "".join(parts)


def _core_rule(state: StateCore) -> None:
    col: _Collector = state.env["openbook"]
    tokens = state.tokens
    seen_block = False
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            inline = tokens[i + 1]
            title = _inline_text(inline).strip()
            level = int(tok.tag[1])
            base = slugify(title)
            slug, n = base, 1
            while slug in col.anchors:
                slug = f"{base}-{n}"
                n += 1
            col.anchors.add(slug)
            tok.attrSet("id", slug)
            if col.first_heading is None and title:
                col.first_heading = title
            if not seen_block and level == 1:
                col.starts_with_h1 = True
            if level in (2, 3):
                col.toc.append(TocEntry(level, slug, title))
        if tok.nesting >= 0 and tok.level == 0:
            seen_block = True
        if tok.type == "html_block":
            tok.content = _raw_html_links(col, tok.content, tok.map[0] if tok.map else 0)
        if tok.type == "inline":
            col.text.append(_inline_text(tok))
            if "{%" in tok.content or "8<-" in tok.content:
                _unrendered_tags(col, tok)
            # 0-based line in the body: the block's first line, plus the line breaks before a link
            line = tok.map[0] if tok.map else 0
            for child in tok.children or ():
                if child.type in ("softbreak", "hardbreak"):
                    line += 1
                elif child.type == "link_open":
                    _placeholder(col, child, "href", "a", line)
                elif child.type == "image":
                    _placeholder(col, child, "src", "img", line)
                elif child.type == "html_inline":
                    child.content = _raw_html_links(col, child.content, line)
    footnotes = state.env.get("footnotes", {}).get("list")
    if footnotes:
        for n in range(1, len(footnotes) + 1):
            col.anchors.update((f"fn{n}", f"fnref{n}"))


def _unrendered_tags(col: _Collector, tok: Token) -> None:
    first = tok.map[0] if tok.map else 0
    for m in _TAG_LINE_RE.finditer(tok.content):
        line = col.line_offset + first + tok.content.count("\n", 0, m.start()) + 1
        what = f"{{% {m.group(1)} %}} is not rendered" if m.group(1) else "a --8<-- snippet is not included"
        col.problems.append(Problem(None, line, SYNTAX, f"{what}: left as written"))


def _raw_html_links(col: _Collector, content: str, first: int) -> str:
    """Raw HTML with each internal `href`/`src` replaced by a placeholder, like a Markdown link's
    (and resolved the same way); comments are left alone."""
    if "=" not in content:
        return content

    def tag(m: re.Match[str]) -> str:
        if m.group(0).startswith("<!--"):
            return m.group(0)
        line = first + content.count("\n", 0, m.start())
        return _URL_ATTR_RE.sub(lambda a: attr(a, line + m.group(0).count("\n", 0, a.start())), m.group(0))

    def attr(a: re.Match[str], line: int) -> str:
        raw = next(v for v in a.groups()[1:] if v is not None)
        href = html.unescape(raw)
        if not href or not is_internal(href):
            return a.group(0)
        col.links.append(("a", href))  # never sized as an image: raw HTML keeps its own attributes
        col.link_lines.append(col.line_offset + line + 1)
        return f'{a.group(1)}"ob-{_NONCE}-{len(col.links) - 1}"'

    return _RAW_TAG_RE.sub(tag, content)


def _placeholder(col: _Collector, token: Token, attr: str, kind: str, line: int) -> None:
    href = token.attrGet(attr)
    if not isinstance(href, str) or not href or not is_internal(href):
        return
    token.attrSet(attr, f"ob-{_NONCE}-{len(col.links)}")
    col.links.append((kind, href))
    col.link_lines.append(col.line_offset + line + 1)


@functools.lru_cache(maxsize=256)
def _lexer(lang: str) -> Lexer | None:
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


# Fence languages common in documentation: `warm_up` makes their lexers ready beforehand.
# (~0.3 s once per fork server: lexers whose rules take longer to compile, Kotlin's 0.1 s, are left out)
COMMON_LANGUAGES = (
    "bash", "c", "console", "cpp", "css", "diff", "dockerfile", "go", "html", "ini", "java", "javascript",
    "json", "markdown", "python", "rust", "shell", "sql", "toml", "typescript", "xml", "yaml",
)


def warm_up() -> None:
    """Build the Markdown parsers and the common languages' lexers now (imports and compiled
    rules), so that processes forked later do not each pay for them on their first page."""
    for mode in ("escape", "sanitize", "trusted"):
        markdown_parser(mode)
    for lang in COMMON_LANGUAGES:
        lexer = _lexer(lang)
        if lexer is not None:
            _format(lexer.get_tokens("x = 1\n"))


@functools.lru_cache(maxsize=1024)
def _css_class(ttype: Any) -> str:
    """Pygments' short class for a token type (`Name.Function` → "nf"), via its parents."""
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return str(STANDARD_TYPES[ttype])


def _format(tokens: Iterable[tuple[Any, str]]) -> str:
    """What HtmlFormatter(nowrap=True) emits, at a third of its cost (same CSS classes)."""
    out: list[str] = []
    for ttype, value in tokens:
        cls = _css_class(ttype)
        text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f'<span class="{cls}">{text}</span>' if cls else text)
    return "".join(out)


# A fence's info string: its language, then mdBook's `,flags` (`rust,ignore`) and attributes
# (`python title="x"`, `{.attrs}`); markdown-it unescapes it and splits it at the first space.
_TITLE_RE = re.compile(r"""(?:^|\s)title=(?:"([^"]*)"|'([^']*)'|(\S+))""")
# mdBook's hidden lines of Rust listings: `# ` or `#` alone; `##` writes a `#`; `#!`, `#[` are code
_RUST_HIDDEN_RE = re.compile(r"^(\s*)#(.?)(.*)$")
_RUST = ("rust", "rs")


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip()
    first, _, attrs = info.partition(" ")
    lang = first.split(",", 1)[0].lstrip("{.").rstrip("}").lower()
    code = _without_hidden_lines(token.content) if lang in _RUST else token.content
    block = _highlight(code, lang)
    title = _TITLE_RE.search(attrs)
    if title is None:
        return block + "\n"
    caption = html.escape(next(t for t in title.groups() if t is not None))
    return f'<figure class="code-listing"><figcaption>{caption}</figcaption>{block}</figure>\n'


def _without_hidden_lines(code: str) -> str:
    """A Rust listing as mdBook shows it: its hidden lines (`# use x;`) dropped, `##` as `#`."""
    if "#" not in code:
        return code
    kept = []
    for line in code.splitlines(keepends=True):
        m = _RUST_HIDDEN_RE.match(line.rstrip("\n"))
        if m is None or m.group(2) in ("!", "["):
            kept.append(line)
        elif m.group(2) == "#":
            kept.append(line[: m.end(1)] + line[m.end(1) + 1 :])
    return "".join(kept)


def _highlight(code: str, lang: str) -> str:
    lexer = _lexer(lang) if lang else None
    cls = f' class="language-{html.escape(lang)}"' if lang else ""
    body = _format(lexer.get_tokens(code)) if lexer is not None else html.escape(code, False)
    return f'<pre class="highlight"><code{cls}>{body}</code></pre>'


@functools.cache
def markdown_parser(mode: HtmlMode) -> MarkdownIt:
    """The shared parser for one HTML mode (built once per process)."""
    md = MarkdownIt("commonmark", {"html": mode != "escape"}).enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.use(footnote_plugin).use(deflist_plugin).use(tasklists_plugin).use(admonitions_plugin)
    md.core.ruler.push("openbook", _core_rule)
    return md


_SANITIZE_TAGS = set(nh3.ALLOWED_TAGS) | {"input", "section", "tfoot"}
_SANITIZE_ATTRS: dict[str, set[str]] = {tag: set(v) for tag, v in nh3.ALLOWED_ATTRIBUTES.items()}
_SANITIZE_ATTRS["*"] = {"class", "id", "title", "lang", "dir", "align"}  # align: README-style centred heroes
_SANITIZE_ATTRS["input"] = {"type", "checked", "disabled"}
_SANITIZE_ATTRS["aside"] = {"role", "aria-labelledby"}  # admonitions
_SANITIZE_ATTRS["details"] = {"open"}
_SANITIZE_ATTRS["a"] = {"href", "hreflang"}


def render_markdown(text: str, mode: HtmlMode, line_offset: int = 0) -> ParsedDoc:
    """Render one page body, which starts after `line_offset` lines of its file (front matter).
    Pure; never raises on any input text."""
    md = markdown_parser(mode)
    col = _Collector(line_offset)
    env: dict[str, Any] = {"openbook": col}
    body = md.render(text, env)
    if mode == "sanitize":
        body = nh3.clean(body, tags=_SANITIZE_TAGS, attributes=_SANITIZE_ATTRS, link_rel=None)
    return ParsedDoc(
        html=body,
        links=col.links,
        link_lines=col.link_lines,
        problems=col.problems,
        anchors=col.anchors,
        toc=col.toc,
        first_heading=col.first_heading,
        starts_with_h1=col.starts_with_h1,
        text=" ".join(col.text),
    )


def pygments_css(style: str, selector: str = ".highlight") -> str:
    """The stylesheet for highlighted code (used to generate the themes' CSS)."""
    return str(HtmlFormatter(style=style).get_style_defs(selector))
