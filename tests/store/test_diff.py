from __future__ import annotations

from openbook.store.diff import DiffEntry, diff_trees
from openbook.store.objects import EMPTY_TREE, LEAF_MAX, blob
from openbook.store.trees import Change, apply_changes

from .conftest import Repo
from .test_trees import _big_dir


async def test_diff_statuses_sorted(repo: Repo) -> None:
    a = await repo.tree({"keep.md": b"k", "mod.md": b"1", "gone.md": b"g", "d/x.md": b"x", "f": b"file"})
    b = await repo.tree({"mod.md": b"2", "gone.md": None, "new/y.md": b"y", "f": None, "f/z": b"z"}, a)
    assert await diff_trees(repo.src, a, b) == [
        DiffEntry("f", "deleted", blob(b"file").id, None),
        DiffEntry("f/z", "added", None, blob(b"z").id),
        DiffEntry("gone.md", "deleted", blob(b"g").id, None),
        DiffEntry("mod.md", "modified", blob(b"1").id, blob(b"2").id),
        DiffEntry("new/y.md", "added", None, blob(b"y").id),
    ]
    assert await diff_trees(repo.src, a, a) == []
    assert [d.status for d in await diff_trees(repo.src, EMPTY_TREE, a)] == ["added"] * 5
    assert [d.status for d in await diff_trees(repo.src, a, EMPTY_TREE)] == ["deleted"] * 5


async def test_diff_in_big_folder_reads_only_changed_buckets(repo: Repo) -> None:
    src = repo.src
    root, _ = await _big_dir(repo, 100_000)
    changes = [Change.put(f"f{i:06d}.md", b"new") for i in range(0, 100_000, 10_000)]
    new, objs = await apply_changes(src, root, changes)
    await repo.put_many(objs)
    src.calls = 0
    diff = await diff_trees(src, root, new)
    assert [d.path for d in diff] == sorted(c.path for c in changes)
    assert {d.status for d in diff} == {"modified"}
    assert src.calls <= 3  # one batched read per level


async def test_diff_leaf_against_tnode(repo: Repo) -> None:
    small = await repo.tree({f"n{i}": b"x" for i in range(LEAF_MAX)})
    big = await repo.tree({"n0": b"changed", **{f"m{i}": b"y" for i in range(5)}}, small)
    diff = await diff_trees(repo.src, small, big)
    assert [(d.path, d.status) for d in diff] == [
        ("m0", "added"),
        ("m1", "added"),
        ("m2", "added"),
        ("m3", "added"),
        ("m4", "added"),
        ("n0", "modified"),
    ]
    assert [d.status for d in await diff_trees(repo.src, big, small)] == ["deleted"] * 5 + ["modified"]
