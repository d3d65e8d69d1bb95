"""Web studio speed (issue 12): server time of the pages that grow with the content.

The real API app (studio included) runs in this process on the bench's
PostgreSQL and a private Redis; requests go over loopback through aiohttp's
client, so each figure is a full round trip as a browser's fetch would see it
(less the browser's own rendering).

- the file tree, first page, of a folder of 100,000 files (the worst case of a
  100,000-file branch): the first request (no listing cached) and the median;
- a change request of 1,000 changed files spread over that folder, first page
  (25 files with their line diffs): the first request, with the process's
  object and node caches emptied (nothing of it read from PostgreSQL or
  decoded yet, as after a restart; the page's templates already compiled by
  a small change request), and the median;
- the editor's preview of a 2 KB page (render with the site's theme, JSON back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from openbook.config import load_settings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.objects import SHARED_CACHE
from openbook.db.sites import Sites
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer
from openbook.server import create_app
from openbook.store.reader import forget_decoded
from openbook.store.trees import Change
from openbook.studio import content as studio_content
from openbook.studio.credentials import COOKIE_NAME
from openbook.studio.signin import make_login_link

Row = tuple[str, str, float, float | None, str]
PAGE_2KB = ("# A page of two kilobytes\n\n" + "Some *prose* with a [link](other.md) and `code`. " * 36
            + "\n\n## A section\n\n- one\n- two\n- three\n\n```python\nprint('hello')\n```\n")


def _text(i: int, edit: str = "") -> bytes:
    return (f"# Page {i}\n\n" + "A line of text that stays the same.\n" * 40 + f"The last line {edit}.\n").encode()


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


async def _median(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    return statistics.median([await _timed(fn) for _ in range(runs)])


async def _bench(pg: PostgresServer, redis: RedisServer, storage: Path, runs: int) -> list[Row]:
    env = {"DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0", "APP_PORT": "8080",
           "STORAGE_PATH": str(storage), "JWT_SECRET": "bench-secret-" + "b" * 40}
    settings = load_settings("api", env)
    # Writing 100,000 files in one commit can outlast the 10 s statement timeout on a busy machine.
    db = await Database.open(dataclasses.replace(settings.database, command_timeout_s=120.0))
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        ws = await create_workspace(db, f"studio-{uuid.uuid4().hex[:8]}", "studio bench")
        repo = ContentRepository(db, ws.id)
        await Sites(db, ws.id).create("bench", name="Bench", slug="bench", theme="book", branch="main", root="",
                                      settings={}, auto_deploy=False, previews=False)
        await repo.commit("main", [Change.put(f"pages/p{i:06d}.md", _text(i)) for i in range(100_000)],
                          "100,000 pages", "bench", None)
        await repo.create_branch("cr", "main", "bench")
        await repo.commit("cr", [Change.put(f"pages/p{i * 97:06d}.md", _text(i * 97, "edited"))
                                 for i in range(1000)], "1,000 edits", "bench", None)
        await repo.create_branch("small", "main", "bench")
        await repo.commit("small", [Change.put("pages/p000001.md", _text(1, "edited"))], "1 edit", "bench", None)
        link = await make_login_link(db, ws.id, "bench", "writer", "")
        resp = await client.get(link, allow_redirects=False)
        cookie = {"Cookie": f"{COOKIE_NAME}={resp.cookies[COOKIE_NAME].value}"}
        page = await (await client.get("/studio/", headers=cookie)).text()
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]

        async def get(path: str) -> None:
            async with client.get(path, headers=cookie) as r:
                assert r.status == 200, (path, r.status, await r.text())
                await r.read()

        async def preview() -> None:
            async with client.post("/studio/preview", headers={**cookie, "X-CSRF-Token": csrf,
                                                               "Accept": "application/json"},
                                   json={"branch": "main", "path": "pages/new.md", "content": PAGE_2KB}) as r:
                assert r.status == 200, await r.text()
                await r.json()

        tree = "/studio/tree?ref=main&path=pages"
        studio_content.LISTINGS.clear()  # nothing listed yet, as after a restart
        cold = await _timed(lambda: get(tree))
        warm = await _median(lambda: get(tree), runs)
        # A server that has shown some change request before (its templates
        # compiled) opens this one with nothing of it read or decoded yet.
        await get("/studio/change?branch=small")
        SHARED_CACHE.clear()
        forget_decoded()
        change = "/studio/change?branch=cr"
        change_first = await _timed(lambda: get(change))
        change_ms = await _median(lambda: get(change), runs)
        await preview()
        preview_ms = await _median(preview, runs)
    finally:
        await client.close()
        await db.close()
    return [
        ("tree, folder of 100,000 files, page 1 (first)", "<= 100 ms", cold, None, "nothing cached"),
        ("tree, folder of 100,000 files, page 1", "<= 100 ms", warm, None, "median"),
        ("change request, 1,000 files, page 1 (first)", "<= 300 ms", change_first, None, "25 line diffs"),
        ("change request, 1,000 files, page 1", "<= 300 ms", change_ms, None, "median"),
        ("editor preview, 2 KB page, round trip", "<= 150 ms", preview_ms, None, "median"),
    ]


def run(pg: PostgresServer, base: Path, runs: int = 15) -> list[Row]:
    redis = RedisServer(base / "studio-redis").start()
    storage = base / "studio-storage"
    storage.mkdir(exist_ok=True)
    try:
        return asyncio.run(_bench(pg, redis, storage, runs))
    finally:
        redis.stop()


if __name__ == "__main__":
    import os
    import shutil
    import tempfile

    from openbook.db.migrate import apply_migrations

    folder = Path(tempfile.mkdtemp(prefix="openbook-bench-studio-"))
    os.chmod(folder, 0o755)
    server = PostgresServer(folder / "pg").start()
    try:
        apply_migrations(server.dsn)
        for row in run(server, folder):
            print(f"{row[0]:<48} {row[1]:<12} {row[2]:8.1f} ms  {row[4]}")
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
