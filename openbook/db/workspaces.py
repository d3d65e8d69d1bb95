"""Workspaces: each starts with an empty-tree root commit on branch `main`.

The `workspaces` table is the tenant registry itself: it carries no
`workspace_id` column and no row-level security (SPEC §10); the token's
workspace is checked against it before any tenant transaction starts.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from openbook.config import DatabaseSettings
from openbook.db.database import Database
from openbook.db.objects import write_objects
from openbook.db.scopes import Tenant
from openbook.errors import AlreadyExists, InvalidRequest
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, encode_commit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ROOT_AUTHOR = "openbook"


@dataclass(frozen=True, slots=True)
class Workspace:
    id: uuid.UUID
    slug: str
    name: str


async def create_workspace(db: Database, slug: str, name: str) -> Workspace:
    """Create the workspace with its root commit on `main` in one transaction."""
    if not SLUG_RE.match(slug):
        raise InvalidRequest(f"workspace slug {slug!r} must match {SLUG_RE.pattern}", {"slug": slug})
    workspace_id = uuid.uuid4()
    root = encode_commit(EMPTY_TREE, (), "root", ROOT_AUTHOR, datetime.now(UTC), 1)
    async with db.transaction(Tenant(workspace_id)) as tx:
        await tx.insert_unique("INSERT INTO workspaces (id, slug, name) VALUES ($1, $2, $3)",
                               workspace_id, slug, name,
                               taken=AlreadyExists(f"workspace {slug!r} already exists", {"slug": slug}))
        await write_objects(tx, {EMPTY_TREE: EMPTY_TREE_OBJECT, root.id: root})
        await tx.execute("INSERT INTO branches (workspace_id, name, head) VALUES ($1, 'main', $2)",
                         workspace_id, root.id)
    return Workspace(workspace_id, slug, name)


async def workspace_exists(db: Database, workspace_id: uuid.UUID) -> bool:
    async with db.transaction(Tenant(workspace_id), readonly=True) as tx:
        return bool(await tx.fetchval("SELECT true FROM workspaces WHERE id = $1", workspace_id))


async def workspace_by_slug(db: Database, slug: str) -> uuid.UUID | None:
    """The id of the workspace called `slug`, or None (the registry has no row-level security)."""
    if not SLUG_RE.match(slug):
        return None
    async with db.transaction(Tenant(uuid.UUID(int=0)), readonly=True) as tx:
        found: uuid.UUID | None = await tx.fetchval("SELECT id FROM workspaces WHERE slug = $1", slug)
    return found


async def list_workspaces(db: Database) -> list[Workspace]:
    """Every workspace, by slug (the registry has no row-level security; the scope sees no tenant rows)."""
    async with db.transaction(Tenant(uuid.UUID(int=0)), readonly=True) as tx:
        rows = await tx.fetch("SELECT id, slug, name FROM workspaces ORDER BY slug")
    return [Workspace(r["id"], r["slug"], r["name"]) for r in rows]


async def create_workspace_cli(settings: DatabaseSettings, slug: str, name: str) -> Workspace:
    db = await Database.open(settings)
    try:
        return await create_workspace(db, slug, name)
    finally:
        await db.close()
