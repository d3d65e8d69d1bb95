"""The build process and its limits, without a database: `isolate.run` on generated sites.

The CPU-time limit is tested end to end, through a worker, in tests/pipeline/test_isolation.py.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openbook.config import BuildLimits
from openbook.errors import BuildLimitExceeded
from openbook.fs import storage
from openbook.render import parallel
from openbook.siteconf import SiteConfig
from openbook.worker import child, isolate
from openbook.worker.child import BuildJob

SITE = SiteConfig(root="", title="T", theme="book", base_url=None, html="escape", strict=False, params={},
                  redirects=(), keep_deployments=20, site_file=None)
RUNAWAY = "{{ ('ab' * 400000)|wordwrap(1)|length }}\n" * 3
# Sixty lists of a million references each: ~480 MB, all kept.
HOG = ("{% set ns = namespace(l=[]) %}{% for i in range(60) %}{% set ns.l = ns.l + [('a' * 999999)|list] %}"
       "{% endfor %}{{ ns.l|length }}")


@pytest.fixture(autouse=True)
def no_warm_processes_across_tests() -> Iterator[None]:
    yield
    isolate.retire_warm()


def job(tmp_path: Path, content: dict[str, bytes]) -> BuildJob:
    target = tmp_path / "ws" / "site" / ("c" * 64)
    return BuildJob(content, SITE, (), "c" * 64, target, None, "site", uuid.uuid4().hex)


async def run(built: BuildJob, limits: BuildLimits, cache: Path | None = None) -> tuple[dict[str, Any], Any]:
    async with await isolate.BuildProcess.start(limits, built.site_key, cache) as process:
        return await process.build(built)


async def test_a_build_within_its_limits_is_published(tmp_path: Path) -> None:
    built = job(tmp_path, {"index.md": b"# Home\n", "guide.md": b"# Guide\n"})
    stats, phases = await run(built, BuildLimits())
    assert stats["pages"] == 2 and stats["written"] == stats["files"]
    assert set(phases) == {"render", "write"}
    assert b"Guide" in (built.target / "guide/index.html").read_bytes()


@pytest.mark.parametrize(("template", "limits", "limit", "says"), [
    (HOG, BuildLimits(memory_mb=256), "memory",
     "_theme/templates/page.html: line 1: memory limit reached (BUILD_MEMORY_MB) while rendering index.md"),
    ("{% for i in range(3) %}{{ 'x' * 999999 }}{% endfor %}", BuildLimits(max_file_mb=1), "file_size",
     "_theme/templates/page.html: wrote 2.9 MiB for index.md, over the limit of 1.0 MiB per file"),
    (RUNAWAY, BuildLimits(wall_s=1), "wall",
     "_theme/templates/page.html: killed at the wall-clock limit of 1 s (BUILD_WALL_S) while rendering index.md"),
])
async def test_a_build_over_a_limit_fails_naming_the_template_and_the_limit(
        tmp_path: Path, template: str, limits: BuildLimits, limit: str, says: str) -> None:
    built = job(tmp_path, {"index.md": b"# Home\n", "_theme/templates/page.html": template.encode()})
    with pytest.raises(BuildLimitExceeded) as err:
        await run(built, limits)
    assert err.value.limit == limit and err.value.message.startswith(says), err.value.message
    assert not built.target.exists()
    assert not storage.temp_folder(built.target, built.token).exists()


async def test_a_deployment_over_its_total_size_fails_before_its_folder_appears(tmp_path: Path) -> None:
    content = {"index.md": b"# Home\n", **{f"files/{i}.bin": os.urandom(400_000) for i in range(4)}}
    built = job(tmp_path, content)
    with pytest.raises(BuildLimitExceeded) as err:
        await run(built, BuildLimits(max_file_mb=1, max_output_mb=1))
    assert err.value.limit == "output_size" and "BUILD_MAX_OUTPUT_MB" in err.value.message
    assert not built.target.exists() and list(built.target.parent.iterdir()) == []


def _build_processes() -> set[int]:
    """Processes running this checkout's Python (other checkouts on the machine run their own),
    but for this one's own children (the fork server and the resource tracker stay)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if str(Path(__file__).parents[2]).encode() in cmdline and parent != os.getpid():
                found.add(int(entry))
    return found


@pytest.mark.skipif(parallel.default_workers() < 2, reason="a pool needs two CPUs")
async def test_a_killed_build_takes_its_render_processes_with_it(tmp_path: Path) -> None:
    pages = {f"p{i:03}.md": f"# Page {i}\n".encode() for i in range(parallel.PARALLEL_MIN_PAGES)}
    built = job(tmp_path, {"index.md": b"# Home\n", **pages, "_theme/templates/page.html": RUNAWAY.encode()})
    before = _build_processes()
    with pytest.raises(BuildLimitExceeded) as err:
        await run(built, BuildLimits(wall_s=3))
    # Render processes were each inside a page: those are named, not the waiting build process.
    assert err.value.limit == "wall" and err.value.path == "_theme/templates/page.html"
    assert "rendering p" in err.value.message, err.value.message
    deadline = time.monotonic() + 10
    while (left := _build_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the killed build still run: {left}"


async def test_what_a_build_learnt_serves_the_next_build_process(tmp_path: Path) -> None:
    pages = {f"p{i}.md": f"# Page {i}\n\nSee [the next](p{i + 1}.md).\n".encode() for i in range(30)}
    cache = tmp_path / "cache" / "ws" / "site.snapshot"
    first = job(tmp_path, {"index.md": b"# Home\n", **pages})
    cold = BuildLimits(warm_sites=0)  # a new process for every build: each restores the snapshot
    stats, _ = await run(first, cold, cache)
    assert stats["parsed"] == 31 and stats["cache"]["restored"] == 0
    # The snapshot is written after the result was sent (the deployment does not wait for it);
    # the site's next build process waits for it rather than start cold.
    edited = job(tmp_path, {**first.content, "p7.md": b"# Page 7, edited\n"})
    edited = BuildJob(edited.content, SITE, (), "d" * 64, first.target.with_name("d" * 64), first.target,
                      "site", uuid.uuid4().hex)
    stats, _ = await run(edited, cold, cache)
    assert stats["cache"]["restored"] > 31 and stats["parsed"] == 1
    # The edited page, the pages that show its title (prev/next), the shared nav and index files.
    assert stats["rendered"] < 12 and stats["linked"] > 20
    assert b"Page 7, edited" in (edited.target / "p7/index.html").read_bytes()
    # What the second build learnt was appended to the snapshot, not written whole again.
    again = BuildJob({**edited.content, "p8.md": b"# Page 8, edited\n"}, SITE, (), "e" * 64,
                     first.target.with_name("e" * 64), edited.target, "site", uuid.uuid4().hex)
    stats, _ = await run(again, cold, cache)
    assert stats["cache"]["records"] == 2 and stats["parsed"] == 1


def _edit(built: BuildJob, n: int, files: dict[str, bytes]) -> BuildJob:
    """The next commit of `built`'s site: `files` changed (None: removed), built over `built`."""
    commit = f"{n:064x}"
    content = {p: d for p, d in {**built.content, **files}.items() if d}
    return BuildJob(content, SITE, (), commit, built.target.with_name(commit), built.target, "site",
                    uuid.uuid4().hex)


async def test_a_warm_build_process_takes_its_sites_next_build_within_the_same_limits(tmp_path: Path) -> None:
    limits = BuildLimits(cpu_s=2)
    cache = tmp_path / "cache" / "ws" / "site.snapshot"
    first = job(tmp_path, {"index.md": b"# Home\n", **{f"p{i}.md": f"# Page {i}\n".encode() for i in range(20)}})
    stats, _ = await run(first, limits, cache)
    assert "warm" not in stats["cache"]
    # The same process: nothing to restore, only the changed and removed files sent.
    second = _edit(first, 2, {"p3.md": b"# Page 3, edited\n", "p4.md": b""})
    stats, _ = await run(second, limits, cache)
    assert stats["cache"]["warm"] and stats["parsed"] == 1 and stats["pages"] == 20
    assert b"Page 3, edited" in (second.target / "p3/index.html").read_bytes()
    assert not (second.target / "p4").exists()
    # Its CPU limit counts from each build's start, not from the process's: a runaway
    # template in a later build stops at BUILD_CPU_S, and the process goes with it.
    runaway = _edit(second, 3, {"_theme/templates/page.html": RUNAWAY.encode()})
    with pytest.raises(BuildLimitExceeded) as err:
        await run(runaway, limits, cache)
    assert err.value.limit == "cpu" and "CPU time limit of 2 s" in err.value.message, err.value.message
    # The next build starts a new process, from the snapshot the warm one wrote before it went
    # (its builds' deployments did not wait for that).
    stats, _ = await run(_edit(second, 4, {"p5.md": b"# Page 5, edited\n"}), limits, cache)
    assert "warm" not in stats["cache"] and stats["cache"]["restored"] > 20 and stats["parsed"] == 1


async def test_a_warm_process_whose_files_the_worker_does_not_keep_gets_them_all_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolate, "HELD_MAX_BYTES", 10)  # a site of large files: the worker keeps none
    first = job(tmp_path, {"index.md": b"# Home\n", "a.md": b"# A\n", "b.md": b"# B\n"})
    await run(first, BuildLimits())
    second = _edit(first, 2, {"a.md": b"# A, edited\n", "b.md": b""})
    stats, _ = await run(second, BuildLimits())
    assert stats["cache"]["warm"] and stats["pages"] == 2
    assert b"A, edited" in (second.target / "a/index.html").read_bytes() and not (second.target / "b").exists()


async def test_a_warm_process_that_died_while_it_waited_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    before = _build_processes()
    first = job(tmp_path, {"index.md": b"# Home\n"})
    await run(first, BuildLimits())
    waiting = _build_processes() - before
    assert len(waiting) == 1  # the site's build process, waiting for its next build
    os.kill(waiting.pop(), signal.SIGKILL)  # as the OOM killer would
    stats, _ = await run(_edit(first, 2, {"index.md": b"# Home, edited\n"}), BuildLimits())
    assert "warm" not in stats["cache"] and stats["pages"] == 1


def test_a_build_process_stays_warm_only_with_room_left_in_its_limits() -> None:
    # Asked in this process, which holds ~60 MB of address space and has used little CPU.
    assert child.may_stay(BuildLimits())
    assert not child.may_stay(BuildLimits(memory_mb=64))  # it would hold over half of BUILD_MEMORY_MB
    assert not child.may_stay(BuildLimits(warm_sites=0))
