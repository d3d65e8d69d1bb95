"""Per-site caches: sites built in turn keep what they learnt, within byte bounds, and never change output."""

from __future__ import annotations

import marshal
from collections import Counter
from collections.abc import Callable
from typing import Any

import jinja2
import pytest

from openbook.render import search, templates
from openbook.render.cache import SITE_CACHES, Kind, SiteCache, SiteCaches, Table, runtime
from openbook.render.frames import Frames
from openbook.render.gather import FOLDER_NAV
from openbook.render.links import LinkResolver
from openbook.render.nav import Nav
from openbook.render.plan import ALL_URLS
from tests.render.conftest import Build
from tests.render.test_incremental import BOOK, keys

OTHER: dict[str, bytes | str] = {
    "index.md": "# Other site\n\n[One](one.md)",
    "one.md": "# One\n\nSee [two](two.md#end).",
    "two.md": "# Two\n\n## End\n",
}


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each kind of derived value is computed rather than taken from a cache."""
    counts: Counter[str] = Counter()

    def count(owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    count(Frames, "_frame", "frames")
    count(LinkResolver, "_target", "link targets")
    count(templates, "_facts", "template facts")
    count(jinja2.Environment, "compile", "template compiles")
    count(search._Index, "__init__", "search index builds")
    return counts


def test_sites_built_in_turn_keep_what_they_learnt(build: Build, work: Counter[str]) -> None:
    SITE_CACHES.clear()
    first = build(BOOK, site_key="a")
    cold = dict(work)
    assert all(cold.get(k, 0) > 0 for k in ("frames", "link targets", "template facts", "template compiles"))
    assert cold["search index builds"] == 1
    build(OTHER, site_key="b")
    work.clear()
    edited = {**BOOK, "ref/cli.md": "# CLI\n\nNew text."}
    again = build(edited, site_key="a", previous=keys(first.result))
    assert again.stats["parsed"] == 1 and again.stats["rendered"] < 10
    assert work == Counter(), "site a recomputed what its last build had, after site b's build"


def test_the_site_key_never_changes_the_output(build: Build) -> None:
    SITE_CACHES.clear()
    build(OTHER, site_key="x")
    warm = build(BOOK, site_key="x")
    SITE_CACHES.clear()
    assert build(BOOK, site_key="y").files == warm.files


def test_each_site_and_all_sites_together_stay_within_their_bytes() -> None:
    blob: Kind[bytes] = Kind("blob")
    caches = SiteCaches(max_bytes=1000, site_max_bytes=600)
    with caches.site("a") as a:
        for i in range(10):
            a.put(blob, i, b"x", 100)
    assert a.bytes == 600 and a.get(blob, 0) is None and a.get(blob, 9) == b"x"  # oldest entries went first
    with caches.site("b") as b:
        b.put(blob, 0, b"y", 300)
    assert caches.bytes == 900 and len(caches) == 2
    with caches.site("c") as c:
        c.put(blob, 0, b"z", 300)
    assert caches.bytes == 600 and len(caches) == 2  # a, built least recently, went whole
    with caches.site("a") as fresh:
        assert fresh is not a and fresh.get(blob, 9) is None
    with caches.site("b") as same:
        assert same is b and same.get(blob, 0) == b"y"


def test_a_table_serves_builds_with_the_same_inputs_and_never_outgrows_the_live_entries() -> None:
    cache = SiteCache()
    frames: Table[str, int] = Table("t", entry_bytes=10)
    cache.table(frames, "d1")["p"] = 1
    cache.settle(frames, live=1)
    assert cache.table(frames, "d1") == {"p": 1} and cache.bytes > 10
    assert cache.table(frames, "d2") == {}  # derived from other inputs: a new table replaces it
    assert cache.table(frames, "d1") == {}
    stale = cache.table(frames, "d3")
    stale.update((f"old{i}", i) for i in range(200))
    cache.settle(frames, live=50)  # 200 > 2 x 50 + slack: most entries are no longer needed
    assert cache.table(frames, "d3") == {}


DATED: dict[str, bytes | str] = {
    **BOOK,
    "news.md": "---\ntitle: News\ndate: 2024-05-01\nwhen: 2024-05-01T10:00:00+02:00\ntags: [a, b]\n---\n# News\n",
    "guide/included.md": "# Included\n\n{{#include ../snippets/hello.txt}}\n\n{{#unknown}}\n",
    "snippets/hello.txt": "Hello from a file.\n",
}


def test_a_snapshot_restored_in_a_fresh_cache_serves_the_next_build_as_the_warm_cache_would(
        build: Build, work: Counter[str]) -> None:
    SITE_CACHES.clear()
    first = build(DATED, site_key="a")
    snapshot = SITE_CACHES.snapshot("a")
    SITE_CACHES.clear()  # a new process: nothing in memory
    assert SITE_CACHES.restore("a", snapshot) > len(DATED)
    work.clear()
    edited = {**DATED, "ref/cli.md": "# CLI\n\nNew text."}
    again = build(edited, site_key="a", previous=keys(first.result))
    assert again.stats["parsed"] == 1 and again.stats["rendered"] < 10
    assert again.stats["problems"] == first.result.stats["problems"] != []  # kept with the pages
    assert work == Counter(), "recomputed what the snapshot held"
    SITE_CACHES.clear()
    assert again.files == build(edited, site_key="b", previous=keys(first.result)).files


def test_a_snapshot_of_other_renderer_code_or_damaged_restores_nothing(build: Build) -> None:
    SITE_CACHES.clear()
    build(BOOK, site_key="a")
    snapshot = SITE_CACHES.snapshot("a")
    _, entries, dropped = marshal.loads(snapshot)
    other_runtime = marshal.dumps((("another renderer",), entries, dropped))
    for data in (other_runtime, snapshot[: len(snapshot) // 2], b"not a snapshot"):
        assert SiteCaches().restore("a", data) == 0
    # An entry that does not decode is left out; the others are restored.
    damaged = [(name, key, "garbage", size) if name == "parsed page" else (name, key, value, size)
               for name, key, value, size in entries]
    kept = SiteCaches().restore("a", marshal.dumps((runtime(), damaged, [])))
    assert 0 < kept == len(entries) - sum(1 for e in entries if e[0] == "parsed page")


def test_what_one_build_learnt_applied_over_the_older_snapshot_serves_as_the_warm_cache_would(
        build: Build, work: Counter[str]) -> None:
    SITE_CACHES.clear()
    first = build(DATED, site_key="a")
    snapshot = SITE_CACHES.snapshot("a")
    SITE_CACHES.mark("a")
    assert SITE_CACHES.changes("a") is None  # nothing learnt since: nothing to save
    # A new page (new link targets, a new search index), then an edit (the index is patched).
    added = {**DATED, "new.md": "# New\n\n[CLI](ref/cli.md)"}
    second = build(added, site_key="a", previous=keys(first.result))
    edited = {**added, "ref/cli.md": "# CLI\n\nNew text."}
    third = build(edited, site_key="a", previous=keys(second.result))
    changes = SITE_CACHES.changes("a")
    assert changes is not None and len(changes) < len(snapshot)
    SITE_CACHES.mark("a")
    patched = build({**edited, "ref/cli.md": "# CLI\n\nOther text."}, site_key="a", previous=keys(third.result))
    only_patched = SITE_CACHES.changes("a")
    assert only_patched is not None
    assert "search index" not in {name for name, *_ in marshal.loads(only_patched)[1]}
    SITE_CACHES.clear()  # a new process: the older snapshot, then what the builds added to it
    for record in (snapshot, changes, only_patched):
        SITE_CACHES.restore("a", record)
    work.clear()
    again = build({**edited, "ref/cli.md": "# CLI\n\nNewer text."}, site_key="a", previous=keys(patched.result))
    assert again.stats["parsed"] == 1
    assert work == Counter(), "recomputed what the snapshot and the changes held"
    SITE_CACHES.clear()
    assert again.files == build({**edited, "ref/cli.md": "# CLI\n\nNewer text."}, site_key="b",
                                previous=keys(patched.result)).files


def test_an_edit_that_moves_no_page_reuses_the_list_of_every_page_url(build: Build) -> None:
    SITE_CACHES.clear()
    first = build(BOOK, site_key="a")

    def all_urls() -> tuple[dict[str, str], str] | None:
        with SITE_CACHES.site("a") as cache:
            return cache.get(ALL_URLS, None)

    kept = all_urls()
    assert kept is not None and "ref/cli.md" in kept[0]  # the book theme's contents page calls url_for()
    second = build({**BOOK, "ref/cli.md": "# CLI\n\nNew text."}, site_key="a", previous=keys(first.result))
    assert (again := all_urls()) is not None and again[1] is kept[1]
    build({**BOOK, "ref/new.md": "# New\n"}, site_key="a", previous=keys(second.result))
    assert (moved := all_urls()) is not None and "ref/new.md" in moved[0] and moved[1] != kept[1]


def test_an_edit_that_changes_no_title_order_or_url_reuses_the_folders_navigation(build: Build) -> None:
    SITE_CACHES.clear()
    first = build(OTHER, site_key="f")  # no SUMMARY.md: the navigation comes from the folders

    def nav() -> Nav:
        with SITE_CACHES.site("f") as cache:
            kept = cache.get(FOLDER_NAV, None)
        assert kept is not None
        return kept[1]

    made = nav()
    second = build({**OTHER, "one.md": "# One\n\nOther words."}, site_key="f", previous=keys(first.result))
    assert nav() is made
    third = build({**OTHER, "one.md": "# Won\n"}, site_key="f", previous=keys(second.result))
    assert nav() is not made and "Won" in nav().to_json()
    SITE_CACHES.clear()
    assert build({**OTHER, "one.md": "# Won\n"}, site_key="g", previous=keys(second.result)).files == third.files
