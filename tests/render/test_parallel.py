"""Large builds in a process pool: the same output as a serial build, safe inside the worker.

The worker calls build_site from a thread of its asyncio process, handles SIGTERM
by finishing its build, and may be killed outright: pool processes must cope
with all three.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from openbook.errors import RenderError, TemplateTimeout
from openbook.render import SiteSettings, ThemeChain, build_site, parallel
from openbook.render.cache import SITE_CACHES
from openbook.render.context import PageRenderer, RenderJob, RenderState
from openbook.render.parallel import PARALLEL_MIN_PAGES
from tests.render.test_images import png
from tests.render.test_incremental import keys, pages

ROOT = Path(__file__).parents[2]


def large_book(n: int) -> dict[str, bytes]:
    content = {"index.md": b"# Large\n\n[first](ch0/p0.md)\n", "fig.png": png(2, 2),
               "listing.rs": b"fn main() {\n    // [a link](missing.md)\n}\n"}
    for i in range(n):
        # every tenth page includes a listing (expanded in the building process, parsed in the pool)
        include = "```rust\n{{#include ../listing.rs:1:2}}\n```\n" if i % 10 == 0 else ""
        content[f"ch{i // 50}/p{i}.md"] = (
            f"# Page {i}\n\nSee [next](p{i + 1}.md#part-{i + 1}) and ![fig](../fig.png).\n\n"
            f"## Part {i}\n\n```python\nx = {i}\n```\n\n| a | b |\n|---|---|\n| {i} | 2 |\n{include}"
        ).encode()
    return content


@pytest.fixture(scope="module")
def large() -> dict[str, bytes]:
    book = large_book(PARALLEL_MIN_PAGES + 60)
    assert sum(p.endswith(".md") for p in book) > PARALLEL_MIN_PAGES  # the pool is used
    return book


def test_parallel_build_equals_serial(book: ThemeChain, large: dict[str, bytes]) -> None:
    settings = SiteSettings(title="Large")
    SITE_CACHES.clear()
    serial = build_site(large, book, settings, workers=1)
    SITE_CACHES.clear()
    parallel = build_site(large, book, settings, workers=2)
    assert parallel.stats["parsed"] == serial.stats["parsed"] == len(large) - 2
    assert [(f.path, f.data, f.render_key) for f in parallel.files] == [
        (f.path, f.data, f.render_key) for f in serial.files
    ]
    assert parallel.stats == serial.stats

    edited = {**large, "ch2/p120.md": large["ch2/p120.md"] + b"\nMore.\n"}
    again = build_site(edited, book, settings, workers=2, previous=keys(serial))
    assert pages({f.path for f in again.files if not f.reused}) == {"ch2/p120/index.html"}


def test_parallel_build_reports_the_first_error_as_serial_does(book: ThemeChain, large: dict[str, bytes]) -> None:
    broken = {**large, "ch3/p170.md": b"---\ntitle: [unclosed\n---\n", "ch4/p210.md": b"---\ndraft: maybe\n---\n"}
    errors = []
    for workers in (1, 2):
        SITE_CACHES.clear()
        with pytest.raises(RenderError) as info:
            build_site(broken, book, SiteSettings(title="Large"), workers=workers)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith("ch3/p170.md: invalid front matter")

    template = {**large, "_theme/templates/page.html": b"{{ page.html }}{{ page.meta.x.y }}"}
    errors = []
    for workers in (1, 2):
        with pytest.raises(RenderError) as info:
            build_site(template, book, SiteSettings(title="Large"), workers=workers)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "_theme/templates/page.html" in errors[0]


def test_a_parallel_build_that_collects_its_errors_lists_those_of_a_serial_one(
        book: ThemeChain, large: dict[str, bytes]) -> None:
    broken = {**large, "ch3/p170.md": b"---\ntitle: [unclosed\n---\n", "ch4/p210.md": b"---\ndraft: maybe\n---\n",
              "_theme/templates/page.html": b"{{ page.html }}{% if page.url == 'ch1/p60/' %}{{ x.y }}{% endif %}"}
    problems = []
    for workers in (1, 2):
        SITE_CACHES.clear()
        result = build_site(broken, book, SiteSettings(title="Large"), workers=workers, collect=True)
        errors = (p for p in result.stats["problems"] if p["kind"] == "error")
        problems.append([(p["path"], p["line"], p["message"]) for p in errors])
        assert "ch1/p60/index.html" not in {f.path for f in result.files}  # the page that failed
        assert {"ch1/p61/index.html", "ch3/p170/index.html"} <= {f.path for f in result.files}
    assert problems[0] == problems[1] == [
        ("_theme/templates/page.html", 1, "line 1: UndefinedError: 'x' is undefined (while rendering ch1/p60.md)"),
        ("ch3/p170.md", 3, "invalid front matter (line 3): did not find expected ',' or ']'"),
        ("ch4/p210.md", 2, "invalid front matter: 'draft' must be true or false"),
    ]


async def test_pool_works_from_a_thread_of_an_event_loop(book: ThemeChain, large: dict[str, bytes]) -> None:
    """As in the worker: asyncio.to_thread(build_site, ...) while the loop runs timers (its lease).
    A pool forked from this threaded process could deadlock: the deadline makes that a failure."""
    SITE_CACHES.clear()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    build = asyncio.to_thread(build_site, large, book, SiteSettings(title="Large"), workers=2)
    result = await asyncio.wait_for(build, timeout=300)
    beat.cancel()
    assert result.stats["parsed"] == len(large) - 2 and result.stats["rendered"] == len(result.files)


_BUILDER = textwrap.dedent(
    """
    import signal, sys
    from openbook.render import SiteSettings, build_site
    from openbook.fs.themes import load_theme
    from tests.render.test_parallel import large_book

    terms = []
    signal.signal(signal.SIGTERM, lambda *_: terms.append(1))  # like the worker: finish, then stop
    print("building", flush=True)
    result = build_site(large_book(int(sys.argv[1])), load_theme("book"), SiteSettings(title="x"), workers=2)
    print(result.stats["pages"], len(terms), flush=True)
    """
)


def _builder(pages: int, marker: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OB_TEST_MARKER": marker, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _BUILDER, str(pages)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries `marker` (the builder and everything it started)."""
    found = []
    needle = f"OB_TEST_MARKER={marker}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _wait_for_pool(proc: subprocess.Popen[str], marker: str) -> None:
    assert proc.stdout is not None and proc.stdout.readline().strip() == "building"
    deadline = time.monotonic() + 30
    while len(_marked(marker)) < 5:  # builder, resource tracker, fork server, two pool processes
        assert proc.poll() is None and time.monotonic() < deadline, "the pool never started"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigterm_to_the_process_group_does_not_stop_a_build() -> None:
    marker = uuid.uuid4().hex
    proc = _builder(800, marker)
    _wait_for_pool(proc, marker)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.split()[-2:] == ["801", "1"]  # every page built; the builder saw the signal


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_no_pool_process_outlives_a_killed_builder() -> None:
    marker = uuid.uuid4().hex
    proc = _builder(2000, marker)
    _wait_for_pool(proc, marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(marker) == []


def test_a_failure_sent_back_by_a_pool_process_keeps_its_class(
    book: ThemeChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandboxed template's timeout stays a TemplateTimeout, as in a serial build."""
    monkeypatch.setattr("openbook.render.templates.RENDER_TIME_LIMIT_S", 0.0)
    chain = book.with_content_overrides({"_theme/templates/page.html": b"{% for i in range(99999) %}{% endfor %}"})
    state = RenderState(chain, {"title": "x"}, "contents/", {}, {}, ())
    monkeypatch.setattr(parallel, "_renderer", PageRenderer(state))
    failure = parallel._render_chunk([RenderJob("index.md", "page.html", "", {}, False)])
    assert isinstance(failure, TemplateTimeout)
    back = pickle.loads(pickle.dumps(failure))  # as it travels back
    assert type(back) is TemplateTimeout and back.path == "_theme/templates/page.html"
    assert back.cause == failure.cause and back.message == failure.message and back.details == failure.details
