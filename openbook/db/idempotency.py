"""Stored answers of POSTs sent with an `Idempotency-Key` (one workspace's, with an expiry).

The answer is stored by the effect's own transaction (`store`), so a retry
after a timeout or a 503 finds it exactly when the effect happened. Two
concurrent requests with one key both run; the second to store loses the
primary key race, `store` raises `KeyTaken`, its transaction (the effect with
it) rolls back, and the caller replays the first's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openbook.db.database import Database, Tx
from openbook.db.scopes import Tenant
from openbook.errors import KeyTaken

TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    fingerprint: str
    status: int
    body: Any


async def lookup(db: Database, workspace_id: uuid.UUID, key: str) -> StoredAnswer | None:
    """The unexpired answer stored under `key`, if any."""
    async with db.transaction(Tenant(workspace_id), readonly=True) as tx:
        row = await tx.fetchrow("SELECT fingerprint, status, body FROM idempotency_keys"
                                " WHERE workspace_id = $1 AND key = $2 AND expires_at > now()",
                                workspace_id, key)
    return None if row is None else StoredAnswer(row["fingerprint"], row["status"], row["body"])


async def store(tx: Tx, key: str, fingerprint: str, status: int, body: Any, ttl_s: int = TTL_S) -> None:
    """Store the answer inside the effect's transaction; KeyTaken when another request stored first."""
    # An expired row gives its key back; a live one makes this request the loser.
    await tx.execute("DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND expires_at <= now()",
                     tx.workspace_id, key)
    stored = await tx.fetchval(
        "INSERT INTO idempotency_keys (workspace_id, key, fingerprint, status, body, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))"
        " ON CONFLICT (workspace_id, key) DO NOTHING RETURNING true",
        tx.workspace_id, key, fingerprint, status, body, ttl_s)
    if not stored:
        raise KeyTaken(f"idempotency key {key!r} was used by a concurrent request", {"key": key})


async def delete_expired(tx: Tx, limit: int) -> int:
    """Delete up to `limit` expired answers of any workspace (the relay's sweep); how many went."""
    result = await tx.execute(
        "DELETE FROM idempotency_keys WHERE (workspace_id, key) IN (SELECT workspace_id, key FROM idempotency_keys"
        " WHERE expires_at <= now() ORDER BY expires_at LIMIT $1)", limit)
    return int(result.rsplit(" ", 1)[-1])


T = TypeVar("T")
OnEffect = Callable[[Tx, T], Awaitable[None]]
"""Called inside the transaction of an effect with its result (to store the answer with it)."""


async def no_effect_hook(tx: Tx, result: object) -> None:
    """The default: nothing to store (the request carried no idempotency key)."""
