"""`make bench`: start a private PostgreSQL + Redis, run every benchmark, print figures beside peers'."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from openbook.config import DatabaseSettings
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.dev.stack import PostgresServer
from tests.perf import (
    bench_books,
    bench_gc,
    bench_git,
    bench_isolation,
    bench_merge,
    bench_pipeline,
    bench_render,
    bench_store,
    bench_studio,
)


def print_table(title: str, rows: list[bench_store.Row]) -> None:
    print(f"\n{title}")
    print(f"{'operation':<44} {'target':<26} {'OpenBook':>11} {'peer':>11}  peer command")
    for name, target, ours, peer, how in rows:
        peer_text = f"{peer:9.1f}ms" if peer is not None else "-".rjust(11)
        print(f"{name:<44} {target:<26} {ours:9.1f}ms {peer_text}  {how}")
    sys.stdout.flush()


async def store_bench(dsn: str) -> list[bench_store.Row]:
    pool = await Database.open(DatabaseSettings(dsn=dsn, pool_min=2, pool_max=10, command_timeout_s=300))
    try:
        return await bench_store.main_async(pool)
    finally:
        await pool.close()


def main(only: list[str]) -> int:
    """Every benchmark, or only those named (`python -m tests.perf.run git store`)."""
    base = Path(tempfile.mkdtemp(prefix="openbook-bench-"))
    os.chmod(base, 0o755)
    pg = PostgresServer(base / "pg").start()

    def wanted(name: str) -> bool:
        return not only or name in only

    try:
        if wanted("merge"):
            bench_merge.print_rows(bench_merge.run())
        apply_migrations(pg.dsn)
        if wanted("store"):
            print_table("Content store (server-side time, median) vs git on the same files",
                        asyncio.run(store_bench(pg.dsn)))
        if wanted("gc"):
            bench_gc.print_rows(bench_gc.run(pg))
        if wanted("git"):
            print_table("Git remote (real API process) vs plain git on the same files", bench_git.run(pg, base))
        if wanted("pipeline"):
            print_table("Publishing pipeline (real API and worker processes)", bench_pipeline.run(pg, base))
        if wanted("books"):
            print_table("Books written for mdBook (real API and worker processes; peer: listings inlined)",
                        bench_books.run(pg, base))
        if wanted("isolation"):
            print_table("Isolated builds and fair workers (peer column: the release before them, issue 8)",
                        bench_isolation.incremental_rows() + bench_isolation.fairness_rows(pg, base))
        if wanted("studio"):
            print_table("Web studio (round trips to the real app over loopback)", bench_studio.run(pg, base))
        if wanted("render"):
            # Last: MkDocs alone needs ~12 minutes on 5,000 pages (BENCH_NO_PEERS=1 skips MkDocs and Hugo).
            print(f"\nRendering: a generated {bench_render.PAGES:,}-page book (~2 KB pages),"
                  " OpenBook vs MkDocs vs Hugo")
            bench_render.print_rows(bench_render.run(peers=not os.environ.get("BENCH_NO_PEERS")))
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
