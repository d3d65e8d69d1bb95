"""Processing one deployment under a lease: pending → building → deployed | failed.

`run_deployment` is what the consumer calls for each stream message and what a
benchmark calls directly. It tells the caller what to do with the message:
ACK it (a terminal state was reached, or the deployment is gone), LEAVE it
(another live worker holds the lease), or RETRY it later (a transient error:
PostgreSQL away, a timeout). Content and write errors are terminal, so they
are never retried; an unexpected error is retried until `max_attempts`
leases were taken, then the deployment fails as a poison message.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from openbook.db import deployments as rows
from openbook.db.sites import get_site
from openbook.errors import CorruptObject, InvalidRequest, NotFound, OpenBookError, PublishFailed
from openbook.fs import storage
from openbook.worker.build import build

log = logging.getLogger("openbook.worker")

MAX_ATTEMPTS = 5
MIN_LEASE_S = 3.0
TRANSIENT = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError)


class Verdict(enum.Enum):
    ACK = "ack"
    LEAVE = "leave"
    RETRY = "retry"
    POISON = "poison"


@dataclass(frozen=True, slots=True)
class Context:
    """What a deployment needs besides its id."""

    pool: Any
    storage: Path
    themes_path: tuple[Path, ...]
    owner: str
    lease_s: float = MIN_LEASE_S * 3
    max_attempts: int = MAX_ATTEMPTS


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    status: str | None
    reason: str = ""
    transient: bool = True  # for RETRY: an outage (retry forever) rather than an unexpected error


async def _keep_lease(ctx: Context, deployment_id: uuid.UUID, lost: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(ctx.lease_s / 3)
        try:
            if not await rows.renew_lease(ctx.pool, deployment_id, ctx.owner, ctx.lease_s):
                lost.set()
                return
        except TRANSIENT as exc:
            # The database is away; the finish is fenced anyway if the lease lapses meanwhile.
            log.warning("lease renewal failed: %s", exc, extra={"deployment_id": str(deployment_id)})


def _switcher(ctx: Context) -> rows.LiveSwitch:
    def switch(workspace_id: uuid.UUID, site_id: uuid.UUID, commit_id: str) -> None:
        try:
            storage.switch_live(ctx.storage, workspace_id, site_id, commit_id)
        except OSError as exc:
            raise PublishFailed(f"switching live to {commit_id} failed: {exc.strerror or exc}") from exc

    return switch


async def _fail(ctx: Context, deployment_id: uuid.UUID, error: str, reason: str) -> Result:
    await rows.finish_failed(ctx.pool, deployment_id, ctx.owner, error, reason)
    log.info("deployment failed: %s", error, extra={"deployment_id": str(deployment_id)})
    return Result(Verdict.ACK, "failed", error)


async def run_deployment(ctx: Context, deployment_id: uuid.UUID) -> Result:
    """Bring one deployment to a terminal state if this worker can; never raises for expected failures."""
    try:
        return await _run(ctx, deployment_id)
    except TRANSIENT as exc:
        log.warning("transient error: %s: %s", type(exc).__name__, exc,
                    extra={"deployment_id": str(deployment_id)})
        return Result(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        # A bug or an unforeseen failure: retried, until the attempt limit makes it poison.
        log.exception("unexpected error", extra={"deployment_id": str(deployment_id)})
        return Result(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}", transient=False)


async def _run(ctx: Context, deployment_id: uuid.UUID) -> Result:
    dep = await rows.load(ctx.pool, deployment_id)
    if dep is None:
        return Result(Verdict.ACK, None, "no such deployment")
    if dep.terminal:
        return Result(Verdict.ACK, dep.status, "already finished")
    if dep.attempts >= ctx.max_attempts:
        error = f"gave up after {dep.attempts} attempts (last workers died or erred during the build)"
        if await rows.finish_failed(ctx.pool, deployment_id, ctx.owner, error, "poison message"):
            return Result(Verdict.POISON, "failed", error)
        return Result(Verdict.LEAVE, dep.status, "leased by another worker")
    leased = await rows.acquire_lease(ctx.pool, deployment_id, ctx.owner, ctx.lease_s)
    if leased is None:
        again = await rows.load(ctx.pool, deployment_id)
        if again is None or again.terminal:
            return Result(Verdict.ACK, None if again is None else again.status, "already finished")
        return Result(Verdict.LEAVE, again.status, "leased by another worker")
    log.info("building", extra={"deployment_id": str(deployment_id), "attempt": leased.attempts})
    lost = asyncio.Event()
    keeper = asyncio.create_task(_keep_lease(ctx, deployment_id, lost))
    try:
        try:
            async with ctx.pool.acquire() as conn:
                site = await get_site(conn, leased.workspace_id, leased.site_id)
                previous = await rows.live_commit(conn, leased.site_id)
            outcome = await build(ctx.pool, ctx.storage, ctx.themes_path, site, leased.commit_id, previous)
        except (InvalidRequest, NotFound, CorruptObject) as exc:
            # Content, theme or integrity problems: the same input fails the same way again.
            return await _fail(ctx, deployment_id, exc.message, type(exc).__name__)
        except PublishFailed as exc:
            return await _fail(ctx, deployment_id, str(exc), "write failed")
        except TRANSIENT:
            raise
        except OpenBookError as exc:
            return await _fail(ctx, deployment_id, exc.message, type(exc).__name__)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    if lost.is_set():
        return Result(Verdict.LEAVE, None, "lease lost during the build")
    try:
        moved = await rows.finish_deployed(ctx.pool, leased, ctx.owner, outcome.stats, _switcher(ctx))
    except PublishFailed as exc:
        # The live symlink could not be written: the transaction rolled back.
        return await _fail(ctx, deployment_id, str(exc), "write failed")
    if moved is None:
        return Result(Verdict.LEAVE, None, "lease lost before finishing")
    for host in site.domains:
        try:
            await asyncio.to_thread(storage.link_host, ctx.storage, host, site.workspace_id, site.id)
        except OSError as exc:
            log.error("cannot link _hosts/%s: %s", host, exc)
    log.info("deployed", extra={"deployment_id": str(deployment_id), "live": moved,
                                "duration_ms": outcome.stats.get("duration_ms")})
    return Result(Verdict.ACK, "deployed")
