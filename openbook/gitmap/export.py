"""OpenBook commits as git commits: the deterministic export (encodings in `objects`).

`export_commits` gives the git id of each commit asked for, exporting what
the index does not know yet: the commits down to already exported ones, and
in their trees only the directories and files without a canonical row. A
directory is exported whole (all its entries, across its tnodes), but only
when it changed: a one-file commit exports the directories on one path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from openbook.errors import CorruptObject
from openbook.gitmap.index import GitIndex, GitRow
from openbook.gitmap.objects import GitId, commit_payload, git_id, tree_payload
from openbook.store import dirs
from openbook.store.objects import Commit, ObjectId, TreeEntry
from openbook.store.reader import Reader, gather_all
from openbook.store.source import ObjectSource

BLOB_BATCH = 2000
"""Blobs read per query when their git ids must be computed (their bytes are not kept)."""


@dataclass(frozen=True, slots=True)
class Export:
    """Git ids of the commits asked for, and the rows the export created (to record)."""

    ids: dict[ObjectId, GitId]
    rows: list[GitRow]


class _Exporter:
    def __init__(self, src: ObjectSource, index: GitIndex) -> None:
        self.src = src
        self.reader = Reader(src)
        self.index = index
        self.known: dict[ObjectId, GitId] = {}
        self.absent: set[ObjectId] = set()
        self.rows: list[GitRow] = []

    async def lookup(self, ob_ids: Collection[ObjectId]) -> None:
        ask = [o for o in dict.fromkeys(ob_ids) if o not in self.known and o not in self.absent]
        if not ask:
            return
        found = await self.index.canonical(ask)
        self.known.update(found)
        self.absent.update(o for o in ask if o not in found)

    def record(self, row: GitRow) -> None:
        self.rows.append(row)
        self.known[row.ob_id] = row.git_id
        self.absent.discard(row.ob_id)

    async def commits(self, heads: Sequence[ObjectId]) -> None:
        await self.lookup(heads)
        todo: dict[ObjectId, Commit] = {}
        frontier = [h for h in dict.fromkeys(heads) if h not in self.known]
        while frontier:
            level = await self.reader.commits(frontier)
            todo.update((c.id, c) for c in level)
            parents = {p for c in level for p in c.parents if p not in todo}
            await self.lookup(parents)
            frontier = [p for p in parents if p not in self.known]
        ordered = sorted(todo.values(), key=lambda c: c.generation)
        await self.dirs([c.tree for c in ordered])
        for c in ordered:
            payload = commit_payload(self.known[c.tree], [self.known[p] for p in c.parents], c.author,
                                     c.created_at, c.message)
            self.record(GitRow(git_id("commit", payload), "commit", c.id, True, generation=c.generation,
                               payload=payload))

    async def dirs(self, nodes: Sequence[ObjectId]) -> None:
        """Export the directories `nodes` (and what they hold) that have no canonical git id yet."""
        await self.lookup(nodes)
        todo = [n for n in dict.fromkeys(nodes) if n not in self.known]
        if not todo:
            return
        listings: list[dict[str, TreeEntry]] = await gather_all(dirs.flatten(self.reader, n) for n in todo)
        await self.lookup([e.hash for listing in listings for e in listing.values()])
        await self.blobs({e.hash: e for listing in listings for e in listing.values()
                          if e.kind == "blob" and e.hash not in self.known})
        await self.dirs([e.hash for listing in listings for e in listing.values() if e.kind == "tree"])
        for node, listing in zip(todo, listings, strict=True):
            if node in self.known:  # exported meanwhile as a subdirectory of another node of this level
                continue
            payload = tree_payload((e.name, e.kind == "tree", self.known[e.hash]) for e in listing.values())
            self.record(GitRow(git_id("tree", payload), "tree", node, True, payload=payload))

    async def blobs(self, entries: dict[ObjectId, TreeEntry]) -> None:
        ids = list(entries)
        for start in range(0, len(ids), BLOB_BATCH):
            batch = ids[start:start + BLOB_BATCH]
            got = await self.src.get_many(batch)
            for oid in batch:
                raw = got.get(oid)
                if raw is None or raw.kind != "blob":
                    raise CorruptObject(f"blob {oid} is missing from the store", {"id": oid})
                self.record(GitRow(git_id("blob", raw.payload), "blob", oid, True, size=len(raw.payload)))


async def export_commits(src: ObjectSource, index: GitIndex, heads: Sequence[ObjectId]) -> Export:
    """The git ids of commits `heads`, exporting whatever `index` lacks; the new rows to record.

    Raises NotFound for an unknown commit, CorruptObject for a missing tree or blob.
    """
    exporter = _Exporter(src, index)
    await exporter.commits(heads)
    return Export({h: exporter.known[h] for h in heads}, exporter.rows)
