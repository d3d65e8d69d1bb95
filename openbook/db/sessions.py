"""Studio sign-in links and sessions (SPEC §13), one workspace's rows each.

Rows hold the SHA-256 digest of a secret, never the secret
(`openbook.studio.credentials` makes both). A link is redeemed at most once:
the `UPDATE ... WHERE used_at IS NULL` that marks it used is also the check,
so two tabs opening one link start one session. Signing in and out write
audit rows (`session.started`, `session.ended`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from openbook.db import audit
from openbook.db.database import Database
from openbook.db.scopes import Tenant
from openbook.errors import NotFound, Unauthorized

# Used and expired rows are kept this long (for a look after the fact), then deleted by the next writer.
KEEP_EXPIRED = "1 day"


@dataclass(frozen=True, slots=True)
class SessionRow:
    sub: str
    role: str
    expires_at: datetime


async def insert_login_link(db: Database, workspace_id: uuid.UUID, digest: bytes, sub: str, role: str,
                            ttl_s: int) -> None:
    """Store a one-time sign-in link; NotFound for an unknown workspace."""
    async with db.transaction(Tenant(workspace_id)) as tx:
        if not await tx.fetchval("SELECT true FROM workspaces WHERE id = $1", workspace_id):
            raise NotFound(f"workspace {workspace_id} does not exist", {"workspace": str(workspace_id)})
        await tx.execute("DELETE FROM studio_login_links WHERE workspace_id = $1"
                         f" AND expires_at < now() - interval '{KEEP_EXPIRED}'", workspace_id)
        await tx.execute("INSERT INTO studio_login_links (workspace_id, digest, sub, role, expires_at)"
                         " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
                         workspace_id, digest, sub, role, ttl_s)


async def redeem_login_link(db: Database, workspace_id: uuid.UUID, link_digest: bytes, session_digest: bytes,
                            ttl_s: int) -> SessionRow:
    """Use the link up and start a session under `session_digest`.

    Unauthorized when the link is unknown (or another workspace's), expired or already used.
    """
    async with db.transaction(Tenant(workspace_id)) as tx:
        row = await tx.fetchrow(
            "UPDATE studio_login_links SET used_at = now()"
            " WHERE workspace_id = $1 AND digest = $2 AND used_at IS NULL AND expires_at > now()"
            " RETURNING sub, role", workspace_id, link_digest)
        if row is None:
            raise Unauthorized("this sign-in link has expired or was already used; ask for a new one")
        await tx.execute("DELETE FROM studio_sessions WHERE workspace_id = $1"
                         f" AND expires_at < now() - interval '{KEEP_EXPIRED}'", workspace_id)
        expires = await tx.fetchval(
            "INSERT INTO studio_sessions (workspace_id, digest, sub, role, expires_at)"
            " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at",
            workspace_id, session_digest, row["sub"], row["role"], ttl_s)
        await audit.record(tx, "session.started", row["sub"], "studio", {"role": row["role"], "via": "studio"})
    return SessionRow(row["sub"], row["role"], expires)


async def load_session(db: Database, workspace_id: uuid.UUID, digest: bytes) -> SessionRow | None:
    """The live session with this digest, or None (unknown, expired, signed out, workspace deleted)."""
    async with db.transaction(Tenant(workspace_id), readonly=True) as tx:
        row = await tx.fetchrow("SELECT sub, role, expires_at FROM studio_sessions"
                                " WHERE workspace_id = $1 AND digest = $2 AND expires_at > now()",
                                workspace_id, digest)
    return None if row is None else SessionRow(row["sub"], row["role"], row["expires_at"])


async def delete_session(db: Database, workspace_id: uuid.UUID, digest: bytes) -> None:
    """Sign out: the row goes, so the cookie opens nothing any more."""
    async with db.transaction(Tenant(workspace_id)) as tx:
        sub = await tx.fetchval("DELETE FROM studio_sessions WHERE workspace_id = $1 AND digest = $2"
                                " RETURNING sub", workspace_id, digest)
        if sub is not None:
            await audit.record(tx, "session.ended", sub, "studio", {"via": "studio"})
