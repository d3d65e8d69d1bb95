from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbook.store.diff import DiffEntry, diff_trees
from openbook.store.objects import EMPTY_TREE, LEAF_MAX, RawObject, TreeEntry, blob, encode_leaf
from openbook.store.trees import Change, apply_changes

from .conftest import NewBackend, Repo
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


# Names full of the bytes a leaf's rows are cut at (`],["`), quotes and non-ASCII,
# beside enough plain names that the folder splits into buckets.
TRICKY = st.lists(st.sampled_from(["a", "é", '"', "],[", "]", ",", "["]), min_size=1, max_size=3).map("".join)
FILLER = {f"plain{i:03d}": b"same" for i in range(LEAF_MAX + 40)}
VERSIONS = st.dictionaries(TRICKY, st.sampled_from([b"1", b"2", b"3"]), max_size=12)


def _expected(old: dict[str, bytes], new: dict[str, bytes]) -> list[DiffEntry]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        x, y = old.get(name), new.get(name)
        if x != y:
            status = "added" if x is None else "deleted" if y is None else "modified"
            out.append(DiffEntry(name, status, None if x is None else blob(x).id, None if y is None else blob(y).id))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(VERSIONS, VERSIONS, st.booleans())
def test_leaf_rows_compared_as_bytes_give_the_exact_diff(
    memory_backends: NewBackend, old: dict[str, bytes], new: dict[str, bytes], big: bool
) -> None:
    async def check() -> None:
        repo = Repo(await memory_backends())
        filler = FILLER if big else {}
        a = await repo.tree({**filler, **old})
        b = await repo.tree({**filler, **new})
        assert await diff_trees(repo.src, a, b) == _expected(old, new)
        assert await diff_trees(repo.src, b, a) == _expected(new, old)

    asyncio.run(check())


async def test_a_leaf_written_with_spaces_diffs_by_its_entries(repo: Repo) -> None:
    # Not what the store writes, but a valid leaf: it must compare by content, not bytes.
    h1, h2 = blob(b"1").id, blob(b"2").id
    canonical = encode_leaf([TreeEntry("a", "blob", h1, 1), TreeEntry("b", "blob", h1, 1)])
    spaced = RawObject("tree", f'[["a", "blob", "{h1}", 1], ["b", "blob", "{h2}", 1]]'.encode())
    await repo.put_many([canonical, spaced, blob(b"1"), blob(b"2")])
    assert await diff_trees(repo.src, canonical.id, spaced.id) == [DiffEntry("b", "modified", h1, h2)]
