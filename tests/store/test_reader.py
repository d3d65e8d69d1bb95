"""The ObjectSource contract on both implementations (and the pending overlay), and the batching reader."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

import pytest

from openbook.errors import CorruptObject, NotFound
from openbook.store.memory import MemoryObjectSource
from openbook.store.objects import ObjectId, RawObject, blob
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource, PendingObjects

from .conftest import NewBackend, Repo

A, B = blob(b"a"), blob(b"b")
MISSING = ObjectId("f" * 64)


def _overlay() -> ObjectSource:
    base = MemoryObjectSource()
    base.put(A)
    pending = PendingObjects(base)
    pending.add(B)
    return pending


async def _contract(src: ObjectSource) -> None:
    got = await src.get_many([A.id, B.id, MISSING])
    assert dict(got) == {A.id: A, B.id: B}
    assert await src.get_many([]) == {}
    assert dict(await src.get_many([B.id, B.id])) == {B.id: B}


async def test_source_contract(repo: Repo) -> None:
    await repo.put_many([A, B])
    await repo.put_many([A])  # writes are idempotent
    await _contract(repo.src)


async def test_overlay_keeps_the_source_contract() -> None:
    await _contract(_overlay())


async def test_reads_on_one_source_see_its_writes_only(repo: Repo, backends: NewBackend) -> None:
    other = Repo(await backends())
    await other.put_many([A])
    assert await repo.src.get_many([A.id]) == {}


async def test_missing_reads_raise(repo: Repo) -> None:
    reader = Reader(repo.src)
    with pytest.raises(CorruptObject):
        await reader.blob(MISSING)
    with pytest.raises(NotFound):
        await reader.commit(MISSING)


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


async def test_failing_reads_fail_every_waiter() -> None:
    failing = Reader(CountingSource(MemoryObjectSource(), fail=True))
    with pytest.raises(RuntimeError, match="db down"):
        await gather_all(failing.blob(b.id) for b in (A, B))


def test_pending_reachable_from_skips_unreferenced_objects() -> None:
    pending = PendingObjects(MemoryObjectSource())
    pending.add(A)
    assert pending.reachable_from([B.id]) == {}
    assert pending.reachable_from([A.id]) == {A.id: A}
    assert len(pending) == 1 and A.id in pending
