"""End-to-end deployment latency: `POST /api/deployments` → `deployed`, for the example book.

Real processes, as in production: `openbook api` and `openbook worker` as
subprocesses on a private PostgreSQL and Redis. Each round first commits a
one-page edit (so every deployment renders a new commit), then measures from
the POST to the moment `GET /api/deployments/{id}` answers `deployed`
(polled every 5 ms).
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
        site = await (await http.post("/api/sites", json={"name": "Bench", "slug": "bench", "theme": "book"})).json()
        samples = []
        for i in range(rounds + 1):
            page = f"---\ntitle: Glossary\n---\n# Glossary\n\nRound {i}.\n"
            edit = {"message": f"edit {i}", "changes": [{"op": "put", "path": "glossary.md", "content": page}]}
            assert (await http.post("/api/branches/main/commits", json=edit)).status == 201
            elapsed, _ = await _deploy_and_wait(http, site["id"])
            if i:  # round 0 warms the worker (first build of the site)
                samples.append(elapsed)
    return samples


async def _big_book_rounds(api: str, token: str, rounds: int) -> tuple[list[float], list[float], float]:
    """The generated 5,000-page book: one cold deployment, then one-page edits end to end."""
    book = generate_book(5000)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(api, headers=headers, timeout=timeout) as http:
        assert (await http.post("/api/branches", json={"name": "big"})).status == 201
        changes = [{"op": "put", "path": p, "content_base64": base64.b64encode(d).decode()} for p, d in book.items()]
        assert (await http.post("/api/branches/big/commits", json={"message": "big", "changes": changes})).status == 201
        site = await (await http.post("/api/sites", json={"name": "Big", "slug": "big", "theme": "book",
                                                            "branch": "big"})).json()
        page = next(p for p in sorted(book) if p.endswith(".md") and "index" not in p)
        samples, reuse = [], []
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
    return samples, reuse, cold


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
        big, reuse, cold = asyncio.run(_big_book_rounds(f"http://127.0.0.1:{port}", token, 5))
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
         f"median of {len(big)}; {min(reuse):.2f}% of files reused (>= 99%)"),
    ]
