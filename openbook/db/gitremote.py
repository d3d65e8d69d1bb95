"""One workspace as a git remote (SPEC §12): its refs, what a fetch sends, and pushes.

Every branch is `refs/heads/<name>` at the git id of its head (exported on
demand, `openbook.gitmap.export`). A push updates each ref on its own:

1. import the pushed history (`openbook.gitmap.importer`), writing nothing;
2. check the update: the ref's old id must be the branch's current git id
   (the client saw it), and the new commit must descend from it (no
   rewrite of history, not even with `--force`);
3. write the OpenBook objects and the git rows in one transaction;
4. move the head by compare-and-swap in another, with an audit row
   (`branch.pushed`, `via: git`) and what a head move sets off (deploy on
   push, previews, webhooks: `ContentRepository.advance`).

A workspace's `main` starts at a bare root commit (no parents, no files); a
branch still there is not shown to git, so a new workspace clones as an empty
repository and an existing history can be pushed into it (as a new branch,
which replaces the bare root).

A refused ref changes nothing: before step 3 nothing is written, and what
step 3 wrote is unreachable if step 4 loses its race (`openbook gc` takes it).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from openbook.db import gclock
from openbook.db.content import ContentRepository, Notifier
from openbook.db.database import Database
from openbook.db.gitobjects import WRITE_BATCH, PgGitIndex, write_rows
from openbook.db.objects import write_objects
from openbook.db.previews import Preview
from openbook.errors import AlreadyExists, Conflict, InvalidRef, MergeConflict, NotFound, PushRefused
from openbook.gitmap.export import export_commits
from openbook.gitmap.importer import Imported, import_commit
from openbook.gitmap.objects import ZERO_ID, GitId, GitObject
from openbook.gitmap.sendset import PackPlan, plan_pack
from openbook.store.commits import is_ancestor
from openbook.store.objects import EMPTY_TREE, Commit, ObjectId, RawObject, decode_commit
from openbook.store.paths import validate_branch_name
from openbook.store.reader import Reader
from openbook.store.source import PendingObjects

BRANCH_PREFIX = "refs/heads/"
FETCH_FIRST = "fetch first: the branch moved on the server since you fetched (git pull, then push again)"


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """One command of a push: move `ref` from `old` to `new` (ZERO_ID: create or delete)."""

    ref: str
    old: GitId
    new: GitId


@dataclass(slots=True)
class PushOutcome:
    """Per ref, None (updated) or the reason git shows; the previews that deleted branches took along."""

    results: list[tuple[str, str | None]] = field(default_factory=list)
    removed_previews: list[Preview] = field(default_factory=list)


def _generation(obj: RawObject) -> int:
    return decode_commit(ObjectId(""), obj).generation if obj.kind == "commit" else 0


def _bare_root(commit: Commit) -> bool:
    return not commit.parents and commit.tree == EMPTY_TREE


def branch_of(ref: str) -> str:
    """The branch a pushed ref names; PushRefused for anything but a valid `refs/heads/<name>`."""
    if not ref.startswith(BRANCH_PREFIX):
        raise PushRefused(f"{ref}: only branches (refs/heads/*) are kept by OpenBook")
    try:
        return validate_branch_name(ref[len(BRANCH_PREFIX):])
    except InvalidRef as exc:
        raise PushRefused(exc.message) from None


@dataclass(frozen=True, slots=True)
class Synced:
    """What a mirror sync did to its branch: `outcome` and the commit the branch (or the conflict branch) got."""

    outcome: Literal["created", "fast-forward", "merged", "up-to-date", "conflict"]
    commit: ObjectId
    conflict_branch: str | None = None


CONFLICT_PREFIX = "sync-conflict/"
MAX_SYNC_ATTEMPTS = 20


class GitRemote:
    """The git side of one workspace; `notify` hears of deployments that pushes queue.

    `via` names the door in audit rows and events: `git` (pushes) or `mirror` (syncs).
    """

    def __init__(self, db: Database, workspace_id: uuid.UUID, *, notify: Notifier, via: str = "git") -> None:
        self.content = ContentRepository(db, workspace_id, notify=notify, via=via)
        self.src = self.content.src
        self.index = PgGitIndex(db, workspace_id)

    async def refs(self) -> dict[str, GitId]:
        """Branch name → git id of its head, exporting heads that are new since the last call.

        A branch still at a bare root (no parents, no files: how every
        workspace's `main` starts) is left out, so a new workspace looks like
        an empty repository and any history can be pushed into it.
        """
        branches = await self.content.branches()
        heads = await Reader(self.src).commits([ObjectId(b.head) for b in branches])
        shown = [b for b, c in zip(branches, heads, strict=True) if not _bare_root(c)]
        export = await export_commits(self.src, self.index, [ObjectId(b.head) for b in shown])
        await self.index.record(export.rows)
        return {b.name: export.ids[ObjectId(b.head)] for b in shown}

    async def commits_known(self, ids: Collection[GitId]) -> set[GitId]:
        """The ids among `ids` that are commits of this workspace."""
        rows = await self.index.rows(ids, payloads=False)
        return {g for g, r in rows.items() if r.kind == "commit"}

    async def object(self, gid: GitId) -> GitObject | None:
        """The git object `gid`, or None when the workspace has no such object."""
        row = (await self.index.rows([gid], payloads=True)).get(gid)
        if row is None:
            return None
        if row.kind != "blob":
            return row.git_object()
        data = await self.blobs([row.ob_id])
        return GitObject("blob", data[row.ob_id]) if row.ob_id in data else None

    async def plan(self, wants: Sequence[GitId], haves: Sequence[GitId], shallow: Collection[GitId],
                   client_shallow: Collection[GitId]) -> PackPlan:
        return await plan_pack(self.index, wants, haves, shallow, client_shallow)

    async def blobs(self, ob_ids: Collection[ObjectId]) -> dict[ObjectId, bytes]:
        """The bytes of OpenBook blobs (absent ids are left out)."""
        found = await self.src.get_many(ob_ids)
        return {oid: raw.payload for oid, raw in found.items() if raw.kind == "blob"}

    async def push(self, updates: Sequence[RefUpdate], pushed: Mapping[GitId, GitObject], actor: str,
                   max_file_bytes: int) -> PushOutcome:
        """Apply each ref update on its own (see the module docstring); refusals are per ref, as data."""
        outcome = PushOutcome()
        for update in updates:
            try:
                await self._update(update, pushed, actor, max_file_bytes, outcome)
            except (PushRefused, NotFound) as exc:  # NotFound: a commit it builds on was collected meanwhile
                outcome.results.append((update.ref, exc.message))
            else:
                outcome.results.append((update.ref, None))
        return outcome

    async def _head(self, name: str) -> tuple[ObjectId | None, GitId | None]:
        """The branch's head and its git id (None when the head was not exported: not what a client saw)."""
        try:
            head = ObjectId((await self.content.branch(name)).head)
        except NotFound:
            return None, None
        return head, (await self.index.canonical([head])).get(head)

    async def _update(self, update: RefUpdate, pushed: Mapping[GitId, GitObject], actor: str,
                      max_file_bytes: int, outcome: PushOutcome) -> None:
        name = branch_of(update.ref)
        head, head_git = await self._head(name)
        if update.new == ZERO_ID:
            if head is None:
                raise PushRefused("no such branch")
            if head_git != update.old:
                raise PushRefused(FETCH_FIRST)
            try:
                outcome.removed_previews += await self.content.delete_branch(name, actor, expected_head=head)
            except Conflict as exc:  # a site's own branch, or moved meanwhile
                raise PushRefused(exc.message if type(exc) is Conflict else FETCH_FIRST) from None
            return
        imported = await import_commit(self.src, self.index, pushed, update.new, max_file_bytes)
        if update.old == ZERO_ID and head is not None:
            if not _bare_root(await self.content.load_commit(head)):
                raise PushRefused(f"branch {name!r} already exists: fetch first")
            # Not shown to git (see `refs`): nothing to lose, the pushed history replaces it.
            await self._store(imported)
            if not await self.content.advance(name, head, imported.commit, "branch.pushed", actor,
                                              self._details(head, imported, update)):
                raise PushRefused(FETCH_FIRST)
            return
        if update.old == ZERO_ID:
            await self._store(imported)
            try:
                await self.content.create_branch(name, imported.commit, actor)
            except AlreadyExists:
                raise PushRefused(f"branch {name!r} already exists: fetch first") from None
            return
        if head is None:
            raise PushRefused(f"branch {name!r} does not exist any more: fetch first")
        if head_git != update.old:
            raise PushRefused(FETCH_FIRST)
        overlay = PendingObjects(self.src)
        overlay.objects.update(imported.objects)
        if not await is_ancestor(overlay, head, imported.commit):
            raise PushRefused("non-fast-forward: OpenBook never rewrites a branch's history, --force or not"
                              " (git pull, then push again; or push to a new branch)")
        await self._store(imported)
        if not await self.content.advance(name, head, imported.commit, "branch.pushed", actor,
                                          self._details(head, imported, update)):
            raise PushRefused(FETCH_FIRST)

    async def sync_branch(self, branch: str, external: GitId, pushed: Mapping[GitId, GitObject], actor: str,
                          max_file_bytes: int, source: str) -> Synced:
        """Bring `branch` to the external commit `external` (fetched into `pushed`) without losing local work.

        The branch is created, or fast-forwarded, when it has nothing the
        external history lacks; when both sides moved, the external commit is
        merged in; when that merge conflicts, the branch is left as it is and
        the external commit lands on a new branch `sync-conflict/<n>`.
        Raises PushRefused when the external history holds what OpenBook
        does not store (the branch unchanged).
        """
        imported = await import_commit(self.src, self.index, pushed, external, max_file_bytes)
        await self._store(imported)
        new = imported.commit
        details = {"source": source, "git_after": external}
        for _ in range(MAX_SYNC_ATTEMPTS):
            head, _ = await self._head(branch)
            if head is None:
                try:
                    await self.content.create_branch(branch, new, actor)
                except AlreadyExists:
                    continue
                return Synced("created", new)
            if head == new or await is_ancestor(self.src, new, head):
                return Synced("up-to-date", head)
            if _bare_root(await self.content.load_commit(head)) or await is_ancestor(self.src, head, new):
                if await self.content.advance(branch, head, new, "branch.mirrored", actor,
                                              {**details, "before": head, "after": new}):
                    return Synced("fast-forward", new)
                continue
            try:
                merged = await self.content.merge(new, branch, f"Merge {source} into {branch}", "fail", actor)
            except MergeConflict:
                return Synced("conflict", new, await self._conflict_branch(new, actor))
            return Synced("merged", merged.commit.id)
        raise Conflict(f"branch {branch!r} is too busy: gave up after {MAX_SYNC_ATTEMPTS} attempts")

    async def _conflict_branch(self, commit: ObjectId, actor: str) -> str:
        taken = [b.name[len(CONFLICT_PREFIX):] for b in await self.content.branches()
                 if b.name.startswith(CONFLICT_PREFIX)]
        n = max((int(t) for t in taken if t.isdigit()), default=0)
        while True:
            n += 1
            try:
                await self.content.create_branch(f"{CONFLICT_PREFIX}{n}", commit, actor)
            except AlreadyExists:
                continue
            return f"{CONFLICT_PREFIX}{n}"

    @staticmethod
    def _details(head: ObjectId, imported: Imported, update: RefUpdate) -> dict[str, Any]:
        commits = sum(1 for r in imported.rows if r.kind == "commit")
        return {"before": head, "after": imported.commit, "git_before": update.old, "git_after": update.new,
                "commits": commits}

    async def _store(self, imported: Imported) -> None:
        """Objects and rows in one transaction, in statements of `WRITE_BATCH` (each under the timeout)."""
        # Commits last, parents first: each statement's commits find their parents stored.
        order = sorted(imported.objects.items(), key=lambda item: (item[1].kind == "commit", _generation(item[1])))
        outside = list(imported.outside)
        async with self.content.db.transaction(self.content.scope) as tx:
            for start in range(0, len(order), WRITE_BATCH):
                await write_objects(tx, dict(order[start:start + WRITE_BATCH]))  # takes the gc fence (shared)
            await gclock.hold_shared(tx)
            # What the push names without sending must not have been collected since it was looked up.
            for start in range(0, len(outside), WRITE_BATCH):
                await gclock.require_stored(tx, outside[start:start + WRITE_BATCH], "object")
            for start in range(0, len(imported.rows), WRITE_BATCH):
                await write_rows(tx, imported.rows[start:start + WRITE_BATCH])
