"""Which other tool's configuration a site has: the first found at the site root, read."""

from __future__ import annotations

from collections.abc import Mapping

from openbook.siteconf.books import BookFile
from openbook.siteconf.gitbook import GITBOOK_FILE, read_gitbook_yaml
from openbook.siteconf.mdbook import BOOK_TOML, read_book_toml
from openbook.siteconf.mkdocs import MKDOCS_FILES, read_mkdocs_yml


def read_book_file(content: Mapping[str, bytes]) -> BookFile | None:
    """The first of book.toml, mkdocs.yml (or .yaml) and .gitbook.yaml at the site root, read;
    None without any. Never raises: problems are in the result."""
    if BOOK_TOML in content:
        return read_book_toml(content[BOOK_TOML], content)
    for name in MKDOCS_FILES:
        if name in content:
            return read_mkdocs_yml(name, content[name])
    if GITBOOK_FILE in content:
        return read_gitbook_yaml(content[GITBOOK_FILE])
    return None
