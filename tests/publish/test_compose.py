"""A site as one commit configures it, rendered: configuration problems join the renderer's."""

from __future__ import annotations

import pytest

from openbook.errors import RenderError
from openbook.fs.themes import load_theme
from openbook.publish import compose
from tests.siteconf.test_precedence import site

BOOK = {
    "book.toml": b"[book]\ntitle = 'Composed'\n\n[preprocessor.katex]\n",
    "src/SUMMARY.md": b"- [One](one.md)\n",
    "src/one.md": b"# One\n\n{{#include missing.rs}}\n",
}


def test_configuration_problems_are_listed_with_the_renderer_s() -> None:
    config = compose.configure(site(), BOOK, lambda name: True)
    assert (config.title, config.source, config.book_file) == ("Composed", "src", "book.toml")
    result = compose.render_site(BOOK, config, load_theme("base"), workers=1)
    assert [(p["path"], p["line"], p["kind"]) for p in result.stats["problems"]] == [
        ("book.toml", 4, "config"), ("src/one.md", 3, "include")]
    assert "index.html" in {f.path for f in result.files}  # one.md, the first chapter


def test_a_strict_site_fails_on_a_configuration_problem() -> None:
    config = compose.configure(site({"strict": True}), BOOK, lambda name: True)
    with pytest.raises(RenderError) as err:
        compose.render_site(BOOK, config, load_theme("base"), workers=1)
    assert err.value.path == "book.toml" and "book.toml:4: preprocessor 'katex'" in err.value.cause
