from __future__ import annotations

import random

import pytest

from openbook.errors import CorruptObject, InvalidPath, NotFound
from openbook.store import dirs
from openbook.store.objects import EMPTY_TREE, LEAF_MAX, Leaf, ObjectId, TNode, TreeEntry, blob, decode_node
from openbook.store.reader import Reader
from openbook.store.source import PendingObjects
from openbook.store.trees import Change, apply_changes, list_dir, lookup, read_blob

from .conftest import Repo


async def test_put_read_list(repo: Repo) -> None:
    root = await repo.tree({"index.md": b"# hi\n", "docs/a.md": b"a", "docs/sub/b.md": b"bb"})
    assert await read_blob(repo.src, root, "docs/sub/b.md") == b"bb"
    entry = await lookup(repo.src, root, "docs/a.md")
    assert entry is not None and entry.kind == "blob" and entry.size == 1 and entry.hash == blob(b"a").id
    assert (await lookup(repo.src, root, "docs")).kind == "tree"  # type: ignore[union-attr]
    assert await lookup(repo.src, root, "nope/x") is None
    assert await lookup(repo.src, root, "index.md/x") is None
    assert [p for p, _ in await list_dir(repo.src, root)] == ["docs", "index.md"]
    assert [p for p, _ in await list_dir(repo.src, root, "docs")] == ["docs/a.md", "docs/sub"]
    assert [p for p, _ in await list_dir(repo.src, root, "", recursive=True)] == [
        "docs", "docs/a.md", "docs/sub", "docs/sub/b.md", "index.md",
    ]  # fmt: skip
    for bad in ("index.md", "missing"):
        with pytest.raises(NotFound):
            await list_dir(repo.src, root, bad)
    for bad in ("docs", "missing.md"):
        with pytest.raises(NotFound):
            await read_blob(repo.src, root, bad)
    with pytest.raises(InvalidPath):
        await read_blob(repo.src, root, "../x")


async def test_same_content_same_hash_and_unchanged_tree_keeps_hash(repo: Repo) -> None:
    a = await repo.tree({"x/1": b"1", "y/2": b"2"})
    b = await repo.tree({"y/2": b"2", "x/1": b"1"})
    assert a == b
    assert await repo.tree({"x/1": b"1"}, a) == a  # rewriting identical content


async def test_deletes_and_empty_directories_vanish(repo: Repo) -> None:
    root = await repo.tree({"a/b/c.md": b"c", "a/d.md": b"d"})
    root2 = await repo.tree({"a/b/c.md": None}, root)
    assert root2 == await repo.tree({"a/d.md": b"d"})
    assert await repo.tree({"a/d.md": None}, root2) == EMPTY_TREE
    # deleting a directory removes everything under it
    assert await repo.tree({"a": None}, root) == EMPTY_TREE


async def test_delete_missing_raises_not_found_naming_the_path(repo: Repo) -> None:
    root = await repo.tree({"a/b.md": b"b"})
    for missing in ("a/c.md", "z/y.md", "a/b.md/c"):
        with pytest.raises((NotFound, InvalidPath)) as e:
            await apply_changes(repo.src, root, [Change.delete(missing)])
        assert e.value.details["path"] in (missing, "a/b.md/c")
    with pytest.raises(NotFound) as nf:
        await apply_changes(repo.src, root, [Change.delete("a/c.md")])
    assert nf.value.details == {"path": "a/c.md"} and "a/c.md" in nf.value.message


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ([Change.put("a/b.md/c", b"x")], "a/b.md/c"),  # under a file
        ([Change.put("a", b"x")], "a"),  # over a directory
        ([Change.put("n", b"x"), Change.put("n/m", b"y")], "n/m"),  # clash inside the batch
        ([Change.put("a/new", b"x"), Change.put("a/new", b"y")], "a/new"),  # twice
        ([Change.put("a/../x", b"x")], "a/../x"),
    ],
)
async def test_file_directory_clashes_raise_invalid_path(
    repo: Repo, changes: list[Change], named: str
) -> None:
    root = await repo.tree({"a/b.md": b"b"})
    with pytest.raises(InvalidPath) as e:
        await apply_changes(repo.src, root, changes)
    assert e.value.details["path"] == named


async def test_replace_file_by_directory_in_one_commit(repo: Repo) -> None:
    root = await repo.tree({"a/b.md": b"b"})
    root2 = await repo.tree({"a/b.md": None, "a/b.md/inner": b"i"}, root)
    assert await repo.files(root2) == {"a/b.md/inner": b"i"}
    # A directory becomes a file only after it was deleted (one path, one change per commit).
    with pytest.raises(InvalidPath):
        await apply_changes(repo.src, root2, [Change.delete("a"), Change.put("a", b"file now")])
    root3 = await repo.tree({"a": b"file now"}, await repo.tree({"a": None}, root2))
    assert await repo.files(root3) == {"a": b"file now"}


async def test_k_changes_write_k_times_depth_objects(repo: Repo) -> None:
    files = {
        f"d{i}/e{j}/f{k}.md": b"%d%d%d" % (i, j, k) for i in range(10) for j in range(10) for k in range(10)
    }
    root = await repo.tree(files)
    changes = [Change.put(f"d{i}/e{i}/f0.md", b"new %d" % i) for i in range(3)]
    calls = repo.src.calls
    new_root, objs = await apply_changes(repo.src, root, changes)
    kinds = sorted(o.kind for o in objs.values())
    assert kinds.count("blob") == 3
    assert kinds.count("tree") == 3 * 2 + 1  # each e-dir, each d-dir, the root
    assert repo.src.calls - calls <= 4  # one batched read per tree level
    await repo.put_many(objs)
    assert (await repo.files(new_root))["d2/e2/f0.md"] == b"new 2"


def _fake_entries(n: int, prefix: str = "f") -> dict[str, TreeEntry]:
    out = {}
    for i in range(n):
        name, content = f"{prefix}{i:06d}.md", b"%d" % i
        out[name] = TreeEntry(name, "blob", blob(content).id, len(content))
    return out


async def _big_dir(repo: Repo, n: int) -> tuple[ObjectId, dict[str, TreeEntry]]:
    """A root holding `n` files directly (entries point at blobs that need not exist)."""
    pending = PendingObjects(repo.src)
    entries = _fake_entries(n)
    ref, count = dirs.build(pending, 0, entries)
    assert ref is not None and count == n
    await repo.put_many(pending.objects)
    return ref, entries


async def test_one_edit_in_100k_folder_rewrites_a_few_nodes(repo: Repo) -> None:
    src = repo.src
    root, _ = await _big_dir(repo, 100_000)
    src.calls = 0
    new_root, objs = await apply_changes(src, root, [Change.put("f000042.md", b"changed")])
    assert sorted(o.kind for o in objs.values()) == ["blob", "tnode", "tnode", "tree"]
    assert src.calls <= 3  # root tnode, one inner tnode, one leaf
    await repo.put_many(objs)
    assert await read_blob(src, new_root, "f000042.md") == b"changed"
    node = await Reader(src).node(new_root)
    assert isinstance(node, TNode) and node.count == 100_000
    added, objs = await apply_changes(src, new_root, [Change.put("zzz.md", b"z")])
    await repo.put_many(objs)
    assert len(objs) <= 5
    assert isinstance(n := await Reader(src).node(added), TNode) and n.count == 100_001


async def test_split_is_history_independent_across_the_threshold(repo: Repo) -> None:
    rng = random.Random(7)
    names = [f"p{i}.md" for i in range(LEAF_MAX + 40)]
    at_once = await repo.tree({n: n.encode() for n in names})
    node = await Reader(repo.src).node(at_once)
    assert isinstance(node, TNode) and node.count == len(names)
    # Grow in shuffled batches, with detours through extra files that are deleted again.
    order = names[:]
    rng.shuffle(order)
    root = EMPTY_TREE
    for i in range(0, len(order), 37):
        batch: dict[str, bytes | None] = {n: n.encode() for n in order[i : i + 37]}
        batch[f"tmp{i}.md"] = b"t"
        root = await repo.tree(batch, root)
        root = await repo.tree({f"tmp{i}.md": None}, root)
    assert root == at_once
    # Shrink below the threshold and back: the leaf form returns.
    small = await repo.tree({n: None for n in names[LEAF_MAX - 10 :]}, at_once)
    assert small == await repo.tree({n: n.encode() for n in names[: LEAF_MAX - 10]})
    assert not isinstance(await Reader(repo.src).node(small), TNode)
    assert await repo.tree({n: n.encode() for n in names[LEAF_MAX - 10 :]}, small) == at_once


async def test_deep_split_history_independence(repo: Repo) -> None:
    src = repo.src
    root, entries = await _big_dir(repo, 9000)  # depth-1 buckets hold ~281 > LEAF_MAX entries
    names = sorted(entries)
    rng = random.Random(3)
    removed = rng.sample(names, 800)
    cur = root
    for chunk in range(0, 800, 200):
        cur, objs = await apply_changes(src, cur, [Change.delete(n) for n in removed[chunk : chunk + 200]])
        await repo.put_many(objs)
    pending = PendingObjects(src)
    expected, _ = dirs.build(pending, 0, {n: e for n, e in entries.items() if n not in set(removed)})
    assert cur == expected
    back, objs = await apply_changes(src, cur, [Change.put(n, b"%d" % int(n[1:7])) for n in removed])
    await repo.put_many(objs)
    assert back == root


async def test_missing_object_is_corruption(repo: Repo) -> None:
    root, objs = await apply_changes(repo.src, EMPTY_TREE, [Change.put("a/b.md", b"b")])
    top = decode_node(root, objs[root])
    assert isinstance(top, Leaf)
    await repo.put_many({oid: obj for oid, obj in objs.items() if oid != top.entries["a"].hash})
    with pytest.raises(CorruptObject):
        await read_blob(repo.src, root, "a/b.md")
    with pytest.raises(CorruptObject):
        await apply_changes(repo.src, root, [Change.put("a/c.md", b"c")])


async def test_a_page_of_a_split_directory_in_stored_order(repo: Repo) -> None:
    from openbook.store import dirs
    from openbook.store.reader import Reader
    from openbook.store.trees import lookup

    names = [f"f{i:05d}" for i in range(3000)]
    root = await repo.tree({f"big/{n}": b"x" for n in names})
    folder = await lookup(repo.src, root, "big")
    assert folder is not None
    seen: list[str] = []
    for start in range(0, 3000, 700):
        entries, total = await dirs.page(Reader(repo.src), folder.hash, start, 700)
        assert total == 3000 and len(entries) == min(700, 3000 - start)
        seen.extend(e.name for e in entries)
    assert sorted(seen) == names and len(set(seen)) == 3000  # every entry once, pages do not overlap
    assert await dirs.page(Reader(repo.src), folder.hash, 3000, 10) == ([], 3000)
    small = await repo.tree({"a": b"1", "c": b"2", "b": b"3"})
    entries, total = await dirs.page(Reader(repo.src), small, 1, 5)
    assert [e.name for e in entries] == ["b", "c"] and total == 3
