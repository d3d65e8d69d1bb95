"""Commits, history walks and merge bases, all driven by generation numbers.

A commit's generation is 1 + the largest generation of its parents, so a
commit is always processed before its ancestors when walking by decreasing
generation; walks stop as soon as nothing left can change the answer.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime

from openbook.store.objects import Commit, ObjectId, RawObject, encode_commit
from openbook.store.reader import Reader
from openbook.store.source import ObjectSource

_ONE, _TWO, _STALE = 1, 2, 4


def make_commit(
    tree: ObjectId, parents: Sequence[Commit], message: str, author: str, created_at: datetime
) -> tuple[Commit, RawObject]:
    """Build a commit on `parents` (first parent first); raises ValueError for a naive `created_at`."""
    generation = 1 + max((p.generation for p in parents), default=0)
    pids = tuple(p.id for p in parents)
    raw = encode_commit(tree, pids, message, author, created_at, generation)
    commit = Commit(raw.id, tree, pids, message, author, created_at, generation)
    return commit, raw


async def _pop_level(reader: Reader, heap: list[tuple[int, ObjectId]]) -> list[Commit]:
    """Pop every queued commit of the highest generation (one batched read)."""
    gen = heap[0][0]
    ids: list[ObjectId] = []
    while heap and heap[0][0] == gen:
        _, oid = heapq.heappop(heap)
        if not ids or ids[-1] != oid:
            ids.append(oid)
    return await reader.commits(ids)


async def common_ancestors(
    src: ObjectSource, ones: Sequence[ObjectId], twos: Sequence[ObjectId]
) -> list[ObjectId]:
    """Best common ancestors of (any of) `ones` and (any of) `twos`, sorted by id.

    Like git's paint_down_to_common: walk by decreasing generation painting
    reachability from each side; a commit painted by both sides is a result
    and makes its ancestors stale; stop when only stale commits are queued.
    Raises NotFound for an unknown commit id.
    """
    reader = Reader(src)
    starts = await reader.commits([*ones, *twos])
    flags: dict[ObjectId, int] = {}
    heap: list[tuple[int, ObjectId]] = []
    for i, c in enumerate(starts):
        f = _ONE if i < len(ones) else _TWO
        if c.id not in flags:
            heapq.heappush(heap, (-c.generation, c.id))
        flags[c.id] = flags.get(c.id, 0) | f
    results: list[ObjectId] = []
    live = {c.id for c in starts}
    while live:
        level = await _pop_level(reader, heap)
        parents_needed: list[ObjectId] = []
        for c in level:
            live.discard(c.id)
            f = flags[c.id]
            if f & (_ONE | _TWO) == (_ONE | _TWO) and not f & _STALE:
                results.append(c.id)
                f |= _STALE
                flags[c.id] = f
            for p in c.parents:
                if flags.get(p, 0) & f != f:
                    parents_needed.append(p)
        if not parents_needed:
            continue
        gens = {p.id: p.generation for p in await reader.commits(list(dict.fromkeys(parents_needed)))}
        for c in level:
            f = flags[c.id]
            for p in c.parents:
                pf = flags.get(p, 0)
                if pf & f == f:
                    continue
                if p not in flags:
                    heapq.heappush(heap, (-gens[p], p))
                flags[p] = pf | f
        live = {oid for _, oid in heap if not flags[oid] & _STALE}
    return sorted(results)


async def merge_bases(src: ObjectSource, a: ObjectId, b: ObjectId) -> list[ObjectId]:
    """Best common ancestors of commits `a` and `b`, sorted by id (several in criss-cross histories).

    Raises NotFound for an unknown commit id.
    """
    if a == b:
        await Reader(src).commit(a)
        return [a]
    return await common_ancestors(src, [a], [b])


async def is_ancestor(src: ObjectSource, a: ObjectId, b: ObjectId) -> bool:
    """True if commit `a` is `b` or one of its ancestors. Raises NotFound for an unknown id.

    Walks down from `b` only through commits whose generation exceeds `a`'s.
    """
    reader = Reader(src)
    ca, cb = await reader.commits([a, b])
    if a == b:
        return True
    seen = {b}
    frontier = [cb]
    while frontier:
        nxt = [p for c in frontier for p in c.parents if p not in seen]
        if a in nxt:
            return True
        seen.update(nxt)
        if not nxt:
            return False
        frontier = [c for c in await reader.commits(list(dict.fromkeys(nxt))) if c.generation > ca.generation]
    return False


async def log(src: ObjectSource, head: ObjectId, limit: int = 50) -> list[Commit]:
    """Up to `limit` commits reachable from `head`, newest first.

    Ordered by generation, then created_at (both descending), then id, so
    children always precede parents. Raises NotFound for an unknown head.
    """
    reader = Reader(src)
    out: list[Commit] = []
    start = await reader.commit(head)
    heap: list[tuple[int, float, ObjectId]] = [(-start.generation, -start.created_at.timestamp(), head)]
    seen = {head}
    while heap and len(out) < limit:
        _, _, oid = heapq.heappop(heap)
        c = await reader.commit(oid)
        out.append(c)
        new = [p for p in c.parents if p not in seen]
        seen.update(new)
        for p in await reader.commits(new):
            heapq.heappush(heap, (-p.generation, -p.created_at.timestamp(), p.id))
    return out
