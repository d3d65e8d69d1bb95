"""What a fetch sends: the git objects reachable from the wants that the client lacks.

Commits: those reachable from a want and not from a have, found by walking
down by OpenBook generation number (git's "everybody uninteresting" stop):
a commit is popped only after every queued descendant, so its marks are
final, and the walk ends as soon as only the haves' side is queued.

Trees and blobs: a sent commit needs what its tree holds that no parent's
tree holds *at the same path*. The client has every object of a have's
closure, and gets every object of the sent commits by induction, so an
entry equal to a parent's entry at its path is skipped with everything below
it: the cost follows the size of the change, not of the tree. A commit cut
by a shallow fetch counts as having no parents.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from openbook.errors import CorruptObject
from openbook.gitmap.index import GitIndex, GitRow
from openbook.gitmap.objects import FILE_MODES, TREE_MODE, GitEntry, GitId, GitObject, commit_links, parse_tree_payload
from openbook.store.objects import ObjectId

_WANT, _HAVE = 1, 2


@dataclass(slots=True)
class PackPlan:
    """The objects to send, in pack order: commits and trees with their bytes, blobs by OpenBook id."""

    order: list[GitId] = field(default_factory=list)
    objects: dict[GitId, GitObject] = field(default_factory=dict)
    blobs: dict[GitId, ObjectId] = field(default_factory=dict)


class _Planner:
    def __init__(self, index: GitIndex) -> None:
        self.index = index
        self.rows: dict[GitId, GitRow] = {}
        self.entries: dict[GitId, dict[bytes, GitEntry]] = {}

    async def load(self, ids: Collection[GitId]) -> None:
        ask = [i for i in dict.fromkeys(ids) if i not in self.rows]
        if not ask:
            return
        found = await self.index.rows(ask, payloads=True)
        for gid in ask:
            row = found.get(gid)
            if row is None or row.payload is None:
                raise CorruptObject(f"git object {gid} is not recorded", {"id": gid})
            self.rows[gid] = row

    def links(self, gid: GitId) -> tuple[GitId, tuple[GitId, ...]]:
        return commit_links(self.rows[gid].git_object().payload)

    def tree(self, gid: GitId) -> dict[bytes, GitEntry]:
        parsed = self.entries.get(gid)
        if parsed is None:
            parsed = self.entries[gid] = {e.name: e for e in parse_tree_payload(self.rows[gid].git_object().payload)}
        return parsed

    async def commits(self, wants: Sequence[GitId], haves: Sequence[GitId], shallow: Collection[GitId],
                      client_shallow: Collection[GitId]) -> list[GitId]:
        """Commits reachable from `wants` and not from `haves` (all known), parents after children.

        The client lacks the parents of its own shallow commits: "has" does
        not pass through those.
        """
        await self.load([*wants, *haves])
        flags: dict[GitId, int] = {}
        for gid in wants:
            flags[gid] = flags.get(gid, 0) | _WANT
        for gid in haves:
            flags[gid] = flags.get(gid, 0) | _HAVE
        heap = [(-self._generation(g), g) for g in flags]
        heapq.heapify(heap)
        queued = set(flags)
        out: list[GitId] = []
        def interesting(gid: GitId) -> bool:  # what it passes on to its parents may still be sent
            return not flags[gid] & _HAVE or (gid in client_shallow and bool(flags[gid] & _WANT))

        while any(interesting(g) for _, g in heap):
            gen = heap[0][0]
            level: list[GitId] = []
            while heap and heap[0][0] == gen:
                level.append(heapq.heappop(heap)[1])
            parents: list[GitId] = []
            for gid in level:
                mark = flags[gid]
                if not mark & _HAVE:
                    out.append(gid)
                passed = mark & ~_HAVE if gid in client_shallow else mark
                if not passed:
                    continue
                for p in () if gid in shallow else self.links(gid)[1]:
                    flags[p] = flags.get(p, 0) | passed
                    parents.append(p)
            fresh = [p for p in dict.fromkeys(parents) if p not in queued]
            await self.load(fresh)
            for p in fresh:
                queued.add(p)
                heapq.heappush(heap, (-self._generation(p), p))
        return out

    def _generation(self, gid: GitId) -> int:
        row = self.rows[gid]
        if row.kind != "commit" or row.generation is None:
            raise CorruptObject(f"git object {gid} is a {row.kind}, not a commit", {"id": gid})
        return row.generation

    async def plan(self, commits: list[GitId], shallow: Collection[GitId]) -> PackPlan:
        plan = PackPlan()
        for gid in commits:
            plan.order.append(gid)
            plan.objects[gid] = self.rows[gid].git_object()
        level: list[tuple[GitId, list[GitId]]] = []
        for gid in commits:
            parents = () if gid in shallow else self.links(gid)[1]
            level.append((self.links(gid)[0], [self.links(p)[0] for p in parents]))
        blobs: list[GitId] = []
        sent: set[GitId] = set()
        while level:
            await self.load([g for tree, olds in level for g in (tree, *olds)])
            deeper: list[tuple[GitId, list[GitId]]] = []
            for tree, olds in level:
                if tree in sent or tree in olds:
                    continue
                sent.add(tree)
                plan.order.append(tree)
                plan.objects[tree] = self.rows[tree].git_object()
                old_maps = [self.tree(o) for o in olds]
                for name, e in self.tree(tree).items():
                    same = [m[name] for m in old_maps if name in m]
                    if any(s.id == e.id for s in same):
                        continue
                    if e.mode == TREE_MODE:
                        deeper.append((e.id, [s.id for s in same if s.mode == TREE_MODE]))
                    elif e.mode in FILE_MODES and e.id not in sent:
                        sent.add(e.id)
                        blobs.append(e.id)
            level = deeper
        found = await self.index.rows(blobs, payloads=False)
        for gid in blobs:
            row = found.get(gid)
            if row is None or row.kind != "blob":
                raise CorruptObject(f"blob {gid} is not recorded", {"id": gid})
            plan.order.append(gid)
            plan.blobs[gid] = row.ob_id
        return plan


async def plan_pack(index: GitIndex, wants: Sequence[GitId], haves: Sequence[GitId],
                    shallow: Collection[GitId] = (), client_shallow: Collection[GitId] = ()) -> PackPlan:
    """What to send for `wants` to a client that has `haves` (commits the index knows).

    `shallow`: commits to send without their parents (this fetch's depth);
    `client_shallow`: the client's shallow commits (their parents it lacks).
    Raises CorruptObject when a reachable object is not recorded.
    """
    planner = _Planner(index)
    commits = await planner.commits(wants, haves, shallow, client_shallow)
    return await planner.plan(commits, shallow)
