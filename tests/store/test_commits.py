from __future__ import annotations

import pytest

from openbook.errors import NotFound
from openbook.store.commits import is_ancestor, log, merge_bases
from openbook.store.objects import EMPTY_TREE, ObjectId

from .conftest import Repo

MISSING = ObjectId("0" * 64)


async def test_generation_and_linear_history(repo: Repo) -> None:
    root = await repo.commit([])
    c1 = await repo.commit([root], {"a": b"1"})
    c2 = await repo.commit([c1], {"a": b"2"})
    assert (root.generation, c1.generation, c2.generation) == (1, 2, 3)
    assert root.tree == EMPTY_TREE
    assert await merge_bases(repo.src, c2.id, c1.id) == [c1.id]
    assert await merge_bases(repo.src, c2.id, c2.id) == [c2.id]
    assert await is_ancestor(repo.src, root.id, c2.id)
    assert await is_ancestor(repo.src, c2.id, c2.id)
    assert not await is_ancestor(repo.src, c2.id, c1.id)
    assert [c.id for c in await log(repo.src, c2.id, 10)] == [c2.id, c1.id, root.id]
    assert [c.id for c in await log(repo.src, c2.id, 2)] == [c2.id, c1.id]


async def test_fork_and_merge(repo: Repo) -> None:
    root = await repo.commit([])
    base = await repo.commit([root], {"a": b"1"})
    left = await repo.commit([base], {"l": b"l"})
    left2 = await repo.commit([left], {"l": b"l2"})
    right = await repo.commit([base], {"r": b"r"})
    assert await merge_bases(repo.src, left2.id, right.id) == [base.id]
    assert not await is_ancestor(repo.src, right.id, left2.id)
    merged = await repo.commit([left2, right], tree=left2.tree)
    assert merged.generation == 5
    assert await is_ancestor(repo.src, right.id, merged.id)
    assert await merge_bases(repo.src, merged.id, right.id) == [right.id]
    history = [c.id for c in await log(repo.src, merged.id, 10)]
    assert history[0] == merged.id and history[-1] == root.id and len(history) == 6
    assert history.index(left2.id) < history.index(left.id) < history.index(base.id)


async def test_unrelated_histories_have_no_base(repo: Repo) -> None:
    a = await repo.commit([], {"a": b"a"})
    b = await repo.commit([], {"b": b"b"})
    assert await merge_bases(repo.src, a.id, b.id) == []
    assert not await is_ancestor(repo.src, a.id, b.id)


async def test_criss_cross_has_two_bases(repo: Repo) -> None:
    root = await repo.commit([])
    x = await repo.commit([root], {"x": b"x"})
    y = await repo.commit([root], {"y": b"y"})
    m1 = await repo.commit([x, y], {"y": b"y"})
    m2 = await repo.commit([y, x], {"x": b"x"})
    a = await repo.commit([m1], {"a": b"a"})
    b = await repo.commit([m2], {"b": b"b"})
    assert await merge_bases(repo.src, a.id, b.id) == sorted([x.id, y.id])


async def test_merge_base_walk_stops_early(repo: Repo) -> None:
    c = await repo.commit([])
    for i in range(200):
        c = await repo.commit([c], {"f": b"%d" % i})
    left = await repo.commit([c], {"l": b"l"})
    right = await repo.commit([c], {"r": b"r"})
    repo.src.calls = 0
    assert await merge_bases(repo.src, left.id, right.id) == [c.id]
    assert repo.src.calls <= 4  # not a walk of the 200-commit history
    repo.src.calls = 0
    assert not await is_ancestor(repo.src, left.id, right.id)
    assert repo.src.calls <= 3


async def test_unknown_commits_raise_not_found(repo: Repo) -> None:
    c = await repo.commit([])
    with pytest.raises(NotFound):
        await merge_bases(repo.src, c.id, MISSING)
    with pytest.raises(NotFound):
        await is_ancestor(repo.src, MISSING, c.id)
    with pytest.raises(NotFound):
        await log(repo.src, MISSING)
