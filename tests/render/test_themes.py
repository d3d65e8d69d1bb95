"""Theme loading, extends/override resolution, content overrides, the sandbox, assets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openbook.errors import NotFound, RenderError, TemplateTimeout
from openbook.fs.themes import available_themes, load_theme, theme_exists
from openbook.render import ThemeChain, ThemeLayer
from tests.render.conftest import Build


def _theme(
    root: Path,
    name: str,
    extends: str = "",
    templates: dict[str, str] | None = None,
    static: dict[str, bytes] | None = None,
) -> None:
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "theme.toml").write_text(
        f'name = "{name}"\nversion = "2.0"\nextends = "{extends}"\n\n[settings]\ncolor = "red"\n'
    )
    for rel, text in (templates or {}).items():
        (folder / "templates" / rel).write_text(text)
    for rel, data in (static or {}).items():
        path = folder / "static" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_builtin_themes_and_chain_order(book: ThemeChain) -> None:
    assert {"base", "book"} <= set(available_themes())
    assert theme_exists("book") and not theme_exists("nope") and not theme_exists("../etc")
    assert [layer.name for layer in book.layers] == ["book", "base"]
    assert "base.html" in book.layers[0].templates and "page.html" not in book.layers[0].templates
    assert {"base.html", "page.html"} <= set(book.layers[1].templates)


def test_unknown_theme_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_theme("does-not-exist")
    _theme(tmp_path, "orphan", extends="missing-parent", templates={"page.html": "x"})
    with pytest.raises(NotFound):
        load_theme("orphan", [tmp_path])


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    _theme(tmp_path, "one", extends="two")
    _theme(tmp_path, "two", extends="one")
    with pytest.raises(RenderError) as err:
        load_theme("one", [tmp_path])
    assert "cycle" in err.value.cause


def test_child_overrides_only_what_it_changes(tmp_path: Path, build: Build) -> None:
    _theme(
        tmp_path,
        "mine",
        extends="book",
        templates={
            "page.html": '{% extends "base.html" %}{% block content %}<div id="mine">{{ page.html }}'
            '</div><p id="color">{{ site.settings.color }}</p>{% endblock %}'
        },
        static={"book.css": b"body{color:red}"},
    )
    chain = load_theme("mine", [tmp_path])
    assert [layer.name for layer in chain.layers] == ["mine", "book", "base"]
    site = build({"index.md": "# Hello"}, theme=chain)
    doc = site.html("index.html")
    assert doc.by_id("mine").text.strip() == "Hello"
    assert doc.by_id("color").text == "red"
    assert doc.with_class("topbar", "header")  # book's base.html still used
    css = [el.attrs["href"] for el in doc.find_all("link", rel="stylesheet")]
    book_css = next(h for h in css if "/book." in h)
    assert site.files[book_css.removeprefix("../").lstrip("./")] == b"body{color:red}"


def test_extra_dirs_shadow_builtin_themes(tmp_path: Path) -> None:
    _theme(tmp_path, "book", templates={"page.html": "shadowed"})
    chain = load_theme("book", [tmp_path])
    assert chain.layers[0].templates["page.html"] == "shadowed"
    assert len(chain.layers) == 1


def test_content_theme_overrides_win_and_can_reach_the_theme_layer(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home",
            "_theme/templates/page.html": (
                '{% extends "book:base.html" %}{% block content %}<section id="custom">{{ page.title }}'
                "</section>{% endblock %}"
            ),
            "_theme/static/extra.css": b".x{}",
        }
    )
    doc = site.html("index.html")
    assert doc.by_id("custom").text == "Home"
    assert [p for p in site.files if re.fullmatch(r"static/extra\.[0-9a-f]{8}\.css", p)]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ page.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ 'a' * 100000000 }}",
    ],
)
def test_sandbox_blocks_unsafe_templates(build: Build, template: str) -> None:
    with pytest.raises(RenderError) as err:
        build({"index.md": "# Home", "_theme/templates/page.html": f"line one\n{template}\n"})
    assert err.value.path == "_theme/templates/page.html"
    assert "line 2" in err.value.cause


def test_sandbox_time_limit(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openbook.render.templates.RENDER_TIME_LIMIT_S", 0.2)
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateTimeout) as err:
        build({"index.md": "# Home", "_theme/templates/page.html": loop})
    assert err.value.path == "_theme/templates/page.html"
    assert err.value.cause.startswith("line 1: TemplateTimeout: template ran longer than 0.2s")


def test_template_syntax_error_names_file_and_line(build: Build) -> None:
    with pytest.raises(RenderError) as err:
        build({"index.md": "# Home", "_theme/templates/page.html": "ok\nok\n{% if %}\n"})
    assert err.value.path == "_theme/templates/page.html" and "line 3" in err.value.cause


def test_runtime_error_in_parent_template_names_that_file(build: Build) -> None:
    with pytest.raises(RenderError) as err:
        build(
            {
                "index.md": "# Home",
                "_theme/templates/base.html": (
                    "<html>\n{{ asset('no-such-file.css') }}\n{% block content %}{% endblock %}"
                ),
            }
        )
    assert err.value.path == "_theme/templates/base.html"
    assert "line 2" in err.value.cause and "no-such-file.css" in err.value.cause


def test_unknown_or_unsafe_template_name_from_front_matter(build: Build) -> None:
    for name in ("nope.html", "../../etc/passwd", "base:page.html"):
        with pytest.raises(RenderError) as err:
            build({"index.md": f"---\ntemplate: '{name}'\n---\n# Home"})
        assert err.value.path == "index.md"


def test_front_matter_template_choice(build: Build) -> None:
    site = build(
        {
            "index.md": "---\ntemplate: wide.html\n---\n# Home",
            "_theme/templates/wide.html": '{% extends "page.html" %}{% block title %}WIDE{% endblock %}',
        }
    )
    assert site.html("index.html").title() == "WIDE"


def test_assets_get_content_hashed_names_and_css_urls_follow(build: Build) -> None:
    chain = ThemeChain(
        (
            ThemeLayer(
                name="t",
                templates={"page.html": "<link href=\"{{ asset('css/s.css') }}\">{{ page.html }}"},
                static={"css/s.css": b"a{background:url(../img/bg.png)}", "img/bg.png": b"PNG"},
            ),
        )
    )
    site = build({"index.md": "# Hi", "sub/page.md": "# Sub"}, theme=chain)
    href = site.html("sub/page/index.html").find("link").attrs["href"]
    assert re.fullmatch(r"\.\./\.\./static/css/s\.[0-9a-f]{8}\.css", href)
    css = site.files[href.removeprefix("../../")].decode()
    bg = re.search(r"url\(([^)]+)\)", css).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"\.\./img/bg\.[0-9a-f]{8}\.png", bg)
    assert site.files["static/img/" + bg.rsplit("/", 1)[1]] == b"PNG"


def test_operator_themes_are_not_sandboxed_but_content_ones_are(book: ThemeChain) -> None:
    assert not book.sandboxed
    assert book.with_content_overrides({"_theme/templates/x.html": b"x"}).sandboxed
    assert book.with_content_overrides({"index.md": b"x"}) is book
