"""Property tests on random three-way situations and random histories.

They run many examples on the memory source; the three-way property also runs
on PostgreSQL with fewer examples (each example there is a fresh workspace and
real round trips, ~10x slower).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbook.store.commits import merge_bases
from openbook.store.merge import merge_commits, merge_trees
from openbook.store.objects import LEAF_MAX

from .conftest import NewBackend, Repo

T = TypeVar("T")

# Prefix-free paths (no file/directory clashes) plus a directory that crosses the split threshold.
PATHS = ["a.md", "b.md", "d/x.md", "d/y.md", "d/e/z.md", "f/g.md", *(f"big/n{i}" for i in range(12))]
BIG = {f"big/m{i}": b"m" for i in range(LEAF_MAX - 4)}
LINES = st.lists(st.sampled_from([b"1\n", b"2\n", b"3\n"]), min_size=4, max_size=4).map(b"".join)
FILES = st.dictionaries(st.sampled_from(PATHS), LINES, max_size=10)
EDITS = st.dictionaries(st.sampled_from(PATHS), st.one_of(st.none(), LINES), max_size=8)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PG_SETTINGS = settings(SETTINGS, max_examples=25)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _apply(files: dict[str, bytes], edits: dict[str, bytes | None]) -> dict[str, bytes]:
    out = dict(files)
    for p, c in edits.items():
        if c is None:
            out.pop(p, None)
        else:
            out[p] = c
    return out


async def check_three_way(
    repo: Repo, base_files: dict[str, bytes], eo: dict[str, bytes | None], et: dict[str, bytes | None]
) -> None:
    ours_files, theirs_files = _apply(base_files, eo), _apply(base_files, et)
    b = await repo.tree({**BIG, **base_files})
    o = await repo.tree({**BIG, **ours_files})
    t = await repo.tree({**BIG, **theirs_files})
    r1 = await merge_trees(repo.src, b, o, t)
    r2 = await merge_trees(repo.src, b, o, t)
    assert r1 == r2  # deterministic
    swapped = await merge_trees(repo.src, b, t, o)
    assert [c.path for c in swapped.conflicts] == [c.path for c in r1.conflicts]
    if r1.tree is not None:
        assert swapped.tree == r1.tree
        await repo.put_many(r1.new_objects)
        merged = await repo.files(r1.tree)
        # The result is canonical: the same files built from scratch give the same hash.
        assert await repo.tree(merged) == r1.tree
        for p in set(PATHS):
            bo, oo, to = base_files.get(p), ours_files.get(p), theirs_files.get(p)
            if oo == to:
                assert merged.get(p) == oo
            elif bo == oo:
                assert merged.get(p) == to
            elif bo == to:
                assert merged.get(p) == oo
    else:
        assert r1.conflicts
    # Merging with an ancestor changes nothing and never conflicts.
    assert (await merge_trees(repo.src, b, o, b)).tree == o
    assert (await merge_trees(repo.src, b, b, t)).tree == t
    # Strategies never conflict; each side wins where both changed.
    for strategy, side in (("ours", ours_files), ("theirs", theirs_files)):
        r = await merge_trees(repo.src, b, o, t, strategy)  # type: ignore[arg-type]
        assert r.conflicts == [] and r.tree is not None
        await repo.put_many(r.new_objects)
        merged = await repo.files(r.tree)
        for c in r1.conflicts:
            assert merged.get(c.path) == side.get(c.path)


@SETTINGS
@given(FILES, EDITS, EDITS)
def test_three_way_merge_properties_on_memory(
    memory_backends: NewBackend,
    base_files: dict[str, bytes],
    eo: dict[str, bytes | None],
    et: dict[str, bytes | None],
) -> None:
    async def check() -> None:
        await check_three_way(Repo(await memory_backends()), base_files, eo, et)

    run(check())


@PG_SETTINGS
@given(FILES, EDITS, EDITS)
async def test_three_way_merge_properties_on_postgres(
    postgres_backends: NewBackend,
    base_files: dict[str, bytes],
    eo: dict[str, bytes | None],
    et: dict[str, bytes | None],
) -> None:
    await check_three_way(Repo(await postgres_backends()), base_files, eo, et)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), EDITS), min_size=1, max_size=12
    ),
    st.integers(0, 2),
    st.integers(0, 2),
)
def test_random_histories_merge_deterministically_on_memory(
    memory_backends: NewBackend, steps: list[tuple[int, int, int, dict[str, bytes | None]]], i: int, j: int
) -> None:
    async def check() -> None:
        repo = Repo(await memory_backends())
        root = await repo.commit([], {})
        # Three branches that commit and merge each other's current or older
        # heads at random, which makes criss-cross histories.
        history = [[root], [root], [root]]
        contents: dict[Any, dict[str, bytes]] = {root.id: {}}
        for who, other, back, edits in steps:
            head = history[who][-1]
            theirs = history[other][max(0, len(history[other]) - 1 - back)]
            if other != who and theirs.id != head.id:
                r = await merge_commits(repo.src, head.id, theirs.id, "theirs")
                assert r.tree is not None and r.conflicts == []
                await repo.put_many(r.new_objects)
                head = await repo.commit([head, theirs], tree=r.tree)
                contents[head.id] = await repo.files(head.tree)
            new = _apply(contents[head.id], edits)
            tree = await repo.tree(new)
            history[who].append(await repo.commit([head], tree=tree))
            contents[history[who][-1].id] = new
        heads = [h[-1] for h in history]
        a, b = heads[i].id, heads[j].id
        bases = await merge_bases(repo.src, a, b)
        assert bases == await merge_bases(repo.src, b, a)
        r1 = await merge_commits(repo.src, a, b)
        assert r1 == await merge_commits(repo.src, a, b)
        for strategy in ("ours", "theirs"):
            r = await merge_commits(repo.src, a, b, strategy)  # type: ignore[arg-type]
            assert r.conflicts == [] and r.tree is not None
            await repo.put_many(r.new_objects)
        if a == b or b in bases:  # merging an ancestor: nothing to do
            assert r1.tree == heads[i].tree

    run(check())
