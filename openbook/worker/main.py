"""`openbook worker`: connect, reconcile `_hosts`, relay the outbox, sync mirrors, consume until SIGTERM.

Start-up waits a bounded time for PostgreSQL and Redis and exits 1 with a
clear message if either stays away. Once running, outages are retried with
backoff; up to WORKER_CONCURRENCY builds run at once, shared fairly between
workspaces (`consumer`, `fair`). SIGTERM or SIGINT: stop reading, finish
the running deployments, close connections, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import uuid
from pathlib import Path

from aiohttp import web

from openbook import metrics
from openbook.config import RETENTION_MIN_AGE_S, Settings
from openbook.db.database import Database
from openbook.db.sites import all_domains, all_previews
from openbook.errors import ConfigError, PublishFailed, Unavailable
from openbook.fs import buildcache, storage
from openbook.logs import setup_logging
from openbook.pipeline.mirrors import MirrorSync, limits_of
from openbook.pipeline.relay import Relay
from openbook.pipeline.webhooks import WebhookDelivery
from openbook.stream.deployments import DeploymentStream
from openbook.worker import isolate
from openbook.worker.consumer import Consumer
from openbook.worker.deploy import MIN_LEASE_S, Context, Result, run_deployment

log = logging.getLogger("openbook.worker")


def lease_seconds(settings: Settings) -> float:
    """A building worker renews its lease every third of it; a dead one's lapses after it."""
    return max(settings.worker_claim_idle_ms / 1000, MIN_LEASE_S)


def context(settings: Settings, db: Database) -> Context:
    assert settings.storage_path is not None
    return Context(db=db, storage=settings.storage_path, themes_path=settings.themes_path,
                   owner=settings.worker_name, lease_s=lease_seconds(settings),
                   retention_min_age_s=settings.retention_min_age_s, limits=settings.build_limits,
                   build_cache=settings.build_cache_path)


async def deploy_one(db: Database, storage_path: Path, deployment_id: uuid.UUID, *,
                     themes_path: tuple[Path, ...] = (), owner: str = "bench",
                     retention_min_age_s: float = RETENTION_MIN_AGE_S) -> Result:
    """Run one deployment to a terminal state from this process (benchmarks, tools); no Redis
    involved. Its build process keeps its cache where a worker would: STORAGE_PATH/_build-cache."""
    ctx = Context(db=db, storage=storage_path, themes_path=themes_path, owner=owner,
                  retention_min_age_s=retention_min_age_s, build_cache=storage_path / buildcache.DIRNAME)
    while True:
        result = await run_deployment(ctx, deployment_id)
        if result.verdict.value != "retry":
            return result
        await asyncio.sleep(0.2)


async def _serve_metrics(stream: DeploymentStream, port: int) -> web.AppRunner:
    """GET /metrics of this worker on `port` (WORKER_METRICS_PORT), in the worker's own event loop."""

    async def get_metrics(request: web.Request) -> web.Response:
        try:
            metrics.STREAM_PENDING.set(await asyncio.wait_for(stream.pending_count(), 2.0))
        except (Unavailable, TimeoutError):
            metrics.STREAM_PENDING.set(float("nan"))  # unknown right now; the series says so
        return web.Response(body=metrics.exposition(metrics.WORKER), headers={"Content-Type": metrics.CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


async def serve(settings: Settings, burst: bool, stop: asyncio.Event) -> None:
    assert settings.redis is not None and settings.storage_path is not None
    db = await Database.open(settings.database)
    stream = DeploymentStream(settings.redis)
    relay_task: asyncio.Task[None] | None = None
    webhook_task: asyncio.Task[None] | None = None
    mirror_task: asyncio.Task[None] | None = None
    metrics_site: web.AppRunner | None = None
    try:
        await stream.wait_until_ready(settings.redis.startup_wait_s)
        await stream.ensure_group()
        domains, previews = await all_domains(db), await all_previews(db)
        try:
            await asyncio.to_thread(storage.reconcile_hosts, settings.storage_path, domains, previews)
        except PublishFailed as exc:
            log.error("cannot reconcile _hosts: %s (domains may serve stale links until fixed)", exc.message)
        await asyncio.to_thread(isolate.prepare)  # the fork server, warm before the first build
        relay_task = asyncio.create_task(Relay(db, stream).run())
        webhook_task = asyncio.create_task(WebhookDelivery(db, settings.webhooks).run())
        mirror_task = asyncio.create_task(MirrorSync(db, limits_of(settings)).run())
        if settings.worker_metrics_port is not None:
            metrics_site = await _serve_metrics(stream, settings.worker_metrics_port)
        log.info("worker started", extra={"consumer": settings.worker_name, "burst": burst,
                                          "concurrency": settings.worker_concurrency})
        consumer = Consumer(context(settings, db), stream, settings.worker_claim_idle_ms, stop,
                            settings.worker_concurrency)
        await consumer.run(burst)
        log.info("worker stopping", extra={"processed": consumer.processed})
    finally:
        isolate.retire_warm()
        if metrics_site is not None:
            await metrics_site.cleanup()
        for task in (relay_task, webhook_task, mirror_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await stream.close()
        await db.close()


async def _main(settings: Settings, burst: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, burst, stop)
    except (Unavailable, ConfigError) as exc:
        print(f"openbook worker: {exc.message}", file=sys.stderr)
        return 1
    return 0


def run_worker(settings: Settings, burst: bool) -> int:
    """Run the worker until SIGTERM/SIGINT (or, with `burst`, until the stream is drained)."""
    setup_logging()
    return asyncio.run(_main(settings, burst))
