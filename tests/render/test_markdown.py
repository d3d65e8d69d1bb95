"""The Markdown layer against its golden files (`golden`), independent of any theme."""

from __future__ import annotations

import pytest

from openbook.errors import RenderError
from openbook.render.markdown import HtmlMode
from tests.render import golden
from tests.render.conftest import Build


@pytest.mark.parametrize(("name", "mode"), golden.cases(), ids=lambda v: str(v))
def test_markdown_matches_its_golden_file(name: str, mode: HtmlMode) -> None:
    expected = golden.golden_path(name, mode).read_text(encoding="utf-8")
    # On an intended change: `python -m tests.render.golden`, then review the diff.
    assert golden.render_fixture(name, mode) == expected


def test_every_golden_file_belongs_to_a_fixture() -> None:
    assert set(golden.FIXTURES.glob("*.html")) == {golden.golden_path(n, m) for n, m in golden.cases()}
    assert len(golden.cases()) >= 14


def test_unknown_html_mode_is_refused(build: Build) -> None:
    with pytest.raises(RenderError):
        build({"index.md": "# Home"}, html="anything")
