"""Webhook rows: subscriptions, and deliveries written in the transaction of their event.

A delivery row is the outbox of one event for one webhook: it holds the exact
bytes that will be POSTed (and signed), so every retry sends the same body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from openbook.db.database import Tx

EVENTS = ("deployment.finished", "branch.updated", "branch.deleted", "merge.executed")


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
