"""GitBook's `.gitbook.yaml`: `root`, `structure.readme`, `structure.summary`, `redirects`.

GitBook's SUMMARY.md is mdBook's format (`# Table of contents`, `## Group`
headings, nested lists), so the summary it names is read as one.
"""

from __future__ import annotations

import yaml

from openbook.siteconf.books import BookFile, Collector, html_to_page

GITBOOK_FILE = ".gitbook.yaml"


def read_gitbook_yaml(data: bytes) -> BookFile:
    """The .gitbook.yaml `data`. Problems are reported, never raised."""
    check = Collector(GITBOOK_FILE)
    try:
        node = yaml.compose(data.decode("utf-8", "replace"), Loader=yaml.SafeLoader)
        doc = yaml.safe_load(data) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        check.problem(mark.line + 1 if mark is not None else 0, f"invalid YAML: {problem}; GitBook's defaults are used")
        return BookFile(GITBOOK_FILE, "GitBook", problems=check.found())
    if doc is None:
        return BookFile(GITBOOK_FILE, "GitBook")
    if not isinstance(doc, dict) or not isinstance(node, yaml.MappingNode):
        check.problem(1, "must be a mapping of settings; GitBook's defaults are used")
        return BookFile(GITBOOK_FILE, "GitBook", problems=check.found())
    lines = _key_lines(node)
    root = check.folder(doc.get("root", ""), lines.get(("root",), 1), "root", "")
    structure = doc.get("structure") or {}
    if not isinstance(structure, dict):
        check.problem(lines.get(("structure",), 1), "structure must be a mapping")
        structure = {}
    readme = _page(structure.get("readme"), check, lines.get(("structure", "readme"), 1), "structure.readme")
    summary = _page(structure.get("summary"), check, lines.get(("structure", "summary"), 1), "structure.summary")
    redirects = []
    table = doc.get("redirects") or {}
    if not isinstance(table, dict):
        check.problem(lines.get(("redirects",), 1), "redirects must be a mapping of old paths to new pages")
        table = {}
    for old, new in table.items():
        line = lines.get(("redirects", str(old)), 1)
        redirect = check.redirect(html_to_page(str(old)), str(new).removeprefix("./"), line, f"redirect {old!r}")
        if redirect is not None:
            redirects.append(redirect)
    return BookFile(GITBOOK_FILE, "GitBook", source=root, summary=summary or "SUMMARY.md", home=readme,
                    redirects=tuple(redirects), problems=check.found())


def _page(value: object, check: Collector, line: int, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        check.problem(line, f"{key} must name a Markdown file")
        return None
    name = check.folder(value, line, key, "")
    return name or None


def _key_lines(node: yaml.MappingNode) -> dict[tuple[str, ...], int]:
    """The line of each key of the first two levels."""
    lines: dict[tuple[str, ...], int] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        lines[(key.value,)] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for sub, _ in value.value:
                if isinstance(sub, yaml.ScalarNode):
                    lines[(key.value, sub.value)] = sub.start_mark.line + 1
    return lines
