"""Three-way merge of trees and of commits; conflicts are returned as data.

At every level (directory, tnode slot, entry) the same rules skip work:
ours == theirs → take it; base == ours → take theirs; base == theirs → take
ours. Only where both sides changed differently does the merge descend;
text files changed on both sides go through `linemerge.merge3`.

Criss-cross histories have several best common ancestors. `merge_commits`
then merges the bases into a virtual base (pairwise, in id order, each pair
against its own bases, recursively). A path that conflicts inside that
virtual merge becomes a *marker* blob; in the outer merge a marker path
conflicts unless ours and theirs agree on it, so inner conflicts are never
silently resolved (cf. dulwich issue #2419).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from openbook.store import dirs
from openbook.store.commits import common_ancestors, merge_bases
from openbook.store.linemerge import merge3
from openbook.store.objects import (
    EMPTY_TREE,
    FANOUT,
    ObjectId,
    RawObject,
    TNode,
    TreeEntry,
    blob,
    canonical_json,
)
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource, PendingObjects

Strategy = Literal["fail", "ours", "theirs"]
ConflictKind = Literal["modify/modify", "add/add", "modify/delete", "delete/modify", "file/directory"]
_Mode = Literal["fail", "ours", "theirs", "mark"]
STRATEGIES: tuple[Strategy, ...] = ("fail", "ours", "theirs")


@dataclass(frozen=True, slots=True)
class Conflict:
    """A path both sides changed incompatibly.

    `base`/`ours`/`theirs` are the ids of that path's entry on each side
    (a blob id; for the directory side of a "file/directory" conflict, a tree
    id), None where the path is absent. `base` is also None when the merge
    base is a virtual one that itself conflicted at this path.
    """

    path: str
    kind: ConflictKind
    base: ObjectId | None
    ours: ObjectId | None
    theirs: ObjectId | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "base": self.base,
            "ours": self.ours,
            "theirs": self.theirs,
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """How the person merging settles one conflicting path (SPEC §13 `resolutions`).

    `take` "ours" or "theirs" keeps that side's entry (absent if that side
    deleted it); "content" puts `content` there as a file; "delete" leaves no
    entry at the path.
    """

    take: Literal["ours", "theirs", "content", "delete"]
    content: bytes = b""


@dataclass(frozen=True, slots=True)
class MergeResult:
    """`tree` is None exactly when strategy "fail" met unresolved conflicts (then listed, sorted by path).

    `new_objects` are the objects `tree` needs that did not exist before;
    `bases` the merge-base commits used (merge_commits only); `resolved` the
    conflicting paths that a resolution settled.
    """

    tree: ObjectId | None
    conflicts: list[Conflict]
    new_objects: dict[ObjectId, RawObject]
    bases: list[ObjectId] = field(default_factory=list)
    resolved: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Res:
    ref: ObjectId | None
    count: int
    cb: int
    co: int
    ct: int


def _same(x: TreeEntry | None, y: TreeEntry | None) -> bool:
    if x is None or y is None:
        return x is y
    return x.hash == y.hash and x.kind == y.kind


def _h(e: TreeEntry | None) -> ObjectId | None:
    return None if e is None else e.hash


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


class _Merger:
    def __init__(self, reader: Reader, pending: PendingObjects, mode: _Mode, markers: set[ObjectId],
                 resolutions: Mapping[str, Resolution] | None = None) -> None:
        self.reader = reader
        self.pending = pending
        self.mode = mode
        self.markers = markers
        self.resolutions: Mapping[str, Resolution] = resolutions or {}
        self.resolved: set[str] = set()
        self.conflicts: list[Conflict] = []

    async def merge_root(self, b: ObjectId, o: ObjectId, t: ObjectId) -> ObjectId:
        ref = await self.merge_dir("", *(None if x == EMPTY_TREE else x for x in (b, o, t)))
        return EMPTY_TREE if ref is None else ref

    async def merge_dir(
        self, path: str, b: ObjectId | None, o: ObjectId | None, t: ObjectId | None
    ) -> ObjectId | None:
        if o == t or b == t:
            return o
        if b == o:
            return t
        return (await self.merge_node(path, 0, b, o, t)).ref

    async def merge_node(
        self, path: str, depth: int, b: ObjectId | None, o: ObjectId | None, t: ObjectId | None
    ) -> _Res:
        nb, no, nt = await self.reader.nodes([b, o, t])
        cb, co, ct = dirs.node_count(nb), dirs.node_count(no), dirs.node_count(nt)
        present = [n for n in (nb, no, nt) if n is not None]
        if not all(isinstance(n, TNode) for n in present):
            eb, eo, et = await gather_all(dirs.flatten(self.reader, x) for x in (b, o, t))
            merged = await self.merge_entries(path, eb, eo, et)
            ref, count = dirs.build(self.pending, depth, merged)
            return _Res(ref, count, cb, co, ct)
        none: tuple[ObjectId | None, ...] = (None,) * FANOUT
        bc, oc, tc = (n.children if isinstance(n, TNode) else none for n in (nb, no, nt))
        children = list(oc)
        same_change: list[int] = []
        t_only: list[int] = []
        recurse: list[int] = []
        for i in range(FANOUT):
            bi, oi, ti = bc[i], oc[i], tc[i]
            if oi == ti:
                if bi != oi:
                    same_change.append(i)
            elif bi == oi:
                t_only.append(i)
                children[i] = ti
            elif bi != ti:
                recurse.append(i)
        subs = await gather_all(self.merge_node(path, depth + 1, bc[i], oc[i], tc[i]) for i in recurse)
        # The tnode format keeps only a total count, so the slots taken whole
        # from theirs are accounted for by difference, without reading them.
        seen_dt = sum(r.ct - r.cb for r in subs)
        if same_change:
            counted = await self.reader.nodes([*(bc[i] for i in same_change), *(tc[i] for i in same_change)])
            k = len(same_change)
            seen_dt += sum(dirs.node_count(n) for n in counted[k:]) - sum(
                dirs.node_count(n) for n in counted[:k]
            )
        count = co + (ct - cb - seen_dt)
        for i, r in zip(recurse, subs, strict=True):
            children[i] = r.ref
            count += r.count - r.co
        ref, count = await dirs.finish(self.reader, self.pending, depth, children, count)
        return _Res(ref, count, cb, co, ct)

    async def merge_entries(
        self,
        path: str,
        eb: Mapping[str, TreeEntry],
        eo: Mapping[str, TreeEntry],
        et: Mapping[str, TreeEntry],
    ) -> dict[str, TreeEntry]:
        out: dict[str, TreeEntry] = {}
        jobs: list[tuple[str, TreeEntry | None, TreeEntry | None, TreeEntry | None]] = []
        markers = self.markers
        for name in eb.keys() | eo.keys() | et.keys():
            b, o, t = eb.get(name), eo.get(name), et.get(name)
            r: TreeEntry | None
            if _same(o, t):
                r = o
            elif markers and any(x is not None and x.hash in markers for x in (b, o, t)):
                jobs.append((name, b, o, t))
                continue
            elif _same(b, o):
                r = t
            elif _same(b, t):
                r = o
            else:
                jobs.append((name, b, o, t))
                continue
            if r is not None:
                out[name] = r
        results = await gather_all(self.merge_entry(_join(path, n), n, b, o, t) for n, b, o, t in jobs)
        for (name, _, _, _), r in zip(jobs, results, strict=True):
            if r is not None:
                out[name] = r
        return out

    async def merge_entry(
        self, path: str, name: str, b: TreeEntry | None, o: TreeEntry | None, t: TreeEntry | None
    ) -> TreeEntry | None:
        """Both sides changed `name` differently (or a side/base is a marker)."""
        marked = any(x is not None and x.hash in self.markers for x in (b, o, t))
        if o is not None and t is not None and o.kind != t.kind:
            return self.conflict(path, name, "file/directory", b, o, t, marked)
        if marked:
            # The base conflicted here: only agreement (taken by the caller) is clean.
            if o is None:
                return self.conflict(path, name, "delete/modify", b, o, t, True)
            if t is None:
                return self.conflict(path, name, "modify/delete", b, o, t, True)
            if o.kind == "blob":
                return self.conflict(path, name, "modify/modify", b, o, t, True)
            b = None  # two directories: merge their contents as additions
        side = o if o is not None else t
        assert side is not None  # ours == theirs == absent was taken by the caller
        if b is not None and b.kind != side.kind:
            b = None  # a file replaced by a directory (or back): different lanes
        if _same(b, o):
            return t
        if _same(b, t):
            return o
        if side.kind == "tree":
            ref = await self.merge_dir(path, _h(b), _h(o), _h(t))
            return None if ref is None else TreeEntry(name, "tree", ref, None)
        if o is None:
            return self.conflict(path, name, "delete/modify", b, o, t, False)
        if t is None:
            return self.conflict(path, name, "modify/delete", b, o, t, False)
        if b is None:
            return self.conflict(path, name, "add/add", b, o, t, False)
        await self.reader.prefetch([b.hash, o.hash, t.hash])
        merged = merge3(
            await self.reader.blob(b.hash), await self.reader.blob(o.hash), await self.reader.blob(t.hash)
        )
        if merged is None:
            return self.conflict(path, name, "modify/modify", b, o, t, False)
        return TreeEntry(name, "blob", self.pending.add(blob(merged)), len(merged))

    def conflict(
        self,
        path: str,
        name: str,
        kind: ConflictKind,
        b: TreeEntry | None,
        o: TreeEntry | None,
        t: TreeEntry | None,
        marked: bool,
    ) -> TreeEntry | None:
        resolution = self.resolutions.get(path)
        if resolution is not None:
            self.resolved.add(path)
            return self.settle(name, resolution, o, t)
        if self.mode == "ours":
            return o
        if self.mode == "theirs":
            return t
        base = None if b is None or b.hash in self.markers else b.hash
        self.conflicts.append(Conflict(path, kind, base, _h(o), _h(t)))
        if self.mode == "fail":
            return o
        content = b"openbook: unresolved conflict in a merge base\0" + canonical_json(
            [path, kind, _h(b), _h(o), _h(t)]
        )
        mid = self.pending.add(blob(content))
        self.markers.add(mid)
        return TreeEntry(name, "blob", mid, len(content))


    def settle(self, name: str, r: Resolution, o: TreeEntry | None, t: TreeEntry | None) -> TreeEntry | None:
        if r.take == "ours":
            return o
        if r.take == "theirs":
            return t
        if r.take == "delete":
            return None
        return TreeEntry(name, "blob", self.pending.add(blob(r.content)), len(r.content))


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}")


def _result(
    m: _Merger, pending: PendingObjects, tree: ObjectId, strategy: Strategy, bases: list[ObjectId]
) -> MergeResult:
    resolved = frozenset(m.resolved)
    if m.conflicts and strategy == "fail":
        return MergeResult(None, sorted(m.conflicts, key=lambda c: c.path), {}, bases, resolved)
    return MergeResult(tree, [], pending.reachable_from([tree]), bases, resolved)


async def merge_trees(
    src: ObjectSource, base: ObjectId, ours: ObjectId, theirs: ObjectId, strategy: Strategy = "fail"
) -> MergeResult:
    """Three-way merge of root trees.

    With "fail", conflicts are returned (and `tree` is None); "ours"/"theirs"
    resolve every conflict to that side (a side's deletion wins as a
    deletion) and never report any. Raises ValueError for an unknown
    strategy, CorruptObject if a stored object is missing.
    """
    _check_strategy(strategy)
    pending = PendingObjects(src)
    m = _Merger(Reader(pending), pending, strategy, set())
    tree = await m.merge_root(base, ours, theirs)
    return _result(m, pending, tree, strategy, [])


async def _virtual_base(
    src: ObjectSource, reader: Reader, pending: PendingObjects, markers: set[ObjectId], bases: list[ObjectId]
) -> ObjectId:
    commits = await reader.commits(sorted(bases))
    acc_tree = commits[0].tree
    acc = [commits[0].id]
    for c in commits[1:]:
        inner = await common_ancestors(src, acc, [c.id])
        inner_tree = await _base_tree(src, reader, pending, markers, inner)
        acc_tree = await _Merger(reader, pending, "mark", markers).merge_root(inner_tree, acc_tree, c.tree)
        acc.append(c.id)
    return acc_tree


async def _base_tree(
    src: ObjectSource, reader: Reader, pending: PendingObjects, markers: set[ObjectId], bases: list[ObjectId]
) -> ObjectId:
    if not bases:
        return EMPTY_TREE
    if len(bases) == 1:
        return (await reader.commit(bases[0])).tree
    return await _virtual_base(src, reader, pending, markers, bases)


async def merge_commits(
    src: ObjectSource, ours: ObjectId, theirs: ObjectId, strategy: Strategy = "fail",
    resolutions: Mapping[str, Resolution] | None = None,
) -> MergeResult:
    """Merge the trees of commits `ours` and `theirs` against their merge base(s).

    No common ancestor → the empty tree is the base; several (criss-cross) →
    a virtual base whose own conflicts stay conflicts. A conflicting path
    named in `resolutions` is settled by it (before `strategy` applies);
    `MergeResult.resolved` says which were used, so the caller can refuse
    resolutions of paths that did not conflict. Creating the merge
    commit, and noticing that theirs is already an ancestor of ours
    (`commits.is_ancestor`), is the caller's job. Raises NotFound for an
    unknown commit, ValueError for an unknown strategy, CorruptObject.
    """
    _check_strategy(strategy)
    pending = PendingObjects(src)
    reader = Reader(pending)
    co, ct = await reader.commits([ours, theirs])
    bases = await merge_bases(src, ours, theirs)
    markers: set[ObjectId] = set()
    base_tree = await _base_tree(src, reader, pending, markers, bases)
    m = _Merger(reader, pending, strategy, markers, resolutions)
    tree = await m.merge_root(base_tree, co.tree, ct.tree)
    return _result(m, pending, tree, strategy, bases)
