"""Branch rows: heads move only by compare-and-swap, in short transactions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from openbook.errors import AlreadyExists, NotFound


@dataclass(frozen=True, slots=True)
class Branch:
    name: str
    head: str
    updated_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "head": self.head, "updated_at": self.updated_at.isoformat()}


def _branch(row: Any) -> Branch:
    return Branch(name=row["name"], head=row["head"], updated_at=row["updated_at"])


async def get_branch(conn: Any, workspace_id: uuid.UUID, name: str) -> Branch:
    row = await conn.fetchrow(
        "SELECT name, head, updated_at FROM branches WHERE workspace_id = $1 AND name = $2",
        workspace_id, name,
    )
    if row is None:
        raise NotFound(f"branch {name!r} does not exist", {"branch": name})
    return _branch(row)


async def find_branch(conn: Any, workspace_id: uuid.UUID, name: str) -> Branch | None:
    try:
        return await get_branch(conn, workspace_id, name)
    except NotFound:
        return None


async def list_branches(conn: Any, workspace_id: uuid.UUID) -> list[Branch]:
    rows = await conn.fetch(
        "SELECT name, head, updated_at FROM branches WHERE workspace_id = $1 ORDER BY name", workspace_id
    )
    return [_branch(r) for r in rows]


async def insert_branch(conn: Any, workspace_id: uuid.UUID, name: str, head: str) -> Branch:
    try:
        row = await conn.fetchrow(
            "INSERT INTO branches (workspace_id, name, head) VALUES ($1, $2, $3)"
            " RETURNING name, head, updated_at",
            workspace_id, name, head,
        )
    except asyncpg.UniqueViolationError as exc:
        raise AlreadyExists(f"branch {name!r} already exists", {"branch": name}) from exc
    return _branch(row)


async def compare_and_swap_head(conn: Any, workspace_id: uuid.UUID, name: str, expected: str,
                                new: str) -> Branch | None:
    """Move the head from `expected` to `new`; None when someone moved it first."""
    row = await conn.fetchrow(
        "UPDATE branches SET head = $4, updated_at = clock_timestamp()"
        " WHERE workspace_id = $1 AND name = $2 AND head = $3 RETURNING name, head, updated_at",
        workspace_id, name, expected, new,
    )
    return None if row is None else _branch(row)
