from __future__ import annotations

from collections.abc import Mapping

import pytest

from openbook.store.merge import Conflict, Resolution, Strategy, merge_commits, merge_trees
from openbook.store.objects import EMPTY_TREE, LEAF_MAX, ObjectId, TNode, blob
from openbook.store.reader import Reader
from openbook.store.trees import Change, apply_changes

from .conftest import Repo
from .test_trees import _big_dir

Files = Mapping[str, bytes | None]


def h(content: bytes) -> ObjectId:
    return blob(content).id


async def three(repo: Repo, base: Files, ours: Files, theirs: Files) -> tuple[ObjectId, ObjectId, ObjectId]:
    b = await repo.tree(base)
    return b, await repo.tree(ours, b), await repo.tree(theirs, b)


async def test_clean_merge_combines_both_sides(repo: Repo) -> None:
    b, o, t = await three(
        repo,
        {"keep": b"k", "o": b"1", "t": b"1", "same": b"1", "text": b"1\n2\n3\n4\n", "d/x": b"x"},
        {"o": b"2", "same": b"2", "text": b"one\n2\n3\n4\n", "new/o": b"o", "d/x": None},
        {"t": b"2", "same": b"2", "text": b"1\n2\n3\nfour\n", "new/t": b"t"},
    )
    result = await merge_trees(repo.src, b, o, t)
    assert result.conflicts == [] and result.tree is not None
    await repo.put_many(result.new_objects)
    assert await repo.files(result.tree) == {
        "keep": b"k", "o": b"2", "t": b"2", "same": b"2", "text": b"one\n2\n3\nfour\n",
        "new/o": b"o", "new/t": b"t",
    }  # fmt: skip
    # Only the merged text blob and the rewritten directories are new.
    assert sorted(obj.kind for obj in result.new_objects.values()) == ["blob", "tree", "tree"]


async def test_merge_with_ancestor_is_a_fast_path(repo: Repo) -> None:
    b, o, _ = await three(repo, {"a": b"1"}, {"a": b"2", "n/m": b"3"}, {})
    for base, ours, theirs, expected in [(b, o, b, o), (b, b, o, o), (b, o, o, o)]:
        result = await merge_trees(repo.src, base, ours, theirs)
        assert result.tree == expected and result.conflicts == [] and result.new_objects == {}


C = Conflict
CONFLICTS: list[tuple[str, Files, Files, Files, Conflict]] = [
    ("modify/modify", {"f": b"1\n"}, {"f": b"2\n"}, {"f": b"3\n"},
     C("f", "modify/modify", h(b"1\n"), h(b"2\n"), h(b"3\n"))),
    ("add/add", {}, {"f": b"2"}, {"f": b"3"}, C("f", "add/add", None, h(b"2"), h(b"3"))),
    ("modify/delete", {"d/f": b"1"}, {"d/f": b"2"}, {"d/f": None},
     C("d/f", "modify/delete", h(b"1"), h(b"2"), None)),
    ("delete/modify", {"d/f": b"1"}, {"d/f": None}, {"d/f": b"3"},
     C("d/f", "delete/modify", h(b"1"), None, h(b"3"))),
    ("dir deleted/modified", {"d/f": b"1", "d/g": b"g"}, {"d": None}, {"d/f": b"3"},
     C("d/f", "delete/modify", h(b"1"), None, h(b"3"))),
    ("file/directory", {}, {"p": b"file"}, {"p/q": b"in dir"},
     C("p", "file/directory", None, h(b"file"), None)),
    ("file changed/replaced by dir", {"p": b"1"}, {"p": b"2"}, {"p": None, "p/q": b"q"},
     C("p", "file/directory", h(b"1"), h(b"2"), None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "base", "ours", "theirs", "expected"), CONFLICTS, ids=[c[0] for c in CONFLICTS]
)
async def test_each_conflict_kind(
    repo: Repo, label: str, base: Files, ours: Files, theirs: Files, expected: Conflict
) -> None:
    b, o, t = await three(repo, base, ours, theirs)
    result = await merge_trees(repo.src, b, o, t)
    assert result.tree is None and result.new_objects == {}
    got = result.conflicts
    assert len(got) == 1
    if expected.kind == "file/directory" and expected.theirs is None:
        got = [Conflict(got[0].path, got[0].kind, got[0].base, got[0].ours, None)]  # theirs is a tree id
    assert got == [expected]
    assert got[0].to_json()["path"] == expected.path
    for strategy, side in (("ours", o), ("theirs", t)):
        r = await merge_trees(repo.src, b, o, t, strategy)  # type: ignore[arg-type]
        assert r.conflicts == [] and r.tree is not None
        await repo.put_many(r.new_objects)
        want = await repo.files(side)
        if label == "dir deleted/modified" and strategy == "theirs":
            want.pop("d/g")  # ours deleted it and theirs left it alone: a clean deletion
        assert await repo.files(r.tree) == want


async def test_strategies_resolve_conflicts_but_keep_clean_changes(repo: Repo) -> None:
    b, o, t = await three(
        repo,
        {"c": b"base", "x": b"1", "y": b"1"},
        {"c": b"ours", "x": b"2"},
        {"c": None, "y": b"2"},
    )
    ours = await merge_trees(repo.src, b, o, t, "ours")
    theirs = await merge_trees(repo.src, b, o, t, "theirs")
    assert ours.tree and theirs.tree
    await repo.put_many({**ours.new_objects, **theirs.new_objects})
    assert await repo.files(ours.tree) == {"c": b"ours", "x": b"2", "y": b"2"}
    assert await repo.files(theirs.tree) == {"x": b"2", "y": b"2"}  # their deletion wins
    with pytest.raises(ValueError):
        await merge_trees(repo.src, b, o, t, "union")  # type: ignore[arg-type]


async def test_conflicts_are_all_reported_sorted(repo: Repo) -> None:
    b, o, t = await three(
        repo,
        {"z": b"1", "a/b": b"1", "m": b"1"},
        {"z": b"2", "a/b": b"2", "m": b"2"},
        {"z": b"3", "a/b": b"3", "m": b"2"},
    )
    result = await merge_trees(repo.src, b, o, t)
    assert [c.path for c in result.conflicts] == ["a/b", "z"]


async def _apply(repo: Repo, root: ObjectId, changes: list[Change]) -> ObjectId:
    new, objs = await apply_changes(repo.src, root, changes)
    await repo.put_many(objs)
    return new


async def test_merge_in_100k_folder_touches_only_changed_buckets(repo: Repo) -> None:
    src = repo.src
    base, _ = await _big_dir(repo, 100_000)
    name = "f{:06d}.md".format
    ours_ch = [Change.put(name(i), b"o") for i in range(0, 2000, 20)] + [
        Change.put(f"o{i}", b"+") for i in range(20)
    ]
    theirs_ch = [Change.put(name(i), b"t") for i in range(10, 2000, 20)] + [
        Change.delete(name(i)) for i in range(5, 185, 2)
    ]
    same = [Change.put(name(3), b"same")]
    ours = await _apply(repo, base, ours_ch + same)
    theirs = await _apply(repo, base, theirs_ch + same)
    src.calls = 0
    result = await merge_trees(src, base, ours, theirs)
    assert result.conflicts == [] and result.tree is not None
    assert src.calls <= 8
    assert await _apply(repo, base, ours_ch + theirs_ch + same) == result.tree  # counts and shape exact
    node = await Reader(src).node(result.tree)
    assert isinstance(node, TNode) and node.count == 100_000 + 20 - 90


@pytest.mark.parametrize("strategy", ["fail", "ours"])
async def test_merge_across_the_split_threshold(repo: Repo, strategy: Strategy) -> None:
    names = [f"n{i}" for i in range(LEAF_MAX + 20)]
    base = await repo.tree({n: b"x" for n in names})
    ours = await repo.tree({n: None for n in names[:15]}, base)
    theirs = await repo.tree({n: None for n in names[15:30]} | {"t": b"t"}, base)
    result = await merge_trees(repo.src, base, ours, theirs, strategy)
    expected = await repo.tree({n: None for n in names[:30]} | {"t": b"t"}, base)
    assert result.tree == expected
    assert not isinstance(await Reader(repo.src).node(expected), TNode)
    # Leaf base against a split side (flattened path), both directions.
    small = await repo.tree({n: None for n in names[:30]}, base)
    grown = await repo.tree({f"g{i}": b"g" for i in range(40)}, small)
    edited = await repo.tree({names[40]: b"edited"}, small)
    r1 = await merge_trees(repo.src, small, grown, edited)
    r2 = await merge_trees(repo.src, small, edited, grown)
    want = await repo.tree({names[40]: b"edited"}, grown)
    assert r1.tree == r2.tree == want


async def _criss_cross(repo: Repo, left: bytes, right: bytes) -> tuple[ObjectId, ObjectId]:
    """x and y edit f; m1 keeps x's f, m2 keeps y's f; a and b build on m1 and m2."""
    root = await repo.commit([], {"f": b"base\n", "g": b"g\n"})
    x = await repo.commit([root], {"f": b"X\n"})
    y = await repo.commit([root], {"f": b"Y\n"})
    m1 = await repo.commit([x, y], tree=x.tree)
    m2 = await repo.commit([y, x], tree=y.tree)
    a = await repo.commit([m1], {"f": left, "a": b"a"})
    b = await repo.commit([m2], {"f": right, "b": b"b"})
    return a.id, b.id


async def test_criss_cross_keeps_inner_conflicts(repo: Repo) -> None:
    a, b = await _criss_cross(repo, b"X\n", b"Y\n")
    result = await merge_commits(repo.src, a, b)
    assert len(result.bases) == 2
    assert result.tree is None
    assert [(c.path, c.kind, c.base) for c in result.conflicts] == [("f", "modify/modify", None)]
    again = await merge_commits(repo.src, a, b)
    assert again == result
    r = await merge_commits(repo.src, a, b, "theirs")
    assert r.tree is not None
    await repo.put_many(r.new_objects)
    assert await repo.files(r.tree) == {"f": b"Y\n", "g": b"g\n", "a": b"a", "b": b"b"}
    # The virtual base (and its marker blob) is not part of what must be written.
    assert all(obj.kind != "blob" for obj in r.new_objects.values())


async def test_criss_cross_agreement_is_clean(repo: Repo) -> None:
    a, b = await _criss_cross(repo, b"same\n", b"same\n")
    result = await merge_commits(repo.src, a, b)
    assert result.conflicts == [] and result.tree is not None
    await repo.put_many(result.new_objects)
    assert await repo.files(result.tree) == {"f": b"same\n", "g": b"g\n", "a": b"a", "b": b"b"}


async def test_merge_commits_without_common_ancestor_uses_empty_base(repo: Repo) -> None:
    a = await repo.commit([], {"a": b"a", "s": b"same"})
    b = await repo.commit([], {"b": b"b", "s": b"same"})
    result = await merge_commits(repo.src, a.id, b.id)
    assert result.bases == [] and result.tree is not None
    await repo.put_many(result.new_objects)
    assert await repo.files(result.tree) == {"a": b"a", "b": b"b", "s": b"same"}
    c = await repo.commit([], {"s": b"other"})
    clash = await merge_commits(repo.src, a.id, c.id)
    assert [(x.path, x.kind) for x in clash.conflicts] == [("s", "add/add")]
    assert EMPTY_TREE not in clash.new_objects


async def test_resolutions_settle_file_directory_and_inner_conflicts(repo: Repo) -> None:
    root = await repo.commit([], {"keep": b"k"})
    ours = await repo.commit([root], {"p": b"a file"})
    theirs = await repo.commit([root], {"p/x": b"x", "p/y": b"y"})
    (conflict,) = (await merge_commits(repo.src, ours.id, theirs.id)).conflicts
    assert (conflict.path, conflict.kind) == ("p", "file/directory")
    for resolution, files in [(Resolution("theirs"), {"p/x": b"x", "p/y": b"y"}),
                              (Resolution("ours"), {"p": b"a file"}),
                              (Resolution("content", b"by hand"), {"p": b"by hand"}),
                              (Resolution("delete"), {})]:
        result = await merge_commits(repo.src, ours.id, theirs.id, resolutions={"p": resolution})
        assert result.conflicts == [] and result.resolved == {"p"} and result.tree is not None
        await repo.put_many(result.new_objects)
        assert await repo.files(result.tree) == {"keep": b"k", **files}
    # A path inside the conflicting folder is not itself a conflict: the resolution is unused.
    unused = await merge_commits(repo.src, ours.id, theirs.id, resolutions={"p/x": Resolution("ours")})
    assert unused.resolved == frozenset() and [c.path for c in unused.conflicts] == ["p"]
    # A conflict inherited from a criss-cross virtual base is settled like any other.
    a, b = await _criss_cross(repo, b"X\n", b"Y\n")
    inner = await merge_commits(repo.src, a, b, resolutions={"f": Resolution("content", b"XY\n")})
    assert inner.tree is not None and inner.resolved == {"f"}
    await repo.put_many(inner.new_objects)
    assert (await repo.files(inner.tree))["f"] == b"XY\n"
