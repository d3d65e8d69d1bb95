"""Incremental builds: files whose render key is unchanged are not rendered, and that is never wrong.

The central check: take a full build, change something, rebuild with the first
build's keys as `previous`, then fill every reused file from the first build.
The result must equal a fresh full build of the changed content, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openbook.render import BuildResult, ThemeChain, ThemeLayer
from openbook.render.cache import SITE_CACHES
from tests.render.conftest import Build, Site
from tests.render.test_images import png

BOOK: dict[str, bytes | str] = {
    "index.md": "# Home\n\n[Start](guide/start.md) and [deep](guide/deep.md#details).",
    "guide/index.md": "# Guide\n",
    "guide/start.md": "# Start\n\nRead [the next page](deep.md).\n\n![diagram](../img/d.png)",
    "guide/deep.md": "# Deep\n\n## Details\n\nText.\n",
    "guide/more.md": "# More\n\nBack to [start](start.md).",
    "ref/api.md": "---\ntitle: API\naliases: [old-api]\n---\nThe API.",
    "ref/cli.md": "# CLI\n",
    "img/d.png": png(4, 3),
}


def keys(result: BuildResult) -> dict[str, str]:
    return {f.path: f.render_key for f in result.files}


def materialize(before: BuildResult, after: BuildResult) -> dict[str, bytes]:
    """What a deployment of `after` holds: rendered files, and reused ones taken from `before`."""
    old = {f.path: f.data for f in before.files}
    out = {}
    for f in after.files:
        data = f.data if f.data is not None else old[f.path]
        assert data is not None
        out[f.path] = data
    return out


def rebuild(
    build: Build,
    before_content: Mapping[str, bytes | str],
    after_content: Mapping[str, bytes | str],
    **kwargs: Any,
) -> tuple[Site, Site, set[str]]:
    """(first build, incremental rebuild, paths it rendered); asserts the rebuild is right."""
    before_kwargs = kwargs.pop("before", {})
    first = build(before_content, **before_kwargs)
    again = build(after_content, previous=keys(first.result), **kwargs)
    fresh = build(after_content, **kwargs)
    assert materialize(first.result, again.result) == fresh.files
    assert keys(again.result) == keys(fresh.result)
    rendered = {f.path for f in again.result.files if not f.reused}
    assert again.stats["rendered"] == len(rendered)
    assert again.stats["reused"] == len(again.result.files) - len(rendered)
    return first, again, rendered


def pages(paths: set[str]) -> set[str]:
    """Rendered paths minus the search index (its shards follow any text change)."""
    return {p for p in paths if not p.startswith("_openbook/search/")}


def test_unchanged_site_renders_nothing(build: Build) -> None:
    first = build(BOOK)
    again = build(BOOK, previous=keys(first.result))
    assert again.stats["rendered"] == 0
    assert again.stats["reused"] == len(first.result.files) == again.stats["files"]
    assert all(f.data is None and f.reused for f in again.result.files)
    assert again.stats["bytes"] == 0


def test_one_page_edit_renders_that_page(build: Build) -> None:
    _, _, rendered = rebuild(build, BOOK, {**BOOK, "ref/cli.md": "# CLI\n\nNew text."})
    assert pages(rendered) == {"ref/cli/index.html"}


def test_title_change_reaches_neighbours_nav_files_and_linking_pages(build: Build) -> None:
    _, _, rendered = rebuild(build, BOOK, {**BOOK, "guide/deep.md": "# Deeper\n\n## Details\n\nText.\n"})
    # prev/next of its neighbours (guide/, more) show the title; toc.js and the contents page list it
    assert {"guide/deep/index.html", "guide/index.html", "guide/more/index.html"} <= rendered
    assert {"_openbook/toc.js", "contents/index.html"} <= rendered
    assert "sitemap.xml" not in rendered  # no URL changed
    assert "guide/start/index.html" not in rendered and "index.html" not in rendered


def test_template_edit_renders_every_page(build: Build) -> None:
    override = {"_theme/templates/page.html": '{% extends "base:page.html" %}{% block footer %}x{% endblock %}'}
    _, _, rendered = rebuild(build, BOOK, {**BOOK, **override})
    assert {"index.html", "guide/start/index.html", "ref/cli/index.html", "404.html"} <= rendered
    assert "img/d.png" not in rendered


def test_renamed_link_target_and_anchor_reach_the_linking_page(build: Build) -> None:
    moved = {k: v for k, v in BOOK.items() if k != "guide/deep.md"}
    moved["guide/deeper.md"] = BOOK["guide/deep.md"]
    _, again, rendered = rebuild(build, BOOK, moved)
    assert {"index.html", "guide/start/index.html"} <= rendered  # their links now break
    assert {"path": "guide/start.md", "line": 3, "target": "deep.md", "count": 1} in again.stats["broken_links"]

    _, _, rendered = rebuild(build, BOOK, {**BOOK, "guide/deep.md": "# Deep\n\n## Renamed\n"})
    assert "index.html" in rendered  # its #details anchor broke


def test_settings_and_theme_version_changes_render_every_page(build: Build) -> None:
    for kwargs in ({"title": "Other"}, {"extra": {"footer": "x"}}, {"html": "trusted"}):
        _, _, rendered = rebuild(build, BOOK, BOOK, **kwargs)
        assert {"index.html", "ref/cli/index.html"} <= rendered, kwargs

    def chain(version: str) -> ThemeChain:
        return ThemeChain((ThemeLayer(name="t", version=version, templates={"page.html": "{{ page.html }}"}),))

    _, _, rendered = rebuild(build, BOOK, BOOK, theme=chain("2"), before={"theme": chain("1")})
    assert {"index.html", "ref/cli/index.html"} <= rendered


def test_image_resize_reaches_only_the_page_showing_it(build: Build) -> None:
    _, _, rendered = rebuild(build, BOOK, {**BOOK, "img/d.png": png(8, 6)})
    assert pages(rendered) == {"img/d.png", "guide/start/index.html"}


def test_added_deleted_and_drafted_pages(build: Build) -> None:
    _, _, rendered = rebuild(build, BOOK, {**BOOK, "ref/zzz.md": "# Last\n"})
    assert {"ref/zzz/index.html", "ref/cli/index.html"} <= rendered  # the new page and its prev
    assert "guide/start/index.html" not in rendered
    drafted = {**BOOK, "guide/more.md": "---\ndraft: true\n---\n# More\n"}
    rebuild(build, BOOK, drafted)
    rebuild(build, BOOK, {k: v for k, v in BOOK.items() if k != "ref/api.md"})
    rebuild(build, BOOK, {**BOOK, "SUMMARY.md": "# Summary\n\n- [Home](index.md)\n- [CLI](ref/cli.md)\n"})


def test_url_for_targets_are_dependencies(build: Build) -> None:
    tpl = "{{ url_for('ref/cli.md') }}|{{ page.html }}"
    content = {**BOOK, "_theme/templates/page.html": tpl}
    _, _, rendered = rebuild(build, content, {**content, "guide/zzz.md": "# New\n"})
    assert "index.html" not in rendered  # the named page's URL did not change
    gone = {k: v for k, v in content.items() if k != "ref/cli.md"}
    _, _, rendered = rebuild(build, content, gone)
    assert {"index.html", "guide/start/index.html"} <= rendered

    computed = {**BOOK, "_theme/templates/page.html": "{{ url_for(page.meta.get('see', 'x.md')) }}"}
    _, _, rendered = rebuild(build, computed, {**computed, "guide/zzz.md": "# New\n"})
    assert "index.html" in rendered  # any page URL may matter to a computed url_for


def test_last_commit_is_shown_and_is_a_dependency_only_when_used(build: Build) -> None:
    commit = {"id": "c1", "author": "ada", "date": "2024-05-01T10:00:00Z", "message": "Fix typo"}
    later = {**commit, "id": "c2", "message": "Reword"}
    plain = build(BOOK, last_commits={"ref/cli.md": commit})
    moved = build(BOOK, last_commits={"ref/cli.md": later})
    assert keys(plain.result) == keys(moved.result)  # the theme does not show it

    tpl = "{% if page.last_commit %}{{ page.last_commit.message }} by {{ page.last_commit.author }}{% endif %}"
    content = {**BOOK, "_theme/templates/page.html": tpl}
    _, again, rendered = rebuild(
        build, content, content, last_commits={"ref/cli.md": later}, before={"last_commits": {"ref/cli.md": commit}}
    )
    assert pages(rendered) == {"ref/cli/index.html"}
    assert again.stats["rendered"] == 1
    assert build(content, last_commits={"ref/cli.md": later}).text("ref/cli/index.html") == "Reword by ada"
    assert build(content).text("ref/api/index.html") == ""


def test_warm_rebuild_parses_only_the_changed_page(build: Build) -> None:
    build(BOOK)
    site = build({**BOOK, "ref/cli.md": "# CLI\n\nEdited once more."})
    assert site.stats["parsed"] == 1
    SITE_CACHES.clear()
    cold = build({**BOOK, "ref/cli.md": "# CLI\n\nEdited once more."})
    assert cold.stats["parsed"] == sum(1 for p in BOOK if p.endswith(".md"))
    assert cold.files == site.files
