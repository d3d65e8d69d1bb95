"""The `git_objects` table: `GitIndex` over PostgreSQL, and idempotent row writes.

The bytes of a tree or commit row never change (a git id names them), so
reads that ask for them go through a bounded process-wide LRU keyed by
workspace: a fetch rereads the trees of the commits it compares. Whether a
row *exists* is not cached: `openbook gc` (another process) deletes the rows
of what it collects, and an import or export that believed a row still there
would record a tree that names a collected object, or skip the row a fetch
then needs.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from typing import Generic, TypeVar

from openbook.db import gclock
from openbook.db.database import Database, Row, Tx
from openbook.db.scopes import Tenant
from openbook.gitmap.index import GitRow
from openbook.gitmap.objects import GitId
from openbook.store.objects import ObjectId

WRITE_BATCH = 5000
READ_BATCH = 20_000
PAYLOAD_CACHE_BYTES = 64 * 1024 * 1024

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """Least recently used entries first out, bounded by a total weight."""

    def __init__(self, budget: int) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._budget = budget
        self._used = 0

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        if key in self._items or weight > self._budget // 4:
            return
        self._items[key] = (value, weight)
        self._used += weight
        while self._used > self._budget:
            _, (_, w) = self._items.popitem(last=False)
            self._used -= w


_PAYLOADS: _Lru[tuple[uuid.UUID, GitId], GitRow] = _Lru(PAYLOAD_CACHE_BYTES)


def _row(r: Row, payloads: bool) -> GitRow:
    return GitRow(
        git_id=GitId(bytes(r["git_id"]).hex()),
        kind=r["kind"],
        ob_id=ObjectId(r["ob_id"]),
        canonical=bool(r["canonical"]),
        size=r["size"],
        generation=r["generation"],
        payload=bytes(r["raw"]) if payloads and r["raw"] is not None else None,
    )


class PgGitIndex:
    """One workspace's git rows, read in batches (one read-only transaction per call)."""

    def __init__(self, db: Database, workspace_id: uuid.UUID) -> None:
        self._db = db
        self._workspace_id = workspace_id
        self._scope = Tenant(workspace_id)

    async def rows(self, ids: Collection[GitId], *, payloads: bool) -> Mapping[GitId, GitRow]:
        found: dict[GitId, GitRow] = {}
        missing: list[GitId] = []
        for gid in ids:
            row = _PAYLOADS.get((self._workspace_id, gid)) if payloads else None
            if row is None:
                missing.append(gid)
            else:
                found[gid] = row
        columns = "git_id, kind, ob_id, canonical, size, generation" + (", raw" if payloads else ", NULL AS raw")
        for start in range(0, len(missing), READ_BATCH):
            batch = [bytes.fromhex(g) for g in missing[start:start + READ_BATCH]]
            async with self._db.transaction(self._scope, readonly=True) as tx:
                rows = await tx.fetch(f"SELECT {columns} FROM git_objects"
                                      " WHERE workspace_id = $1 AND git_id = ANY($2::bytea[])",
                                      self._workspace_id, batch)
            for r in rows:
                row = _row(r, payloads)
                found[row.git_id] = row
                if row.payload is not None:
                    _PAYLOADS.put((self._workspace_id, row.git_id), row, 200 + len(row.payload))
        return found

    async def canonical(self, ob_ids: Collection[ObjectId]) -> Mapping[ObjectId, GitId]:
        found: dict[ObjectId, GitId] = {}
        ids = list(ob_ids)
        for start in range(0, len(ids), READ_BATCH):
            async with self._db.transaction(self._scope, readonly=True) as tx:
                rows = await tx.fetch("SELECT ob_id, git_id FROM git_objects"
                                      " WHERE workspace_id = $1 AND ob_id = ANY($2::text[]) AND canonical",
                                      self._workspace_id, ids[start:start + READ_BATCH])
            found.update((ObjectId(r["ob_id"]), GitId(bytes(r["git_id"]).hex())) for r in rows)
        return found

    async def record(self, rows: list[GitRow]) -> None:
        """Write rows of objects that are stored (an export's), fenced against a gc sweep."""
        for start in range(0, len(rows), WRITE_BATCH):
            async with self._db.transaction(self._scope) as tx:
                await gclock.hold_shared(tx)
                await write_rows(tx, rows[start:start + WRITE_BATCH])


async def write_rows(tx: Tx, rows: Iterable[GitRow]) -> None:
    """Insert rows into the transaction's workspace; a git id already recorded keeps its row.

    The OpenBook objects the rows stand for must be stored (foreign key),
    in this transaction or before it.
    """
    rows = list(rows)
    if not rows:
        return
    await tx.execute(
        "INSERT INTO git_objects (workspace_id, git_id, kind, ob_id, canonical, size, generation, raw)"
        " SELECT $1, g, k, o, c, s, n, r FROM unnest($2::bytea[], $3::text[], $4::text[], $5::bool[],"
        " $6::int8[], $7::int4[], $8::bytea[]) AS t(g, k, o, c, s, n, r)"
        " ON CONFLICT DO NOTHING",
        tx.workspace_id,
        [bytes.fromhex(r.git_id) for r in rows],
        [r.kind for r in rows],
        [r.ob_id for r in rows],
        [True if r.canonical else None for r in rows],
        [r.size for r in rows],
        [r.generation for r in rows],
        [r.payload if r.kind != "blob" else None for r in rows],
    )
