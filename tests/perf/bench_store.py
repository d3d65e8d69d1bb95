"""Content-store benchmarks, printed beside git's time for the same operation on the same files.

OpenBook figures are server-side time (the repository call the API handler
makes, against the real PostgreSQL); git's are wall time of the git commands on
a local repository holding the same files.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.store.trees import Change

Row = tuple[str, str, float, float | None, str]


def content(i: int, size: int) -> bytes:
    line = f"page {i}: OpenBook benchmark text, the quick brown fox jumps over the lazy dog.\n".encode()
    return (line * (size // len(line) + 1))[:size]


def tree_files(n: int, per_folder: int, size: int) -> dict[str, bytes]:
    return {f"d{i // per_folder:04d}/f{i % per_folder:05d}.md": content(i, size) for i in range(n)}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def git_repo(files: dict[str, bytes]) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="ob-bench-git-"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.org")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "gc.auto", "0")
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "import")
    return repo


def git_one_file_commit(repo: Path, path: str, runs: int) -> float:
    samples = []
    for r in range(runs):
        (repo / path).write_bytes(f"edit {r}\n".encode())
        samples.append(timed(lambda: (git(repo, "add", path), git(repo, "commit", "-q", "-m", "edit"))))
    return statistics.median(samples)


async def median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def import_files(repo: ContentRepository, branch: str, files: dict[str, bytes]) -> float:
    changes = [Change.put(p, d) for p, d in files.items()]
    start = time.perf_counter()
    await repo.commit(branch, changes, "import", "bench", None)
    return (time.perf_counter() - start) * 1000


async def new_repo(pool: Database) -> ContentRepository:
    ws = await create_workspace(pool, f"bench-{uuid.uuid4().hex[:10]}", "bench")
    return ContentRepository(pool, ws.id)


async def run(pool: Database, runs: int = 15) -> list[Row]:
    rows: list[Row] = []

    # 1. Import 10,000 files of 2 KB in one commit.
    files10k = tree_files(10_000, 1000, 2048)
    repo = await new_repo(pool)
    ob = await import_files(repo, "main", files10k)
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp)
        git(g, "init", "-q")
        write_files(g, files10k)
        git_ms = timed(lambda: (git(g, "add", "-A"),
                                git(g, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "-m", "i")))
    rows.append(("import 10,000 files x 2 KB, one commit", "<= 5000 ms", ob, git_ms, "git add -A + commit"))

    # 2. 1-file commit on 1,000 and 100,000 files (folders of up to 1,000 entries).
    small = await new_repo(pool)
    await import_files(small, "main", tree_files(1000, 1000, 256))
    files100k = tree_files(100_000, 1000, 256)
    big = await new_repo(pool)
    await import_files(big, "main", files100k)
    counter = iter(range(10**9))

    async def edit(r: ContentRepository) -> None:
        await r.commit("main", [Change.put("d0050/f00007.md", f"edit {next(counter)}\n".encode())], "edit", "b", None)

    await edit(big)  # warm the path once, as a running server would have it
    t_small = await median_ms(lambda: edit(small), runs)
    t_big = await median_ms(lambda: edit(big), runs)
    grepo = git_repo(files100k)
    g_big = git_one_file_commit(grepo, "d0050/f00007.md", runs)
    rows.append(("1-file commit, 1,000-file branch", "-", t_small, None, ""))
    rows.append(("1-file commit, 100,000-file branch", f"<= 30 ms, <= 2x ({2 * t_small:.1f})", t_big, g_big,
                 "git add + commit"))

    # 3. Merge two branches with 100 changed files each on the 100,000-file tree.
    await big.create_branch("left", "main", "b")
    await big.create_branch("right", "main", "b")
    await big.commit("left", [Change.put(f"d{i:04d}/f00001.md", b"left\n") for i in range(100)], "l", "b", None)
    await big.commit("right", [Change.put(f"d{i:04d}/f00002.md", b"right\n") for i in range(100)], "r", "b", None)
    start = time.perf_counter()
    outcome = await big.merge("right", "left", None, "fail", "b")
    t_merge = (time.perf_counter() - start) * 1000
    assert outcome.result == "merged"
    git(grepo, "checkout", "-q", "-b", "left")
    for i in range(100):
        (grepo / f"d{i:04d}/f00001.md").write_bytes(b"left\n")
    git(grepo, "commit", "-q", "-am", "l")
    git(grepo, "checkout", "-q", "-b", "right", "main")
    for i in range(100):
        (grepo / f"d{i:04d}/f00002.md").write_bytes(b"right\n")
    git(grepo, "commit", "-q", "-am", "r")
    git(grepo, "checkout", "-q", "left")
    g_merge = timed(lambda: git(grepo, "merge", "-q", "--no-edit", "right"))
    rows.append(("merge 100 + 100 changes, 100,000 files", "<= 300 ms", t_merge, g_merge, "git merge (+ checkout)"))

    # 4. Diff of two commits that differ in 10 files on the 100,000-file tree.
    before = (await big.branch("main")).head
    await big.commit("main", [Change.put(f"d{i * 7:04d}/f00003.md", b"diff\n") for i in range(10)], "d", "b", None)
    after = (await big.branch("main")).head
    t_diff = await median_ms(lambda: big.diff(before, after), runs)
    git(grepo, "checkout", "-q", "main")
    g_before = subprocess.run(["git", "-C", str(grepo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    for i in range(10):
        (grepo / f"d{i * 7:04d}/f00003.md").write_bytes(b"diff\n")
    git(grepo, "commit", "-q", "-am", "d")
    g_diff = statistics.median(timed(lambda: git(grepo, "diff", "--name-status", g_before.strip(), "HEAD"))
                               for _ in range(runs))
    rows.append(("diff, 10 changed files, 100,000 files", "<= 50 ms", t_diff, g_diff, "git diff --name-status"))
    subprocess.run(["rm", "-rf", str(grepo)], check=True)

    # 5. 1-file commit into one folder that already holds 100,000 entries.
    flat = {f"pages/p{i:06d}.md": content(i, 128) for i in range(100_000)}
    wide = await new_repo(pool)
    await import_files(wide, "main", flat)

    async def edit_wide() -> None:
        await wide.commit("main", [Change.put(f"pages/new{next(counter)}.md", b"new\n")], "add", "b", None)

    await edit_wide()
    t_wide = await median_ms(edit_wide, runs)
    grepo = git_repo(flat)
    g_wide = git_one_file_commit(grepo, "pages/p000500.md", runs)
    subprocess.run(["rm", "-rf", str(grepo)], check=True)
    rows.append(("1-file commit, folder of 100,000 entries", "<= 50 ms", t_wide, g_wide, "git add + commit"))
    return rows


def main_async(pool: Database) -> Awaitable[list[Row]]:
    return run(pool, runs=int(os.environ.get("BENCH_RUNS", "15")))
