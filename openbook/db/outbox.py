"""Outbox rows: PostgreSQL is the record of what must be sent to the deployment stream.

A deployment's outbox row is written in the deployment's own transaction; the
API marks it published once its XADD is done. The relay
(`openbook.pipeline.relay`) sends what was not. The outbox table carries no
workspace (a row is only a pointer to a deployment), so it has no row-level
security; re-queueing joins deployments and runs on the outbox-relay path.
"""

from __future__ import annotations

import uuid

from openbook.db.database import Tx


async def add(tx: Tx, deployment_id: uuid.UUID) -> int:
    """A new unpublished row for the deployment; its id."""
    outbox_id: int = await tx.fetchval("INSERT INTO outbox (deployment_id) VALUES ($1) RETURNING id",
                                       deployment_id)
    return outbox_id


async def mark_published(tx: Tx, outbox_id: int) -> None:
    await tx.execute("UPDATE outbox SET published_at = now() WHERE id = $1 AND published_at IS NULL", outbox_id)


async def take_unpublished(tx: Tx, grace_s: float, limit: int) -> list[tuple[int, uuid.UUID]]:
    """(outbox id, deployment id) of rows unpublished for over `grace_s`, locked for this transaction.

    `SKIP LOCKED`: several relays never send one row at the same time.
    """
    rows = await tx.fetch(
        "SELECT id, deployment_id FROM outbox WHERE published_at IS NULL"
        " AND created_at < now() - make_interval(secs => $1)"
        " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        grace_s, limit,
    )
    return [(int(r["id"]), r["deployment_id"]) for r in rows]


async def mark_many_published(tx: Tx, outbox_ids: list[int]) -> None:
    await tx.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", outbox_ids)


async def requeue_unfinished(tx: Tx, older_than_s: float = 0.0) -> int:
    """Mark the outbox rows of unfinished deployments unpublished, so the relay sends them again."""
    result = await tx.execute(
        "UPDATE outbox o SET published_at = NULL FROM deployments d"
        " WHERE d.id = o.deployment_id AND d.status IN ('pending', 'building')"
        " AND o.published_at IS NOT NULL AND o.published_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return int(result.rsplit(" ", 1)[-1])


async def delete_published(tx: Tx, older_than_s: float, limit: int) -> int:
    """Delete up to `limit` rows published over `older_than_s` ago; how many went.

    Rows of unfinished deployments stay: re-queueing them after a Redis restart
    marks those very rows unpublished again.
    """
    result = await tx.execute(
        "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o JOIN deployments d ON d.id = o.deployment_id"
        " WHERE o.published_at < now() - make_interval(secs => $1)"
        " AND d.status NOT IN ('pending', 'building') ORDER BY o.published_at LIMIT $2)",
        older_than_s, limit,
    )
    return int(result.rsplit(" ", 1)[-1])


async def swap_stream_identity(tx: Tx, key: str, run_id: str) -> bool:
    """Record `run_id` as the stream server last seen under `key`; True when it differs from before.

    The row is locked until the transaction ends, so relays in several processes
    notice one restart once.
    """
    await tx.execute("INSERT INTO relay_state (key, value) VALUES ($1, '') ON CONFLICT DO NOTHING", key)
    seen = await tx.fetchval("SELECT value FROM relay_state WHERE key = $1 FOR UPDATE", key)
    if seen == run_id:
        return False
    await tx.execute("UPDATE relay_state SET value = $2, updated_at = now() WHERE key = $1", key, run_id)
    return True


async def backlog(tx: Tx) -> int:
    """How many outbox rows are not yet sent to the stream."""
    count: int = await tx.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count
