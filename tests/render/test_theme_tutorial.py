"""docs/themes.md's tutorial works as written: its files, taken from the page, build a themed site.

Convention: a fenced block whose info string carries `title="some/path"` is a file of the
tutorial, in full (```css title="themes/mybook/static/mybook.css"```). Files under `themes/`
form the theme folders; files under `demo/` are the content the tutorial builds.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from openbook.fs.themes import load_theme
from tests.render.conftest import Build

DOC = Path(__file__).resolve().parents[2] / "docs" / "themes.md"
_FENCE_RE = re.compile(r'^```[\w-]*\s+title="([^"]+)"\s*$')


def tutorial_files(text: str) -> dict[str, str]:
    files: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        m = _FENCE_RE.match(line)
        if m is None:
            continue
        body = []
        for inner in lines:
            if inner.startswith("```"):
                break
            body.append(inner)
        else:
            raise AssertionError(f"the block {m.group(1)} is not closed")
        assert m.group(1) not in files, f"{m.group(1)} appears twice"
        files[m.group(1)] = "\n".join(body) + "\n"
    return files


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return tutorial_files(DOC.read_text("utf-8"))


@pytest.fixture
def themes(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return tmp_path / "themes"


def _demo(files: dict[str, str]) -> dict[str, bytes | str]:
    return {rel.removeprefix("demo/"): text for rel, text in files.items() if rel.startswith("demo/")}


def test_the_tutorial_shows_every_file_it_needs(files: dict[str, str]) -> None:
    assert set(files) == {
        "themes/mybook/theme.toml",
        "themes/mybook/static/mybook.css",
        "themes/mybook/templates/base.html",
        "themes/mybook/templates/page.html",
        "demo/index.md",
        "demo/chapter-1.md",
    }


def test_the_tutorial_theme_builds_the_demo_book(themes: Path, files: dict[str, str], build: Build) -> None:
    chain = load_theme("mybook", [themes])
    assert [layer.name for layer in chain.layers] == ["mybook", "book", "base"]
    banner = tomllib.loads(files["themes/mybook/theme.toml"])["settings"]["banner"]
    site = build(_demo(files), theme=chain, title="My book")
    for path in ("index.html", "chapter-1/index.html"):
        doc = site.html(path)
        assert [p.text for p in doc.with_class("mybook-banner", "p")] == [banner], path
        assert doc.with_class("topbar", "header") and doc.with_class("sidebar", "aside")  # still the book
        sheets = [el.attrs["href"] for el in doc.find_all("link", rel="stylesheet")]
        mine = [h for h in sheets if re.search(r"static/mybook\.[0-9a-f]{8}\.css$", h)]
        book = [h for h in sheets if re.search(r"static/book\.[0-9a-f]{8}\.css$", h)]
        assert len(mine) == 1 and sheets.index(mine[0]) > sheets.index(book[0]), sheets  # after: it wins
        served = mine[0].removeprefix("../")
        assert site.text(served) == files["themes/mybook/static/mybook.css"]
    chapter = site.html("chapter-1/index.html")
    assert chapter.find("h1").text == "Chapter 1"
    assert chapter.find("a", rel="prev").attrs["href"] == "../"
    assert "Welcome." in site.html("index.html").find("main").text


def test_a_site_sets_its_own_banner_or_none(themes: Path, files: dict[str, str], build: Build) -> None:
    chain = load_theme("mybook", [themes])
    own = build(_demo(files), theme=chain, extra={"banner": "Version 2 is out!"})
    assert [p.text for p in own.html("index.html").with_class("mybook-banner")] == ["Version 2 is out!"]
    none = build(_demo(files), theme=chain, extra={"banner": ""})
    assert not none.html("index.html").with_class("mybook-banner")


def test_the_page_itself_has_no_broken_links(build: Build) -> None:
    site = build({"index.md": DOC.read_text("utf-8")}, title="Themes")
    assert site.stats["broken_links"] == []
