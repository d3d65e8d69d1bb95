"""Isolated builds (issue 8): the incremental path across build processes, and fair workers.

`python -m tests.perf.bench_isolation` prints the incremental rows alone (no
database needed); `make bench` also runs the fairness scenario.

- One-page edits of a generated 2,000-page book (`bench_render.generate_book`),
  each built as the worker builds it: in an isolated build process under the
  default BUILD_* limits, with the site's build cache on disk. "Render work"
  is the build process's own `render_ms` (the theme, the build key and
  `build_site`, from the job's arrival to the rendered files, as the first
  release measured it in its worker); "start to result" is the worker's wait
  from starting (or taking) the process to the result (start, restore,
  render, write, reply; nothing overlaps the restore here). Warm: the site's
  build process from its previous build takes the edit (the default). New
  process: BUILD_WARM_SITES=0, each edit in a new build process that
  restores the snapshot the previous one saved. Restarted: a new process (a
  new fork server, as after a worker restart) makes the first edit; the
  snapshot is in the OS page cache (same host, not rebooted).
- Fairness: real `openbook api` and `openbook worker` processes (default
  WORKER_CONCURRENCY: the CPUs) on a private PostgreSQL and Redis. Workspace A
  deploys a 5,000-page book and a site whose `_theme/templates/page.html` is
  the runaway template of issue 8 (three `wordwrap(1)` lines, ~27 s of CPU),
  both queued before workspace B asks for its 10-page deployment, timed from
  its POST to `deployed`.

The "before" column is the release before isolated builds, as issue 8
measured it: 0.07 s render work warm, 2.58 s in a fresh process; B waited
28 s behind A's template.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from openbook.api.auth import mint_token
from openbook.config import BuildLimits, DatabaseSettings, JwtSettings, default_concurrency
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, free_port, wait_for_port
from openbook.siteconf import SiteConfig
from openbook.worker import isolate
from openbook.worker.child import BuildJob
from tests.perf.bench_render import generate_book

PAGES = 2000
EDITS = 5
SECRET = "bench-secret-" + "z" * 40
RUNAWAY = "{{ ('ab' * 400000)|wordwrap(1)|length }}\n" * 3
SITE = SiteConfig(root="", title="Bench book", theme="book", base_url=None, html="escape", strict=False,
                  params={}, redirects=(), keep_deployments=20, site_file=None)
Row = tuple[str, str, float, float | None, str]
DEFAULT = BuildLimits()


# --- one-page edits in build processes --------------------------------------------------------


def _edit(book: dict[str, bytes], n: int) -> dict[str, bytes]:
    pages = sorted(p for p in book if "/p" in p)
    page = pages[len(pages) // 2 + n]
    return {**book, page: book[page] + f"\nOne more sentence, edit {n}.\n".encode()}


async def _build(book: dict[str, bytes], work: Path, commit: str, previous: str | None,
                 limits: BuildLimits = DEFAULT) -> dict[str, Any]:
    site = work / "ws" / "site"
    job = BuildJob(book, SITE, (), commit, site / commit, site / previous if previous else None, "site",
                   uuid.uuid4().hex)
    start = time.perf_counter()
    async with await isolate.BuildProcess.start(limits, "site", work / "cache" / "site.snapshot") as proc:
        # The job follows at once: nothing overlaps the restore here (the worker reads the commit meanwhile).
        stats, phases = await proc.build(job)
    stats["handoff_ms"] = (time.perf_counter() - start) * 1000
    stats["write_ms"] = phases.get("write", 0.0) * 1000
    return stats


async def _wait_saved(work: Path, since: float) -> None:
    """The build process saves its snapshot after replying: the next edit waits for it, as
    consecutive deployments of a site usually are seconds apart."""
    snapshot = work / "cache" / "site.snapshot"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if snapshot.exists() and snapshot.stat().st_mtime >= since:
            return
        await asyncio.sleep(0.05)


def _commit(n: int) -> str:
    return f"{n:064x}"


async def _warm(work: Path) -> dict[str, Any]:
    book = generate_book(PAGES)
    await asyncio.to_thread(isolate.prepare)
    cold = await _build(book, work, _commit(0), None)
    edits = []
    for n in range(1, EDITS + 1):
        book = _edit(book, n)
        edits.append(await _build(book, work, _commit(n), _commit(n - 1)))
    t = time.time()
    isolate.retire_warm()  # it saves what it learnt as it goes
    await _wait_saved(work, t)
    fresh, single = [], BuildLimits(warm_sites=0)
    for n in range(EDITS + 1, 2 * EDITS + 1):
        book = _edit(book, n)
        t = time.time()
        fresh.append(await _build(book, work, _commit(n), _commit(n - 1), single))
        await _wait_saved(work, t)
    (work / "book.json").write_text(json.dumps({p: d.decode() for p, d in book.items()}))
    return {"cold": cold, "edits": edits, "fresh": fresh}


async def _restarted(work: Path) -> dict[str, Any]:
    book = {p: d.encode() for p, d in json.loads((work / "book.json").read_text()).items()}
    await asyncio.to_thread(isolate.prepare)  # a new fork server, as a restarted worker starts it
    return await _build(_edit(book, 2 * EDITS + 1), work, _commit(2 * EDITS + 1), _commit(2 * EDITS))


def incremental_rows() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="ob-bench-isolation-") as tmp:
        work = Path(tmp)
        warm = asyncio.run(_warm(work))
        cmd = [sys.executable, "-m", "tests.perf.bench_isolation", "--restarted", str(work)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2])
        restarted: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    edits, fresh = warm["edits"], warm["fresh"]
    reused = min(e["linked"] / e["files"] for e in edits)
    snapshot_mb = fresh[-1]["cache"]["snapshot_bytes"] / 1e6

    def median(builds: list[dict[str, Any]], field: str) -> float:
        return float(statistics.median(b[field] for b in builds))

    return [
        (f"1-page edit, {PAGES:,} pages, warm: render work", "<= 100 ms", median(edits, "render_ms"), 70.0,
         f"median of {len(edits)} edits in the site's warm build process; start to result "
         f"{median(edits, 'handoff_ms'):.0f} ms (writing the folder {median(edits, 'write_ms'):.0f} ms); "
         f">= {reused:.1%} files reused"),
        (f"1-page edit, {PAGES:,} pages, new process each", "<= 100 ms", median(fresh, "render_ms"), 70.0,
         f"BUILD_WARM_SITES=0, median of {len(fresh)}; + restore "
         f"{statistics.median(e['cache']['restore_ms'] for e in fresh):.0f} ms (overlaps the commit read); "
         f"start to result {median(fresh, 'handoff_ms'):.0f} ms; snapshot {snapshot_mb:.0f} MB"),
        (f"1-page edit, {PAGES:,} pages, restarted worker", "<= 300 ms", restarted["render_ms"], 2580.0,
         f"new fork server; + restore {restarted['cache']['restore_ms']:.0f} ms; start to result "
         f"{restarted['handoff_ms']:.0f} ms; parsed {restarted['parsed']} page(s)"),
        (f"first build, {PAGES:,} pages, empty build cache", "-", float(warm["cold"]["render_ms"]), None,
         f"render work of a build process with nothing to restore; load {os.getloadavg()[0]:.1f} on "
         f"{os.cpu_count()} CPUs"),
    ]


# --- fairness: real API and worker processes ----------------------------------------------


async def _workspaces(dsn: str) -> tuple[uuid.UUID, uuid.UUID]:
    db = await Database.open(DatabaseSettings(dsn=dsn, pool_min=1, pool_max=2))
    try:
        a = await create_workspace(db, "fair-a", "A")
        b = await create_workspace(db, "fair-b", "B")
        return a.id, b.id
    finally:
        await db.close()


async def _site(http: aiohttp.ClientSession, slug: str, branch: str = "main") -> str:
    body = {"name": slug, "slug": slug, "theme": "book", "branch": branch, "auto_deploy": False}
    resp = await http.post("/api/sites", json=body)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _commit_files(http: aiohttp.ClientSession, branch: str, files: dict[str, bytes]) -> None:
    changes = [{"op": "put", "path": p, "content": d.decode()} for p, d in files.items()]
    resp = await http.post(f"/api/branches/{branch}/commits", json={"message": "bench", "changes": changes})
    assert resp.status == 201, await resp.text()


async def _deploy(http: aiohttp.ClientSession, site_id: str) -> str:
    return str((await (await http.post("/api/deployments", json={"site_id": site_id})).json())["id"])


async def _status(http: aiohttp.ClientSession, deployment_id: str) -> dict[str, Any]:
    got: dict[str, Any] = await (await http.get(f"/api/deployments/{deployment_id}")).json()
    return got


async def _fairness(api: str, token_a: str, token_b: str) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(api, headers={"Authorization": f"Bearer {token_a}"}, timeout=timeout) as a, \
            aiohttp.ClientSession(api, headers={"Authorization": f"Bearer {token_b}"}, timeout=timeout) as b:
        assert (await a.post("/api/branches", json={"name": "runaway"})).status == 201
        await _commit_files(a, "main", generate_book(5000))
        await _commit_files(a, "runaway", {"index.md": b"# Home\n", "_theme/templates/page.html": RUNAWAY.encode()})
        await _commit_files(b, "main", generate_book(10, seed=3))
        big, runaway, small = await _site(a, "big"), await _site(a, "runaway", "runaway"), await _site(b, "small")
        a_ids = [await _deploy(a, big), await _deploy(a, runaway)]
        while (await _status(a, a_ids[0]))["status"] != "building":
            await asyncio.sleep(0.05)
        start = time.perf_counter()
        b_id = await _deploy(b, small)
        while (got := await _status(b, b_id))["status"] not in ("deployed", "failed"):
            await asyncio.sleep(0.01)
        b_s = time.perf_counter() - start
        a_states = [(await _status(a, d))["status"] for d in a_ids]
    assert got["status"] == "deployed", got
    return {"b_s": b_s, "a_states": a_states}


def fairness_rows(pg: PostgresServer, base: Path) -> list[Row]:
    redis = RedisServer(base / "redis-fair").start()
    storage = Path(tempfile.mkdtemp(prefix="ob-bench-fair-", dir=base))
    port = free_port()
    env = {**os.environ, "DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "1",
           "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": SECRET, "WORKER_NAME": "fair"}
    procs = [subprocess.Popen([sys.executable, "-m", "openbook.cli", role], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for role in ("api", "worker")]
    try:
        wait_for_port(port, 30, procs[0])
        ws_a, ws_b = asyncio.run(_workspaces(pg.dsn))
        jwt = JwtSettings("HS256", SECRET)
        tokens = [mint_token(jwt, ws, "bench", ["admin"], 3600, time.time()) for ws in (ws_a, ws_b)]
        got = asyncio.run(_fairness(f"http://127.0.0.1:{port}", *tokens))
    finally:
        for proc in procs:  # A's builds are not waited for: the worker's build processes die with it
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        redis.stop()
    return [
        ("B's 10-page deployment beside A's builds", "<= 2000 ms", got["b_s"] * 1000, 28000.0,
         f"A: 5,000-page book + runaway template queued first ({', '.join(got['a_states'])} when B finished); "
         f"WORKER_CONCURRENCY={default_concurrency()}, POST -> deployed"),
    ]


def main() -> int:
    if sys.argv[1:2] == ["--restarted"]:
        print(json.dumps(asyncio.run(_restarted(Path(sys.argv[2])))))
        return 0
    from tests.perf.run import print_table

    print_table("Isolated builds: one-page edits across build processes (before: the release without them)",
                incremental_rows())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
