"""The mapping between git ids and OpenBook objects: one row per git object a workspace knows.

A row says which OpenBook object a git object stands for:

- a blob stands for the OpenBook blob with the same bytes (``size`` kept, so a
  tree entry can be built without reading the blob);
- a tree stands for the OpenBook directory node it imports to; its git bytes
  are kept (``payload``);
- a commit stands for one OpenBook commit; its git bytes are kept whole, so a
  pushed commit is served back exactly as pushed (committer, time zones,
  signatures), and ``generation`` is the OpenBook commit's.

A row is *canonical* when it is the export of its OpenBook object (the one
answer to "which git id does this object have?"). Every blob and commit row
is; a pushed tree is only when OpenBook's export gives the same bytes (not,
for instance, when it holds an executable file or an empty directory: then
the export is recorded beside it).

`GitIndex` is the seam to storage (PostgreSQL in `openbook.db.gitobjects`,
a dict in `MemoryGitIndex`); the same tests run on both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from openbook.gitmap.objects import GitId, GitKind, GitObject
from openbook.store.objects import ObjectId


@dataclass(frozen=True, slots=True)
class GitRow:
    """One git object of a workspace and the OpenBook object it stands for."""

    git_id: GitId
    kind: GitKind
    ob_id: ObjectId
    canonical: bool
    size: int | None = None
    generation: int | None = None
    payload: bytes | None = None

    def git_object(self) -> GitObject:
        """The tree or commit as git stores it; ValueError for a blob or a row read without payload."""
        if self.payload is None or self.kind == "blob":
            raise ValueError(f"row {self.git_id} carries no git payload")
        return GitObject(self.kind, self.payload)


class GitIndex(Protocol):
    """Batch lookups in one workspace's git rows."""

    async def rows(self, ids: Collection[GitId], *, payloads: bool) -> Mapping[GitId, GitRow]:
        """The rows among `ids` that exist (trees' and commits' payloads only when `payloads`)."""
        ...

    async def canonical(self, ob_ids: Collection[ObjectId]) -> Mapping[ObjectId, GitId]:
        """The canonical git id of each OpenBook object among `ob_ids` that has one."""
        ...


class MemoryGitIndex:
    """Git rows kept in dicts: the second implementation, for tests."""

    def __init__(self) -> None:
        self.by_git: dict[GitId, GitRow] = {}
        self.by_ob: dict[ObjectId, GitId] = {}

    def add(self, rows: Iterable[GitRow]) -> None:
        """Record rows; like the database, an id already known keeps its first row."""
        for row in rows:
            if row.git_id in self.by_git:
                continue
            if row.canonical and row.ob_id in self.by_ob:
                raise ValueError(f"{row.ob_id} already has canonical git id {self.by_ob[row.ob_id]}")
            self.by_git[row.git_id] = row
            if row.canonical:
                self.by_ob[row.ob_id] = row.git_id

    async def rows(self, ids: Collection[GitId], *, payloads: bool) -> Mapping[GitId, GitRow]:
        found = {i: self.by_git[i] for i in ids if i in self.by_git}
        if not payloads:
            found = {i: replace(r, payload=None) for i, r in found.items()}
        return found

    async def canonical(self, ob_ids: Collection[ObjectId]) -> Mapping[ObjectId, GitId]:
        return {o: self.by_ob[o] for o in ob_ids if o in self.by_ob}
