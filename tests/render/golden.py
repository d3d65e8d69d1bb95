"""Golden Markdown fixtures: `fixtures/markdown/<name>.md` in, `<name>.html` out.

Only the Markdown layer renders them, independent of any theme: front matter
is split off by `frontmatter`, the body rendered by `markdown.render_markdown`
(escape mode, and for the names in MODES also `<name>.<mode>.html`). A golden
file is the body's HTML, each link placeholder written `ob-link-<n>` (the real
ones carry a per-process nonce), then one HTML comment per other fact the
layer reports, when there is one: the front matter, the table of contents, the
link each placeholder stands for and its line, and the problems (syntax left as
written) with their lines.

After an intended change to the output (or an upgrade of markdown-it-py,
mdit-py-plugins, Pygments or nh3), regenerate every golden file and review
the diff before committing it:

    .venv/bin/python -m tests.render.golden
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from openbook.render import frontmatter
from openbook.render.markdown import PLACEHOLDER_PREFIX, HtmlMode, render_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "markdown"
MODES: dict[str, tuple[HtmlMode, ...]] = {
    "raw-html": ("escape", "sanitize", "trusted"),
    "links": ("escape", "sanitize"),  # placeholders must survive nh3
    "admonitions": ("escape", "sanitize"),  # their roles and labels must survive nh3
}


def cases() -> list[tuple[str, HtmlMode]]:
    """(fixture name, HTML mode) of every golden file."""
    names = sorted(p.stem for p in FIXTURES.glob("*.md"))
    return [(name, mode) for name in names for mode in MODES.get(name, ("escape",))]


def golden_path(name: str, mode: HtmlMode) -> Path:
    return FIXTURES / (f"{name}.html" if mode == "escape" else f"{name}.{mode}.html")


def render_fixture(name: str, mode: HtmlMode) -> str:
    """What the golden file of fixture `name` in `mode` must hold."""
    source = f"{name}.md"
    meta, body, _ = frontmatter.split(source, (FIXTURES / source).read_text(encoding="utf-8"))
    doc = render_markdown(body, mode)
    out = [doc.html.replace(PLACEHOLDER_PREFIX, "ob-link-").rstrip("\n")]
    if meta != frontmatter.FrontMatter():
        out.append(f"<!-- front matter: {_json(dataclasses.asdict(meta))} -->")
    if doc.toc:
        out.append(f"<!-- toc: {_json([[t.level, t.id, t.title] for t in doc.toc])} -->")
    if doc.links:
        out.append(f"<!-- links: {_json(doc.links)} -->")
        out.append(f"<!-- link lines: {_json(doc.link_lines)} -->")
    if doc.problems:
        out.append(f"<!-- problems: {_json([[p.line, p.kind, p.message] for p in doc.problems])} -->")
    return "\n".join(out) + "\n"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def main() -> int:
    for name, mode in cases():
        path = golden_path(name, mode)
        path.write_text(render_fixture(name, mode), encoding="utf-8")
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
