"""The ObjectSource contract on both implementations, and the batching reader."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

import pytest

from openbook.errors import CorruptObject, NotFound
from openbook.store.memory import MemoryObjectSource
from openbook.store.objects import ObjectId, RawObject, blob
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource, PendingObjects

A, B = blob(b"a"), blob(b"b")
MISSING = ObjectId("f" * 64)


def _memory() -> ObjectSource:
    src = MemoryObjectSource()
    src.put(A)
    src.put(B)
    return src


def _overlay() -> ObjectSource:
    base = MemoryObjectSource()
    base.put(A)
    pending = PendingObjects(base)
    pending.add(B)
    return pending


@pytest.mark.parametrize("make", [_memory, _overlay])
async def test_source_contract(make: object) -> None:
    src = make()  # type: ignore[operator]
    got = await src.get_many([A.id, B.id, MISSING])
    assert dict(got) == {A.id: A, B.id: B}
    assert await src.get_many([]) == {}


class CountingSource:
    def __init__(self, inner: MemoryObjectSource, fail: bool = False) -> None:
        self.inner = inner
        self.batches: list[set[ObjectId]] = []
        self.fail = fail

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        self.batches.append(set(ids))
        await asyncio.sleep(0)
        if self.fail:
            raise RuntimeError("db down")
        return await self.inner.get_many(ids)


async def test_concurrent_reads_are_batched() -> None:
    mem = MemoryObjectSource()
    blobs = [blob(b"%d" % i) for i in range(20)]
    mem.put_many(blobs)
    src = CountingSource(mem)
    reader = Reader(src)
    got = await gather_all(reader.blob(b.id) for b in blobs)
    assert got == [b.payload for b in blobs]
    assert len(src.batches) == 1 and len(src.batches[0]) == 20
    await reader.blob(blobs[0].id)  # cached
    assert len(src.batches) == 1


async def test_missing_and_failing_reads() -> None:
    reader = Reader(MemoryObjectSource())
    with pytest.raises(CorruptObject):
        await reader.blob(MISSING)
    with pytest.raises(NotFound):
        await reader.commit(MISSING)
    failing = Reader(CountingSource(MemoryObjectSource(), fail=True))
    with pytest.raises(RuntimeError, match="db down"):
        await gather_all(failing.blob(b.id) for b in (A, B))


def test_pending_reachable_from_skips_unreferenced_objects() -> None:
    pending = PendingObjects(MemoryObjectSource())
    pending.add(A)
    assert pending.reachable_from([B.id]) == {}
    assert pending.reachable_from([A.id]) == {A.id: A}
    assert len(pending) == 1 and A.id in pending
