"""The fence between `openbook gc` and the writers of one workspace.

`openbook gc` (openbook.db.gc) deletes objects that are unreachable and
older than a grace period. Writers make objects reachable in two steps:
they write the objects (`write_objects`), then, in another transaction, move
a head, create a branch or a deployment that points at them. This module is
what both sides call so that the collector never deletes an object a writer
is about to point at:

- every transaction that writes objects or makes a commit reachable takes
  the workspace's gc lock **shared** (`admit_objects`, `protect`); the
  collector takes it **exclusive** while it re-marks and sweeps. Writers
  never wait for each other, only for a sweep (and a sweep for them);
- `write_objects` refreshes `created_at` of an object it finds already stored
  when that stamp is older than `REFRESH_AFTER_S`: reusing an old
  unreachable object (a file restored to earlier content) makes it young
  again, and the collector keeps young objects *and everything they
  reference*;
- objects that a write references without writing them must be reachable
  from the parents of the commits it writes (what every commit and merge
  does), and those parents must be stored at that moment: `admit_objects`
  checks them under the lock, so a commit computed from objects that a sweep
  removed meanwhile (read before the sweep, or from a process's object
  cache) is refused with NotFound instead of being stored with a dangling
  reference;
- `protect` checks, under the lock, that the commit a head, a branch or a
  deployment is about to point at is still stored.

Why that is enough (the argument is repeated in docs/ops/runbook.md): the
collector keeps the closure of heads, unpruned deployments' commits and
every object younger than the grace period. A writer's own objects are young
from their write until its head move as long as that takes less than
`grace - REFRESH_AFTER_S` (`MIN_GRACE_S` leaves 50 minutes; a request takes
milliseconds), and everything else it points at is reachable from a head or
from its own young objects. Sweeps and head moves never interleave.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

from openbook.db.database import Tx
from openbook.errors import NotFound
from openbook.store.objects import ObjectId, RawObject, decode_commit

# Objects by id, one index probe per id. A workspace whose rows came after the last
# ANALYZE looks tiny to the planner, which then answers `hash = ANY($2)` for a thousand
# ids by scanning the whole workspace (100,000 rows, each visited, and on fresh rows
# hint-bitted, for 1,000 wanted: the studio bench's change request first opened in
# ~230 ms with it, ~130-200 ms without).
# A LATERAL subquery with LIMIT cannot be flattened into a join, so each id is looked
# up on its own through `objects_by_hash` or the primary key, whatever the statistics
# say. The outer WHERE repeats the workspace so that callers may append `AND ...`.
BY_HASHES = ("SELECT {columns} FROM unnest($2::text[]) AS h(hash) CROSS JOIN LATERAL"
             " (SELECT * FROM objects o WHERE o.hash = h.hash AND o.workspace_id = $1 LIMIT 1) AS o"
             " WHERE o.workspace_id = $1")

REFRESH_AFTER_S = 600
"""`write_objects` re-stamps an existing object only when its stamp is older than this (no write otherwise)."""
MIN_GRACE_S = 3600
"""The shortest grace `openbook gc` accepts: leaves writers `MIN_GRACE_S - REFRESH_AFTER_S` to move a head."""

# pg_advisory_xact_lock(int4, int4): the first key says "gc of a workspace" (b"obgc"), the
# second is taken from the workspace id. Two workspaces sharing a key only wait for each other.
_LOCK_CLASS = int.from_bytes(b"obgc", "big")


def lock_key(workspace_id: uuid.UUID) -> tuple[int, int]:
    """The advisory lock key of one workspace's gc fence."""
    return _LOCK_CLASS, int.from_bytes(workspace_id.bytes[:4], "big", signed=True)


async def hold_shared(tx: Tx) -> None:
    """Take the transaction's workspace fence shared (until the transaction ends)."""
    await tx.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *lock_key(tx.workspace_id))


async def hold_exclusive(tx: Tx) -> None:
    """Take the fence exclusive: waits for every writer in flight, holds off new ones (the sweep)."""
    await tx.execute("SELECT pg_advisory_xact_lock($1, $2)", *lock_key(tx.workspace_id))


async def require_stored(tx: Tx, ids: Collection[str], what: str) -> None:
    """NotFound unless every object among `ids` is stored; call it with the fence held."""
    await _require_stored(tx, ids, what)


async def _require_stored(tx: Tx, ids: Collection[str], what: str) -> None:
    # A statement after the lock: in READ COMMITTED it sees every sweep committed before us.
    found = await tx.fetch(BY_HASHES.format(columns="o.hash"),
                           tx.workspace_id, list(ids))
    missing = sorted(set(ids) - {r["hash"] for r in found})
    if missing:
        raise NotFound(f"{what} {missing[0]} does not exist (any more: it may have been garbage-collected)",
                       {"commit": missing[0]})


async def protect(tx: Tx, commit_ids: Collection[str]) -> None:
    """Fence the transaction against a sweep and check the commits it will point at are stored.

    Call it in every transaction that makes a commit reachable (head move,
    new branch, new deployment). Raises NotFound for a commit that is gone.
    """
    await hold_shared(tx)
    if commit_ids:
        await _require_stored(tx, commit_ids, "commit")


async def admit_objects(tx: Tx, objects: Mapping[ObjectId, RawObject]) -> None:
    """Fence an object write and check the parents of the commits among `objects` are stored.

    Raises NotFound when one is not (it was collected after the writer read it).
    """
    await hold_shared(tx)
    parents = {p for oid, obj in objects.items() if obj.kind == "commit" for p in decode_commit(oid, obj).parents}
    outside = parents - objects.keys()
    if outside:
        await _require_stored(tx, outside, "parent commit")
