"""One directory as a history-independent tree of nodes.

A set of entries at depth ``d`` is stored as a ``tree`` leaf if it has at most
`LEAF_MAX` entries, else as a ``tnode`` whose slot ``i`` holds the entries
whose name hash has bits ``[5d, 5d+5)`` equal to ``i`` (the canonical form of
that subset at depth ``d+1``; ``null`` if empty). The shape depends only on
the set of entries, so equal directories have equal hashes whatever their
history, and one edit rewrites only the nodes on one bucket path.

Functions here work on node ids (``None`` = empty) and never raise for
user input; missing objects raise CorruptObject through the `Reader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache

from openbook.store.objects import (
    FANOUT,
    LEAF_MAX,
    Leaf,
    Node,
    ObjectId,
    TNode,
    TreeEntry,
    encode_leaf_sorted,
    encode_tnode,
)
from openbook.store.reader import Reader, gather_all
from openbook.store.source import PendingObjects

MAX_DEPTH = 50  # 5 * 51 bits would run past the 256-bit name hash


@lru_cache(maxsize=1 << 17)
def _name_bits(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest(), "big")


def slot(name: str, depth: int) -> int:
    """The child slot of `name` in a tnode at `depth`: 5 bits of sha256(name) at bit 5*depth (MSB first)."""
    return (_name_bits(name) >> (256 - 5 * depth - 5)) & (FANOUT - 1)


def node_count(node: Node | None) -> int:
    """Entries below `node` (0 for None)."""
    if node is None:
        return 0
    return node.count if isinstance(node, TNode) else len(node.entries)


def build(
    pending: PendingObjects, depth: int, entries: Mapping[str, TreeEntry]
) -> tuple[ObjectId | None, int]:
    """Write the canonical node for `entries` at `depth`; returns (id or None if empty, count)."""
    n = len(entries)
    if n == 0:
        return None, 0
    if n <= LEAF_MAX:
        return pending.add(encode_leaf_sorted(dict(entries))), n
    if depth > MAX_DEPTH:
        raise ValueError("directory split ran out of name-hash bits")
    shift = 256 - 5 * depth - 5
    buckets: list[dict[str, TreeEntry]] = [{} for _ in range(FANOUT)]
    for name, e in entries.items():
        buckets[(_name_bits(name) >> shift) & (FANOUT - 1)][name] = e
    children = [build(pending, depth + 1, b)[0] for b in buckets]
    return pending.add(encode_tnode(depth, n, children)), n


async def flatten(reader: Reader, ref: ObjectId | None) -> dict[str, TreeEntry]:
    """All entries below node `ref` (one batched read per level), in no particular order."""
    out: dict[str, TreeEntry] = {}
    frontier: list[ObjectId | None] = [ref] if ref is not None else []
    while frontier:
        nodes = await reader.nodes(frontier)
        nxt: list[ObjectId | None] = []
        for node in nodes:
            if isinstance(node, Leaf):
                out.update(node.entries)
            elif isinstance(node, TNode):
                nxt.extend(c for c in node.children if c is not None)
        frontier = nxt
    return out


async def page(reader: Reader, ref: ObjectId, start: int, limit: int) -> tuple[list[TreeEntry], int]:
    """Entries `start` to `start + limit` of a directory in its stored order, and how many it holds.

    The stored order is the node tree's: slot by slot, then by name inside a
    leaf. Whole subtrees before `start` are skipped by their counts, so a page
    costs one batched read per level of the nodes on its way, however large
    the directory (sorting by name would need every entry). Raises CorruptObject.
    """
    root = await reader.node(ref)
    out: list[TreeEntry] = []

    async def collect(node: Node, skip: int) -> None:
        if isinstance(node, Leaf):
            names = sorted(node.entries)[skip:skip + limit - len(out)]
            out.extend(node.entries[n] for n in names)
            return
        assert isinstance(node, TNode)
        children = [c for c in await reader.nodes(list(node.children)) if c is not None]
        for child in children:
            count = node_count(child)
            if skip >= count:
                skip -= count
                continue
            await collect(child, skip)
            skip = 0
            if len(out) >= limit:
                return

    if start < node_count(root):
        await collect(root, start)
    return out, node_count(root)


async def lookup_many(reader: Reader, ref: ObjectId | None, names: list[str]) -> dict[str, TreeEntry | None]:
    """Find several names in the directory rooted at `ref`, one batched read per level."""
    found: dict[str, TreeEntry | None] = dict.fromkeys(names)
    pending: list[tuple[ObjectId, list[str]]] = [(ref, names)] if ref is not None and names else []
    while pending:
        nodes = await reader.nodes([r for r, _ in pending])
        nxt: dict[ObjectId, list[str]] = {}
        for (_, ns), node in zip(pending, nodes, strict=True):
            if isinstance(node, Leaf):
                for n in ns:
                    found[n] = node.entries.get(n)
            elif isinstance(node, TNode):
                for n in ns:
                    child = node.children[slot(n, node.depth)]
                    if child is not None:
                        nxt.setdefault(child, []).append(n)
        pending = list(nxt.items())
    return found


async def modify(
    reader: Reader,
    pending: PendingObjects,
    depth: int,
    ref: ObjectId | None,
    changes: Mapping[str, TreeEntry | None],
) -> tuple[ObjectId | None, int]:
    """Apply entry changes (None = remove; absent names are ignored) to node `ref`.

    Rewrites only the nodes on the touched bucket paths; returns the new
    canonical node (None if empty) and its entry count.
    """
    node = None if ref is None else await reader.node(ref)
    if not isinstance(node, TNode):
        entries = dict(node.entries) if node is not None else {}
        for name, e in changes.items():
            if e is None:
                entries.pop(name, None)
            else:
                entries[name] = e
        return build(pending, depth, entries)
    by_slot: dict[int, dict[str, TreeEntry | None]] = {}
    for name, e in changes.items():
        by_slot.setdefault(slot(name, depth), {})[name] = e
    slots = sorted(by_slot)
    olds = await reader.nodes([node.children[i] for i in slots])
    results = await gather_all(
        modify(reader, pending, depth + 1, node.children[i], by_slot[i]) for i in slots
    )
    children = list(node.children)
    count = node.count
    for i, old, (new_ref, new_count) in zip(slots, olds, results, strict=True):
        children[i] = new_ref
        count += new_count - node_count(old)
    return await finish(reader, pending, depth, children, count)


async def finish(
    reader: Reader, pending: PendingObjects, depth: int, children: list[ObjectId | None], count: int
) -> tuple[ObjectId | None, int]:
    """Canonical node for canonical `children` at `depth` holding `count` entries.

    Collapses into one leaf when `count` fell to `LEAF_MAX` or below.
    """
    if count > LEAF_MAX:
        return pending.add(encode_tnode(depth, count, children)), count
    entries: dict[str, TreeEntry] = {}
    for part in await gather_all(flatten(reader, c) for c in children if c is not None):
        entries.update(part)
    return build(pending, depth, entries)
