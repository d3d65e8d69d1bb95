"""File-level differences between two trees, skipping every equal subtree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from openbook.store import dirs
from openbook.store.objects import ObjectId, RawObject, TNode, TreeEntry, decode_leaf_rows, leaf_rows
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource

DiffStatus = Literal["added", "modified", "deleted"]


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One changed file: `old`/`new` are blob ids (None when added/deleted)."""

    path: str
    status: DiffStatus
    old: ObjectId | None
    new: ObjectId | None


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


Pair = tuple[ObjectId | None, ObjectId | None]


def _leaf_changes(x: ObjectId | None, rx: RawObject | None, y: ObjectId | None,
                  ry: RawObject | None) -> tuple[dict[str, TreeEntry], dict[str, TreeEntry]] | None:
    """The entries only one of two leaves has (None = empty), each side's own; None unless both are leaves."""
    rows_x = frozenset() if rx is None else leaf_rows(rx)
    rows_y = frozenset() if ry is None else leaf_rows(ry)
    if rows_x is None or rows_y is None:
        return None
    only_x, only_y = rows_x - rows_y, rows_y - rows_x
    return (decode_leaf_rows(x, only_x) if x is not None else {},
            decode_leaf_rows(y, only_y) if y is not None else {})


async def _diff_node(reader: Reader, prefix: str, a: ObjectId | None, b: ObjectId | None) -> list[DiffEntry]:
    """The changes between two versions of one directory (node trees `a` and `b`, None = empty)."""
    # Both node trees are walked level by level, one batched read per level,
    # skipping equal ids. Two leaves are compared row by row as bytes and only
    # the rows one side lacks are decoded, so a folder of 100,000 files changed
    # in most of its leaves costs a byte split per leaf, not an entry object
    # per file. A name lies in the same bucket on both sides, so the entries
    # gathered from different pairs never collide.
    ea: dict[str, TreeEntry] = {}
    eb: dict[str, TreeEntry] = {}
    pairs: list[Pair] = [(a, b)] if a != b else []
    while pairs:
        ids = list({i for pair in pairs for i in pair if i is not None})
        raws = dict(zip(ids, await reader.raws(ids), strict=True))
        deeper: list[Pair] = []
        uneven: list[Pair] = []
        for x, y in pairs:
            leaves = _leaf_changes(x, None if x is None else raws[x], y, None if y is None else raws[y])
            if leaves is not None:
                ea.update(leaves[0])
                eb.update(leaves[1])
                continue
            nx, ny = await reader.nodes([x, y])
            if isinstance(nx, TNode) and isinstance(ny, TNode):
                # Same depth by construction: compare slot by slot.
                deeper.extend((i, j) for i, j in zip(nx.children, ny.children, strict=True) if i != j)
            else:
                uneven.append((x, y))
        # A leaf against a tnode: the entry counts differ by at least the excess
        # over LEAF_MAX, so reading every entry costs no more than the diff.
        for part_a, part_b in await gather_all(_flatten_pair(reader, x, y) for x, y in uneven):
            ea.update(part_a)
            eb.update(part_b)
        pairs = deeper
    return await _diff_entries(reader, prefix, ea, eb)


async def _flatten_pair(reader: Reader, x: ObjectId | None,
                        y: ObjectId | None) -> tuple[dict[str, TreeEntry], dict[str, TreeEntry]]:
    fx, fy = await gather_all([dirs.flatten(reader, x), dirs.flatten(reader, y)])
    return fx, fy


async def _diff_entries(
    reader: Reader, prefix: str, ea: dict[str, TreeEntry], eb: dict[str, TreeEntry]
) -> list[DiffEntry]:
    out: list[DiffEntry] = []
    subs: list[tuple[str, ObjectId | None, ObjectId | None]] = []
    for name in ea.keys() | eb.keys():
        x = ea.get(name)
        y = eb.get(name)
        if x is not None and y is not None and x.kind == y.kind and x.hash == y.hash:
            continue
        path = _join(prefix, name)
        xf = x.hash if x is not None and x.kind == "blob" else None
        yf = y.hash if y is not None and y.kind == "blob" else None
        if xf is not None and yf is not None:
            out.append(DiffEntry(path, "modified", xf, yf))
        elif xf is not None:
            out.append(DiffEntry(path, "deleted", xf, None))
        elif yf is not None:
            out.append(DiffEntry(path, "added", None, yf))
        xd = x.hash if x is not None and x.kind == "tree" else None
        yd = y.hash if y is not None and y.kind == "tree" else None
        if xd != yd:
            subs.append((path, xd, yd))
    for part in await gather_all(_diff_node(reader, p, x, y) for p, x, y in subs):
        out.extend(part)
    return out


async def diff_trees(src: ObjectSource, a: ObjectId, b: ObjectId) -> list[DiffEntry]:
    """Files added, modified or deleted going from tree `a` to tree `b`, sorted by path.

    A file replaced by a directory shows as the file deleted plus the
    directory's files added. Raises CorruptObject if a tree is missing.
    """
    out = await _diff_node(Reader(src), "", a, b)
    out.sort(key=lambda d: d.path)
    return out
