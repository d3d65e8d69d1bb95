"""Helpers for the pure store tests: everything runs on a MemoryObjectSource."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from openbook.store.commits import make_commit
from openbook.store.memory import MemoryObjectSource
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, Commit, ObjectId
from openbook.store.reader import Reader
from openbook.store.trees import Change, apply_changes, iter_files

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Repo:
    """A MemoryObjectSource with shortcuts to write trees and commits."""

    def __init__(self) -> None:
        self.src = MemoryObjectSource()
        self.src.put(EMPTY_TREE_OBJECT)
        self.clock = 0

    async def tree(self, files: Mapping[str, bytes | None], root: ObjectId = EMPTY_TREE) -> ObjectId:
        changes = [Change.delete(p) if c is None else Change.put(p, c) for p, c in files.items()]
        new_root, objs = await apply_changes(self.src, root, changes)
        self.src.put_many(objs)
        return new_root

    async def files(self, root: ObjectId) -> dict[str, bytes]:
        reader = Reader(self.src)
        return {p: await reader.blob(e.hash) for p, e in await iter_files(self.src, root)}

    async def commit(
        self,
        parents: list[Commit],
        files: Mapping[str, bytes | None] | None = None,
        tree: ObjectId | None = None,
    ) -> Commit:
        if tree is None:
            base = parents[0].tree if parents else EMPTY_TREE
            tree = await self.tree(files or {}, base)
        self.clock += 1
        c, raw = make_commit(tree, parents, f"c{self.clock}", "tester", T0 + timedelta(seconds=self.clock))
        self.src.put(raw)
        return c


@pytest.fixture
def repo() -> Repo:
    return Repo()
