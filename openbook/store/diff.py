"""File-level differences between two trees, skipping every equal subtree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from openbook.store import dirs
from openbook.store.objects import ObjectId, TNode, TreeEntry
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


async def _diff_node(reader: Reader, prefix: str, a: ObjectId | None, b: ObjectId | None) -> list[DiffEntry]:
    if a == b:
        return []
    na, nb = await reader.nodes([a, b])
    if isinstance(na, TNode) and isinstance(nb, TNode):
        # Same depth by construction: compare slot by slot.
        pairs = [(x, y) for x, y in zip(na.children, nb.children, strict=True) if x != y]
        out: list[DiffEntry] = []
        for part in await gather_all(_diff_node(reader, prefix, x, y) for x, y in pairs):
            out.extend(part)
        return out
    # A leaf against a tnode (or an empty side): the entry counts differ by at
    # least the excess over LEAF_MAX, so flattening costs no more than the diff.
    ea, eb = await gather_all([dirs.flatten(reader, a), dirs.flatten(reader, b)])
    return await _diff_entries(reader, prefix, ea, eb)


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
