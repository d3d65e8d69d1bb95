"""Audit rows, written inside the transaction of the action they record (append-only)."""

from __future__ import annotations

from typing import Any

from openbook.db.database import Tx
from openbook.logs import request_id_var


async def record(tx: Tx, action: str, actor: str, target: str, details: dict[str, Any] | None = None) -> None:
    """Append one row to the transaction's workspace; call it inside the action's own transaction."""
    await tx.execute(
        "INSERT INTO audit_log (workspace_id, action, actor, target, details, request_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        tx.workspace_id, action, actor, target, details or {}, request_id_var.get(),
    )


async def list_entries(tx: Tx, limit: int) -> list[dict[str, Any]]:
    """The workspace's newest `limit` entries, newest first, as JSON values."""
    rows = await tx.fetch(
        "SELECT action, actor, target, details, created_at, request_id FROM audit_log"
        " WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
        tx.workspace_id, limit,
    )
    return [
        {
            "action": r["action"],
            "actor": r["actor"],
            "target": r["target"],
            "details": r["details"],
            "created_at": r["created_at"].isoformat(),
            "request_id": r["request_id"],
        }
        for r in rows
    ]
