"""Processing one deployment under a lease: pending → building → deployed | failed.

`run_deployment` is what the consumer calls for each stream message and what a
benchmark calls directly. It tells the caller what to do with the message:
ACK it (a terminal state was reached, or the deployment is gone), LEAVE it
(another live worker holds the lease), or RETRY it later.

The error boundary of the worker:
- `Unavailable` (PostgreSQL or Redis cannot be reached): RETRY, for as long
  as it lasts; a deployment never fails for an outage;
- the author's content (`RenderError`, `InvalidRequest`, `NotFound`) and
  damaged data (`CorruptObject`): failed, naming the file and the cause;
- a build over a limit (`BuildLimitExceeded`: CPU, memory, wall-clock time,
  output size): failed, naming the template and the limit, and counted in
  `openbook_builds_killed_total`;
- writing the output (`PublishFailed`): failed, never retried;
- OpenBook's own fault (`InternalError`, e.g. a renderer bug): failed, with an
  error that says so, and the trace in the log;
- anything else: retried until `max_attempts` leases were taken, then the
  deployment fails as a poison message.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from openbook import metrics
from openbook.config import RETENTION_MIN_AGE_S, BuildLimits
from openbook.db.database import Database
from openbook.db.deployments import Deployments, workspace_of
from openbook.errors import (
    BuildLimitExceeded,
    CorruptObject,
    InternalError,
    InvalidRequest,
    NotFound,
    OpenBookError,
    PublishFailed,
    Unavailable,
)
from openbook.fs import storage
from openbook.worker.build import build
from openbook.worker.retention import prune_after_deploy

log = logging.getLogger("openbook.worker")

MAX_ATTEMPTS = 5
MIN_LEASE_S = 3.0
OUR_FAULT = "OpenBook internal error (not a problem in your content; the operators have the details)"


class Verdict(enum.Enum):
    ACK = "ack"
    LEAVE = "leave"
    RETRY = "retry"
    POISON = "poison"


@dataclass(frozen=True, slots=True)
class Context:
    """What a deployment needs besides its id."""

    db: Database
    storage: Path
    themes_path: tuple[Path, ...]
    owner: str
    lease_s: float = MIN_LEASE_S * 3
    max_attempts: int = MAX_ATTEMPTS
    retention_min_age_s: float = RETENTION_MIN_AGE_S
    limits: BuildLimits = field(default_factory=BuildLimits)
    build_cache: Path | None = None  # BUILD_CACHE_PATH (None: every build starts cold)


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    status: str | None
    reason: str = ""
    transient: bool = True  # for RETRY: an outage (retry forever) rather than an unexpected error


async def _keep_lease(ctx: Context, rows: Deployments, deployment_id: uuid.UUID, lost: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(ctx.lease_s / 3)
        try:
            if not await rows.renew_lease(deployment_id, ctx.owner, ctx.lease_s):
                lost.set()
                return
        except Unavailable as exc:
            # The database is away; the finish is fenced anyway if the lease lapses meanwhile.
            log.warning("lease renewal failed: %s", exc.message, extra={"deployment_id": str(deployment_id)})


@dataclass(frozen=True, slots=True)
class _StorageSwitches:
    """Points the live or preview links under STORAGE_PATH (called under the site's row lock)."""

    root: Path
    hostnames: tuple[str, ...]

    def live(self, workspace_id: uuid.UUID, site_id: uuid.UUID, commit_id: str) -> None:
        storage.switch_live(self.root, workspace_id, site_id, commit_id)

    def preview(self, workspace_id: uuid.UUID, site_id: uuid.UUID, key: str, commit_id: str) -> None:
        storage.switch_preview(self.root, workspace_id, site_id, key, commit_id, self.hostnames)


async def _fail(rows: Deployments, ctx: Context, deployment_id: uuid.UUID, error: str, reason: str,
                trigger: str = "unknown") -> Result:
    if await rows.finish_failed(deployment_id, ctx.owner, error, reason):
        metrics.DEPLOYMENTS.labels("failed", trigger).inc()
    log.info("deployment failed: %s", error, extra={"deployment_id": str(deployment_id)})
    return Result(Verdict.ACK, "failed", error)


async def run_deployment(ctx: Context, deployment_id: uuid.UUID) -> Result:
    """Bring one deployment to a terminal state if this worker can; never raises for expected failures."""
    try:
        return await _run(ctx, deployment_id)
    except Unavailable as exc:
        metrics.BACKEND_OUTAGES.labels(str(exc.details.get("backend", "unknown"))).inc()
        log.warning("backend unavailable: %s", exc.message, extra={"deployment_id": str(deployment_id)})
        return Result(Verdict.RETRY, None, exc.message)
    except Exception as exc:
        # A bug or an unforeseen failure: retried, until the attempt limit makes it poison.
        log.exception("unexpected error", extra={"deployment_id": str(deployment_id)})
        return Result(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}", transient=False)


async def _run(ctx: Context, deployment_id: uuid.UUID) -> Result:
    workspace_id = await workspace_of(ctx.db, deployment_id)
    rows = Deployments(ctx.db, workspace_id) if workspace_id is not None else None
    dep = await rows.find(deployment_id) if rows is not None else None
    if rows is None or dep is None:
        return Result(Verdict.ACK, None, "no such deployment")
    if dep.terminal:
        return Result(Verdict.ACK, dep.status, "already finished")
    if dep.attempts >= ctx.max_attempts:
        error = f"gave up after {dep.attempts} attempts (last workers died or erred during the build)"
        if await rows.finish_failed(deployment_id, ctx.owner, error, "poison message"):
            return Result(Verdict.POISON, "failed", error)
        return Result(Verdict.LEAVE, dep.status, "leased by another worker")
    leased = await rows.acquire_lease(deployment_id, ctx.owner, ctx.lease_s)
    if leased is None:
        again = await rows.find(deployment_id)
        if again is None or again.terminal:
            return Result(Verdict.ACK, None if again is None else again.status, "already finished")
        return Result(Verdict.LEAVE, again.status, "leased by another worker")
    if leased.terminal:
        metrics.DEPLOYMENTS.labels(leased.status, leased.trigger).inc()
        return Result(Verdict.ACK, leased.status, "superseded by a newer deployment")
    log.info("building", extra={"deployment_id": str(deployment_id), "attempt": leased.attempts})
    lost = asyncio.Event()
    keeper = asyncio.create_task(_keep_lease(ctx, rows, deployment_id, lost))
    try:
        try:
            site, previous = await rows.build_inputs(leased)
            outcome = await build(ctx.db, ctx.storage, ctx.themes_path, site, leased.commit_id, previous,
                                  ctx.limits, ctx.build_cache)
        except Unavailable:
            raise
        except BuildLimitExceeded as exc:
            metrics.BUILDS_KILLED.labels(exc.limit).inc()
            return await _fail(rows, ctx, deployment_id, exc.message, "limit exceeded", leased.trigger)
        except (InvalidRequest, NotFound, CorruptObject) as exc:
            # Content, theme or integrity problems: the same input fails the same way again.
            return await _fail(rows, ctx, deployment_id, exc.message, type(exc).__name__, leased.trigger)
        except PublishFailed as exc:
            return await _fail(rows, ctx, deployment_id, exc.message, "write failed", leased.trigger)
        except InternalError as exc:
            log.error("OpenBook fault: %s", exc.message, exc_info=exc, extra={"deployment_id": str(deployment_id)})
            return await _fail(rows, ctx, deployment_id, f"{OUR_FAULT}: {exc.message}", "internal error",
                               leased.trigger)
        except OpenBookError as exc:
            return await _fail(rows, ctx, deployment_id, exc.message, type(exc).__name__, leased.trigger)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    if lost.is_set():
        return Result(Verdict.LEAVE, None, "lease lost during the build")
    try:
        with metrics.BUILD_PHASE.labels("publish").time():
            moved = await rows.finish_deployed(leased, ctx.owner, outcome.stats,
                                               _StorageSwitches(ctx.storage, site.domains))
    except PublishFailed as exc:
        # The live symlink could not be written: the transaction rolled back.
        return await _fail(rows, ctx, deployment_id, exc.message, "write failed", leased.trigger)
    if moved is None:
        return Result(Verdict.LEAVE, None, "lease lost before finishing")
    for host in site.domains:
        try:
            await asyncio.to_thread(storage.link_host, ctx.storage, host, site.workspace_id, site.id)
        except PublishFailed as exc:
            log.error("cannot link _hosts/%s: %s", host, exc.message)
    log.info("deployed", extra={"deployment_id": str(deployment_id), "live": moved.live,
                                "preview": moved.preview_key,
                                "duration_ms": outcome.stats.get("duration_ms")})
    metrics.DEPLOYMENTS.labels("deployed", leased.trigger).inc()
    await prune_after_deploy(ctx.db, ctx.storage, site.workspace_id, site.id, outcome.site.keep_deployments,
                             ctx.retention_min_age_s, f"worker:{ctx.owner}")
    return Result(Verdict.ACK, "deployed")
