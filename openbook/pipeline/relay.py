"""The outbox relay: PostgreSQL is the record, the Redis stream only the signal.

Every API and worker process runs one. It covers what the API's own XADD
after COMMIT did not:

- rows still unpublished after `GRACE_S` (Redis was down, or the process died
  between COMMIT and XADD) are XADDed;
- when Redis comes back empty (its run id differs from the one recorded in
  `relay_state`), every unfinished deployment is queued again;
- as a last net, a deployment unfinished for `STALE_S` is queued again;
- rows published over `KEEP_PUBLISHED_S` (7 days) ago are deleted (SPEC §11),
  and so are expired idempotency keys.

A duplicate message is harmless: the worker's lease and terminal states make
processing idempotent. A missing one would strand a deployment.
"""

from __future__ import annotations

import asyncio
import logging

from openbook.db import idempotency, outbox
from openbook.db.database import Database
from openbook.db.scopes import OUTBOX_RELAY
from openbook.errors import Unavailable
from openbook.pipeline.loops import stop_if_cancelled
from openbook.stream.deployments import DeploymentStream

log = logging.getLogger("openbook.outbox")

GRACE_S = 1.0
STALE_S = 60.0
BATCH = 100
INTERVAL_S = 0.5
SWEEP_EVERY_S = 15.0
MAX_DELAY_S = 5.0
KEEP_PUBLISHED_S = 7 * 86_400.0
DELETE_BATCH = 10_000  # per sweep: a backlog drains over a few sweeps, each a short statement


async def relay_once(db: Database, stream: DeploymentStream, grace_s: float = GRACE_S) -> int:
    """XADD the unpublished rows older than `grace_s`; return how many were sent."""
    async with db.transaction(OUTBOX_RELAY) as tx:
        rows = await outbox.take_unpublished(tx, grace_s, BATCH)
        for _, deployment_id in rows:
            await stream.publish(str(deployment_id))
        if rows:
            await outbox.mark_many_published(tx, [outbox_id for outbox_id, _ in rows])
    if rows:
        log.info("relayed %d outbox row(s)", len(rows))
    return len(rows)


async def requeue_if_stream_restarted(db: Database, stream: DeploymentStream) -> bool:
    """Requeue unfinished deployments when Redis is not the instance last seen; True if it changed."""
    run_id = await stream.run_id()
    async with db.transaction(OUTBOX_RELAY) as tx:
        if not await outbox.swap_stream_identity(tx, f"redis_run_id:{stream.target}", run_id):
            return False
        count = await outbox.requeue_unfinished(tx)
    log.warning("Redis instance changed (run_id %s); re-queued %d unfinished deployment(s)", run_id, count)
    return True


class Relay:
    """The loop; `run()` until cancelled. Outages are logged and retried with backoff, never raised."""

    def __init__(self, db: Database, stream: DeploymentStream, *, interval_s: float = INTERVAL_S,
                 stale_s: float = STALE_S) -> None:
        self._db = db
        self._stream = stream
        self._interval = interval_s
        self._stale = stale_s
        self._run_id_seen: str | None = None
        self._next_sweep = 0.0

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        run_id = await self._stream.run_id()
        if run_id != self._run_id_seen:
            await requeue_if_stream_restarted(self._db, self._stream)
            self._run_id_seen = run_id
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + SWEEP_EVERY_S
            async with self._db.transaction(OUTBOX_RELAY) as tx:
                stale = await outbox.requeue_unfinished(tx, self._stale)
                deleted = await outbox.delete_published(tx, KEEP_PUBLISHED_S, DELETE_BATCH)
                expired = await idempotency.delete_expired(tx, DELETE_BATCH)
            if stale:
                log.warning("re-queued %d deployment(s) unfinished for over %.0fs", stale, self._stale)
            if deleted:
                log.info("deleted %d outbox row(s) published over 7 days ago", deleted)
            if expired:
                log.info("deleted %d expired idempotency key(s)", expired)
        while await relay_once(self._db, self._stream) == BATCH:
            pass

    async def run(self) -> None:
        delay = self._interval
        while True:
            stop_if_cancelled()
            try:
                await self.tick()
                delay = self._interval
            except Unavailable as exc:
                log.warning("outbox relay: %s (retrying in %.1fs)", exc.message, delay)
                delay = min(delay * 2, MAX_DELAY_S)
            except Exception:
                # A bug must not silently end the relay (deployments would strand): log it, go on.
                log.exception("outbox relay: unexpected error (retrying in %.1fs)", delay)
                delay = min(delay * 2, MAX_DELAY_S)
            await asyncio.sleep(delay)
