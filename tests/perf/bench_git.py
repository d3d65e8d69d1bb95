"""OpenBook as a git remote beside plain git on the same files, in one run (issue 10).

A real `openbook api` process (private PostgreSQL and Redis) serves
/git/<slug>.git; the peer is a local bare repository. Wall times are those of
the `git` commands; OpenBook's *server time* is what the API spent answering
the operation's requests, read from its own `/metrics` (the exact sum of the
request-duration histogram, scraped before and after).

- push of 5,000 files (one commit) vs `git push` to a local bare repository;
- clone of that branch vs `git clone --no-local` of the bare repository;
- one-file push onto a 100,000-file branch (and a 1,000-file one), server time;
- fetch of one new commit after an API edit on the 100,000-file branch, server time.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from openbook.api.auth import mint_token
from openbook.config import DatabaseSettings, JwtSettings
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, free_port, wait_for_port
from tests.perf.bench_store import content, timed, tree_files, write_files

SECRET = "bench-secret-" + "g" * 40
Row = tuple[str, str, float, float | None, str]
ROUNDS = int(os.environ.get("BENCH_GIT_ROUNDS", "7"))
GIT_ROUTES = re.compile(r'openbook_http_request_seconds_sum\{method="(?:GET|POST)",route="/git/[^"]*"\} (\S+)')


class Bench:
    def __init__(self, base: Path, api: str, dsn: str) -> None:
        self.base = base
        self.api = api
        self.dsn = dsn
        self.env = {**os.environ, "HOME": str(base), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
                    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org"}

    def git(self, cwd: Path, *args: str) -> str:
        out = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True)
        assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr.decode()}"
        return out.stdout.decode()

    def timed_git(self, cwd: Path, *args: str) -> float:
        return timed(lambda: self.git(cwd, *args))

    def server_s(self) -> float:
        with urllib.request.urlopen(f"{self.api}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return sum(float(v) for v in GIT_ROUTES.findall(text))

    def server_ms(self, cwd: Path, *args: str) -> tuple[float, float]:
        """(wall ms of the git command, ms the API spent on its git requests)."""
        before = self.server_s()
        wall = self.timed_git(cwd, *args)
        return wall, (self.server_s() - before) * 1000

    def workspace_url(self) -> str:
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        workspace = asyncio.run(_workspace(self.dsn, slug))
        token = mint_token(JwtSettings("HS256", SECRET), workspace, "bench", ["admin"], 7200, time.time())
        self.token = token
        return f"http://git:{token}@{self.api.removeprefix('http://')}/git/{slug}.git"

    def repo(self, name: str, files: dict[str, bytes]) -> Path:
        path = self.base / name
        self.git(self.base, "init", "-q", "-b", "main", str(path))
        self.git(path, "config", "gc.auto", "0")
        write_files(path, files)
        self.git(path, "add", "-A")
        self.git(path, "commit", "-q", "-m", "import")
        return path

    def bare(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="bare-", dir=self.base))
        self.git(self.base, "init", "-q", "--bare", "-b", "main", str(path))
        return path


async def _workspace(dsn: str, slug: str) -> uuid.UUID:
    pool = await Database.open(DatabaseSettings(dsn=dsn, pool_min=1, pool_max=2))
    try:
        return (await create_workspace(pool, slug, "git bench")).id
    finally:
        await pool.close()


def _api_commit(bench: Bench, path: str, text: str) -> None:
    request = urllib.request.Request(
        f"{bench.api}/api/branches/main/commits", method="POST",
        data=(b'{"message": "api edit", "changes": [{"op": "put", "path": "%s", "content": "%s"}]}'
              % (path.encode(), text.encode())),
        headers={"Authorization": f"Bearer {bench.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 201


def _one_file_push(bench: Bench, repo: Path, path: str, round_: int) -> float:
    """Server time of pushing a commit that changes one file."""
    (repo / path).write_bytes(f"edit {round_}\n".encode())
    bench.git(repo, "commit", "-q", "-am", f"edit {round_}")
    return bench.server_ms(repo, "push", "-q", "origin", "main")[1]


def _peer_one_file_pushes(bench: Bench, repo: Path, path: str, rounds: int) -> float:
    bare = bench.bare()
    bench.git(repo, "push", "-q", str(bare), "main")
    samples = []
    for r in range(rounds):
        (repo / path).write_bytes(f"peer edit {r}\n".encode())
        bench.git(repo, "commit", "-q", "-am", f"peer edit {r}")
        samples.append(bench.timed_git(repo, "push", "-q", str(bare), "main"))
    shutil.rmtree(bare)
    return statistics.median(samples)


def run(pg: PostgresServer, base: Path) -> list[Row]:
    redis = RedisServer(base / "redis").start()
    storage = Path(tempfile.mkdtemp(prefix="ob-bench-git-storage-", dir=base))
    work = Path(tempfile.mkdtemp(prefix="ob-bench-git-", dir=base))
    port = free_port()
    env = {**os.environ, "DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0",
           "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": SECRET}
    api = subprocess.Popen([sys.executable, "-m", "openbook.cli", "api"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, api)
        return _run(Bench(work, f"http://127.0.0.1:{port}", pg.dsn))
    finally:
        api.terminate()
        api.wait(30)
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


def _run(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    # 1. 5,000 files of 2 KB in one commit: push, then clone, three times each side.
    repo5k = bench.repo("five", tree_files(5000, 500, 2048))
    pushes, peer_pushes, clones, peer_clones = [], [], [], []
    push_server, clone_server = [], []
    for i in range(3):
        url = bench.workspace_url()
        wall, server = bench.server_ms(repo5k, "push", "-q", url, "main")
        pushes.append(wall)
        push_server.append(server)
        bare = bench.bare()
        peer_pushes.append(bench.timed_git(repo5k, "push", "-q", str(bare), "main"))
        wall, server = bench.server_ms(bench.base, "clone", "-q", url, f"clone-{i}")
        clones.append(wall)
        clone_server.append(server)
        peer_clones.append(bench.timed_git(bench.base, "clone", "-q", "--no-local", str(bare), f"peer-{i}"))
        shutil.rmtree(bench.base / f"clone-{i}")
        shutil.rmtree(bench.base / f"peer-{i}")
        shutil.rmtree(bare)
    push_ms, peer_push_ms = statistics.median(pushes), statistics.median(peer_pushes)
    clone_ms, peer_clone_ms = statistics.median(clones), statistics.median(peer_clones)
    rows.append(("git push, 5,000 files x 2 KB, one commit", f"<= 3x ({3 * peer_push_ms:.0f})", push_ms,
                 peer_push_ms, f"git push to a local bare repo; server {statistics.median(push_server):.0f} ms"))
    rows.append(("git clone of that branch", f"<= 3x ({3 * peer_clone_ms:.0f})", clone_ms, peer_clone_ms,
                 f"git clone --no-local; server {statistics.median(clone_server):.0f} ms"))
    shutil.rmtree(repo5k)

    # 2. One-file pushes onto 1,000- and 100,000-file branches (folders of 1,000 files), in alternate
    # rounds so that both see the same server (caches, autovacuum after the 100,000-file import).
    small = bench.repo("small", tree_files(1000, 1000, 256))
    bench.git(small, "remote", "add", "origin", bench.workspace_url())
    bench.git(small, "push", "-q", "origin", "main")
    big = bench.repo("big", tree_files(100_000, 1000, 256))
    url = bench.workspace_url()
    bench.git(big, "remote", "add", "origin", url)
    wall_100k, server_100k = bench.server_ms(big, "push", "-q", "origin", "main")
    rows.append(("git push, 100,000 files x 256 B, one commit", "-", wall_100k, None,
                 f"server {server_100k:.0f} ms"))
    smalls, bigs = [], []
    for r in range(ROUNDS + 1):
        smalls.append(_one_file_push(bench, small, "d0000/f00007.md", r))
        bigs.append(_one_file_push(bench, big, "d0050/f00007.md", r))
    t_small, t_big = statistics.median(smalls[1:]), statistics.median(bigs[1:])  # round 0 warms up
    shutil.rmtree(small)
    peer = _peer_one_file_pushes(bench, big, "d0050/f00007.md", ROUNDS)
    rows.append(("1-file push, 1,000-file branch (server)", "-", t_small, None, f"median of {ROUNDS}"))
    rows.append(("1-file push, 100,000-file branch (server)", f"<= 150 ms, <= 2x ({2 * t_small:.0f})", t_big, peer,
                 "peer: git push to a local bare repo (wall)"))

    # 3. Fetch of one new commit after an API edit on the 100,000-file branch.
    bench.git(big, "fetch", "-q", "origin")
    fetches = []
    for r in range(ROUNDS + 1):
        _api_commit(bench, "d0042/f00003.md", f"api edit {r}")
        _, server = bench.server_ms(big, "fetch", "-q", "origin")
        if r:
            fetches.append(server)
    peer_fetch = _peer_fetch(bench, big, ROUNDS)
    rows.append(("fetch 1 new commit after an API edit, 100,000 files", "<= 150 ms", statistics.median(fetches),
                 peer_fetch, "server time; peer: git fetch from a local bare repo (wall)"))
    shutil.rmtree(big)
    return rows


def _peer_fetch(bench: Bench, repo: Path, rounds: int) -> float:
    bare = bench.bare()
    bench.git(repo, "push", "-q", str(bare), "HEAD:refs/heads/main")
    editor = bench.base / "editor"
    bench.git(bench.base, "clone", "-q", "--no-local", str(bare), str(editor))
    bench.git(repo, "remote", "add", "peer", str(bare))
    bench.git(repo, "fetch", "-q", "peer")
    samples = []
    for r in range(rounds):
        (editor / "d0042/f00003.md").write_bytes(content(r, 64))
        bench.git(editor, "commit", "-q", "-am", f"edit {r}")
        bench.git(editor, "push", "-q", "origin", "main")
        samples.append(bench.timed_git(repo, "fetch", "-q", "peer"))
    shutil.rmtree(editor)
    shutil.rmtree(bare)
    return statistics.median(samples)
