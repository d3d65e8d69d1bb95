"""docs/architecture.md keeps one line per module: a module missing from the tree is a stale map."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = (ROOT / "docs" / "architecture.md").read_text()


def _listed() -> set[str]:
    """(package, file) pairs of the tree: a file line sits under its package's folder line."""
    found: set[str] = set()
    package: list[str] = []
    for line in TREE.splitlines():
        match = re.match(r"^( *)([\w./-]+)\s", line + " ")
        if not match:
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        if name.endswith("/"):
            package = [*package[:depth], name.rstrip("/")]
        elif name.endswith(".py"):
            found.add("/".join([*package[:depth], name]))
    return found


def test_every_module_has_its_line_in_the_tree() -> None:
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "openbook").rglob("*.py") if p.name != "__init__.py"}
    assert modules - _listed() == set()


def test_every_line_of_the_tree_names_a_module_that_exists() -> None:
    assert {m for m in _listed() if m.startswith("openbook/") and not (ROOT / m).is_file()} == set()
