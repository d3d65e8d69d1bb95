"""Branch rows: heads move only by compare-and-swap, in short transactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openbook.db.database import Row, Tx
from openbook.errors import AlreadyExists, NotFound


@dataclass(frozen=True, slots=True)
class Branch:
    name: str
    head: str
    updated_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "head": self.head, "updated_at": self.updated_at.isoformat()}


def _branch(row: Row) -> Branch:
    return Branch(name=row["name"], head=row["head"], updated_at=row["updated_at"])


async def get_branch(tx: Tx, name: str, *, for_update: bool = False) -> Branch:
    """The branch of the transaction's workspace (locked until COMMIT with `for_update`); NotFound when absent."""
    row = await tx.fetchrow(
        "SELECT name, head, updated_at FROM branches WHERE workspace_id = $1 AND name = $2"
        + (" FOR UPDATE" if for_update else ""),
        tx.workspace_id, name,
    )
    if row is None:
        raise NotFound(f"branch {name!r} does not exist", {"branch": name})
    return _branch(row)


async def branch_head(tx: Tx, name: str) -> str | None:
    """The head of a branch, or None when there is no such branch."""
    head: str | None = await tx.fetchval(
        "SELECT head FROM branches WHERE workspace_id = $1 AND name = $2", tx.workspace_id, name)
    return head


async def list_branches(tx: Tx) -> list[Branch]:
    rows = await tx.fetch(
        "SELECT name, head, updated_at FROM branches WHERE workspace_id = $1 ORDER BY name", tx.workspace_id
    )
    return [_branch(r) for r in rows]


async def insert_branch(tx: Tx, name: str, head: str) -> Branch:
    """A new branch at `head`; AlreadyExists when the name is taken."""
    row = await tx.insert_unique(
        "INSERT INTO branches (workspace_id, name, head) VALUES ($1, $2, $3) RETURNING name, head, updated_at",
        tx.workspace_id, name, head,
        taken=AlreadyExists(f"branch {name!r} already exists", {"branch": name}),
    )
    assert row is not None
    return _branch(row)


async def compare_and_swap_head(tx: Tx, name: str, expected: str, new: str) -> Branch | None:
    """Move the head from `expected` to `new`; None when someone moved it first."""
    row = await tx.fetchrow(
        "UPDATE branches SET head = $4, updated_at = clock_timestamp()"
        " WHERE workspace_id = $1 AND name = $2 AND head = $3 RETURNING name, head, updated_at",
        tx.workspace_id, name, expected, new,
    )
    return None if row is None else _branch(row)
