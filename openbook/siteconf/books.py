"""Books laid out for another tool: `book.toml` (mdBook), `mkdocs.yml` (MkDocs), `.gitbook.yaml` (GitBook).

The first of these found at the site root (in that order) says where the
pages are, the title, the navigation, the redirects and the site URL, so a
book deploys as it is. `openbook.toml`, when present, wins key by key
(`precedence.combine`). A problem in these files never fails a build by
itself (strict mode aside): it is reported with its line, and the tool's own
default applies to what the file could not say.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from openbook.errors import InvalidPath
from openbook.render.nav import NavSpec
from openbook.render.pages import is_markdown
from openbook.render.problems import CONFIG, Problem
from openbook.siteconf.sitefile import Redirect
from openbook.store.paths import validate_path

HTTP_URL = re.compile(r"https?://[^/\s]+(/\S*)?")


@dataclass(frozen=True, slots=True)
class BookFile:
    """What another tool's configuration file says, in OpenBook's terms."""

    path: str  # the file, from the site root: "book.toml", "mkdocs.yml", ".gitbook.yaml"
    tool: str  # "mdBook", "MkDocs", "GitBook"
    title: str | None = None
    source: str = ""  # the pages' folder, from the site root ("" the root itself)
    base_url: str | None = None
    summary: str = "SUMMARY.md"  # the navigation file, in the pages' folder
    home: str | None = None  # the home page, in the pages' folder (GitBook's structure.readme)
    nav: NavSpec | None = None
    redirects: tuple[Redirect, ...] = ()  # paths in the pages' folder
    problems: tuple[Problem, ...] = ()


class Collector:
    """The problems of one file, each with its line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, CONFIG, message))

    def found(self) -> tuple[Problem, ...]:
        """Every problem, in the order of their lines."""
        return tuple(sorted(self.problems, key=lambda p: p.line))

    def folder(self, value: object, line: int, key: str, default: str) -> str:
        """A folder named by `key` as a clean path from the site root ("" for the root itself)."""
        if not isinstance(value, str):
            self.problem(line, f"{key} must be a folder name; {default or 'the root'} is used")
            return default
        cleaned = value.strip().strip("/")
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        if cleaned in ("", "."):
            return ""
        try:
            return validate_path(cleaned)
        except InvalidPath as exc:
            self.problem(line, f"{key}: {exc.message}; {default or 'the root'} is used")
            return default

    def redirect(self, old: str, new: str, line: int, key: str) -> Redirect | None:
        """A redirect of page `old` to page `new` or an absolute URL (paths in the pages' folder)."""
        try:
            source = validate_path(old)
            target = new if HTTP_URL.fullmatch(new) else validate_path(new)
        except InvalidPath as exc:
            self.problem(line, f"{key}: {exc.message}")
            return None
        if not is_markdown(source):
            self.problem(line, f"{key}: the old page {old!r} is not a Markdown page")
            return None
        return Redirect(source, target, line, self.path)


def html_to_page(path: str) -> str:
    """An mdBook or GitBook URL path as the page it was made from: `a/b.html` → `a/b.md`,
    `a/` or `a/index.html` → `a/README.md` (mdBook's name for a folder's page)."""
    path = path.split("#", 1)[0].split("?", 1)[0].lstrip("/")
    if path.endswith("index.html") or path.endswith("/") or not path:
        return posixpath.join(path.removesuffix("index.html"), "README.md")
    if path.endswith(".html"):
        return path[: -len(".html")] + ".md"
    return path if is_markdown(path) else f"{path}.md"


def find_index(folder_pages: Mapping[str, bytes], path: str) -> str:
    """`a/README.md` as the folder page that exists (`a/index.md` when that one does)."""
    if path.endswith("/README.md") or path == "README.md":
        index = path[: -len("README.md")] + "index.md"
        if index in folder_pages and path not in folder_pages:
            return index
    return path

