"""Reading and changing path trees (directories of directories).

`apply_changes` turns a root tree plus a batch of file puts and deletes into a
new root tree, writing only the nodes on the touched paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from openbook.errors import InvalidPath, NotFound
from openbook.store import dirs
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, ObjectId, RawObject, TreeEntry, blob
from openbook.store.paths import validate_dir_path, validate_path
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource, PendingObjects


@dataclass(frozen=True, slots=True)
class Change:
    """Put `content` at `path` (op "put") or remove `path` (op "delete").

    Deleting a directory path removes everything under it.
    """

    op: Literal["put", "delete"]
    path: str
    content: bytes | None = None

    @staticmethod
    def put(path: str, content: bytes) -> Change:
        return Change("put", path, content)

    @staticmethod
    def delete(path: str) -> Change:
        return Change("delete", path)


@dataclass(slots=True)
class _DirPlan:
    """Changes aimed at one directory: file ops by name, subdirectory plans by name."""

    path: str
    ops: dict[str, Change] = field(default_factory=dict)
    subs: dict[str, _DirPlan] = field(default_factory=dict)


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _plan(changes: Sequence[Change]) -> _DirPlan:
    root = _DirPlan("")
    seen: set[str] = set()
    for ch in changes:
        if ch.op not in ("put", "delete"):
            raise ValueError(f"unknown change op {ch.op!r}")
        if ch.op == "put" and ch.content is None:
            raise ValueError(f"put {ch.path!r} without content")
        path = validate_path(ch.path)
        if path in seen:
            raise InvalidPath(f"path {path!r} appears twice in one commit", {"path": ch.path})
        seen.add(path)
        *parents, name = path.split("/")
        plan = root
        for seg in parents:
            sub = plan.subs.get(seg)
            if sub is None:
                sub = plan.subs[seg] = _DirPlan(_join(plan.path, seg))
            plan = sub
        plan.ops[name] = Change(ch.op, path, ch.content)
    return root


async def _apply_dir(
    reader: Reader, pending: PendingObjects, ref: ObjectId | None, plan: _DirPlan
) -> ObjectId | None:
    names = sorted(set(plan.ops) | set(plan.subs))
    existing = await dirs.lookup_many(reader, ref, names) if ref is not None else dict.fromkeys(names)
    changes: dict[str, TreeEntry | None] = {}
    sub_jobs: list[tuple[str, ObjectId | None, _DirPlan]] = []
    for name in names:
        old = existing[name]
        op = plan.ops.get(name)
        sub = plan.subs.get(name)
        path = _join(plan.path, name)
        if op is not None and op.op == "put":
            if sub is not None:
                first = min(c.path for c in _all_changes(sub))
                raise InvalidPath(
                    f"{first!r} puts a file under {path!r}, which is also put as a file", {"path": first}
                )
            if old is not None and old.kind == "tree":
                raise InvalidPath(f"cannot put file {path!r}: it is a directory", {"path": path})
            content = op.content or b""
            changes[name] = TreeEntry(name, "blob", pending.add(blob(content)), len(content))
            continue
        if op is not None:  # delete
            if old is None:
                raise NotFound(f"cannot delete {path!r}: no such file", {"path": path})
            changes[name] = None
            old = None
        if sub is not None:
            if old is not None and old.kind == "blob":
                first = min(c.path for c in _all_changes(sub))
                raise InvalidPath(f"cannot change {first!r}: {path!r} is a file", {"path": first})
            sub_jobs.append((name, None if old is None else old.hash, sub))
    results = await gather_all(_apply_dir(reader, pending, r, s) for _, r, s in sub_jobs)
    for (name, _, _), new_ref in zip(sub_jobs, results, strict=True):
        changes[name] = None if new_ref is None else TreeEntry(name, "tree", new_ref, None)
    if not changes:
        return ref
    new_root, _ = await dirs.modify(reader, pending, 0, ref, changes)
    return new_root


def _all_changes(plan: _DirPlan) -> list[Change]:
    out = list(plan.ops.values())
    for sub in plan.subs.values():
        out.extend(_all_changes(sub))
    return out


async def apply_changes(
    src: ObjectSource, root_tree: ObjectId, changes: Sequence[Change]
) -> tuple[ObjectId, dict[ObjectId, RawObject]]:
    """Apply `changes` to `root_tree`; return the new root and the objects it needs written.

    Only directories on changed paths are rewritten (O(k · depth) objects for
    k changes); empty directories disappear. Raises InvalidPath for a bad
    path, a path given twice, or a file/directory clash (putting a file where a
    directory is, or under a file); NotFound for deleting a missing path;
    CorruptObject if a stored tree is missing.
    """
    plan = _plan(changes)
    pending = PendingObjects(src)
    reader = Reader(pending)
    new_root = await _apply_dir(reader, pending, root_tree, plan)
    root = EMPTY_TREE if new_root is None else new_root
    # Every node built here ends up in the new tree (each is built once, after
    # its children), so all pending objects are needed.
    if new_root is None:
        pending.add(EMPTY_TREE_OBJECT)
    return root, pending.objects


async def _resolve(reader: Reader, root: ObjectId, path: str) -> TreeEntry | None:
    ref: ObjectId | None = root
    entry: TreeEntry | None = None
    for seg in path.split("/"):
        if ref is None:
            return None
        entry = (await dirs.lookup_many(reader, ref, [seg]))[seg]
        if entry is None:
            return None
        ref = entry.hash if entry.kind == "tree" else None
    return entry


async def lookup(src: ObjectSource, root: ObjectId, path: str) -> TreeEntry | None:
    """The entry at `path` under `root`, or None. Raises InvalidPath, CorruptObject."""
    return await _resolve(Reader(src), root, validate_path(path))


async def read_blob(src: ObjectSource, root: ObjectId, path: str) -> bytes:
    """The content of file `path`; raises NotFound if absent or a directory, InvalidPath."""
    reader = Reader(src)
    entry = await _resolve(reader, root, validate_path(path))
    if entry is None or entry.kind != "blob":
        raise NotFound(f"no file {path!r}", {"path": path})
    return await reader.blob(entry.hash)


async def dir_entries(reader: Reader, ref: ObjectId) -> list[TreeEntry]:
    """All entries of one directory (split or not), sorted by name."""
    flat = await dirs.flatten(reader, ref)
    return [flat[n] for n in sorted(flat)]


async def _walk(reader: Reader, prefix: str, ref: ObjectId, out: list[tuple[str, TreeEntry]]) -> None:
    entries = await dir_entries(reader, ref)
    subs = []
    for e in entries:
        p = _join(prefix, e.name)
        out.append((p, e))
        if e.kind == "tree":
            subs.append((p, e.hash))
    parts = await gather_all(_walk_collect(reader, p, h) for p, h in subs)
    for part in parts:
        out.extend(part)


async def _walk_collect(reader: Reader, prefix: str, ref: ObjectId) -> list[tuple[str, TreeEntry]]:
    out: list[tuple[str, TreeEntry]] = []
    await _walk(reader, prefix, ref, out)
    return out


async def list_dir(
    src: ObjectSource, root: ObjectId, path: str = "", recursive: bool = False
) -> list[tuple[str, TreeEntry]]:
    """Entries of directory `path` ("" = root) as (full path, entry), sorted by path.

    With `recursive`, every file and directory below it. Raises InvalidPath
    for a bad path, NotFound if `path` is absent or a file, CorruptObject.
    """
    reader = Reader(src)
    path = validate_dir_path(path)
    ref = root
    if path:
        entry = await _resolve(reader, root, path)
        if entry is None or entry.kind != "tree":
            raise NotFound(f"no directory {path!r}", {"path": path})
        ref = entry.hash
    if not recursive:
        return [(_join(path, e.name), e) for e in await dir_entries(reader, ref)]
    out: list[tuple[str, TreeEntry]] = []
    await _walk(reader, path, ref, out)
    out.sort(key=lambda pe: pe[0])
    return out


async def iter_files(src: ObjectSource, root: ObjectId) -> list[tuple[str, TreeEntry]]:
    """Every file (blob entry) under `root` with its full path, sorted by path."""
    return [(p, e) for p, e in await list_dir(src, root, "", recursive=True) if e.kind == "blob"]
