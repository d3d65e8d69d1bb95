"""The store contract suite runs on both ObjectSource implementations.

A test that takes `repo` (or `backends`) runs twice, with ids `[memory]` and
`[postgres]`: on `MemoryObjectSource`, and on the database adapter's
`PgObjectSource` over a fresh workspace of the suite's real PostgreSQL.
`postgres_backends` is the only code in tests/store that knows the database
adapter's API; everything else goes through `Backend`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openbook.store.commits import make_commit
from openbook.store.memory import MemoryObjectSource
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, Commit, ObjectId, RawObject
from openbook.store.reader import Reader
from openbook.store.source import ObjectSource
from openbook.store.trees import Change, apply_changes, iter_files

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Backend:
    """One object store under test: `src` reads it, `write` stores objects idempotently."""

    src: ObjectSource
    write: Callable[[Mapping[ObjectId, RawObject]], Awaitable[object]]


NewBackend = Callable[[], Awaitable[Backend]]


@pytest.fixture
def memory_backends() -> NewBackend:
    async def make() -> Backend:
        mem = MemoryObjectSource()
        mem.put(EMPTY_TREE_OBJECT)

        async def write(objs: Mapping[ObjectId, RawObject]) -> None:
            mem.put_many(objs)

        return Backend(mem, write)

    return make


@pytest.fixture
def postgres_backends(database: Any) -> NewBackend:
    """Fresh workspaces on the suite's PostgreSQL, read without the process-wide cache."""
    from openbook.db.objects import PgObjectSource, write_objects
    from openbook.db.scopes import Tenant
    from openbook.db.workspaces import create_workspace

    async def make() -> Backend:
        ws = await create_workspace(database, f"store-{uuid.uuid4().hex[:12]}", "store contract")

        async def write(objs: Mapping[ObjectId, RawObject]) -> None:
            async with database.transaction(Tenant(ws.id)) as tx:
                await write_objects(tx, objs)

        return Backend(PgObjectSource(database, ws.id, cache=None), write)

    return make


@pytest.fixture(params=["memory", "postgres"])
def backends(request: pytest.FixtureRequest) -> NewBackend:
    """Makes fresh, empty stores of one implementation (the test id names it)."""
    make: NewBackend = request.getfixturevalue(f"{request.param}_backends")
    return make


class CountingSource:
    """The source under test, counting `get_many` round trips (the batching contract)."""

    def __init__(self, inner: ObjectSource) -> None:
        self.inner = inner
        self.calls = 0

    async def get_many(self, ids: Collection[ObjectId]) -> Mapping[ObjectId, RawObject]:
        self.calls += 1
        return await self.inner.get_many(ids)


class Repo:
    """A store under test with shortcuts to write objects, trees and commits."""

    def __init__(self, backend: Backend) -> None:
        self.src = CountingSource(backend.src)
        self._write = backend.write
        self.clock = 0

    async def put_many(self, objs: Mapping[ObjectId, RawObject] | Iterable[RawObject]) -> None:
        await self._write(objs if isinstance(objs, Mapping) else {o.id: o for o in objs})

    async def tree(self, files: Mapping[str, bytes | None], root: ObjectId = EMPTY_TREE) -> ObjectId:
        changes = [Change.delete(p) if c is None else Change.put(p, c) for p, c in files.items()]
        new_root, objs = await apply_changes(self.src, root, changes)
        await self.put_many(objs)
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
        await self.put_many([raw])
        return c


@pytest.fixture
async def repo(backends: NewBackend) -> Repo:
    return Repo(await backends())
