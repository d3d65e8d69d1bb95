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
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
from pygments.lexer import Lexer  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.token import STANDARD_TYPES  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]

HtmlMode = Literal["escape", "sanitize", "trusted"]

ADMONITIONS = ("note", "tip", "info", "important", "warning", "caution", "danger")

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
    links: list[tuple[str, str]] = field(default_factory=list)
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
        if tok.type == "inline":
            col.text.append(_inline_text(tok))
            for child in tok.children or ():
                if child.type == "link_open":
                    _placeholder(col, child, "href", "a")
                elif child.type == "image":
                    _placeholder(col, child, "src", "img")
    footnotes = state.env.get("footnotes", {}).get("list")
    if footnotes:
        for n in range(1, len(footnotes) + 1):
            col.anchors.update((f"fn{n}", f"fnref{n}"))


def _placeholder(col: _Collector, token: Token, attr: str, kind: str) -> None:
    href = token.attrGet(attr)
    if not isinstance(href, str) or not href or not is_internal(href):
        return
    token.attrSet(attr, f"ob-{_NONCE}-{len(col.links)}")
    col.links.append((kind, href))


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


def _highlight(code: str, lang: str, _attrs: str) -> str:
    lang = lang.strip().lower()
    lexer = _lexer(lang) if lang else None
    cls = f' class="language-{html.escape(lang)}"' if lang else ""
    body = _format(lexer.get_tokens(code)) if lexer is not None else html.escape(code, False)
    return f'<pre class="highlight"><code{cls}>{body}</code></pre>'


def _is_admonition(params: str, *_args: Any) -> bool:
    return params.strip().split(" ", 1)[0] in ADMONITIONS


def _render_admonition(self: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
    tok = tokens[idx]
    if tok.nesting != 1:
        return "</div>\n"
    name, _, title = tok.info.strip().partition(" ")
    title = title.strip() or name.capitalize()
    return f'<div class="admonition {name}">\n<p class="admonition-title">{html.escape(title)}</p>\n'


@functools.cache
def markdown_parser(mode: HtmlMode) -> MarkdownIt:
    """The shared parser for one HTML mode (built once per process)."""
    md = MarkdownIt(
        "commonmark",
        {"html": mode != "escape", "highlight": _highlight},
    ).enable(["table", "strikethrough"])
    md.use(footnote_plugin).use(deflist_plugin).use(tasklists_plugin)
    # one rule for every admonition kind: each block rule is tried at every line
    md.use(container_plugin, name="admonition", validate=_is_admonition, render=_render_admonition)
    md.core.ruler.push("openbook", _core_rule)
    return md


_SANITIZE_TAGS = set(nh3.ALLOWED_TAGS) | {"input", "section", "tfoot"}
_SANITIZE_ATTRS: dict[str, set[str]] = {tag: set(v) for tag, v in nh3.ALLOWED_ATTRIBUTES.items()}
_SANITIZE_ATTRS["*"] = {"class", "id", "title", "lang", "dir"}
_SANITIZE_ATTRS["input"] = {"type", "checked", "disabled"}
_SANITIZE_ATTRS["a"] = {"href", "hreflang"}


def render_markdown(text: str, mode: HtmlMode) -> ParsedDoc:
    """Render one page body. Pure; never raises on any input text."""
    md = markdown_parser(mode)
    col = _Collector()
    env: dict[str, Any] = {"openbook": col}
    body = md.render(text, env)
    if mode == "sanitize":
        body = nh3.clean(body, tags=_SANITIZE_TAGS, attributes=_SANITIZE_ATTRS, link_rel=None)
    return ParsedDoc(
        html=body,
        links=col.links,
        anchors=col.anchors,
        toc=col.toc,
        first_heading=col.first_heading,
        starts_with_h1=col.starts_with_h1,
        text=" ".join(col.text),
    )


def pygments_css(style: str, selector: str = ".highlight") -> str:
    """The stylesheet for highlighted code (used to generate the themes' CSS)."""
    return str(HtmlFormatter(style=style).get_style_defs(selector))
