"""`openbook fsck`: re-hash every object of a workspace and check every reference."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field

from openbook.config import DatabaseSettings
from openbook.db.database import Database
from openbook.db.scopes import Tenant
from openbook.db.workspaces import workspace_exists
from openbook.errors import CorruptObject
from openbook.store.objects import Leaf, ObjectId, RawObject, decode_commit, decode_node, hash_raw


@dataclass
class FsckReport:
    objects: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def references(oid: ObjectId, obj: RawObject) -> list[ObjectId]:
    """The ids an object points to (tree entries, tnode children, commit tree and parents)."""
    if obj.kind == "commit":
        commit = decode_commit(oid, obj)
        return [commit.tree, *commit.parents]
    if obj.kind in ("tree", "tnode"):
        node = decode_node(oid, obj)
        if isinstance(node, Leaf):
            return [e.hash for e in node.entries.values()]
        return [c for c in node.children if c is not None]
    return []


async def fsck_workspace(db: Database, workspace_id: uuid.UUID) -> FsckReport:
    """Check one workspace; never raises for damaged data, reports it instead."""
    report = FsckReport()
    known: set[ObjectId] = set()
    wanted: dict[ObjectId, ObjectId] = {}
    async with db.transaction(Tenant(workspace_id), readonly=True, isolation="repeatable_read") as tx:
        rows = tx.cursor("SELECT hash, kind, data FROM objects WHERE workspace_id = $1", workspace_id,
                         prefetch=2000)
        async for row in rows:
            report.objects += 1
            oid, obj = ObjectId(row["hash"]), RawObject(row["kind"], bytes(row["data"]))
            known.add(oid)
            if hash_raw(obj.kind, obj.payload) != oid:
                report.problems.append(f"hash mismatch: {obj.kind} {oid}")
                continue
            try:
                for ref in references(oid, obj):
                    wanted.setdefault(ref, oid)
            except CorruptObject as exc:
                report.problems.append(f"undecodable: {exc.message}")
        branches = await tx.fetch("SELECT name, head FROM branches WHERE workspace_id = $1", workspace_id)
    for ref, holder in sorted(wanted.items()):
        if ref not in known:
            report.problems.append(f"dangling reference: {holder} -> {ref}")
    for row in branches:
        if row["head"] not in known:
            report.problems.append(f"dangling branch: {row['name']} -> {row['head']}")
    return report


async def run_fsck_cli(settings: DatabaseSettings, workspace: str) -> int:
    try:
        workspace_id = uuid.UUID(workspace)
    except ValueError:
        print(f"openbook: --workspace must be a workspace uuid, got {workspace!r}", file=sys.stderr)
        return 2
    db = await Database.open(settings)
    try:
        if not await workspace_exists(db, workspace_id):
            print(f"openbook: workspace {workspace_id} does not exist", file=sys.stderr)
            return 2
        report = await fsck_workspace(db, workspace_id)
    finally:
        await db.close()
    print(json.dumps({"workspace": str(workspace_id), "objects": report.objects, "ok": report.ok,
                      "problems": report.problems}, indent=2))
    return 0 if report.ok else 1
