"""Object ids, raw objects and their canonical encodings.

Every object is a `kind` plus a byte `payload`; its id is
``sha256(kind + b"\\0" + payload)`` in lowercase hex. The database re-checks
this formula on insert, so it must never change.

Payloads (canonical JSON: sorted keys, no spaces, UTF-8, see `canonical_json`):

- ``blob``: the file bytes.
- ``tree``: a directory leaf node, a list of ``[name, kind, hash, size]``
  sorted by name (size is the blob length, ``null`` for a subdirectory).
- ``tnode``: an inner node of a large directory,
  ``{"children": [32 x hash|null], "count": n, "depth": d}`` (see `dirs`).
- ``commit``: ``{"author", "created_at", "generation", "message", "parents", "tree"}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NewType

from openbook.errors import CorruptObject

ObjectId = NewType("ObjectId", str)
"""64 lowercase hex characters: the SHA-256 of an object's kind and payload."""

Kind = Literal["blob", "tree", "tnode", "commit"]
EntryKind = Literal["blob", "tree"]

KINDS: frozenset[str] = frozenset(("blob", "tree", "tnode", "commit"))
LEAF_MAX = 256
"""A directory (or a bucket of one) with more entries than this becomes a tnode."""
FANOUT = 32
"""Children per tnode: 5 bits of the name's SHA-256 per level."""


def canonical_json(value: Any) -> bytes:
    """The one JSON encoding used inside object payloads."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_raw(kind: str, payload: bytes) -> ObjectId:
    """The id of an object: ``sha256(kind.encode() + b"\\0" + payload)`` hex."""
    h = hashlib.sha256(kind.encode())
    h.update(b"\0")
    h.update(payload)
    return ObjectId(h.hexdigest())


@dataclass(frozen=True, slots=True)
class RawObject:
    """An object as stored: kind and payload bytes."""

    kind: Kind
    payload: bytes

    @property
    def id(self) -> ObjectId:
        return hash_raw(self.kind, self.payload)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of a directory: a file (`blob`, with size) or a subdirectory (`tree`)."""

    name: str
    kind: EntryKind
    hash: ObjectId
    size: int | None


@dataclass(frozen=True, slots=True)
class Leaf:
    """A decoded ``tree`` node: entries by name, in name order. Treat as read-only."""

    entries: dict[str, TreeEntry]

    @property
    def count(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class TNode:
    """A decoded ``tnode``: `FANOUT` child slots at `depth`, `count` entries below."""

    depth: int
    count: int
    children: tuple[ObjectId | None, ...]


Node = Leaf | TNode


@dataclass(frozen=True, slots=True)
class Commit:
    """A decoded commit; `created_at` is timezone-aware UTC."""

    id: ObjectId
    tree: ObjectId
    parents: tuple[ObjectId, ...]
    message: str
    author: str
    created_at: datetime
    generation: int


def blob(content: bytes) -> RawObject:
    """The blob object holding `content`."""
    return RawObject("blob", content)


def encode_leaf(entries: list[TreeEntry] | tuple[TreeEntry, ...]) -> RawObject:
    """Encode a leaf node; `entries` may be in any order (they are sorted by name)."""
    return encode_leaf_sorted({e.name: e for e in entries})


def encode_leaf_sorted(entries: dict[str, TreeEntry]) -> RawObject:
    """Encode a leaf from a name-keyed dict (sorted here; insertion order is irrelevant)."""
    rows = [[e.name, e.kind, e.hash, e.size] for _, e in sorted(entries.items())]
    return RawObject("tree", canonical_json(rows))


def encode_tnode(
    depth: int, count: int, children: list[ObjectId | None] | tuple[ObjectId | None, ...]
) -> RawObject:
    """Encode a tnode; `children` must have exactly `FANOUT` slots."""
    if len(children) != FANOUT:
        raise ValueError(f"a tnode has {FANOUT} children, got {len(children)}")
    return RawObject("tnode", canonical_json({"depth": depth, "count": count, "children": list(children)}))


def _decode_leaf(oid: ObjectId, payload: bytes) -> Leaf:
    try:
        entries: dict[str, TreeEntry] = {}
        for name, kind, h, size in json.loads(payload):
            if kind != "blob" and kind != "tree":
                raise ValueError(kind)
            entries[name] = TreeEntry(name, kind, h, size)
        return Leaf(entries)
    except (ValueError, TypeError, KeyError) as e:
        raise CorruptObject(f"object {oid} is not a valid tree", {"id": oid}) from e


def decode_node(oid: ObjectId, obj: RawObject) -> Node:
    """Decode a ``tree`` or ``tnode`` payload.

    Raises CorruptObject if the kind is not a directory node or the payload
    does not parse as one.
    """
    if obj.kind == "tree":
        return _decode_leaf(oid, obj.payload)
    try:
        if obj.kind == "tnode":
            data = json.loads(obj.payload)
            children = tuple(data["children"])
            if len(children) != FANOUT:
                raise ValueError("fanout")
            return TNode(int(data["depth"]), int(data["count"]), children)
    except (ValueError, TypeError, KeyError) as e:
        raise CorruptObject(f"object {oid} is not a valid {obj.kind}", {"id": oid}) from e
    raise CorruptObject(f"object {oid} is a {obj.kind}, expected a directory node", {"id": oid})


_ROW_CUT = b'],["'
_LEAF_OPEN = b'[["'
_LEAF_CLOSE = b"]]"
# `],["` lies in a string only as a name ending in `],[` and its closing quote; JSON
# allows only these bytes after a closing quote (a name starting with one is caught too).
_CUT_IN_NAME = re.compile(rb'\],\["[,\]:}\s]')


def leaf_rows(obj: RawObject) -> frozenset[bytes] | None:
    """A ``tree`` payload cut into its rows' bytes without parsing it; None if it cannot be cut safely.

    The payload is cut at ``],["``, which JSON writes between two rows and
    otherwise only where a name ends in ``],[``: inside a string every ``"``
    is escaped, so ``["`` occurs there only as a last ``[`` and the closing
    quote. A payload where a cut may fall inside a name, or not framed like
    ours (``[["`` ... ``]]``), gives None. Equal bytes are equal entries and
    a leaf names each entry once, so the entries that differ between two
    leaves lie in the rows only one of them has, and only those need decoding
    (`decode_leaf_rows`): the rest of a large folder's leaves is compared
    without building an entry per file. The empty leaf has no rows.
    """
    p = obj.payload
    if obj.kind != "tree":
        return None
    if p == b"[]":
        return frozenset()
    if not (p.startswith(_LEAF_OPEN) and p.endswith(_LEAF_CLOSE)) or _CUT_IN_NAME.search(p):
        return None
    return frozenset(p[len(_LEAF_OPEN):-len(_LEAF_CLOSE)].split(_ROW_CUT))


def decode_leaf_rows(oid: ObjectId, rows: frozenset[bytes] | set[bytes]) -> dict[str, TreeEntry]:
    """The entries of some rows of leaf `oid`, as cut by `leaf_rows`.

    The rows are joined back into a leaf payload and decoded as one, so they
    are checked exactly as `decode_node` checks a leaf. Raises CorruptObject.
    """
    if not rows:
        return {}
    return _decode_leaf(oid, _LEAF_OPEN + _ROW_CUT.join(rows) + _LEAF_CLOSE).entries


def format_time(dt: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``; raises ValueError for naive datetimes."""
    if dt.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_commit(
    tree: ObjectId,
    parents: tuple[ObjectId, ...] | list[ObjectId],
    message: str,
    author: str,
    created_at: datetime,
    generation: int,
) -> RawObject:
    """Encode a commit payload; raises ValueError for a naive `created_at`."""
    body = {
        "tree": tree,
        "parents": list(parents),
        "message": message,
        "author": author,
        "created_at": format_time(created_at),
        "generation": generation,
    }
    return RawObject("commit", canonical_json(body))


def decode_commit(oid: ObjectId, obj: RawObject) -> Commit:
    """Decode a commit payload; raises CorruptObject if it is not one."""
    if obj.kind != "commit":
        raise CorruptObject(f"object {oid} is a {obj.kind}, expected a commit", {"id": oid})
    try:
        d = json.loads(obj.payload)
        return Commit(
            id=oid,
            tree=ObjectId(d["tree"]),
            parents=tuple(ObjectId(p) for p in d["parents"]),
            message=str(d["message"]),
            author=str(d["author"]),
            created_at=datetime.fromisoformat(d["created_at"]).astimezone(UTC),
            generation=int(d["generation"]),
        )
    except (ValueError, TypeError, KeyError) as e:
        raise CorruptObject(f"object {oid} is not a valid commit", {"id": oid}) from e


EMPTY_TREE_OBJECT = encode_leaf([])
EMPTY_TREE: ObjectId = EMPTY_TREE_OBJECT.id
"""The id of the empty directory (a ``tree`` with payload ``[]``)."""

__all__ = [
    "EMPTY_TREE",
    "EMPTY_TREE_OBJECT",
    "FANOUT",
    "KINDS",
    "LEAF_MAX",
    "Commit",
    "CorruptObject",
    "EntryKind",
    "Kind",
    "Leaf",
    "Node",
    "ObjectId",
    "RawObject",
    "TNode",
    "TreeEntry",
    "blob",
    "canonical_json",
    "decode_commit",
    "decode_leaf_rows",
    "decode_node",
    "encode_commit",
    "encode_leaf",
    "encode_leaf_sorted",
    "encode_tnode",
    "format_time",
    "hash_raw",
    "leaf_rows",
]
