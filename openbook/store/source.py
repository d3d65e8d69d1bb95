"""The one seam between the pure store core and storage.

`ObjectSource` reads objects in batches; the database adapter implements it
with one ``WHERE hash = ANY($1)`` query per call, `MemoryObjectSource` with a
dict. The core asks for a whole tree level per call, never one entry at a time,
and may call `get_many` again while an earlier call is still pending.

`PendingObjects` collects the objects an operation creates. It is itself an
`ObjectSource` (pending objects first, then the base), so an operation can
read what it has just written. The caller writes `pending.objects` (or
`pending.reachable_from(root)`) idempotently before moving a head.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from openbook.store.objects import Leaf, ObjectId, RawObject, TNode, decode_node


class ObjectSource(Protocol):
    """Batch read access to one workspace's objects."""

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        """Return the objects among `ids` that exist; missing ids are simply absent."""
        ...


class PendingObjects:
    """New objects of one operation, readable through an overlay on `base`."""

    __slots__ = ("_base", "objects")

    def __init__(self, base: ObjectSource) -> None:
        self._base = base
        self.objects: dict[ObjectId, RawObject] = {}

    @property
    def base(self) -> ObjectSource:
        return self._base

    def add(self, obj: RawObject) -> ObjectId:
        """Record `obj` (idempotent) and return its id."""
        oid = obj.id
        self.objects[oid] = obj
        return oid

    def __contains__(self, oid: object) -> bool:
        return oid in self.objects

    def __len__(self) -> int:
        return len(self.objects)

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        """Pending objects first; the rest in one call to the base source."""
        found: dict[ObjectId, RawObject] = {}
        rest: list[ObjectId] = []
        for oid in ids:
            obj = self.objects.get(oid)
            if obj is None:
                rest.append(oid)
            else:
                found[oid] = obj
        if rest:
            found.update(await self._base.get_many(rest))
        return found

    def reachable_from(self, roots: Iterable[ObjectId]) -> dict[ObjectId, RawObject]:
        """The pending objects reachable from `roots` through pending objects only.

        Objects built along the way but not referenced by the result (a virtual
        merge base, say) are left out; existing objects are not revisited.
        """
        out: dict[ObjectId, RawObject] = {}
        stack = [r for r in roots if r in self.objects]
        while stack:
            oid = stack.pop()
            if oid in out:
                continue
            obj = self.objects[oid]
            out[oid] = obj
            if obj.kind in ("tree", "tnode"):
                node = decode_node(oid, obj)
                kids: Iterable[ObjectId | None]
                if isinstance(node, Leaf):
                    kids = (e.hash for e in node.entries.values())
                else:
                    assert isinstance(node, TNode)
                    kids = node.children
                stack.extend(k for k in kids if k is not None and k in self.objects and k not in out)
            elif obj.kind == "commit":
                tree = ObjectId(json.loads(obj.payload)["tree"])
                if tree in self.objects:
                    stack.append(tree)
        return out
