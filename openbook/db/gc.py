"""`openbook gc`: delete the objects of a workspace that nothing can reach any more.

Kept is the closure (commit → tree and parents, tree → entries, tnode →
children) of:

- every branch head;
- the commit of every deployment that retention has not pruned: a pending one
  is about to be built from it, a finished one may go live again;
- every object younger than the grace period (`created_at`, which
  `write_objects` re-stamps when it reuses an old object): what a writer may
  be about to point at. Keeping their closure too means a young object never
  loses what it references, so `openbook fsck` stays clean.

Every other object older than the grace period is deleted. Walks read
commits, trees and tnodes only: a blob's id comes from its tree entry and
its payload is never fetched.

Two phases, so that writers wait for a sweep only briefly:

1. *mark*, without any lock, in one read-only transaction: fix the cutoff
   (`now() - grace`), load every commit (small rows) to walk history in
   memory, walk trees level by level (`hash = ANY(...)`, one query per level
   and batch), then list the objects older than the cutoff that are not
   marked: the candidates;
2. *sweep*, in batches of `DELETE_BATCH` candidates, each in a transaction
   holding the workspace's gc lock exclusive (openbook.db.gclock): re-read
   the roots and the young objects, walk whatever is not marked yet (new
   heads, new deployments, objects written meanwhile), then delete the
   batch's candidates still unmarked, re-checking their age in the `DELETE`.
   Writers wait at most one batch.

What is marked stays right from pass to pass: objects are immutable, so a
marked object's closure is marked once and for all; only sweeping passes
delete, and they exclude each other (also those of another `openbook gc`);
an object that was not a candidate in phase 1 cannot become one (new and
re-stamped objects are younger than the cutoff). A reachable object that is
missing or undecodable stops the workspace's collection before it deletes
anything (more) (CorruptObject: run `openbook fsck`); in phase 1 a missing
object is only noted (a concurrent sweep may have removed it with its last
reference) and looked for again under the lock.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openbook.config import DatabaseSettings
from openbook.db.database import Database, Tx
from openbook.db.gclock import BY_HASHES, MIN_GRACE_S, hold_exclusive
from openbook.db.scopes import Tenant
from openbook.db.workspaces import Workspace, list_workspaces
from openbook.errors import CorruptObject, InvalidRequest
from openbook.store.objects import KINDS, Leaf, ObjectId, RawObject, decode_commit, decode_node

DEFAULT_GRACE = "24h"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FETCH_BATCH = 2000
DELETE_BATCH = 5000
_GRACE_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_grace(text: str) -> float:
    """Seconds of a grace period written as a number with `s`, `m`, `h` or `d` (`24h`, `90m`, `1.5d`).

    Raises InvalidRequest for anything else, and for less than `MIN_GRACE_S`.
    """
    match = _GRACE_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidRequest(f"--grace must be a number with s, m, h or d (like 24h), got {text!r}", {"grace": text})
    seconds = float(match[1]) * UNITS[match[2]]
    if seconds < MIN_GRACE_S:
        raise InvalidRequest(
            f"--grace must be at least {MIN_GRACE_S // 60}m, got {text!r}: a writer's objects must stay young"
            " from their write until its head move (docs/ops/runbook.md, 'Garbage collection')", {"grace": text})
    return seconds


@dataclass(frozen=True, slots=True)
class KindTotal:
    objects: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class GcReport:
    """What one workspace's collection removed (or, with `dry_run`, would remove), by kind."""

    workspace_id: uuid.UUID
    slug: str
    dry_run: bool
    removed: Mapping[str, KindTotal]
    kept_old: int  # objects older than the grace period that are still reachable
    duration_ms: int
    locked_ms: int  # longest hold of the gc lock (exclusive): what a writer of the workspace waited at most

    @property
    def objects(self) -> int:
        return sum(t.objects for t in self.removed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace_id),
            "slug": self.slug,
            "would_remove" if self.dry_run else "removed": {
                kind: {"objects": t.objects, "bytes": t.bytes} for kind, t in sorted(self.removed.items())},
            "objects": self.objects,
            "bytes": sum(t.bytes for t in self.removed.values()),
            "kept_old": self.kept_old,
            "duration_ms": self.duration_ms,
            "locked_ms": self.locked_ms,
        }


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class _Marker:
    """The marked set of one collection and the commits known by id (tree first, then parents)."""

    workspace_id: uuid.UUID
    commits: dict[str, tuple[str, ...]] = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)

    def learn_commit(self, oid: ObjectId, obj: RawObject) -> None:
        commit = decode_commit(oid, obj)
        self.commits[oid] = (commit.tree, *commit.parents)

    async def walk(self, tx: Tx, start: Iterable[str]) -> set[str]:
        """Mark everything reachable from `start` (ids of commits, trees or tnodes); the ids not found.

        Raises CorruptObject for an object that does not decode as its kind.
        """
        missing: set[str] = set()
        todo = {oid for oid in start if oid not in self.marked}
        while todo:
            # History in memory: commits loaded up front cost no query.
            fetch: set[str] = set()
            stack = list(todo)
            while stack:
                oid = stack.pop()
                if oid in self.marked:
                    continue
                refs = self.commits.get(oid)
                if refs is None:
                    fetch.add(oid)
                    continue
                self.marked.add(oid)
                stack.extend(r for r in refs if r not in self.marked)
            todo = set()
            for chunk in _chunks(sorted(fetch - missing), FETCH_BATCH):
                # Never a blob: their ids come from tree entries, their payloads are not needed.
                rows = await tx.fetch(BY_HASHES.format(columns="o.hash, o.kind, o.data") + " AND o.kind <> 'blob'",
                                      self.workspace_id, chunk)
                found: set[str] = set()
                for row in rows:
                    oid, obj = ObjectId(row["hash"]), RawObject(row["kind"], bytes(row["data"]))
                    found.add(oid)
                    if obj.kind == "commit":
                        self.learn_commit(oid, obj)
                        todo.add(oid)
                        continue
                    self.marked.add(oid)
                    node = decode_node(oid, obj)
                    if isinstance(node, Leaf):
                        for entry in node.entries.values():
                            if entry.kind == "blob":
                                self.marked.add(entry.hash)
                            elif entry.hash not in self.marked:
                                todo.add(entry.hash)
                    else:
                        todo.update(c for c in node.children if c is not None and c not in self.marked)
                missing.update(set(chunk) - found)
            todo -= missing
        return missing


async def _roots(tx: Tx, cutoff: datetime) -> set[str]:
    """Branch heads, unpruned deployments' commits, and every commit, tree or tnode younger than `cutoff`."""
    rows = await tx.fetch(
        "SELECT head AS id FROM branches WHERE workspace_id = $1"
        " UNION SELECT commit_id FROM deployments WHERE workspace_id = $1 AND pruned_at IS NULL"
        " UNION SELECT hash FROM objects WHERE workspace_id = $1 AND created_at >= $2 AND kind <> 'blob'",
        tx.workspace_id, cutoff)
    return {r["id"] for r in rows}


def _damaged(workspace_id: uuid.UUID, missing: set[str], deleted: int) -> CorruptObject:
    first = sorted(missing)[0]
    done = "nothing was deleted" if not deleted else f"stopped after deleting {deleted} unreachable object(s)"
    return CorruptObject(f"workspace {workspace_id}: {len(missing)} reachable object(s) missing, e.g. {first};"
                         f" {done} (run openbook fsck)", {"id": first, "missing": len(missing)})


async def collect(db: Database, workspace: Workspace, grace_s: float, *, dry_run: bool = False) -> GcReport:
    """Collect one workspace's garbage older than `grace_s` (see the module docstring).

    Raises CorruptObject (nothing deleted) when a reachable object is missing or
    undecodable, Unavailable when PostgreSQL cannot be reached.
    """
    started = time.perf_counter()
    scope = Tenant(workspace.id)
    marker = _Marker(workspace.id)
    candidates: dict[str, tuple[str, int]] = {}
    async with db.transaction(scope, readonly=True) as tx:
        cutoff = await tx.fetchval("SELECT now() - make_interval(secs => $1)", grace_s)
        async for row in tx.cursor("SELECT hash, data FROM objects WHERE workspace_id = $1 AND kind = 'commit'",
                                   workspace.id, prefetch=FETCH_BATCH):
            # An undecodable commit matters only if reachable: the walk fetches it again and fails there.
            with contextlib.suppress(CorruptObject):
                marker.learn_commit(ObjectId(row["hash"]), RawObject("commit", bytes(row["data"])))
        unseen = await marker.walk(tx, await _roots(tx, cutoff))
        kept_old = 0
        async for row in tx.cursor("SELECT hash, kind, octet_length(data) AS size FROM objects"
                                   " WHERE workspace_id = $1 AND created_at < $2", workspace.id, cutoff,
                                   prefetch=FETCH_BATCH):
            if row["hash"] in marker.marked:
                kept_old += 1
            else:
                candidates[row["hash"]] = (row["kind"], row["size"])
    totals = {kind: [0, 0] for kind in KINDS}
    longest = 0.0
    # One locked pass per batch, so a long sweep never holds writers for long; a dry run counts in one.
    order = sorted(candidates)
    for batch in [order] if dry_run else list(_chunks(order, DELETE_BATCH)) or [order]:
        held = time.perf_counter()
        async with db.transaction(scope) as tx:
            await hold_exclusive(tx)
            missing = await marker.walk(tx, (await _roots(tx, cutoff)) | unseen)
            if missing:
                raise _damaged(workspace.id, missing, sum(t[0] for t in totals.values()))
            unseen = set()
            doomed = [h for h in batch if h not in marker.marked]
            kept_old += len(batch) - len(doomed)
            if dry_run:
                for h in doomed:
                    kind, size = candidates[h]
                    totals[kind][0] += 1
                    totals[kind][1] += size
            elif doomed:
                # The age again: a writer may have re-stamped a candidate before we took the lock.
                rows = await tx.fetch("DELETE FROM objects WHERE workspace_id = $1 AND hash = ANY($2::text[])"
                                      " AND created_at < $3 RETURNING kind, octet_length(data) AS size",
                                      workspace.id, doomed, cutoff)
                for row in rows:
                    totals[row["kind"]][0] += 1
                    totals[row["kind"]][1] += row["size"]
        longest = max(longest, time.perf_counter() - held)
    return GcReport(workspace.id, workspace.slug, dry_run, {k: KindTotal(*v) for k, v in totals.items()}, kept_old,
                    duration_ms=round((time.perf_counter() - started) * 1000), locked_ms=round(longest * 1000))


async def run_gc_cli(settings: DatabaseSettings, workspace: str | None, grace: str, dry_run: bool) -> int:
    """`openbook gc`: 0 when every workspace was collected, 1 when one was damaged, 2 for bad arguments."""
    try:
        grace_s = parse_grace(grace)
        wanted = None if workspace is None else uuid.UUID(workspace)
    except InvalidRequest as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"openbook: --workspace must be a workspace uuid, got {workspace!r}", file=sys.stderr)
        return 2
    db = await Database.open(settings)
    reports: list[GcReport] = []
    errors: list[str] = []
    try:
        targets = await list_workspaces(db)
        if wanted is not None:
            targets = [w for w in targets if w.id == wanted]
            if not targets:
                print(f"openbook: workspace {wanted} does not exist", file=sys.stderr)
                return 2
        for target in targets:
            try:
                reports.append(await collect(db, target, grace_s, dry_run=dry_run))
            except CorruptObject as exc:
                print(f"openbook: {exc.message}", file=sys.stderr)
                errors.append(exc.message)
    finally:
        await db.close()
    print(json.dumps({"dry_run": dry_run, "grace_s": grace_s, "workspaces": [r.to_json() for r in reports],
                      "errors": errors}, indent=2))
    return 1 if errors else 0
