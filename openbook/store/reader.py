"""Batched, cached reads for one store operation (internal to `openbook.store`).

Algorithms recurse into sibling subtrees concurrently (`gather_all`); every
id requested while the event loop is busy with those siblings is sent in one
`get_many`, so a tree walk costs one round trip per level, not per node.
Requests are serialised: at most one `get_many` is in flight per reader.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Collection, Iterable, Sequence
from typing import TypeVar

from openbook.errors import CorruptObject, NotFound
from openbook.store.objects import (
    EMPTY_TREE,
    EMPTY_TREE_OBJECT,
    Commit,
    Node,
    ObjectId,
    RawObject,
    decode_commit,
    decode_node,
)
from openbook.store.source import ObjectSource

T = TypeVar("T")

_DECODED_MAX = 8192
# Decoded nodes by id. Only consulted after the source returned the object,
# so it saves decoding, never a read (no object leaks between workspaces).
_decoded: OrderedDict[ObjectId, Node] = OrderedDict()


def _decode_cached(oid: ObjectId, obj: RawObject) -> Node:
    node = _decoded.get(oid)
    if node is None:
        node = decode_node(oid, obj)
        _decoded[oid] = node
        if len(_decoded) > _DECODED_MAX:
            _decoded.popitem(last=False)
    return node


def forget_decoded() -> None:
    """Empty the decoded-node cache (the state of a fresh process; benches start cold with it)."""
    _decoded.clear()


def _first_leaf_exception(eg: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = eg
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def gather_all(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Run awaitables concurrently, results in order; the first failure cancels the rest and is re-raised."""
    items = list(aws)
    if len(items) == 1:
        return [await items[0]]
    if not items:
        return []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_wrap(a)) for a in items]
    except BaseExceptionGroup as eg:
        raise _first_leaf_exception(eg) from None
    return [t.result() for t in tasks]


async def _wrap(a: Awaitable[T]) -> T:
    return await a


class Reader:
    """Reads through an `ObjectSource`, batching and caching for one operation."""

    def __init__(self, src: ObjectSource) -> None:
        self.src = src
        self._raw: dict[ObjectId, RawObject] = {EMPTY_TREE: EMPTY_TREE_OBJECT}
        self._missing: set[ObjectId] = set()
        self._waiting: dict[ObjectId, asyncio.Future[None]] = {}
        self._queue: set[ObjectId] = set()
        self._runner: asyncio.Task[None] | None = None

    async def _load(self, ids: Collection[ObjectId]) -> None:
        need = [i for i in ids if i not in self._raw and i not in self._missing]
        if not need:
            return
        loop = asyncio.get_running_loop()
        futs: list[asyncio.Future[None]] = []
        for i in need:
            fut = self._waiting.get(i)
            if fut is None:
                fut = loop.create_future()
                self._waiting[i] = fut
                self._queue.add(i)
            futs.append(fut)
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        for fut in futs:
            await asyncio.shield(fut)

    async def _run(self) -> None:
        try:
            while self._queue:
                # Let every sibling task that is ready queue its ids first.
                await asyncio.sleep(0)
                batch = self._queue
                self._queue = set()
                try:
                    got = await self.src.get_many(batch)
                except BaseException as e:
                    for i in batch:
                        fut = self._waiting.pop(i)
                        if not fut.done():
                            fut.set_exception(e)
                            fut.exception()  # mark retrieved: the awaiting task re-raises it
                    if not isinstance(e, Exception):
                        raise
                    continue
                for i in batch:
                    obj = got.get(i)
                    if obj is None:
                        self._missing.add(i)
                    else:
                        self._raw[i] = obj
                    fut = self._waiting.pop(i)
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._runner = None

    async def prefetch(self, ids: Iterable[ObjectId | None]) -> None:
        """Load `ids` (None skipped) in one batch; missing ones are noted, not raised."""
        await self._load([i for i in ids if i is not None])

    async def raw(self, oid: ObjectId) -> RawObject:
        """The object `oid`; raises CorruptObject if the source lacks it."""
        obj = self._raw.get(oid)
        if obj is None:
            await self._load((oid,))
            obj = self._raw.get(oid)
            if obj is None:
                raise CorruptObject(f"object {oid} is missing", {"id": oid})
        return obj

    async def raws(self, ids: Sequence[ObjectId]) -> list[RawObject]:
        """Several objects in one batch, undecoded; raises CorruptObject if one is missing."""
        await self._load(ids)
        return [await self.raw(i) for i in ids]

    async def node(self, oid: ObjectId) -> Node:
        """The decoded directory node `oid`; raises CorruptObject if missing or not a node."""
        obj = self._raw.get(oid)
        if obj is None:
            obj = await self.raw(oid)
        return _decode_cached(oid, obj)

    async def nodes(self, ids: Sequence[ObjectId | None]) -> list[Node | None]:
        """Decoded nodes for `ids` in one batch (None stays None); raises CorruptObject."""
        await self._load([i for i in ids if i is not None])
        return [None if i is None else await self.node(i) for i in ids]

    async def blob(self, oid: ObjectId) -> bytes:
        """The bytes of blob `oid`; raises CorruptObject if missing or not a blob."""
        obj = await self.raw(oid)
        if obj.kind != "blob":
            raise CorruptObject(f"object {oid} is a {obj.kind}, expected a blob", {"id": oid})
        return obj.payload

    async def commit(self, oid: ObjectId) -> Commit:
        """The decoded commit `oid`; raises NotFound if absent, CorruptObject if not a commit."""
        obj = self._raw.get(oid)
        if obj is None:
            await self._load((oid,))
            obj = self._raw.get(oid)
            if obj is None:
                raise NotFound(f"commit {oid} not found", {"commit": oid})
        return decode_commit(oid, obj)

    async def commits(self, ids: Sequence[ObjectId]) -> list[Commit]:
        """Several commits in one batch; raises like `commit`."""
        await self._load(ids)
        return [await self.commit(i) for i in ids]
