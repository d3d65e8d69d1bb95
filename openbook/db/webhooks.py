"""Webhook rows: subscriptions, and deliveries written in the transaction of their event.

A delivery row is the outbox of one event for one webhook: it holds the exact
bytes that will be POSTed (and signed), so every retry sends the same body.

Two sides use these tables:

- a tenant (`Webhooks`, the API): create, list and delete subscriptions, read
  deliveries with their attempts;
- the delivery loop (`claim_due`, `record_attempt`), on the `webhook-delivery`
  system path, which crosses workspaces. A claim is a lease (`lease_until`)
  taken with `FOR UPDATE SKIP LOCKED`: processes never send one delivery at
  the same time, and one killed mid-request leaves the delivery to whoever
  claims it after the lease. An attempt is recorded only while its lease is
  still the one claimed, so a process that lost it changes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from openbook.db.audit import record
from openbook.db.database import Database, Row, Tx
from openbook.db.idempotency import OnEffect, no_effect_hook
from openbook.db.scopes import WEBHOOK_DELIVERY, Tenant
from openbook.errors import Conflict, InvalidRequest, NotFound

EVENTS = ("deployment.finished", "branch.updated", "branch.deleted", "merge.executed")
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 1024
# Printable ASCII, so that characters are bytes and the OpenAPI document can state the length exactly.
SECRET_RE = re.compile(rf"[\x20-\x7e]{{{MIN_SECRET_BYTES},{MAX_SECRET_BYTES}}}")
# Every event inserts one row per subscribed webhook: the cap bounds that fan-out.
MAX_WEBHOOKS = 20

Outcome = Literal["pending", "delivered", "failed"]


def event_body(event: str, data: dict[str, Any], at: datetime | None = None) -> bytes:
    """The JSON document POSTed for an event (the same bytes for every webhook and attempt)."""
    doc = {"event": event, "created_at": (at or datetime.now(UTC)).isoformat(), "data": data}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


async def enqueue(tx: Tx, event: str, data: dict[str, Any]) -> int:
    """Queue `event` for every webhook of the workspace subscribed to it; how many deliveries.

    Call it inside the transaction of the event itself: the deliveries exist
    exactly when the event happened (a crash loses none, a rollback sends none).
    """
    body = event_body(event, data)
    result = await tx.execute(
        "INSERT INTO webhook_deliveries (id, workspace_id, webhook_id, event, body)"
        " SELECT gen_random_uuid(), workspace_id, id, $2, $3 FROM webhooks"
        " WHERE workspace_id = $1 AND $2 = ANY(events)",
        tx.workspace_id, event, body,
    )
    return int(result.rsplit(" ", 1)[-1])


def validate_events(value: object) -> tuple[str, ...]:
    """A non-empty list of known event names, duplicates dropped; InvalidRequest otherwise."""
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"field 'events' must be a non-empty list of {', '.join(EVENTS)}", {"field": "events"})
    unknown = [e for e in value if e not in EVENTS]
    if unknown:
        raise InvalidRequest(f"unknown event(s) {unknown!r}; known: {', '.join(EVENTS)}",
                             {"field": "events", "unknown": [str(e) for e in unknown]})
    return tuple(dict.fromkeys(value))


def validate_secret(value: object) -> str:
    """A string of 16 to 1024 printable ASCII characters (the HMAC key); InvalidRequest otherwise."""
    if not isinstance(value, str) or not SECRET_RE.fullmatch(value):
        raise InvalidRequest(f"field 'secret' must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} printable ASCII"
                             " characters", {"field": "secret"})
    return value


@dataclass(frozen=True, slots=True)
class Webhook:
    id: uuid.UUID
    url: str
    events: tuple[str, ...]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        # The secret never leaves the database except as the signatures it makes.
        return {"id": str(self.id), "url": self.url, "events": list(self.events),
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "status_code": self.status_code, "error": self.error,
                "duration_ms": self.duration_ms, "at": self.at.isoformat()}


@dataclass(frozen=True, slots=True)
class Delivery:
    id: uuid.UUID
    event: str
    status: Outcome
    attempts: tuple[Attempt, ...]
    created_at: datetime
    finished_at: datetime | None
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "event": self.event, "status": self.status,
                "attempts": [a.to_json() for a in self.attempts], "created_at": self.created_at.isoformat(),
                "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
                "next_attempt_at": None if self.next_attempt_at is None else self.next_attempt_at.isoformat()}


def _webhook(row: Row) -> Webhook:
    return Webhook(id=row["id"], url=row["url"], events=tuple(row["events"]), created_at=row["created_at"])


class Webhooks:
    """The webhooks of one workspace and their deliveries."""

    def __init__(self, db: Database, workspace_id: uuid.UUID) -> None:
        self.db = db
        self.scope = Tenant(workspace_id)

    async def create(self, actor: str, url: str, events: tuple[str, ...], secret: str,
                     on_effect: OnEffect[Webhook] = no_effect_hook) -> Webhook:
        """Insert the webhook and its audit row (checked values); Conflict beyond MAX_WEBHOOKS."""
        webhook_id = uuid.uuid4()
        async with self.db.transaction(self.scope) as tx:
            # The workspace row lock serializes creations, so the cap holds under concurrency.
            await tx.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", tx.workspace_id)
            count = await tx.fetchval("SELECT count(*) FROM webhooks WHERE workspace_id = $1", tx.workspace_id)
            if count >= MAX_WEBHOOKS:
                raise Conflict(f"a workspace has at most {MAX_WEBHOOKS} webhooks; delete one first",
                               {"limit": MAX_WEBHOOKS})
            row = await tx.fetchrow(
                "INSERT INTO webhooks (id, workspace_id, url, events, secret) VALUES ($1, $2, $3, $4, $5)"
                " RETURNING id, url, events, created_at",
                webhook_id, tx.workspace_id, url, list(events), secret)
            assert row is not None
            hook = _webhook(row)
            await on_effect(tx, hook)
            await record(tx, "webhook.created", actor, f"webhook:{webhook_id}", {"url": url, "events": list(events)})
        return hook

    async def all(self) -> list[Webhook]:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            rows = await tx.fetch("SELECT id, url, events, created_at FROM webhooks WHERE workspace_id = $1"
                                  " ORDER BY created_at, id", tx.workspace_id)
        return [_webhook(r) for r in rows]

    async def delete(self, actor: str, webhook_id: uuid.UUID) -> None:
        """Delete the webhook and its deliveries (pending ones are never sent); NotFound if absent."""
        async with self.db.transaction(self.scope) as tx:
            url = await tx.fetchval("DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2 RETURNING url",
                                    tx.workspace_id, webhook_id)
            if url is None:
                raise _not_found(webhook_id)
            await record(tx, "webhook.deleted", actor, f"webhook:{webhook_id}", {"url": url})

    async def deliveries(self, webhook_id: uuid.UUID, limit: int) -> list[Delivery]:
        """The webhook's newest `limit` deliveries, newest first, each with its attempts; NotFound if absent."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            if not await tx.fetchval("SELECT true FROM webhooks WHERE workspace_id = $1 AND id = $2",
                                     tx.workspace_id, webhook_id):
                raise _not_found(webhook_id)
            rows = await tx.fetch(
                "SELECT id, event, status, created_at, finished_at, next_attempt_at FROM webhook_deliveries"
                " WHERE workspace_id = $1 AND webhook_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
                tx.workspace_id, webhook_id, limit)
            attempts = await tx.fetch(
                "SELECT delivery_id, attempt, status_code, error, duration_ms, at FROM webhook_attempts"
                " WHERE workspace_id = $1 AND delivery_id = ANY($2::uuid[]) ORDER BY attempt, id",
                tx.workspace_id, [r["id"] for r in rows])
        by_delivery: dict[uuid.UUID, list[Attempt]] = {}
        for a in attempts:
            by_delivery.setdefault(a["delivery_id"], []).append(Attempt(
                attempt=a["attempt"], status_code=a["status_code"], error=a["error"],
                duration_ms=a["duration_ms"], at=a["at"]))
        return [Delivery(id=r["id"], event=r["event"], status=r["status"],
                         attempts=tuple(by_delivery.get(r["id"], ())), created_at=r["created_at"],
                         finished_at=r["finished_at"],
                         next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None)
                for r in rows]


def _not_found(webhook_id: uuid.UUID) -> NotFound:
    return NotFound(f"webhook {webhook_id} does not exist", {"id": str(webhook_id)})


# --- The delivery loop's side (system path webhook-delivery) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A due delivery leased to this process until `lease_until`, with what sending it needs."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    body: bytes
    attempt: int  # the number of the attempt about to be made (1 for the first)
    url: str
    secret: str = field(repr=False)  # a Claim in a log line must not carry the HMAC key
    lease_until: datetime


async def claim_due(db: Database, limit: int, lease_s: float) -> list[Claim]:
    """Lease up to `limit` due deliveries of any workspace for `lease_s` seconds, oldest due first.

    `SKIP LOCKED` lets several processes claim at once without waiting on each
    other; the lease keeps a claimed delivery away from them until it lapses.
    """
    async with db.transaction(WEBHOOK_DELIVERY) as tx:
        rows = await tx.fetch(
            "UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $2)"
            " FROM webhooks w WHERE w.workspace_id = d.workspace_id AND w.id = d.webhook_id AND d.id IN ("
            "  SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()"
            "   AND (lease_until IS NULL OR lease_until < now())"
            "   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING d.id, d.workspace_id, d.webhook_id, d.event, d.body, d.attempts, d.lease_until, w.url,"
            " w.secret",
            limit, lease_s)
    return [Claim(id=r["id"], workspace_id=r["workspace_id"], webhook_id=r["webhook_id"], event=r["event"],
                  body=bytes(r["body"]), attempt=r["attempts"] + 1, url=r["url"], secret=r["secret"],
                  lease_until=r["lease_until"]) for r in rows]


async def record_attempt(db: Database, claim: Claim, *, status_code: int | None, error: str | None,
                         duration_ms: int, outcome: Outcome, retry_in_s: float) -> bool:
    """Record the attempt and the delivery's new state; False (nothing written) when the lease was lost.

    `outcome` pending: due again in `retry_in_s` seconds; delivered or failed: final.
    """
    async with db.transaction(WEBHOOK_DELIVERY) as tx:
        workspace_id = await tx.fetchval(
            "UPDATE webhook_deliveries SET attempts = $3, status = $4, lease_until = NULL,"
            " next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + make_interval(secs => $5)"
            "  ELSE next_attempt_at END,"
            " finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE clock_timestamp() END"
            " WHERE id = $1 AND lease_until = $2 AND status = 'pending' RETURNING workspace_id",
            claim.id, claim.lease_until, claim.attempt, outcome, retry_in_s)
        if workspace_id is None:
            return False
        await tx.execute(
            "INSERT INTO webhook_attempts (workspace_id, delivery_id, attempt, status_code, error, duration_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            workspace_id, claim.id, claim.attempt, status_code, error, duration_ms)
    return True
