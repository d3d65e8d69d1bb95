"""The PostgreSQL object store: `ObjectSource` over the `objects` table, plus writes.

Objects are immutable and keyed by (workspace, hash), so a process-wide LRU of
raw objects is always correct; it is keyed by workspace, so it never crosses
tenants. Writes are idempotent and happen before any head moves; writing an
object that is already stored re-stamps it when its stamp is old, so that
`openbook gc` sees a reused object as young (openbook.db.gclock).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping

from openbook.db import gclock
from openbook.db.database import Database, Tx
from openbook.db.gclock import BY_HASHES
from openbook.db.scopes import Tenant
from openbook.store.objects import ObjectId, RawObject

CACHE_MAX_OBJECTS = 200_000
# Blobs are cached only when small: trees and commits are what walks reread.
CACHE_MAX_BLOB_BYTES = 16 * 1024


class ObjectCache:
    """A bounded LRU of raw objects keyed by (workspace, id)."""

    def __init__(self, max_objects: int = CACHE_MAX_OBJECTS) -> None:
        self._items: OrderedDict[tuple[uuid.UUID, ObjectId], RawObject] = OrderedDict()
        self._max = max_objects

    def get(self, workspace_id: uuid.UUID, oid: ObjectId) -> RawObject | None:
        key = (workspace_id, oid)
        obj = self._items.get(key)
        if obj is not None:
            self._items.move_to_end(key)
        return obj

    def put(self, workspace_id: uuid.UUID, oid: ObjectId, obj: RawObject) -> None:
        if obj.kind == "blob" and len(obj.payload) > CACHE_MAX_BLOB_BYTES:
            return
        self._items[(workspace_id, oid)] = obj
        self._items.move_to_end((workspace_id, oid))
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every object (the state of a fresh process; benches start cold with it)."""
        self._items.clear()


SHARED_CACHE = ObjectCache()


class PgObjectSource:
    """Reads one workspace's objects in batches: one read-only transaction per `get_many` call."""

    def __init__(self, db: Database, workspace_id: uuid.UUID, cache: ObjectCache | None = SHARED_CACHE) -> None:
        self._db = db
        self._workspace_id = workspace_id
        self._scope = Tenant(workspace_id)
        self._cache = cache

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        found: dict[ObjectId, RawObject] = {}
        missing: list[str] = []
        for oid in ids:
            cached = self._cache.get(self._workspace_id, oid) if self._cache else None
            if cached is None:
                missing.append(oid)
            else:
                found[oid] = cached
        if missing:
            async with self._db.transaction(self._scope, readonly=True) as tx:
                rows = await tx.fetch(
                    BY_HASHES.format(columns="o.hash, o.kind, o.data"),
                    self._workspace_id, missing,
                )
            for row in rows:
                oid = ObjectId(row["hash"])
                obj = RawObject(row["kind"], bytes(row["data"]))
                found[oid] = obj
                if self._cache:
                    self._cache.put(self._workspace_id, oid, obj)
        return found


async def write_objects(tx: Tx, objects: Mapping[ObjectId, RawObject]) -> int:
    """Insert objects into the transaction's workspace idempotently (one INSERT for all of them).

    An object already stored keeps its row, re-stamped when its `created_at` is
    older than `gclock.REFRESH_AFTER_S` (a younger one is not written at all).
    Returns how many rows were inserted or re-stamped. Raises NotFound when a
    commit's parent outside `objects` is not stored (`gclock.admit_objects`).
    """
    if not objects:
        return 0
    await gclock.admit_objects(tx, objects)
    # Sorted: concurrent writers lock shared rows in one order, so they cannot deadlock.
    hashes = sorted(objects)
    kinds = [objects[h].kind for h in hashes]
    payloads = [objects[h].payload for h in hashes]
    result = await tx.execute(
        "INSERT INTO objects (workspace_id, hash, kind, data)"
        " SELECT $1, h, k, d FROM unnest($2::text[], $3::text[], $4::bytea[]) AS t(h, k, d)"
        " ON CONFLICT (workspace_id, hash) DO UPDATE SET created_at = now()"
        " WHERE objects.created_at < now() - make_interval(secs => $5)",
        tx.workspace_id, hashes, kinds, payloads, gclock.REFRESH_AFTER_S,
    )
    return int(result.rsplit(" ", 1)[-1])
