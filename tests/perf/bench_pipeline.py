"""End-to-end deployment latency, with real `openbook api` and `openbook worker` processes.

Real processes, as in production, on a private PostgreSQL and Redis:

- `POST /api/deployments` → `deployed` (the first release's only way): each
  round commits a one-page edit, then measures from the POST to the moment
  `GET /api/deployments/{id}` answers `deployed` (polled every 5 ms); these
  sites have `auto_deploy` off so the commit deploys nothing by itself;
- GitOps (SPEC §11): commit → deployed live, branch push → preview deployed,
  both timed from the commit's POST, beside the first release's way of doing
  the same edit (commit, then POST /api/deployments) on the same book; and a
  burst of 50 commits (how many builds, and how long after the last commit
  live shows it).
"""

from __future__ import annotations

import asyncio
import base64
import os
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
from openbook.client.push import push
from openbook.config import DatabaseSettings, JwtSettings
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, free_port, wait_for_port
from tests.perf.bench_render import generate_book

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-secret-" + "z" * 40
Row = tuple[str, str, float, float | None, str]


async def _deploy_and_wait(http: aiohttp.ClientSession, site_id: str) -> tuple[float, dict[str, Any]]:
    """POST a deployment and poll it every 5 ms; (milliseconds to `deployed`, the deployment)."""
    start = time.perf_counter()
    created = await (await http.post("/api/deployments", json={"site_id": site_id})).json()
    while True:
        got: dict[str, Any] = await (await http.get(f"/api/deployments/{created['id']}")).json()
        if got["status"] in ("deployed", "failed"):
            break
        await asyncio.sleep(0.005)
    assert got["status"] == "deployed", got
    return (time.perf_counter() - start) * 1000, got


async def _deploy_rounds(api: str, token: str, rounds: int) -> list[float]:
    await push(ROOT / "examples", "main", "example book", api, token)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(api, headers=headers) as http:
        site = await (await http.post("/api/sites", json={"name": "Bench", "slug": "bench", "theme": "book",
                                                           "auto_deploy": False})).json()
        samples = []
        for i in range(rounds + 1):
            page = f"---\ntitle: Glossary\n---\n# Glossary\n\nRound {i}.\n"
            edit = {"message": f"edit {i}", "changes": [{"op": "put", "path": "glossary.md", "content": page}]}
            assert (await http.post("/api/branches/main/commits", json=edit)).status == 201
            elapsed, _ = await _deploy_and_wait(http, site["id"])
            if i:  # round 0 warms the worker (first build of the site)
                samples.append(elapsed)
    return samples


async def _big_book_rounds(api: str, token: str, rounds: int
                           ) -> tuple[list[float], list[float], float, list[dict[str, int]]]:
    """The generated 5,000-page book: one cold deployment, then one-page edits end to end."""
    book = generate_book(5000)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(api, headers=headers, timeout=timeout) as http:
        assert (await http.post("/api/branches", json={"name": "big"})).status == 201
        changes = [{"op": "put", "path": p, "content_base64": base64.b64encode(d).decode()} for p, d in book.items()]
        assert (await http.post("/api/branches/big/commits", json={"message": "big", "changes": changes})).status == 201
        site = await (await http.post("/api/sites", json={"name": "Big", "slug": "big", "theme": "book",
                                                            "branch": "big", "auto_deploy": False})).json()
        page = next(p for p in sorted(book) if p.endswith(".md") and "index" not in p)
        samples, reuse, phases = [], [], []
        cold = 0.0
        for i in range(rounds + 1):
            if i:
                text = book[page] + f"\n\nEdited in round {i}.\n".encode()
                edit = {"message": f"edit {i}", "changes": [{"op": "put", "path": page,
                                                              "content_base64": base64.b64encode(text).decode()}]}
                assert (await http.post("/api/branches/big/commits", json=edit)).status == 201
            elapsed, got = await _deploy_and_wait(http, site["id"])
            if i == 0:
                cold = elapsed
            else:
                samples.append(elapsed)
                stats = got["stats"]
                reuse.append(100 * stats["reused"] / (stats["reused"] + stats["rendered"]))
                phases.append(stats["phases_ms"])
    return samples, reuse, cold, phases


async def _wait(http: aiohttp.ClientSession, deployment_id: str) -> dict[str, Any]:
    while True:
        got: dict[str, Any] = await (await http.get(f"/api/deployments/{deployment_id}")).json()
        if got["status"] in ("deployed", "failed", "superseded"):
            return got
        await asyncio.sleep(0.005)


async def _commit(http: aiohttp.ClientSession, branch: str, path: str, text: str) -> str:
    edit = {"message": "edit", "changes": [{"op": "put", "path": path, "content": text}]}
    resp = await http.post(f"/api/branches/{branch}/commits", json=edit)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _triggered(http: aiohttp.ClientSession, commit: str, site_id: str, trigger: str) -> str:
    listed = await (await http.get(f"/api/commits/{commit}/deployments")).json()
    return next(d["id"] for d in listed["deployments"] if d["site_id"] == site_id and d["trigger"] == trigger)


async def _gitops_rounds(api: str, token: str, rounds: int) -> dict[str, Any]:
    """A 300-page book: commit → live, branch push → preview, the old POST way, and a 50-commit burst."""
    book = {p: d.decode() for p, d in generate_book(300, seed=11).items()}
    page = next(p for p in sorted(book) if p.endswith(".md") and "index" not in p)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(api, headers=headers, timeout=aiohttp.ClientTimeout(total=600)) as http:
        assert (await http.post("/api/branches", json={"name": "gitops"})).status == 201
        changes = [{"op": "put", "path": p, "content": c} for p, c in book.items()]
        assert (await http.post("/api/branches/gitops/commits",
                                json={"message": "book", "changes": changes})).status == 201
        site = await (await http.post("/api/sites", json={"name": "GitOps", "slug": "gitops", "theme": "book",
                                                            "branch": "gitops", "previews": True})).json()
        old_way = await (await http.post("/api/sites", json={"name": "Old way", "slug": "old-way", "theme": "book",
                                                               "branch": "gitops", "auto_deploy": False})).json()
        for target in (site, old_way):  # first builds, warm the worker
            got = await _wait(http, (await (await http.post("/api/deployments",
                                                             json={"site_id": target["id"]})).json())["id"])
            assert got["status"] == "deployed", got
        assert (await http.post("/api/branches", json={"name": "gitops-draft", "from": "gitops"})).status == 201
        live, preview, post = [], [], []
        for i in range(rounds + 1):
            start = time.perf_counter()
            commit = await _commit(http, "gitops", page, book[page] + f"\n\nLive round {i}.\n")
            assert (await _wait(http, await _triggered(http, commit, site["id"], "push")))["status"] == "deployed"
            live.append((time.perf_counter() - start) * 1000)
        for i in range(rounds + 1):
            start = time.perf_counter()
            commit = await _commit(http, "gitops-draft", page, book[page] + f"\n\nDraft round {i}.\n")
            assert (await _wait(http, await _triggered(http, commit, site["id"], "preview")))["status"] == "deployed"
            preview.append((time.perf_counter() - start) * 1000)
        # The first release's way for the same edit (commit, then ask for a deployment), with
        # the GitOps site quiet so that nothing else builds meanwhile.
        quiet = {"auto_deploy": False, "previews": False}
        assert (await http.patch(f"/api/sites/{site['id']}", json=quiet)).status == 200
        for i in range(rounds + 1):
            start = time.perf_counter()
            await _commit(http, "gitops", page, book[page] + f"\n\nOld-way round {i}.\n")
            created = await (await http.post("/api/deployments", json={"site_id": old_way["id"]})).json()
            assert (await _wait(http, created["id"]))["status"] == "deployed"
            post.append((time.perf_counter() - start) * 1000)
        assert (await http.patch(f"/api/sites/{site['id']}", json={"auto_deploy": True})).status == 200
        burst = [await _commit(http, "gitops", f"burst/n{i}.md", f"# Note {i}\n") for i in range(50)]
        after_last = time.perf_counter()
        last = await _wait(http, await _triggered(http, burst[-1], site["id"], "push"))
        burst_ms = (time.perf_counter() - after_last) * 1000
        statuses = [(await (await http.get(f"/api/commits/{c}/deployments")).json())["deployments"] for c in burst]
    builds = sum(1 for deps in statuses for d in deps if d["site_id"] == site["id"] and d["status"] == "deployed")
    assert last["status"] == "deployed", last
    return {"live": live[1:], "preview": preview[1:], "post": post[1:], "builds": builds, "burst_ms": burst_ms}


async def _workspace(dsn: str) -> uuid.UUID:
    pool = await Database.open(DatabaseSettings(dsn=dsn, pool_min=1, pool_max=2))
    try:
        return (await create_workspace(pool, "pipeline-bench", "bench")).id
    finally:
        await pool.close()


def run(pg: PostgresServer, base: Path, rounds: int = 15) -> list[Row]:
    redis = RedisServer(base / "redis").start()
    storage = Path(tempfile.mkdtemp(prefix="ob-bench-storage-", dir=base))
    port = free_port()
    env = {**os.environ, "DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0",
           "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": SECRET, "WORKER_NAME": "bench"}
    procs = [subprocess.Popen([sys.executable, "-m", "openbook.cli", role], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for role in ("api", "worker")]
    try:
        wait_for_port(port, 30, procs[0])
        workspace = asyncio.run(_workspace(pg.dsn))
        token = mint_token(JwtSettings("HS256", SECRET), workspace, "bench", ["admin"], 3600, time.time())
        samples = asyncio.run(_deploy_rounds(f"http://127.0.0.1:{port}", token, rounds))
        big, reuse, cold, phases = asyncio.run(_big_book_rounds(f"http://127.0.0.1:{port}", token, 5))
        gitops = asyncio.run(_gitops_rounds(f"http://127.0.0.1:{port}", token, 7))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        redis.stop()
    p90 = sorted(samples)[int(len(samples) * 0.9) - 1]
    return [
        ("POST -> deployed, example book (median)", "<= 1000 ms", statistics.median(samples), None,
         f"{len(samples)} rounds, one-page edit each"),
        ("POST -> deployed, example book (p90)", "-", p90, None, ""),
        ("POST -> deployed, 5,000 pages, first build", "-", cold, None, "cold worker, nothing to reuse"),
        ("POST -> deployed, 5,000 pages, 1-page edit", "<= 1000 ms", statistics.median(big), None,
         f"median of {len(big)}; {min(reuse):.2f}% of files reused (>= 99%); median phases (ms): "
         + ", ".join(f"{p} {statistics.median(r[p] for r in phases):.0f}"
                     for p in ("start", "load", "build", "render", "write"))),
        ("commit -> live, 300 pages, 1-page edit", "<= 1000 ms", statistics.median(gitops["live"]),
         statistics.median(gitops["post"]), "peer: first release, commit + POST /api/deployments"),
        ("branch push -> preview deployed, same edit", "<= 1000 ms", statistics.median(gitops["preview"]),
         None, f"median of {len(gitops['preview'])}"),
        ("burst of 50 commits: last commit -> live", "<= 3000 ms", gitops["burst_ms"], None,
         f"{gitops['builds']} builds for 50 commits (<= 10)"),
    ]
