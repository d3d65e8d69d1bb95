"""render_key: deterministic, and changes exactly when a file's inputs change."""

from __future__ import annotations

import dataclasses

from openbook.render import SiteSettings, ThemeChain, ThemeLayer, build_key
from tests.render.conftest import Build, Site

CONTENT: dict[str, bytes | str] = {
    "index.md": "# Home\n\n[a](a.md)",
    "a.md": "# A\n\n[b](b.md#sec)",
    "b.md": "# B\n\n## Sec\n",
    "c.md": "# C\n",
    "img.png": b"PNG",
}


def _changed(before: Site, after: Site) -> set[str]:
    paths = set(before.keys) | set(after.keys)
    return {p for p in paths if before.keys.get(p) != after.keys.get(p)}


def test_identical_inputs_give_identical_keys_and_bytes(build: Build) -> None:
    one, two = build(CONTENT), build(dict(CONTENT))
    assert one.keys == two.keys
    assert one.files == two.files
    assert all(len(k) == 64 for k in one.keys.values())


def test_page_edit_changes_that_page_only(build: Build) -> None:
    before = build(CONTENT)
    after = build({**CONTENT, "c.md": "# C\n\nNew text.\n"})
    changed = {p for p in _changed(before, after) if not p.startswith("_openbook/search/")}
    assert changed == {"c/index.html"}


def test_nav_change_reaches_neighbours(build: Build) -> None:
    before = build(CONTENT)
    after = build({**CONTENT, "c.md": "# C renamed\n"})
    changed = _changed(before, after)
    assert {"c/index.html", "b/index.html", "_openbook/toc.js", "contents/index.html"} <= changed
    assert "a/index.html" not in changed  # not a neighbour of c, does not show its title


def test_link_target_change_reaches_the_linking_page(build: Build) -> None:
    before = build(CONTENT)
    after = build({**CONTENT, "b.md": "# B\n\n## Renamed section\n"})  # a.md's anchor #sec breaks
    assert "a/index.html" in _changed(before, after)
    assert after.stats["broken_links"] == [{"path": "a.md", "line": 3, "target": "b.md#sec", "count": 1}]


def test_template_change_changes_every_page(build: Build) -> None:
    before = build(CONTENT)
    after = build({**CONTENT, "_theme/templates/page.html": '{% extends "book:base.html" %}'})
    changed = _changed(before, after)
    assert {"index.html", "a/index.html", "b/index.html", "c/index.html", "404.html"} <= changed
    assert "img.png" not in changed


def test_settings_and_theme_version_change_keys(build: Build) -> None:
    before = build(CONTENT)
    assert "a/index.html" in _changed(before, build(CONTENT, title="Other title"))
    assert "a/index.html" in _changed(before, build(CONTENT, extra={"footer": "x"}))

    def chain(version: str) -> ThemeChain:
        return ThemeChain(
            (ThemeLayer(name="t", version=version, templates={"page.html": "{{ page.html }}"}),)
        )

    v1, v2 = build(CONTENT, theme=chain("1")), build(CONTENT, theme=chain("2"))
    assert v1.files["a/index.html"] == v2.files["a/index.html"]
    assert v1.keys["a/index.html"] != v2.keys["a/index.html"]


def test_templates_using_nav_make_pages_depend_on_the_whole_nav(build: Build) -> None:
    tpl = "{% for item in nav %}{{ item.title }} {% endfor %}|{{ page.html }}"
    content = {**CONTENT, "_theme/templates/page.html": tpl}
    before = build(content)
    after = build({**content, "c.md": "# C renamed\n"})
    assert "a/index.html" in _changed(before, after)
    assert "C renamed" in after.text("a/index.html")


def test_build_key_covers_commit_root_theme_and_every_setting() -> None:
    chain = ThemeChain((ThemeLayer(name="t", version="1", templates={"page.html": "{{ page.html }}"}),))
    settings = SiteSettings(title="Docs", base_url="https://docs.example.org/", extra={"menu": [{"a": 1}]})
    key = build_key("c1", "docs", chain, settings)
    assert key == build_key("c1", "docs", chain, dataclasses.replace(settings, extra={"menu": [{"a": 1}]}))
    edited = ThemeChain((ThemeLayer(name="t", version="1", templates={"page.html": "{{ page.title }}"}),))
    others = {
        build_key("c2", "docs", chain, settings),
        build_key("c1", "", chain, settings),
        build_key("c1", "docs", edited, settings),
    }
    changed = {
        "title": "Other",
        "base_url": None,
        "html": "trusted",
        "strict": True,
        "extra": {"menu": [{"a": 2}]},
        "source": "src",
        "summary": "toc.md",
        "home": "intro.md",
    }
    # A new setting needs a line here; `nav` is covered by what it decides
    # (test_books.py::test_nav_edit_renders_what_it_changes_and_equals_a_full_build).
    assert set(changed) | {"nav"} == {f.name for f in dataclasses.fields(SiteSettings)}
    for name, value in changed.items():
        others.add(build_key("c1", "docs", chain, dataclasses.replace(settings, **{name: value})))
    assert key not in others and len(others) == 3 + len(changed)
