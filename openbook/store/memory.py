"""A dict-backed `ObjectSource`: the second implementation, used by tests and tools."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from openbook.store.objects import ObjectId, RawObject


class MemoryObjectSource:
    """Objects kept in a dict."""

    __slots__ = ("objects",)

    def __init__(self, objects: Mapping[ObjectId, RawObject] | None = None) -> None:
        self.objects: dict[ObjectId, RawObject] = dict(objects or {})

    def put(self, obj: RawObject) -> ObjectId:
        """Store `obj` (idempotent) and return its id."""
        oid = obj.id
        self.objects[oid] = obj
        return oid

    def put_many(self, objs: Mapping[ObjectId, RawObject] | Iterable[RawObject]) -> None:
        """Store several objects; a mapping is trusted to be keyed by the right ids."""
        if isinstance(objs, Mapping):
            self.objects.update(objs)
        else:
            for obj in objs:
                self.put(obj)

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        """The stored objects among `ids`."""
        objs = self.objects
        return {i: objs[i] for i in ids if i in objs}
