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


async def search_entries(tx: Tx, *, action: str | None, actor: str | None, before: int | None,
                         limit: int) -> list[dict[str, Any]]:
    """Newest first, filtered by exact action and actor; `before` an entry id (paging). Each entry has its `id`."""
    rows = await tx.fetch(
        "SELECT id, action, actor, target, details, created_at, request_id FROM audit_log"
        " WHERE workspace_id = $1 AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR actor = $3)"
        " AND ($4::bigint IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        tx.workspace_id, action, actor, before, limit,
    )
    return [{**dict(r), "created_at": r["created_at"]} for r in rows]


async def actions_and_actors(tx: Tx) -> tuple[list[str], list[str]]:
    """The distinct actions and actors of the workspace's log (for filter menus)."""
    actions = await tx.fetch("SELECT DISTINCT action FROM audit_log WHERE workspace_id = $1 ORDER BY action",
                             tx.workspace_id)
    actors = await tx.fetch("SELECT DISTINCT actor FROM audit_log WHERE workspace_id = $1 ORDER BY actor LIMIT 200",
                            tx.workspace_id)
    return [r["action"] for r in actions], [r["actor"] for r in actors]
