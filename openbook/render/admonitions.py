"""Admonitions in the syntaxes books are written with, all rendered one way.

    !!! note "Title"           MkDocs / Python-Markdown (mdit-py-plugins' admon plugin), 4-space body
    ??? tip / ???+ tip         the same, collapsible (closed / open)
    ::: warning Title          markdown-it's container
    > [!NOTE]                  GitHub's alerts (Obsidian's `> [!tip]- Title` folds)
    NOTE: text                 a paragraph starting with an upper-case kind and a colon
    {% hint style="info" %}    GitBook, up to {% endhint %}

Each becomes

    <aside class="admonition note" role="note" aria-labelledby="ob-note-1">
    <p class="admonition-title" id="ob-note-1">Note</p> ... </aside>

with a `<details>` inside, and the title as its `<summary>`, when collapsible.
The class is one of a few kinds (`KINDS`: MkDocs' many names map onto them),
which every theme styles in light and dark; the role and the labelled title
make a screen reader announce a note and its title.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.utils import is_code_block

# every name in use → the kind a theme styles
KINDS = {
    "note": "note", "abstract": "note", "summary": "note", "tldr": "note", "example": "note", "quote": "note",
    "cite": "note", "seealso": "note",
    "info": "info", "todo": "info", "question": "info", "help": "info", "faq": "info",
    "tip": "tip", "hint": "tip", "success": "tip", "check": "tip", "done": "tip",
    "important": "important",
    "warning": "warning", "attention": "warning", "caution": "caution",
    "danger": "danger", "error": "danger", "failure": "danger", "fail": "danger", "missing": "danger",
    "bug": "danger",
}
CONTAINER_KINDS = ("note", "tip", "info", "important", "warning", "caution", "danger")  # `::: kind`
_ALERT_RE = re.compile(r"^\[!([A-Za-z]+)\]([+-]?)[ \t]*([^\n]*)(?:\n|$)")
_CALLOUT_RE = re.compile(r"^(NOTE|TIP|INFO|IMPORTANT|WARNING|CAUTION|DANGER):[ \t]*")
_HINT_RE = re.compile(r"""^\{%\s*hint\s+style\s*=\s*["']?(\w+)["']?\s*%\}\s*$""")
_ENDHINT_RE = re.compile(r"^\{%\s*endhint\s*%\}\s*$")
_GITBOOK_STYLES = {"info": "info", "success": "success", "warning": "warning", "danger": "danger"}


def admonitions_plugin(md: MarkdownIt) -> None:
    """Every syntax above, one markup."""
    admon_plugin(md, render=_render)
    md.use(container_plugin, name="admonition", validate=_is_container, render=_render_container)
    md.block.ruler.before("fence", "gitbook_hint", _hint, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.core.ruler.after("block", "callouts", _callouts)


def kind_of(name: str) -> str:
    return KINDS.get(name.lower(), "note")


def _render(self: Any, tokens: Sequence[Token], idx: int, _options: Any, env: Any) -> str:
    tok = tokens[idx]
    collapsible = tok.markup.startswith("?")
    if tok.type == "admonition_open":
        name = str(tok.meta.get("tag", "note"))
        label = _next_label(env)
        opened = '<details open>\n' if tok.markup.endswith("+") else "<details>\n"
        out = f'<aside class="admonition {kind_of(name)}" role="note" aria-labelledby="{label}">\n'
        if collapsible:
            out += opened
        has_title = idx + 1 < len(tokens) and tokens[idx + 1].type == "admonition_title_open"
        if not has_title:  # the plugin drops an empty title (`!!! note ""`): the kind still names it
            tag = "summary" if collapsible else "p"
            out += f'<{tag} class="admonition-title" id="{label}">{html.escape(name.capitalize())}</{tag}>\n'
        return out
    if tok.type == "admonition_close":
        return "</details>\n</aside>\n" if collapsible else "</aside>\n"
    if tok.type == "admonition_title_open":
        label = f"ob-note-{env['openbook_notes']}"
        return f'<{"summary" if collapsible else "p"} class="admonition-title" id="{label}">'
    opening = tokens[idx - 2] if idx >= 2 else tok  # admonition_title_close: after the open and the inline
    return "</summary>\n" if opening.markup.startswith("?") else "</p>\n"


def _next_label(env: Any) -> str:
    env["openbook_notes"] = env.get("openbook_notes", 0) + 1
    return f"ob-note-{env['openbook_notes']}"


def _is_container(params: str, *_args: Any) -> bool:
    return params.strip().split(" ", 1)[0] in CONTAINER_KINDS


def _render_container(self: Any, tokens: Sequence[Token], idx: int, _options: Any, env: Any) -> str:
    tok = tokens[idx]
    if tok.nesting != 1:
        return "</aside>\n"
    name, _, title = tok.info.strip().partition(" ")
    label = _next_label(env)
    return (f'<aside class="admonition {kind_of(name)}" role="note" aria-labelledby="{label}">\n'
            f'<p class="admonition-title" id="{label}">{html.escape(title.strip() or name.capitalize())}</p>\n')


def _hint(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """GitBook's `{% hint style="info" %}` ... `{% endhint %}` (nested hints allowed)."""
    if is_code_block(state, start):
        return False
    found = _HINT_RE.match(_line(state, start))
    if found is None:
        return False
    if silent:
        return True
    depth, line, closed = 1, start, False
    while line + 1 < end:
        line += 1
        text = _line(state, line)
        if _HINT_RE.match(text):
            depth += 1
        elif _ENDHINT_RE.match(text):
            depth -= 1
            if depth == 0:
                closed = True
                break
    last = line if closed else end
    name = _GITBOOK_STYLES.get(found.group(1).lower(), "info")
    old_parent, old_max = state.parentType, state.lineMax
    state.parentType = "admonition"
    state.lineMax = last
    _open_tokens(state.push, name, "!!!", [start, last])
    state.md.block.tokenize(state, start + 1, last)
    state.push("admonition_close", "aside", -1).markup = "!!!"
    state.parentType, state.lineMax = old_parent, old_max
    state.line = last + 1 if closed else last
    return True


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line]:state.eMarks[line]]


def _open_tokens(push: Any, name: str, markup: str, span: list[int], title: str | None = None) -> list[Token]:
    """An admonition's opening tokens (its title's inline is parsed later, with the others)."""
    opening = push("admonition_open", "aside", 1)
    opening.markup, opening.meta, opening.block, opening.map = markup, {"tag": name}, True, span
    title_open = push("admonition_title_open", "p", 1)
    title_open.markup = markup
    inline = push("inline", "", 0)
    inline.content, inline.map, inline.children = title or name.capitalize(), [span[0], span[0] + 1], []
    title_close = push("admonition_title_close", "p", -1)
    return [opening, title_open, inline, title_close]


def _callouts(state: StateCore) -> None:
    """`> [!NOTE]` blockquotes and `NOTE:` paragraphs, turned into admonition tokens before their
    inline content is parsed."""
    tokens = state.tokens
    out: list[Token] = []
    closing: dict[int, str] = {}  # index of a blockquote_close to turn into an admonition_close → markup
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if i in closing:
            tok.type, tok.tag, tok.markup = "admonition_close", "aside", closing.pop(i)
            out.append(tok)
            i += 1
            continue
        if tok.type == "blockquote_open" and _alert(tokens, i, out, closing):
            i += 1
            continue
        if tok.type == "paragraph_open" and i + 2 < len(tokens) and not tok.hidden:
            found = _CALLOUT_RE.match(tokens[i + 1].content)
            if found is not None:
                name = found.group(1).lower()
                tokens[i + 1].content = tokens[i + 1].content[found.end():]
                out += _open_tokens(lambda t, tag, n: Token(t, tag, n), name, "!!!", tok.map or [0, 1])
                out += tokens[i:i + 3]
                out.append(Token("admonition_close", "aside", -1, markup="!!!"))
                i += 3
                continue
        out.append(tok)
        i += 1
    state.tokens = out


def _alert(tokens: list[Token], i: int, out: list[Token], closing: dict[int, str]) -> bool:
    """A blockquote whose first line is `[!KIND]`: its tokens as an admonition's, into `out`."""
    if i + 3 >= len(tokens) or tokens[i + 1].type != "paragraph_open":
        return False
    inline = tokens[i + 2]
    found = _ALERT_RE.match(inline.content)
    if found is None or found.group(1).lower() not in KINDS:
        return False
    name, fold, title = found.group(1).lower(), found.group(2), found.group(3).strip()
    markup = {"": "!!!", "-": "???", "+": "???+"}[fold]
    level = tokens[i].level
    end = next(j for j in range(i + 1, len(tokens))
               if tokens[j].type == "blockquote_close" and tokens[j].level == level)
    closing[end] = markup
    out += _open_tokens(lambda t, tag, n: Token(t, tag, n), name, markup, tokens[i].map or [0, 1], title or None)
    inline.content = inline.content[found.end():]
    if not inline.content.strip():  # the marker was the whole paragraph
        tokens[i + 1].hidden = tokens[i + 3].hidden = True
        inline.content = ""
    return True
