"""Audit rows, written inside the transaction of the action they record."""

from __future__ import annotations

import uuid
from typing import Any

from openbook.logs import request_id_var


async def record(conn: Any, workspace_id: uuid.UUID, action: str, actor: str, target: str,
                 details: dict[str, Any] | None = None) -> None:
    """Append one row; call with the connection of the action's own transaction."""
    await conn.execute(
        "INSERT INTO audit_log (workspace_id, action, actor, target, details, request_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        workspace_id, action, actor, target, details or {}, request_id_var.get(),
    )


async def list_entries(pool: Any, workspace_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT action, actor, target, details, created_at, request_id FROM audit_log"
        " WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
        workspace_id, limit,
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
