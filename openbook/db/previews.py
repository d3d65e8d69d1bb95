"""Branch previews: one row per (site, branch) with a DNS-safe key and its newest deployed build.

The key names the preview in `STORAGE_PATH/<ws>/<site>/previews/<key>` and in
`_hosts/<key>--<hostname>`, so it must be a DNS label short enough to prefix
any hostname's first label, the same for a branch forever, and distinct
between branches of one site (SPEC §11).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from openbook.db.database import Tx

MAX_KEY = 30
_UNSAFE = re.compile(r"[^a-z0-9]+")


def preview_key(branch: str) -> str:
    """The branch's key: the branch itself when already a short DNS label, else a slug plus a hash."""
    slug = _UNSAFE.sub("-", branch.lower()).strip("-")
    if slug == branch and len(slug) <= MAX_KEY:
        return slug
    digest = hashlib.sha256(branch.encode()).hexdigest()[:8]
    stem = slug[:MAX_KEY - len(digest) - 1].strip("-")
    return f"{stem}-{digest}" if stem else digest


@dataclass(frozen=True, slots=True)
class Preview:
    site_id: uuid.UUID
    branch: str
    key: str
    deployment_id: uuid.UUID | None


async def ensure(tx: Tx, site_id: uuid.UUID, branch: str) -> Preview:
    """The (site, branch) preview row, created on first use."""
    await tx.execute(
        "INSERT INTO previews (workspace_id, site_id, branch, key) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (site_id, branch) DO NOTHING",
        tx.workspace_id, site_id, branch, preview_key(branch))
    row = await tx.fetchrow("SELECT site_id, branch, key, deployment_id FROM previews"
                            " WHERE workspace_id = $1 AND site_id = $2 AND branch = $3",
                            tx.workspace_id, site_id, branch)
    assert row is not None
    return Preview(row["site_id"], row["branch"], row["key"], row["deployment_id"])


async def remove_branch(tx: Tx, branch: str) -> list[Preview]:
    """Delete every preview row of the branch (all sites); the rows that were there."""
    rows = await tx.fetch("DELETE FROM previews WHERE workspace_id = $1 AND branch = $2"
                          " RETURNING site_id, branch, key, deployment_id", tx.workspace_id, branch)
    return [Preview(r["site_id"], r["branch"], r["key"], r["deployment_id"]) for r in rows]
