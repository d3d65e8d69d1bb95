"""Workspaces: each starts with an empty-tree root commit on branch `main`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from openbook.config import DatabaseSettings
from openbook.db.objects import write_objects
from openbook.db.pool import create_pool
from openbook.errors import AlreadyExists, InvalidRequest
from openbook.store.objects import EMPTY_TREE, EMPTY_TREE_OBJECT, encode_commit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ROOT_AUTHOR = "openbook"


@dataclass(frozen=True, slots=True)
class Workspace:
    id: uuid.UUID
    slug: str
    name: str


async def create_workspace(pool: Any, slug: str, name: str) -> Workspace:
    """Create the workspace with its root commit on `main` in one transaction."""
    if not SLUG_RE.match(slug):
        raise InvalidRequest(f"workspace slug {slug!r} must match {SLUG_RE.pattern}", {"slug": slug})
    workspace_id = uuid.uuid4()
    root = encode_commit(EMPTY_TREE, (), "root", ROOT_AUTHOR, datetime.now(UTC), 1)
    async with pool.acquire() as conn, conn.transaction():
        try:
            await conn.execute("INSERT INTO workspaces (id, slug, name) VALUES ($1, $2, $3)",
                               workspace_id, slug, name)
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(f"workspace {slug!r} already exists", {"slug": slug}) from exc
        await write_objects(conn, workspace_id, {EMPTY_TREE: EMPTY_TREE_OBJECT, root.id: root})
        await conn.execute("INSERT INTO branches (workspace_id, name, head) VALUES ($1, 'main', $2)",
                           workspace_id, root.id)
    return Workspace(workspace_id, slug, name)


async def workspace_exists(pool: Any, workspace_id: uuid.UUID) -> bool:
    return bool(await pool.fetchval("SELECT true FROM workspaces WHERE id = $1", workspace_id))


async def create_workspace_cli(settings: DatabaseSettings, slug: str, name: str) -> Workspace:
    pool = await create_pool(settings)
    try:
        return await create_workspace(pool, slug, name)
    finally:
        await pool.close()
