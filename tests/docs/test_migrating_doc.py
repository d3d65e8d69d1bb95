"""docs/migrating.md backs each claim with a test: every test and golden file it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "migrating.md"


def test_every_test_the_migration_guide_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(named) >= 20
    for path, name in sorted(named):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert name in functions, f"docs/migrating.md names {path}::{name}, which does not exist"
    for golden in set(re.findall(r"`(tests/render/fixtures/markdown/[\w.-]+\.md)`", text)):
        assert (ROOT / golden).is_file() and (ROOT / golden).with_suffix(".html").is_file(), golden
