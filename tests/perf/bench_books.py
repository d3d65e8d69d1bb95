"""Books written for mdBook (issue 11): includes cost little, and an edited listing redeploys fast.

Real `openbook api` and `openbook worker` processes on a private PostgreSQL and
Redis, as in `bench_pipeline`. Two 5,000-page mdBooks (`book.toml`, `src/`,
`SUMMARY.md`), the prose of `bench_render.generate_book`:

- *includes*: every page shows its own Rust listing with
  `{{#include ../../listings/chNN/pI.rs:body}}` (an anchor in a 16-line file);
- *inlined*: the same pages with the same lines pasted in the code block.

Each book is committed, then deployed cold (POST /api/deployments → `deployed`),
ROUNDS times with fresh content each round (so no cache and no stored object is
shared), in the order inlined, includes, includes, inlined... (so that a machine
getting busier or quieter favours neither); the median of each is compared
(target: includes ≤ 1.2× inlined). Then one listing, included by one page, is
edited and the site redeployed, EDITS times (target: ≤ 1 s; the peer figure is
the same edit made inside the inlined book's page), and the rendered files are
counted: that page alone (code is not in the search index).

`python -m tests.perf.bench_books` runs it alone.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
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
from openbook.config import DatabaseSettings, JwtSettings
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, free_port, wait_for_port
from tests.perf.bench_pipeline import _deploy_and_wait
from tests.perf.bench_render import generate_book

PAGES = 5000
ROUNDS = 2
EDITS = 5
SECRET = "bench-secret-" + "b" * 40
Row = tuple[str, str, float, float | None, str]


def listing(i: int, seed: int) -> str:
    """A 16-line Rust file; the 10 lines between its anchors are what a page shows."""
    return (
        f"// Listing {i} (round {seed})\nuse std::collections::HashMap;\n\n// ANCHOR: body\n"
        f"fn handler_{i}(items: &[u64]) -> HashMap<&'static str, u64> {{\n"
        f"    let total: u64 = items.iter().map(|x| x * {i + seed}).sum();\n"
        "    let mut out = HashMap::new();\n"
        f'    out.insert("id", {i});\n'
        '    out.insert("total", total);\n'
        f'    println!("handled {{}} items in listing {i}", items.len());\n'
        "    out\n}\n// ANCHOR_END: body\n\n"
        f"fn main() {{ handler_{i}(&[1, 2, 3]); }}\n"
    )


def _body(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(lines[lines.index("// ANCHOR: body") + 1:lines.index("// ANCHOR_END: body")])


def mdbooks(pages: int, seed: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(with includes, inlined): the same mdBook, as {path: bytes}."""
    prose = generate_book(pages, seed=seed)
    summary = ["# Summary\n", "[Introduction](index.md)\n"]
    with_includes: dict[str, bytes] = {"book.toml": b"[book]\ntitle = 'Listings'\nsrc = 'src'\n"}
    inlined = dict(with_includes)
    for path in sorted(prose, key=lambda p: (p.split("/")[0], "index" not in p, p)):
        text = prose[path].decode()
        if path.endswith("/index.md"):
            summary.append(f"- [Chapter {path[2:4]}]({path})")
        elif path != "index.md":
            i = int(path.rsplit("/p", 1)[1][:-3])
            summary.append(f"    - [Page {i}]({path})")
            source = listing(i, seed)
            with_includes[f"listings/{path[:-3]}.rs"] = source.encode()
            include = f"{{{{#include ../../listings/{path[:-3]}.rs:body}}}}"
            with_includes[f"src/{path}"] = f"{text}\n```rust\n{include}\n```\n".encode()
            inlined[f"src/{path}"] = f"{text}\n```rust\n{_body(source)}\n```\n".encode()
            continue
        with_includes[f"src/{path}"] = inlined[f"src/{path}"] = text.encode()
    with_includes["src/SUMMARY.md"] = inlined["src/SUMMARY.md"] = "\n".join(summary).encode() + b"\n"
    return with_includes, inlined


async def _commit_book(http: aiohttp.ClientSession, branch: str, root: str, files: dict[str, bytes]) -> None:
    changes = [{"op": "put", "path": f"{root}/{p}", "content_base64": base64.b64encode(d).decode()}
               for p, d in files.items()]
    resp = await http.post(f"/api/branches/{branch}/commits", json={"message": root, "changes": changes})
    assert resp.status == 201, await resp.text()


async def _site(http: aiohttp.ClientSession, slug: str, branch: str, root: str) -> str:
    body = {"name": slug, "slug": slug, "theme": "book", "branch": branch, "root": root, "auto_deploy": False}
    resp = await http.post("/api/sites", json=body)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _rounds(api: str, token: str, pages: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    cold: dict[str, list[float]] = {"inlined": [], "includes": []}
    async with aiohttp.ClientSession(api, headers=headers, timeout=aiohttp.ClientTimeout(total=1200)) as http:
        assert (await http.post("/api/branches", json={"name": "books"})).status == 201
        # warm the worker (imports, fork server) on a small book first
        small, _ = mdbooks(40, seed=99)
        await _commit_book(http, "books", "warm", small)
        await _deploy_and_wait(http, await _site(http, "warm", "books", "warm"))
        sites: dict[str, str] = {}
        books: dict[str, dict[str, bytes]] = {}
        for r in range(ROUNDS):
            books["includes"], books["inlined"] = mdbooks(pages, seed=r + 1)
            for kind in ("inlined", "includes") if r % 2 == 0 else ("includes", "inlined"):
                files = books[kind]
                root = f"{kind}-{r}"
                await _commit_book(http, "books", root, files)
                sites[kind] = await _site(http, root, "books", root)
                elapsed, got = await _deploy_and_wait(http, sites[kind])
                assert got["stats"]["problems"] == [] and got["stats"]["pages"] == pages + 21, got["stats"]
                cold[kind].append(elapsed)
        # One listing, included by one page, edited (the last round's books); the same line of
        # the same page edited in the inlined book, in turn.
        edits: dict[str, list[float]] = {"inlined": [], "includes": []}
        rendered: dict[str, list[int]] = {"inlined": [], "includes": []}
        render_ms: dict[str, list[float]] = {"inlined": [], "includes": []}
        parsed: dict[str, list[int]] = {"inlined": [], "includes": []}
        for n in range(EDITS):
            i = (pages // 3 + 97 * n) % pages
            for kind, ext in (("includes", ".rs"), ("inlined", ".md")):
                path = next(p for p in books[kind] if p.endswith(f"/p{i}{ext}"))
                text = books[kind][path].decode().replace("handled {} items", f"handled {{}} items (edit {n})")
                change = {"op": "put", "path": f"{kind}-{ROUNDS - 1}/{path}", "content": text}
                resp = await http.post("/api/branches/books/commits", json={"message": f"edit {n}",
                                                                            "changes": [change]})
                assert resp.status == 201, await resp.text()
                elapsed, got = await _deploy_and_wait(http, sites[kind])
                edits[kind].append(elapsed)
                rendered[kind].append(got["stats"]["rendered"])
                render_ms[kind].append(got["stats"]["render_ms"])
                parsed[kind].append(got["stats"]["parsed"])
    return {"cold": cold, "edits": edits, "rendered": rendered, "render_ms": render_ms, "parsed": parsed}


async def _workspace(dsn: str) -> uuid.UUID:
    pool = await Database.open(DatabaseSettings(dsn=dsn, pool_min=1, pool_max=2))
    try:
        return (await create_workspace(pool, "books-bench", "bench")).id
    finally:
        await pool.close()


def run(pg: PostgresServer, base: Path, pages: int = PAGES) -> list[Row]:
    redis = RedisServer(base / "redis-books").start()
    storage = Path(tempfile.mkdtemp(prefix="ob-bench-books-", dir=base))
    port = free_port()
    env = {**os.environ, "DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0",
           "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": SECRET, "WORKER_NAME": "books"}
    procs = [subprocess.Popen([sys.executable, "-m", "openbook.cli", role], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for role in ("api", "worker")]
    try:
        wait_for_port(port, 30, procs[0])
        workspace = asyncio.run(_workspace(pg.dsn))
        token = mint_token(JwtSettings("HS256", SECRET), workspace, "bench", ["admin"], 3600, time.time())
        report = asyncio.run(_rounds(f"http://127.0.0.1:{port}", token, pages))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)
        redis.stop()
    includes, inlined = statistics.median(report["cold"]["includes"]), statistics.median(report["cold"]["inlined"])
    ratio = includes / inlined
    edit, peer_edit = statistics.median(report["edits"]["includes"]), statistics.median(report["edits"]["inlined"])
    return [
        (f"POST -> deployed, {pages:,}-page mdBook, includes", "<= 1.2x inlined", includes, inlined,
         f"{'ok' if ratio <= 1.2 else 'MISS'} {ratio:.2f}x; peer: listings inlined; median of {ROUNDS} cold"),
        ("POST -> deployed, one included listing edited", "<= 1000 ms", edit, peer_edit,
         f"{'ok' if edit <= 1000 else 'MISS'} median of {EDITS}; files rendered per edit: "
         f"{'/'.join(str(n) for n in sorted(set(report['rendered']['includes'])))} (that page only), pages "
         f"parsed {'/'.join(str(n) for n in sorted(set(report['parsed']['includes'])))}; peer: the same edit in "
         "the inlined page"),
        ("  of which rendering (worker's render_ms)", "-", statistics.median(report["render_ms"]["includes"]),
         statistics.median(report["render_ms"]["inlined"]), "the rest: loading the commit, writing, the API"),
    ]


def main(argv: list[str]) -> int:
    pages = int(argv[0]) if argv else PAGES
    base = Path(tempfile.mkdtemp(prefix="openbook-bench-books-"))
    os.chmod(base, 0o755)
    pg = PostgresServer(base / "pg").start()
    try:
        apply_migrations(pg.dsn)
        for name, target, ours, peer, how in run(pg, base, pages):
            peer_text = f"{peer:9.1f}ms" if peer is not None else "-".rjust(11)
            print(f"{name:<48} {target:<18} {ours:9.1f}ms {peer_text}  {how}", flush=True)
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
