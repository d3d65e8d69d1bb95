"""The git mapping against the real `git`: same ids as git for the same files, exact round trips.

Everything here is pure (memory object source, `MemoryGitIndex`); git is
the oracle: it computes the ids of the same files and commits, checks the
exported objects with `fsck --strict`, and lists what a fetch must send.
"""

from __future__ import annotations

import os
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from openbook.errors import PushRefused
from openbook.gitmap.export import export_commits
from openbook.gitmap.importer import import_commit
from openbook.gitmap.index import GitRow, MemoryGitIndex
from openbook.gitmap.objects import GitId, GitObject
from openbook.gitmap.pack import read_pack
from openbook.gitmap.sendset import plan_pack
from openbook.store.commits import make_commit
from openbook.store.memory import MemoryObjectSource
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, Commit, ObjectId
from openbook.store.reader import Reader
from openbook.store.trees import Change, apply_changes, iter_files

WHEN = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)
FILES = {
    "README.md": b"# Book\n",
    "a-b.md": b"dash\n",
    "a.b": b"dot\n",
    "a/inner.md": b"inner\n",
    "guide/deep/page.md": b"deep\n",
    "\u00fcber.md": "\u00fc\n".encode(),
    **{f"wide/f{i:03d}.md": f"page {i}\n".encode() for i in range(300)},  # > LEAF_MAX: a split folder
}
AUTHOR_ENV = {"GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "author@example.com",
              "GIT_AUTHOR_DATE": "1700000000 +0200", "GIT_COMMITTER_NAME": "C O Mitter",
              "GIT_COMMITTER_EMAIL": "committer@example.com", "GIT_COMMITTER_DATE": "1700000100 -0530"}


def git(repo: Path, *args: str, env: dict[str, str] | None = None, data: bytes | None = None) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, input=data,
                         env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo), **(env or {})})
    return out.stdout.decode()


def new_repo(path: Path, files: dict[str, bytes]) -> Path:
    git(path.parent, "init", "-q", "-b", "main", str(path))
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def write_loose(repo: Path, objects: dict[GitId, GitObject]) -> None:
    """Store objects in a git repository as loose objects (what git itself reads)."""
    for gid, obj in objects.items():
        path = repo / ".git" / "objects" / gid[:2] / gid[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zlib.compress(b"%s %d\0" % (obj.kind.encode(), len(obj.payload)) + obj.payload))


def all_objects(repo: Path) -> dict[GitId, GitObject]:
    out = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                         check=True, capture_output=True).stdout
    found: dict[GitId, GitObject] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        gid, kind, size = out[pos:header_end].split()
        start = header_end + 1
        found[GitId(gid.decode())] = GitObject(kind.decode(), out[start:start + int(size)])  # type: ignore[arg-type]
        pos = start + int(size) + 1
    return found


async def ob_commit(src: MemoryObjectSource, parent: Commit | None, changes: list[Change], message: str) -> Commit:
    root, objs = await apply_changes(src, parent.tree if parent else EMPTY_TREE, changes)
    src.put_many(objs)
    commit, raw = make_commit(root, [parent] if parent else [], message, "alice", WHEN)
    src.put(raw)
    return commit


def store() -> MemoryObjectSource:
    src = MemoryObjectSource()
    src.put(EMPTY_TREE_OBJECT)
    return src


def payloads(index: MemoryGitIndex, src: MemoryObjectSource, ids: list[GitId]) -> dict[GitId, GitObject]:
    out = {}
    for gid in ids:
        row = index.by_git[gid]
        out[gid] = GitObject("blob", src.objects[row.ob_id].payload) if row.kind == "blob" else row.git_object()
    return out


async def test_export_gives_the_ids_git_gives_the_same_files_and_commits(tmp_path: Path) -> None:
    src, index = store(), MemoryGitIndex()
    first = await ob_commit(src, None, [Change.put(p, d) for p, d in FILES.items()], "first")
    export = await export_commits(src, index, [first.id])
    index.add(export.rows)

    repo = new_repo(tmp_path / "git", FILES)
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").strip()
    assert {r.git_id for r in export.rows if r.kind == "tree" and r.ob_id == first.tree} == {tree}
    ident = {"GIT_AUTHOR_NAME": "alice", "GIT_AUTHOR_EMAIL": "", "GIT_AUTHOR_DATE": "1715938215 +0000",
             "GIT_COMMITTER_NAME": "alice", "GIT_COMMITTER_EMAIL": "", "GIT_COMMITTER_DATE": "1715938215 +0000"}
    assert export.ids[first.id] == git(repo, "commit-tree", tree, "-m", "first", env=ident).strip()

    # One changed file in the split folder: only its path is exported again.
    second = await ob_commit(src, first, [Change.put("wide/f007.md", b"edited\n")], "second")
    again = await export_commits(src, index, [second.id, first.id])
    assert again.ids[first.id] == export.ids[first.id]
    assert sorted(r.kind for r in again.rows) == ["blob", "commit", "tree", "tree"]
    index.add(again.rows)
    (repo / "wide/f007.md").write_bytes(b"edited\n")
    git(repo, "add", "-A")
    tree2 = git(repo, "write-tree").strip()
    assert again.ids[second.id] == git(repo, "commit-tree", tree2, "-p", export.ids[first.id], "-m", "second",
                                       env=ident).strip()
    # The exported objects themselves pass git's strictest check.
    write_loose(repo, payloads(index, src, list(index.by_git)))
    git(repo, "update-ref", "refs/heads/main", again.ids[second.id])
    git(repo, "fsck", "--strict", "--no-dangling")


async def test_a_pushed_history_round_trips_byte_for_byte(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "git", {"index.md": b"# Home\n", "guide/intro.md": b"intro\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start", env=AUTHOR_ENV)
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "tools").mkdir()
    (repo / "tools/build.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (repo / "tools/build.sh").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a script\n\nwith a body", env=AUTHOR_ENV)
    git(repo, "checkout", "-q", "main")
    (repo / "guide/intro.md").write_bytes(b"intro, edited\n")
    git(repo, "commit", "-q", "-am", "edit", env=AUTHOR_ENV)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side", env=AUTHOR_ENV)
    head = GitId(git(repo, "rev-parse", "HEAD").strip())
    pushed = all_objects(repo)

    src, index = store(), MemoryGitIndex()
    imported = await import_commit(src, index, pushed, head, max_file_bytes=1 << 20)
    src.put_many(imported.objects)
    index.add(imported.rows)

    merge = await Reader(src).commit(imported.commit)
    assert merge.author == "A U Thor <author@example.com>" and merge.message == "merge side"
    assert merge.created_at.timestamp() // 1 == 1700000000 and len(merge.parents) == 2
    files = {p: (await Reader(src).blob(e.hash)) for p, e in await iter_files(src, merge.tree)}
    assert files == {"index.md": b"# Home\n", "guide/intro.md": b"intro, edited\n",
                     "tools/build.sh": b"#!/bin/sh\necho hi\n"}
    # The executable bit is not OpenBook's: that tree (and the roots above it) keep their pushed bytes.
    tools = git(repo, "rev-parse", "HEAD:tools").strip()
    assert index.by_git[GitId(tools)].canonical is False
    assert (await export_commits(src, index, [imported.commit])).ids[imported.commit] == head

    plan = await plan_pack(index, [head], [])
    sent = {**plan.objects, **{g: GitObject("blob", src.objects[ob].payload) for g, ob in plan.blobs.items()}}
    expected = {line.split()[0] for line in git(repo, "rev-list", "--objects", "--all").splitlines()}
    assert set(sent) == expected
    assert all(sent[g] == pushed[g] for g in expected)

    # An OpenBook commit on top: its parent is the pushed commit, and a fetch sends only the change.
    top = await ob_commit(src, merge, [Change.put("guide/intro.md", b"from the API\n")], "api edit")
    export = await export_commits(src, index, [top.id])
    index.add(export.rows)
    new_head = export.ids[top.id]
    plan = await plan_pack(index, [new_head], [head])
    write_loose(repo, {**plan.objects, **{g: GitObject("blob", src.objects[ob].payload)
                                           for g, ob in plan.blobs.items()}})
    git(repo, "update-ref", "refs/heads/main", new_head)
    git(repo, "fsck", "--strict", "--no-dangling")
    listed = git(repo, "rev-list", "--objects", new_head, f"^{head}").splitlines()
    assert set(plan.order) == {line.split()[0] for line in listed}
    assert git(repo, "show", "--format=%an|%P", "-s", new_head).strip() == f"alice|{head}"


@pytest.mark.parametrize("case, expect", [
    ("symlink", "link.md: symlinks are not stored"),
    ("submodule", "vendor: submodules are not stored"),
    ("backslash", "backslash not allowed"),
    ("nfd", "NFC"),
    ("large", "big.bin: 2,048 bytes is over the limit of 1,024 bytes per file"),
    ("missing", "is neither in the pack nor on the server"),
])
async def test_refused_content_names_the_path(tmp_path: Path, case: str, expect: str) -> None:
    repo = new_repo(tmp_path / "git", {"ok.md": b"fine\n"})
    if case == "symlink":
        (repo / "link.md").symlink_to("ok.md")
    elif case == "backslash":
        (repo / "a\\b.md").write_bytes(b"x\n")
    elif case == "nfd":
        (repo / "u\u0308ber.md").write_bytes(b"x\n")
    elif case == "large":
        (repo / "big.bin").write_bytes(b"x" * 2048)
    git(repo, "add", "-A")
    if case == "submodule":
        git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor")
    git(repo, "commit", "-q", "-m", "bad", env=AUTHOR_ENV)
    head = GitId(git(repo, "rev-parse", "HEAD").strip())
    pushed = all_objects(repo)
    if case == "missing":
        pushed.pop(GitId(git(repo, "rev-parse", "HEAD:ok.md").strip()))
    with pytest.raises(PushRefused) as refused:
        await import_commit(store(), MemoryGitIndex(), pushed, head, max_file_bytes=1024)
    assert expect in refused.value.message


async def test_packs_are_read_whole_or_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "git", {"a.md": b"one\n" * 100})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one", env=AUTHOR_ENV)
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "a.md").write_bytes(b"one\n" * 100 + b"two\n")
    git(repo, "commit", "-q", "-am", "two", env=AUTHOR_ENV)
    pushed = all_objects(repo)

    def pack(*revs: str, thin: bool = False) -> bytes:
        args = ["git", "-C", str(repo), "pack-objects", "--stdout", "--revs", *(["--thin"] if thin else [])]
        return subprocess.run(args, input="\n".join(revs).encode() + b"\n", check=True,
                              capture_output=True).stdout

    def nothing(gid: GitId) -> GitObject | None:
        return None

    limits = {"max_object_bytes": 1 << 20, "max_total_bytes": 1 << 22}
    full = pack("HEAD")
    assert read_pack(full, resolve_base=nothing, **limits) == pushed
    thin = pack("HEAD", f"^{base}", thin=True)
    got = read_pack(thin, resolve_base=pushed.get, **limits)
    assert got and all(pushed[g] == o for g, o in got.items())
    for bad, why in [(full[:-7], "checksum"), (b"PACK" + b"\0" * 40, "pack"), (b"garbage", "not a git pack"),
                     (thin, "deltas against objects the server does not have")]:
        with pytest.raises(PushRefused, match=why):
            read_pack(bad, resolve_base=nothing, **limits)
    with pytest.raises(PushRefused, match="over the limit"):
        read_pack(full, resolve_base=nothing, max_object_bytes=100, max_total_bytes=1 << 22)


def test_rows_keep_one_canonical_id_per_object() -> None:
    index = MemoryGitIndex()
    index.add([GitRow(GitId("1" * 40), "blob", ObjectId("a" * 64), True, size=1)])
    with pytest.raises(ValueError, match="already has canonical git id"):
        index.add([GitRow(GitId("2" * 40), "blob", ObjectId("a" * 64), True, size=1)])
