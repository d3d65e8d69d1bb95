"""Content operations of one workspace: the pure store core wired to PostgreSQL.

Every write follows the same shape: read the head, compute the new objects
without holding a connection or a lock, write the objects idempotently, then
move the head by compare-and-swap in one short transaction that also writes
the audit row. Without `expected_head`, a lost race re-applies the request on
the new head (bounded, with jittered backoff).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from openbook.db import audit, gclock, triggers, webhooks
from openbook.db.branches import (
    Branch,
    branch_head,
    compare_and_swap_head,
    get_branch,
    insert_branch,
    list_branches,
)
from openbook.db.database import Database, Tx
from openbook.db.deployments import Queued, condition, preview_target
from openbook.db.idempotency import OnEffect, no_effect_hook
from openbook.db.objects import PgObjectSource, write_objects
from openbook.db.previews import Preview
from openbook.db.previews import remove_branch as remove_previews
from openbook.db.scopes import Tenant
from openbook.errors import Conflict, CorruptObject, InvalidRequest, MergeConflict, NotFound, StaleHead
from openbook.store.commits import is_ancestor, log, make_commit
from openbook.store.diff import DiffEntry, diff_trees
from openbook.store.merge import Resolution, merge_commits
from openbook.store.objects import Commit, ObjectId, RawObject, TreeEntry, decode_commit
from openbook.store.paths import is_commit_id, validate_branch_name, validate_dir_path, validate_path
from openbook.store.trees import Change, apply_changes, list_dir, lookup

MAX_ATTEMPTS = 200
Strategy = Literal["fail", "ours", "theirs"]


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    result: Literal["merged", "up_to_date"]
    commit: Commit


def commit_json(c: Commit) -> dict[str, Any]:
    return {
        "id": c.id,
        "tree": c.tree,
        "parents": list(c.parents),
        "message": c.message,
        "author": c.author,
        "created_at": c.created_at.isoformat(),
    }


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(0.002 * 2 ** min(attempt, 6), 0.1)))


def _check_resolutions_used(resolutions: Mapping[str, Resolution], resolved: frozenset[str]) -> None:
    unused = sorted(set(resolutions) - resolved)
    if unused:
        raise InvalidRequest(
            f"resolutions name path(s) that do not conflict in this merge: {', '.join(unused)}",
            {"field": "resolutions", "paths": unused})


class Notifier(Protocol):
    """Told, after COMMIT, of the deployments a head move queued (the API XADDs them at once)."""

    async def __call__(self, queued: list[Queued]) -> None: ...


async def _nobody(queued: list[Queued]) -> None:
    """The outbox relay sends them within a second or two."""


class ContentRepository:
    """Branches, commits, trees, diffs and merges of one workspace.

    Every head move also queues, in its own transaction, the deployments and
    webhook deliveries it sets off (`openbook.db.triggers`); `notify` hears of the
    deployments after COMMIT. `via` says which door the change came through
    (`api`, `git`) in audit rows and events.
    """

    def __init__(self, db: Database, workspace_id: uuid.UUID, *, notify: Notifier = _nobody,
                 via: str = "api") -> None:
        self.db = db
        self.workspace_id = workspace_id
        self.scope = Tenant(workspace_id)
        self.src = PgObjectSource(db, workspace_id)
        self.notify = notify
        self.via = via

    async def load_commit(self, commit_id: str) -> Commit:
        if not is_commit_id(commit_id):
            raise NotFound(f"commit {commit_id!r} does not exist", {"commit": commit_id})
        oid = ObjectId(commit_id)
        raw = (await self.src.get_many([oid])).get(oid)
        if raw is None or raw.kind != "commit":
            raise NotFound(f"commit {commit_id!r} does not exist", {"commit": commit_id})
        return decode_commit(oid, raw)

    async def resolve_ref(self, ref: str) -> Commit:
        """A branch name (preferred) or a full commit id; NotFound otherwise."""
        if not ref or len(ref) > 200:
            raise NotFound(f"ref {ref!r} does not exist", {"ref": ref})
        async with self.db.transaction(self.scope, readonly=True) as tx:
            head = await branch_head(tx, ref)
        if head is not None:
            return await self.load_commit(head)
        if is_commit_id(ref):
            return await self.load_commit(ref)
        raise NotFound(f"ref {ref!r} is neither a branch nor a commit", {"ref": ref})

    async def branches(self) -> list[Branch]:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            return await list_branches(tx)

    async def branch(self, name: str) -> Branch:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            return await get_branch(tx, name)

    async def create_branch(self, name: str, start: str, actor: str,
                            on_effect: OnEffect[Branch] = no_effect_hook) -> Branch:
        validate_branch_name(name)
        head = await self.resolve_ref(start)
        async with self.db.transaction(self.scope) as tx:
            await gclock.protect(tx, [head.id])
            branch = await insert_branch(tx, name, head.id)
            await on_effect(tx, branch)
            await audit.record(tx, "branch.created", actor, f"branch:{name}",
                               {"head": head.id, "from": start, "via": self.via})
            queued = await triggers.head_moved(tx, name, None, head.id, actor, self.via)
        await self.notify(queued)
        return branch

    async def delete_branch(self, name: str, actor: str, expected_head: str | None = None) -> list[Preview]:
        """Delete a branch and its previews' rows; the previews removed (their links are the caller's).

        NotFound for an unknown branch, Conflict when a site publishes it,
        StaleHead when `expected_head` is given and the head is another.
        """
        async with self.db.transaction(self.scope) as tx:
            branch = await get_branch(tx, name, for_update=expected_head is not None)
            if expected_head is not None and branch.head != expected_head:
                raise StaleHead(f"branch {name!r} moved", {"current_head": branch.head})
            sites = await tx.fetch("SELECT slug FROM sites WHERE workspace_id = $1 AND branch = $2 ORDER BY slug",
                                   tx.workspace_id, name)
            if sites:
                slugs = [r["slug"] for r in sites]
                raise Conflict(f"branch {name!r} is published by site(s) {', '.join(slugs)}; change their branch"
                               " first", {"branch": name, "sites": slugs})
            await tx.execute(
                "UPDATE deployments SET status = 'superseded', finished_at = clock_timestamp(),"
                " conditions = conditions || $3::jsonb"
                " WHERE workspace_id = $1 AND target = $2 AND status = 'pending'",
                tx.workspace_id, preview_target(name), condition("superseded", f"branch {name} deleted"))
            removed = await remove_previews(tx, name)
            await tx.execute("DELETE FROM branches WHERE workspace_id = $1 AND name = $2", tx.workspace_id, name)
            await audit.record(tx, "branch.deleted", actor, f"branch:{name}",
                               {"head": branch.head, "previews": [p.key for p in removed], "via": self.via})
            await webhooks.enqueue(tx, "branch.deleted", {"branch": name, "before": branch.head, "actor": actor,
                                                          "via": self.via})
        return removed

    async def commit(self, branch_name: str, changes: Sequence[Change], message: str, actor: str,
                     expected_head: str | None, on_effect: OnEffect[Commit] = no_effect_hook) -> Commit:
        """Apply `changes` on the branch head and move the head (CAS, retried without expected_head)."""
        if not changes:
            raise InvalidRequest("a commit needs at least one change", {"field": "changes"})
        for attempt in range(MAX_ATTEMPTS):
            branch = await self.branch(branch_name)
            if expected_head is not None and branch.head != expected_head:
                raise StaleHead(f"branch {branch_name!r} moved", {"current_head": branch.head})
            parent = await self.load_commit(branch.head)
            tree, objects = await apply_changes(self.src, parent.tree, changes)
            commit, raw = make_commit(tree, [parent], message, actor, datetime.now(UTC))
            objects[commit.id] = raw
            if await self._publish(branch_name, branch.head, commit, objects, "commit.created", actor,
                                   {"commit": commit.id, "changes": len(changes)}, on_effect):
                return commit
            if expected_head is not None:
                current = await self.branch(branch_name)
                raise StaleHead(f"branch {branch_name!r} moved", {"current_head": current.head})
            await _backoff(attempt)
        raise Conflict(f"branch {branch_name!r} is too busy: gave up after {MAX_ATTEMPTS} attempts")

    async def merge(self, source: str, target: str, message: str | None, strategy: Strategy,
                    actor: str, on_effect: OnEffect[Commit] = no_effect_hook,
                    resolutions: Mapping[str, Resolution] | None = None) -> MergeOutcome:
        """Merge `source` (branch or commit) into branch `target`.

        `resolutions` settle conflicting paths. MergeConflict lists the conflicts
        left unresolved; InvalidRequest names resolutions of paths that do not
        conflict (nothing changes in either case).
        """
        resolutions = resolutions or {}
        for attempt in range(MAX_ATTEMPTS):
            branch = await self.branch(target)
            theirs = await self.resolve_ref(source)
            ours = await self.load_commit(branch.head)
            if await is_ancestor(self.src, theirs.id, ours.id):
                _check_resolutions_used(resolutions, frozenset())
                return MergeOutcome("up_to_date", ours)
            result = await merge_commits(self.src, ours.id, theirs.id, strategy, resolutions)
            _check_resolutions_used(resolutions, result.resolved)
            if result.conflicts or result.tree is None:
                raise MergeConflict(
                    f"merging {source!r} into {target!r} conflicts in {len(result.conflicts)} path(s)",
                    {"conflicts": [
                        {"path": c.path, "kind": c.kind, "base": c.base, "ours": c.ours, "theirs": c.theirs}
                        for c in result.conflicts
                    ]},
                )
            text = message or f"Merge {source} into {target}"
            commit, raw = make_commit(result.tree, [ours, theirs], text, actor, datetime.now(UTC))
            objects = dict(result.new_objects)
            objects[commit.id] = raw
            details: dict[str, Any] = {"commit": commit.id, "source": source, "source_commit": theirs.id,
                                       "strategy": strategy}
            if result.resolved:
                details["resolved"] = sorted(result.resolved)
            if await self._publish(target, branch.head, commit, objects, "merge.executed", actor, details,
                                   on_effect):
                return MergeOutcome("merged", commit)
            await _backoff(attempt)
        raise Conflict(f"branch {target!r} is too busy: gave up after {MAX_ATTEMPTS} attempts")

    async def _publish(self, branch_name: str, expected: str, commit: Commit, objects: dict[ObjectId, RawObject],
                       action: str, actor: str, details: dict[str, Any], on_effect: OnEffect[Commit]) -> bool:
        # Objects first (idempotent, in their own transaction), then the CAS.
        async with self.db.transaction(self.scope) as tx:
            await write_objects(tx, objects)

        async def effect(tx: Tx) -> None:
            await on_effect(tx, commit)

        return await self.advance(branch_name, expected, commit.id, action, actor, details, effect)

    async def advance(self, branch_name: str, expected: str, commit_id: str, action: str, actor: str,
                      details: dict[str, Any], effect: Callable[[Tx], Awaitable[None]] | None = None) -> bool:
        """Move a branch from `expected` to the stored commit `commit_id` (compare-and-swap).

        In the same transaction: `effect`, the audit row `action`, and what the
        move sets off (deployments, webhooks). False when the head is not
        `expected` any more; NotFound when the commit is not stored.
        """
        async with self.db.transaction(self.scope) as tx:
            await gclock.protect(tx, [commit_id])
            moved = await compare_and_swap_head(tx, branch_name, expected, commit_id)
            if moved is None:
                return False
            if effect is not None:
                await effect(tx)
            await audit.record(tx, action, actor, f"branch:{branch_name}", {**details, "via": self.via})
            if action == "merge.executed":
                await webhooks.enqueue(tx, "merge.executed", {"branch": branch_name, **details, "actor": actor,
                                                              "via": self.via})
            queued = await triggers.head_moved(tx, branch_name, expected, commit_id, actor, self.via)
        await self.notify(queued)
        return True

    async def log(self, branch_name: str, limit: int) -> list[Commit]:
        branch = await self.branch(branch_name)
        return await log(self.src, ObjectId(branch.head), limit)

    async def tree(self, ref: str, path: str, recursive: bool) -> list[tuple[str, TreeEntry]]:
        path = validate_dir_path(path)
        commit = await self.resolve_ref(ref)
        if path:
            entry = await lookup(self.src, commit.tree, path)
            if entry is None:
                raise NotFound(f"path {path!r} does not exist in {ref!r}", {"path": path})
            if entry.kind != "tree":
                raise InvalidRequest(f"path {path!r} is a file, not a folder", {"path": path})
        return await list_dir(self.src, commit.tree, path, recursive)

    async def read_file(self, ref: str, path: str) -> bytes:
        path = validate_path(path)
        commit = await self.resolve_ref(ref)
        entry = await lookup(self.src, commit.tree, path)
        if entry is None or entry.kind != "blob":
            raise NotFound(f"file {path!r} does not exist in {ref!r}", {"path": path})
        raw = (await self.src.get_many([entry.hash])).get(entry.hash)
        if raw is None:
            # The tree names it, the store lacks it: damage for fsck to report, not a missing file.
            raise CorruptObject(f"blob {entry.hash} of {path!r} is missing from the store", {"id": entry.hash})
        return raw.payload

    async def read_blob(self, blob_id: str) -> bytes:
        """The bytes of a blob of this workspace; NotFound when it has none with that id."""
        oid = ObjectId(blob_id)
        raw = (await self.src.get_many([oid])).get(oid) if is_commit_id(blob_id) else None
        if raw is None or raw.kind != "blob":
            raise NotFound(f"blob {blob_id!r} does not exist", {"id": blob_id})
        return raw.payload

    async def read_blobs(self, blob_ids: Collection[str]) -> dict[str, bytes]:
        """The bytes of several blobs of this workspace in one read; NotFound names the first it lacks."""
        ids = [ObjectId(b) for b in blob_ids if is_commit_id(b)]
        got = await self.src.get_many(ids) if ids else {}
        for b in sorted(blob_ids):
            raw = got.get(ObjectId(b))
            if raw is None or raw.kind != "blob":
                raise NotFound(f"blob {b!r} does not exist", {"id": b})
        return {b: got[ObjectId(b)].payload for b in blob_ids}

    async def diff(self, from_ref: str, to_ref: str) -> list[DiffEntry]:
        a = await self.resolve_ref(from_ref)
        b = await self.resolve_ref(to_ref)
        return await diff_trees(self.src, a.tree, b.tree)
