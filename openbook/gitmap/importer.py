"""Pushed git commits as OpenBook commits (the other direction of `export`).

`import_commit` turns the commit a ref is pushed to, and every ancestor the
workspace does not know yet, into OpenBook objects plus the git rows that
map them. It reads the pushed objects and the index, writes nothing, and
refuses (PushRefused, with the message git prints) when the history holds
something OpenBook does not store:

- a path OpenBook rejects (SPEC §5), or a name that is not UTF-8 in NFC;
- a symlink, a submodule, or any mode other than a regular file or a folder;
- a file over `max_file_bytes`;
- an object that is neither in the pack nor known, or one git would call
  malformed (a tree with two entries of one name, say).

A pushed commit becomes the OpenBook commit with the same tree, parents,
message and author (``Name <email>``), made at the author time plus
`objects.fingerprint_us`. An executable bit or an empty folder is not kept
in OpenBook: such a tree's git bytes are recorded (non-canonical) so the
pushed commit is served back unchanged.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dulwich.errors import ObjectFormatException

from openbook.errors import CorruptObject, InvalidPath, PushRefused
from openbook.gitmap.index import GitIndex, GitRow
from openbook.gitmap.objects import (
    FILE_MODES,
    GITLINK_MODE,
    SYMLINK_MODE,
    TREE_MODE,
    GitEntry,
    GitId,
    GitKind,
    GitObject,
    PushedCommit,
    git_id,
    parse_commit,
    parse_tree_payload,
    tree_payload,
)
from openbook.store import dirs
from openbook.store.commits import make_commit
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, Commit, ObjectId, RawObject, TreeEntry, blob
from openbook.store.paths import validate_path
from openbook.store.reader import Reader
from openbook.store.source import ObjectSource, PendingObjects


@dataclass(frozen=True, slots=True)
class Imported:
    """The OpenBook commit a pushed git commit became, with what to write before a head points at it."""

    commit: ObjectId
    objects: dict[ObjectId, RawObject]
    rows: list[GitRow]
    outside: frozenset[ObjectId]
    """Stored objects the new ones name without holding (to check under the gc fence when writing)."""


@dataclass(frozen=True, slots=True)
class _Dir:
    node: ObjectId | None  # None: the folder holds no file (OpenBook keeps no empty folders)
    canonical: GitId  # the git id OpenBook's export gives that node


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _entry_name(raw: bytes, prefix: str) -> str:
    """The entry name as OpenBook text; PushRefused when OpenBook would store another name."""
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        raise PushRefused(f"{_join(prefix, raw.decode('utf-8', 'replace'))}: file names must be UTF-8") from None
    path = _join(prefix, name)
    if "/" in name or not name:
        raise PushRefused(f"{path!r}: malformed tree entry name")
    if not name.isascii() and unicodedata.normalize("NFC", name) != name:
        raise PushRefused(f"{path}: file names must be in Unicode NFC (git config core.precomposeUnicode true)")
    try:
        validate_path(path)
    except InvalidPath as exc:
        raise PushRefused(exc.message) from None
    return name


class _Importer:
    def __init__(self, src: ObjectSource, index: GitIndex, pushed: Mapping[GitId, GitObject],
                 max_file_bytes: int) -> None:
        self.index = index
        self.pushed = pushed
        self.max_file_bytes = max_file_bytes
        self.pending = PendingObjects(src)
        self.reader = Reader(self.pending)
        self.rows: list[GitRow] = []
        self.dirs: dict[GitId, _Dir] = {}
        self.blobs: dict[GitId, tuple[ObjectId, int]] = {}
        self.trees: dict[GitId, list[GitEntry]] = {}  # pushed trees, parsed, in discovery order
        self.outside: set[ObjectId] = set()

    def _pushed(self, gid: GitId, kind: GitKind, what: str) -> GitObject | None:
        obj = self.pushed.get(gid)
        if obj is not None and obj.kind != kind:
            raise PushRefused(f"{what}: {gid} is a {obj.kind}, not a {kind}")
        return obj

    async def commit(self, head: GitId) -> Imported:
        known, new = await self._history(head)
        await self._trees([(c.tree, f"tree of commit {gid}") for gid, c in new.items()])
        stored = {c.id: c for c in await self.reader.commits(list(dict.fromkeys(known.values())))}
        by_git: dict[GitId, Commit] = {g: stored[ob] for g, ob in known.items()}
        for gid in _post_order(list(new), lambda g: [p for p in new[g].parents if p in new]):
            pc = new[gid]
            tree = self.dirs[pc.tree].node
            if tree is None:
                tree = self.pending.add(EMPTY_TREE_OBJECT)
            commit, raw = make_commit(tree, [by_git[p] for p in pc.parents], pc.message, pc.author, pc.created_at)
            self.pending.add(raw)
            by_git[gid] = commit
            obj = self.pushed[gid]
            self.rows.append(GitRow(gid, "commit", commit.id, True, generation=commit.generation,
                                    payload=obj.payload))
        await self._check_unique_commits({by_git[g].id: g for g in new})
        outside = frozenset(self.outside - self.pending.objects.keys())
        return Imported(by_git[head].id, self.pending.objects, self.rows, outside)

    async def _history(self, head: GitId) -> tuple[dict[GitId, ObjectId], dict[GitId, PushedCommit]]:
        """The known commits the new history stands on, and the new commits (pushed, parsed).

        One lookup for the whole history: the pushed commits reachable from
        `head` and the parents they name, whichever the server knows.
        """
        parsed: dict[GitId, PushedCommit] = {}
        boundary: set[GitId] = set()
        stack = [head]
        while stack:
            gid = stack.pop()
            if gid in parsed or gid in boundary:
                continue
            obj = self._pushed(gid, "commit", "history")
            if obj is None:
                boundary.add(gid)
                continue
            try:
                parsed[gid] = parse_commit(gid, obj.payload)
            except ObjectFormatException as exc:
                raise PushRefused(str(exc)) from None
            stack.extend(parsed[gid].parents)
        rows = await self.index.rows([*parsed, *boundary], payloads=False)
        known: dict[GitId, ObjectId] = {}
        new: dict[GitId, PushedCommit] = {}
        stack = [head]
        while stack:
            gid = stack.pop()
            if gid in known or gid in new:
                continue
            row = rows.get(gid)
            if row is not None:
                if row.kind != "commit":
                    raise PushRefused(f"{gid} is a {row.kind}, not a commit")
                known[gid] = row.ob_id
            elif gid in parsed:
                new[gid] = parsed[gid]
                stack.extend(new[gid].parents)
            else:
                raise PushRefused(f"commit {gid} is neither in the pack nor on the server")
        return known, new

    async def _trees(self, roots: list[tuple[GitId, str]]) -> None:
        """Import the trees `roots` (id, what it is, for messages) into `self.dirs`.

        The CPU-bound parts (checking every entry, building OpenBook's
        directories) run in a worker thread: a push of 100,000 files must not
        stall the event loop that serves everyone else.
        """
        outside = await asyncio.to_thread(self._discover, roots)
        await self._outside(outside)
        await asyncio.to_thread(self._build_all)

    def _discover(self, roots: list[tuple[GitId, str]]) -> dict[GitId, tuple[GitKind, str]]:
        """Parse and check every pushed tree under `roots`; what they name that the pack lacks."""
        outside: dict[GitId, tuple[GitKind, str]] = {}
        stack = [(gid, "", what) for gid, what in roots]
        while stack:
            gid, prefix, what = stack.pop()
            if gid in self.trees or gid in outside:
                continue
            obj = self._pushed(gid, "tree", what)
            if obj is None:
                outside[gid] = ("tree", what)
                continue
            self.trees[gid] = entries = self._parse(gid, obj, prefix)
            for e in entries:
                path = _join(prefix, e.name.decode())
                if e.mode == TREE_MODE:
                    stack.append((e.id, path, path))
                elif self._pushed(e.id, "blob", path) is None:
                    outside[e.id] = ("blob", path)
                else:
                    self._pushed_blob(e.id, path)
        return outside

    def _build_all(self) -> None:
        for gid in _post_order([g for g in self.trees if g not in self.dirs], self._pushed_subtrees):
            if gid not in self.dirs:
                self._build(gid)

    def _pushed_subtrees(self, gid: GitId) -> list[GitId]:
        return [e.id for e in self.trees[gid] if e.mode == TREE_MODE and e.id in self.trees]

    def _parse(self, gid: GitId, obj: GitObject, prefix: str) -> list[GitEntry]:
        try:
            entries = parse_tree_payload(obj.payload)
        except ObjectFormatException:
            raise PushRefused(f"tree {gid} ({prefix or 'root'}) is malformed") from None
        seen: set[bytes] = set()
        for e in entries:
            name = _entry_name(e.name, prefix)
            path = _join(prefix, name)
            if e.name in seen:
                raise PushRefused(f"{path}: two entries of one name in tree {gid}")
            seen.add(e.name)
            if e.mode == SYMLINK_MODE:
                raise PushRefused(f"{path}: symlinks are not stored (OpenBook keeps regular files and folders)")
            if e.mode == GITLINK_MODE:
                raise PushRefused(f"{path}: submodules are not stored (OpenBook keeps regular files and folders)")
            if e.mode != TREE_MODE and e.mode not in FILE_MODES:
                raise PushRefused(f"{path}: unsupported git mode {e.mode:o}")
        return entries

    def _pushed_blob(self, gid: GitId, path: str) -> None:
        if gid in self.blobs:
            return
        data = self.pushed[gid].payload
        if len(data) > self.max_file_bytes:
            raise PushRefused(f"{path}: {len(data):,} bytes is over the limit of {self.max_file_bytes:,} bytes"
                              " per file")
        oid = self.pending.add(blob(data))
        self.blobs[gid] = (oid, len(data))
        self.rows.append(GitRow(gid, "blob", oid, True, size=len(data)))

    async def _outside(self, outside: dict[GitId, tuple[GitKind, str]]) -> None:
        """Resolve what the pushed trees reference but the pack lacks: it must be known already."""
        if not outside:
            return
        rows = await self.index.rows(list(outside), payloads=False)
        noncanonical: list[GitRow] = []
        for gid, (kind, what) in outside.items():
            row = rows.get(gid)
            if row is None:
                raise PushRefused(f"{what}: {kind} {gid} is neither in the pack nor on the server")
            if row.kind != kind:
                raise PushRefused(f"{what}: {gid} is a {row.kind}, not a {kind}")
            self.outside.add(row.ob_id)
            if kind == "blob":
                assert row.size is not None
                self.blobs[gid] = (row.ob_id, row.size)
            elif row.canonical:
                self.dirs[gid] = _Dir(None if row.ob_id == EMPTY_TREE else row.ob_id, gid)
            else:
                noncanonical.append(row)
        if noncanonical:
            exported = await self.index.canonical([r.ob_id for r in noncanonical])
            for row in noncanonical:
                if row.ob_id not in exported:
                    raise CorruptObject(f"tree {row.git_id} has no canonical export of {row.ob_id}",
                                        {"id": row.ob_id})
                node = None if row.ob_id == EMPTY_TREE else row.ob_id
                self.dirs[row.git_id] = _Dir(node, exported[row.ob_id])

    def _build(self, gid: GitId) -> None:
        """OpenBook's directory for pushed tree `gid` (its subtrees are built already)."""
        entries: dict[str, TreeEntry] = {}
        export: list[tuple[str, bool, GitId]] = []
        for e in self.trees[gid]:
            name = e.name.decode()
            if e.mode == TREE_MODE:
                sub = self.dirs[e.id]
                if sub.node is not None:
                    entries[name] = TreeEntry(name, "tree", sub.node, None)
                    export.append((name, True, sub.canonical))
            else:
                oid, size = self.blobs[e.id]
                entries[name] = TreeEntry(name, "blob", oid, size)
                export.append((name, False, e.id))
        node, _ = dirs.build(self.pending, 0, entries)
        payload = tree_payload(export)
        canonical = git_id("tree", payload)
        ob = EMPTY_TREE if node is None else node
        if ob == EMPTY_TREE:
            self.pending.add(EMPTY_TREE_OBJECT)
        self.dirs[gid] = _Dir(node, canonical)
        if canonical == gid:
            self.rows.append(GitRow(gid, "tree", ob, True, payload=self.pushed[gid].payload))
        else:
            self.rows.append(GitRow(gid, "tree", ob, False, payload=self.pushed[gid].payload))
            self.rows.append(GitRow(canonical, "tree", ob, True, payload=payload))

    async def _check_unique_commits(self, new: dict[ObjectId, GitId]) -> None:
        taken = await self.index.canonical(list(new))
        for ob, gid in new.items():
            other = taken.get(ob)
            if other is not None and other != gid:
                raise PushRefused(f"commit {gid} would be OpenBook commit {ob}, which is already git commit {other}"
                                  " (amend it to change its time, then push again)")


def _post_order(starts: list[GitId], children: Callable[[GitId], list[GitId]]) -> list[GitId]:
    """Every node reachable from `starts`, each after its children (iterative: histories are deep)."""
    order: list[GitId] = []
    done: set[GitId] = set()
    for start in starts:
        stack: list[tuple[GitId, bool]] = [(start, False)]
        while stack:
            gid, expanded = stack.pop()
            if gid in done:
                continue
            if expanded:
                done.add(gid)
                order.append(gid)
                continue
            stack.append((gid, True))
            stack.extend((c, False) for c in children(gid) if c not in done)
    return order


async def import_commit(src: ObjectSource, index: GitIndex, pushed: Mapping[GitId, GitObject], head: GitId,
                        max_file_bytes: int) -> Imported:
    """Import pushed commit `head` (and its new ancestors) as OpenBook objects and git rows.

    Reads `src` and `index`, writes nothing. Raises PushRefused (see the
    module docstring) and CorruptObject when a known object is missing.
    """
    return await _Importer(src, index, pushed, max_file_bytes).commit(head)
