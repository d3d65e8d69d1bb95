"""The outbox relay: PostgreSQL is the record, the Redis stream only the signal.

A deployment's outbox row is written in the deployment's own transaction; the
API XADDs right after COMMIT and marks the row published. The relay, run by
every API and worker process (rows are taken with `FOR UPDATE SKIP LOCKED`, so
several relays never send one row twice at the same time), covers the rest:

- rows still unpublished after `GRACE_S` (Redis was down, or the process died
  between COMMIT and XADD) are XADDed;
- when Redis comes back empty (its `run_id` differs from the one recorded in
  `relay_state`), every unfinished deployment is queued again;
- as a last net, a deployment unfinished for `STALE_S` is queued again.

A duplicate message is harmless: the worker's lease and terminal states make
processing idempotent. A missing one would strand a deployment.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from openbook.stream.deployments import publish_deployment

log = logging.getLogger("openbook.outbox")

GRACE_S = 1.0
STALE_S = 60.0
BATCH = 100
INTERVAL_S = 0.5
SWEEP_EVERY_S = 15.0


def _state_key(redis: aioredis.Redis) -> str:
    """One key per Redis target (server and database): a restart is noticed per target."""
    kw = redis.connection_pool.connection_kwargs
    return f"redis_run_id:{kw.get('host')}:{kw.get('port')}/{kw.get('db', 0)}"


async def mark_published(pool: Any, outbox_id: int) -> None:
    await pool.execute("UPDATE outbox SET published_at = now() WHERE id = $1 AND published_at IS NULL",
                       outbox_id)


async def relay_once(pool: Any, redis: aioredis.Redis, grace_s: float = GRACE_S) -> int:
    """XADD the unpublished rows older than `grace_s`; return how many were sent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, deployment_id FROM outbox WHERE published_at IS NULL"
            " AND created_at < now() - make_interval(secs => $1)"
            " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            grace_s, BATCH,
        )
        for row in rows:
            await publish_deployment(redis, str(row["deployment_id"]))
        if rows:
            await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                               [r["id"] for r in rows])
    if rows:
        log.info("relayed %d outbox row(s)", len(rows))
    return len(rows)


async def requeue_unfinished(conn: Any, older_than_s: float = 0.0) -> int:
    """Mark the outbox rows of unfinished deployments unpublished, so the relay sends them again."""
    result: str = await conn.execute(
        "UPDATE outbox o SET published_at = NULL FROM deployments d"
        " WHERE d.id = o.deployment_id AND d.status IN ('pending', 'building')"
        " AND o.published_at IS NOT NULL AND o.published_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return int(result.rsplit(" ", 1)[-1])


async def check_redis_identity(pool: Any, redis: aioredis.Redis) -> bool:
    """Requeue unfinished deployments when Redis is not the instance last seen; True if it changed."""
    info = await redis.info("server")
    run_id = str(info["run_id"])
    key = _state_key(redis)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO relay_state (key, value) VALUES ($1, '') ON CONFLICT DO NOTHING", key)
        seen = await conn.fetchval("SELECT value FROM relay_state WHERE key = $1 FOR UPDATE", key)
        if seen == run_id:
            return False
        count = await requeue_unfinished(conn)
        await conn.execute("UPDATE relay_state SET value = $2, updated_at = now() WHERE key = $1",
                           key, run_id)
    log.warning("Redis instance changed (run_id %s); re-queued %d unfinished deployment(s)", run_id, count)
    return True


class Relay:
    """The loop; `run()` until cancelled. Errors are logged and retried with backoff, never raised."""

    def __init__(self, pool: Any, redis: aioredis.Redis, *, interval_s: float = INTERVAL_S,
                 stale_s: float = STALE_S) -> None:
        self._pool = pool
        self._redis = redis
        self._interval = interval_s
        self._stale = stale_s
        self._run_id_seen: str | None = None
        self._next_sweep = 0.0

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        info = await self._redis.info("server")
        if info.get("run_id") != self._run_id_seen:
            await check_redis_identity(self._pool, self._redis)
            self._run_id_seen = str(info["run_id"])
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + SWEEP_EVERY_S
            async with self._pool.acquire() as conn:
                stale = await requeue_unfinished(conn, self._stale)
            if stale:
                log.warning("re-queued %d deployment(s) unfinished for over %.0fs", stale, self._stale)
        while await relay_once(self._pool, self._redis) == BATCH:
            pass

    async def run(self) -> None:
        delay = self._interval
        while True:
            try:
                await self.tick()
                delay = self._interval
            except (TimeoutError, RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay: %s: %s (retrying in %.1fs)", type(exc).__name__, exc, delay)
                delay = min(delay * 2, 5.0)
            await asyncio.sleep(delay)
