"""`openbook gc` on a workspace of about 100,000 objects: wall time and the process's peak memory.

The workspace: 82,000 files of 256 bytes in folders of 1,000 on `main`, 20
one-file commits of history, and a deleted branch that held 15,000 files of
its own (the garbage). Every object is then aged two days, and `openbook gc
--workspace ID` runs as a real process (default grace, 24h), twice: the first
run removes the garbage, the second finds none. Peak memory is the process's
maximum resident set size (`wait4` rusage), interpreter included; the wall
time includes starting Python and connecting.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from openbook.config import DatabaseSettings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.db.scopes import Tenant
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PG_DATABASE, PostgresServer
from openbook.store.trees import Change
from tests.perf.bench_store import content, tree_files

Row = tuple[str, str, str, str]
LIVE_FILES = 82_000
GARBAGE_FILES = 15_000


async def _workspace(pg: PostgresServer) -> tuple[uuid.UUID, int]:
    db = await Database.open(DatabaseSettings(dsn=pg.dsn, pool_min=1, pool_max=4, command_timeout_s=300))
    try:
        ws = await create_workspace(db, f"gc-{uuid.uuid4().hex[:10]}", "gc bench")
        repo = ContentRepository(db, ws.id)
        files = tree_files(LIVE_FILES, 1000, 256)
        await repo.commit("main", [Change.put(p, d) for p, d in files.items()], "import", "bench", None)
        for i in range(20):
            await repo.commit("main", [Change.put(f"d{i:04d}/f00001.md", f"edit {i}\n".encode())], "edit", "b", None)
        await repo.create_branch("scratch", "main", "bench")
        await repo.commit("scratch", [Change.put(f"scratch/s{i // 1000:02d}/f{i:05d}.md", content(10**6 + i, 256))
                                      for i in range(GARBAGE_FILES)], "scratch", "bench", None)
        await repo.delete_branch("scratch", "bench")
        async with db.transaction(Tenant(ws.id), readonly=True) as tx:
            count: int = await tx.fetchval("SELECT count(*) FROM objects WHERE workspace_id = $1", ws.id)
    finally:
        await db.close()
    admin = await asyncpg.connect(pg.dsn_for(PG_DATABASE, admin=True))
    try:
        await admin.execute("UPDATE objects SET created_at = created_at - interval '2 days' WHERE workspace_id = $1",
                            ws.id)
        await admin.execute("VACUUM ANALYZE objects")
    finally:
        await admin.close()
    return ws.id, count


# Started from a small launcher: a child's max RSS starts at its parent's RSS at fork (Linux keeps
# the high-water mark across exec), and this benchmark's own process is large after building.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = proc.stdout.read()
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss,
                  "report": json.loads(out) if out else None}))
"""


def _gc(pg: PostgresServer, workspace: uuid.UUID) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, peak RSS in MB, and the report of one `openbook gc` process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "openbook.cli", "gc",
                           "--workspace", str(workspace)], env={**os.environ, "DB_DSN": pg.dsn},
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"openbook gc exited {result['code']}: {done.stderr}")
    report: dict[str, object] = result["report"]["workspaces"][0]
    return wall, result["maxrss_kb"] / 1024, report


def run(pg: PostgresServer) -> list[Row]:
    workspace, count = asyncio.run(_workspace(pg))
    rows: list[Row] = []
    for label in ("removes the garbage", "finds none"):
        wall, rss, report = _gc(pg, workspace)
        rows.append((f"openbook gc, {count:,} objects, {label}", f"{wall:.2f} s", "<= 10 s",
                     f"removed {report['objects']:,} objects; collect {report['duration_ms']} ms,"
                     f" writers held {report['locked_ms']} ms"))
        rows.append(("  peak memory (max RSS) of that process", f"{rss:.0f} MB", "<= 300 MB", ""))
    return rows


def print_rows(rows: list[Row]) -> None:
    print("\nGarbage collection (a real `openbook gc` process, default grace)")
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}} {'OpenBook':>9} {'target':>10}  notes")
    for name, figure, target, note in rows:
        print(f"{name:<{width}} {figure:>9} {target:>10}  {note}")
    sys.stdout.flush()


if __name__ == "__main__":
    base = Path(tempfile.mkdtemp(prefix="openbook-bench-gc-"))
    os.chmod(base, 0o755)  # the postgres OS user must reach its data folder
    server = PostgresServer(base / "pg").start()
    try:
        apply_migrations(server.dsn)
        print_rows(run(server))
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
