"""MkDocs' `mkdocs.yml`: `site_name`, `docs_dir`, `site_url`, `nav`, the redirects plugin's map.

Read with a safe loader that accepts any tag (`!!python/name:...`, `!ENV`) as
a null: nothing named in the file is imported or run. Plugins other than
`search` and `redirects`, and Markdown extensions whose syntax OpenBook does
not render, are reported: their syntax stays as written.
"""

from __future__ import annotations

from typing import Any

import yaml

from openbook.render.nav import NavEntry, NavSpec
from openbook.siteconf.books import HTTP_URL, BookFile, Collector
from openbook.siteconf.sitefile import Redirect

MKDOCS_FILES = ("mkdocs.yml", "mkdocs.yaml")
DEFAULT_DOCS_DIR = "docs"
KNOWN_PLUGINS = ("search", "redirects")
# Python-Markdown extensions whose syntax OpenBook renders (or that add none)
RENDERED_EXTENSIONS = frozenset({
    "admonition", "pymdownx.details", "toc", "tables", "fenced_code", "footnotes", "def_list", "meta", "extra",
    "codehilite", "sane_lists", "smarty", "md_in_html", "nl2br", "abbr", "pymdownx.superfences",
    "pymdownx.highlight", "pymdownx.inlinehilite", "pymdownx.tasklist", "pymdownx.tilde", "pymdownx.betterem",
    "pymdownx.magiclink", "markdown.extensions.admonition", "markdown.extensions.toc",
    "markdown.extensions.tables", "markdown.extensions.fenced_code", "markdown.extensions.footnotes",
})


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads every unknown tag as null instead of refusing the file."""


def _null(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
    return None


_Loader.add_multi_constructor("", _null)  # a copy of SafeLoader's table: SafeLoader is unchanged


def read_mkdocs_yml(path: str, data: bytes) -> BookFile:
    """The mkdocs.yml `data` found at `path`. Problems are reported, never raised."""
    check = Collector(path)
    text = data.decode("utf-8", "replace")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        check.problem(mark.line + 1 if mark is not None else 0, f"invalid YAML: {problem}; MkDocs' defaults are used")
        return BookFile(path, "MkDocs", source=DEFAULT_DOCS_DIR, problems=check.found())
    finally:
        loader.dispose()
    if not isinstance(doc, dict) or not isinstance(node, yaml.MappingNode):
        check.problem(1, "must be a mapping of settings; MkDocs' defaults are used")
        return BookFile(path, "MkDocs", source=DEFAULT_DOCS_DIR, problems=check.found())
    nodes = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}

    def line(key: str) -> int:
        found = nodes.get(key)
        return found.start_mark.line + 1 if found is not None else 0

    title = doc.get("site_name")
    if title is not None and not isinstance(title, str):
        check.problem(line("site_name"), "site_name must be a string")
        title = None
    source = check.folder(doc.get("docs_dir", DEFAULT_DOCS_DIR), line("docs_dir"), "docs_dir", DEFAULT_DOCS_DIR)
    site_url = doc.get("site_url")
    if site_url is not None and not (isinstance(site_url, str) and HTTP_URL.fullmatch(site_url)):
        check.problem(line("site_url"), "site_url must be an absolute http(s) URL")
        site_url = None
    nav = None
    if "nav" in nodes:
        entries = _nav(nodes["nav"], check)
        nav = NavSpec(path, entries) if entries is not None else None
    redirects = _plugins(doc.get("plugins"), nodes.get("plugins"), check)
    _extensions(doc.get("markdown_extensions"), nodes.get("markdown_extensions"), check)
    return BookFile(path, "MkDocs", title=title or None, source=source, base_url=site_url, nav=nav,
                    redirects=redirects, problems=check.found())


def _nav(node: yaml.Node, check: Collector) -> tuple[NavEntry, ...] | None:
    if not isinstance(node, yaml.SequenceNode):
        check.problem(node.start_mark.line + 1, "nav must be a list of pages and sections; folders are used")
        return None
    return tuple(entry for item in node.value if (entry := _entry(item, check)) is not None)


def _entry(node: yaml.Node, check: Collector) -> NavEntry | None:
    """`- page.md`, `- Title: page.md`, `- Title: https://...`, `- Section: [entries]`."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and node.value:
        return NavEntry(None, node.value, (), line)
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        title = key.value if isinstance(key, yaml.ScalarNode) else None
        if isinstance(title, str) and isinstance(value, yaml.ScalarNode) and value.value:
            return NavEntry(title, value.value, (), line)
        if isinstance(title, str) and isinstance(value, yaml.SequenceNode):
            children = tuple(entry for item in value.value if (entry := _entry(item, check)) is not None)
            return NavEntry(title, None, children, line)
    check.problem(line, "a nav entry must be a page, `Title: page`, or `Title:` with a list of entries")
    return None


def _plugins(value: Any, node: yaml.Node | None, check: Collector) -> tuple[Redirect, ...]:
    """Report plugins OpenBook does not run; return the redirects plugin's `redirect_maps`."""
    if node is None:
        return ()
    redirects: list[Redirect] = []
    for (name, config), line in zip(_named(value), _item_lines(node), strict=False):
        if name == "redirects":
            maps = config.get("redirect_maps", {}) if isinstance(config, dict) else {}
            for old, new in maps.items() if isinstance(maps, dict) else ():
                redirect = check.redirect(str(old), str(new), line, f"redirect {old!r}")
                if redirect is not None:
                    redirects.append(redirect)
        elif name is not None and name not in KNOWN_PLUGINS:
            check.problem(line, f"plugin {name!r} is not run by OpenBook: what it adds is left out")
    return tuple(redirects)


def _extensions(value: Any, node: yaml.Node | None, check: Collector) -> None:
    if node is None:
        return
    for (name, _), line in zip(_named(value), _item_lines(node), strict=False):
        if name is not None and name not in RENDERED_EXTENSIONS:
            check.problem(line, f"markdown extension {name!r} is not rendered by OpenBook: "
                                "its syntax is left as written")


def _named(value: Any) -> list[tuple[str | None, Any]]:
    """(name, configuration) of each item of a plugin or extension list (`- name` or `- name: {...}`)
    or mapping; (None, None) for an item that is neither, so items stay aligned with their lines."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if not isinstance(value, list):
        return []
    named: list[tuple[str | None, Any]] = []
    for item in value:
        if isinstance(item, str):
            named.append((item, None))
        elif isinstance(item, dict) and len(item) == 1:
            key, config = next(iter(item.items()))
            named.append((str(key), config))
        else:
            named.append((None, None))
    return named


def _item_lines(node: yaml.Node) -> list[int]:
    """The line of each item of a sequence or each key of a mapping."""
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line + 1 for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return [key.start_mark.line + 1 for key, _ in node.value]
    return []
