"""Mirrors: external git repositories followed into a branch (docs/git.md, "Mirrors").

A mirror is due for a sync from `sync_requested_at` (set at creation, by a
verified push hook, or by `POST /api/mirrors/{id}/sync`); a worker leases it
(`claim_due`, system path `git-mirrors`), syncs in the workspace's own
transactions, and `finish` ends the lease and clears the request it served.
A request that arrives while a sync runs gets a newer time, so it stays due
and is taken after it (that sync may have fetched before the push it
announces); a worker that dies leaves the request to whoever claims it when
the lease lapses. Every hook delivery and every sync writes a
`mirror_events` row, accepted or not.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yarl import URL

from openbook.db.audit import record
from openbook.db.database import Database, Row
from openbook.db.scopes import GIT_MIRRORS, Tenant
from openbook.db.webhooks import validate_secret
from openbook.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from openbook.gitmap.objects import GitId

SCHEMES = ("https", "http")
MAX_URL = 2048
MAX_MIRRORS = 20
_REF_RE = re.compile(r"refs/heads/[A-Za-z0-9._/-]{1,200}|HEAD")


def validate_url(raw: object) -> str:
    """An absolute https or http URL with a host and no credentials; InvalidRequest otherwise.

    Smart HTTP only: dulwich's git:// client has no timeouts, and a sync must not hang a worker.
    """
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL or any(c.isspace() or not c.isprintable()
                                                                        for c in raw):
        raise InvalidRequest(f"field 'url' must be a git URL of at most {MAX_URL} printable characters",
                             {"field": "url"})
    try:
        url = URL(raw)
    except ValueError as exc:
        raise InvalidRequest(f"url {raw!r}: {exc}", {"field": "url"}) from None
    if url.scheme not in SCHEMES or not url.host:
        raise InvalidRequest(f"url {raw!r}: must be https:// or http:// with a host", {"field": "url"})
    if url.user or url.password:
        # Stored in clear and shown by GET: a mirror reads public repositories (or ones open to this host).
        raise InvalidRequest(f"url {raw!r}: credentials in a mirror URL are not kept", {"field": "url"})
    return raw


def validate_ref(raw: object) -> str:
    """`HEAD` (the repository's default branch) or `refs/heads/<name>`."""
    if not isinstance(raw, str) or not _REF_RE.fullmatch(raw) or ".." in raw:
        raise InvalidRequest("field 'ref' must be HEAD or refs/heads/<name>", {"field": "ref"})
    return raw


@dataclass(frozen=True, slots=True)
class Mirror:
    id: uuid.UUID
    url: str
    ref: str
    branch: str
    created_at: datetime
    sync_requested_at: datetime | None
    synced_at: datetime | None
    synced_commit: GitId | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        # The secret never leaves the database: it only checks what hooks present.
        def at(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {"id": str(self.id), "url": self.url, "ref": self.ref, "branch": self.branch,
                "hook": f"/hooks/git/{self.id}", "created_at": self.created_at.isoformat(),
                "sync_requested_at": at(self.sync_requested_at), "synced_at": at(self.synced_at),
                "synced_commit": self.synced_commit, "last_error": self.last_error}


COLUMNS = "id, url, ref, branch, created_at, sync_requested_at, synced_at, synced_commit, last_error"
# Due now; an older request still waiting keeps its place, one made while a sync runs is newer than it.
REQUEST = ("UPDATE mirrors SET sync_requested_at = CASE WHEN lease_until > now() THEN clock_timestamp()"
           " ELSE COALESCE(sync_requested_at, now()) END WHERE workspace_id = $1 AND id = $2")


def _mirror(row: Row) -> Mirror:
    commit = row["synced_commit"]
    return Mirror(id=row["id"], url=row["url"], ref=row["ref"], branch=row["branch"], created_at=row["created_at"],
                  sync_requested_at=row["sync_requested_at"], synced_at=row["synced_at"],
                  synced_commit=None if commit is None else GitId(bytes(commit).hex()), last_error=row["last_error"])


def _not_found(mirror_id: uuid.UUID) -> NotFound:
    return NotFound(f"mirror {mirror_id} does not exist", {"id": str(mirror_id)})


class Mirrors:
    """The mirrors of one workspace."""

    def __init__(self, db: Database, workspace_id: uuid.UUID) -> None:
        self.db = db
        self.scope = Tenant(workspace_id)

    async def create(self, actor: str, url: str, ref: str, branch: str, secret: str) -> Mirror:
        """A new mirror, due for its first sync; Conflict when the branch has one, or past MAX_MIRRORS."""
        validate_secret(secret)
        async with self.db.transaction(self.scope) as tx:
            await tx.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", tx.workspace_id)
            if await tx.fetchval("SELECT count(*) FROM mirrors WHERE workspace_id = $1",
                                 tx.workspace_id) >= MAX_MIRRORS:
                raise Conflict(f"a workspace has at most {MAX_MIRRORS} mirrors", {"limit": MAX_MIRRORS})
            row = await tx.insert_unique(
                f"INSERT INTO mirrors (id, workspace_id, url, ref, branch, secret, sync_requested_at)"
                f" VALUES ($1, $2, $3, $4, $5, $6, now()) RETURNING {COLUMNS}",
                uuid.uuid4(), tx.workspace_id, url, ref, branch, secret,
                taken=AlreadyExists(f"branch {branch!r} already has a mirror", {"branch": branch}))
            assert row is not None
            mirror = _mirror(row)
            await record(tx, "mirror.created", actor, f"mirror:{mirror.id}", {"url": url, "ref": ref,
                                                                               "branch": branch})
        return mirror

    async def all(self) -> list[Mirror]:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            rows = await tx.fetch(f"SELECT {COLUMNS} FROM mirrors WHERE workspace_id = $1 ORDER BY created_at, id",
                                  tx.workspace_id)
        return [_mirror(r) for r in rows]

    async def get(self, mirror_id: uuid.UUID) -> Mirror:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            row = await tx.fetchrow(f"SELECT {COLUMNS} FROM mirrors WHERE workspace_id = $1 AND id = $2",
                                    tx.workspace_id, mirror_id)
        if row is None:
            raise _not_found(mirror_id)
        return _mirror(row)

    async def request_sync(self, mirror_id: uuid.UUID) -> Mirror:
        """Make the mirror due (see `REQUEST`); NotFound if absent."""
        async with self.db.transaction(self.scope) as tx:
            row = await tx.fetchrow(f"{REQUEST} RETURNING {COLUMNS}", tx.workspace_id, mirror_id)
        if row is None:
            raise _not_found(mirror_id)
        return _mirror(row)

    async def events(self, mirror_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
        """The mirror's newest hook deliveries and syncs, newest first; NotFound if absent."""
        await self.get(mirror_id)
        async with self.db.transaction(self.scope, readonly=True) as tx:
            rows = await tx.fetch("SELECT kind, outcome, details, created_at FROM mirror_events"
                                  " WHERE workspace_id = $1 AND mirror_id = $2 ORDER BY id DESC LIMIT $3",
                                  tx.workspace_id, mirror_id, limit)
        return [{"kind": r["kind"], "outcome": r["outcome"], "details": r["details"],
                 "created_at": r["created_at"].isoformat()} for r in rows]


# --- Hooks and workers (system path git-mirrors) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookTarget:
    workspace_id: uuid.UUID
    mirror_id: uuid.UUID
    secret: str = field(repr=False)


async def hook_target(db: Database, mirror_id: uuid.UUID) -> HookTarget | None:
    """Whose mirror a hook names, and its secret (None when there is no such mirror)."""
    async with db.transaction(GIT_MIRRORS, readonly=True) as tx:
        row = await tx.fetchrow("SELECT workspace_id, secret FROM mirrors WHERE id = $1", mirror_id)
    return None if row is None else HookTarget(row["workspace_id"], mirror_id, row["secret"])


async def record_delivery(db: Database, target: HookTarget, outcome: str, details: dict[str, Any],
                          due: bool) -> None:
    """Log one hook delivery; with `due`, make the mirror due for a sync in the same transaction."""
    async with db.transaction(Tenant(target.workspace_id)) as tx:
        if due:
            await tx.execute(REQUEST, tx.workspace_id, target.mirror_id)
        await tx.execute("INSERT INTO mirror_events (workspace_id, mirror_id, kind, outcome, details)"
                         " VALUES ($1, $2, 'delivery', $3, $4)", tx.workspace_id, target.mirror_id, outcome, details)


@dataclass(frozen=True, slots=True)
class SyncClaim:
    """A due mirror leased to this worker until `lease_until`."""

    workspace_id: uuid.UUID
    mirror_id: uuid.UUID
    url: str
    ref: str
    branch: str
    synced_commit: GitId | None
    requested_at: datetime
    lease_until: datetime


async def claim_due(db: Database, limit: int, lease_s: float) -> list[SyncClaim]:
    """Lease up to `limit` due mirrors of any workspace, the longest waiting first (`SKIP LOCKED`)."""
    async with db.transaction(GIT_MIRRORS) as tx:
        rows = await tx.fetch(
            "UPDATE mirrors SET lease_until = now() + make_interval(secs => $2)"
            " WHERE id IN (SELECT id FROM mirrors WHERE sync_requested_at <= now()"
            "  AND (lease_until IS NULL OR lease_until < now())"
            "  ORDER BY sync_requested_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING workspace_id, id, url, ref, branch, synced_commit, sync_requested_at, lease_until",
            limit, lease_s)
    return [SyncClaim(workspace_id=r["workspace_id"], mirror_id=r["id"], url=r["url"], ref=r["ref"],
                      branch=r["branch"],
                      synced_commit=None if r["synced_commit"] is None else GitId(bytes(r["synced_commit"]).hex()),
                      requested_at=r["sync_requested_at"], lease_until=r["lease_until"]) for r in rows]


async def finish(db: Database, claim: SyncClaim, outcome: str, details: dict[str, Any],
                 synced: GitId | None, error: str | None) -> None:
    """End the lease and log the sync; `synced` (the external head imported) on success."""
    async with db.transaction(Tenant(claim.workspace_id)) as tx:
        await tx.execute(
            "UPDATE mirrors SET lease_until = NULL, last_error = $4,"
            " synced_at = CASE WHEN $3::bytea IS NULL THEN synced_at ELSE clock_timestamp() END,"
            " synced_commit = COALESCE($3::bytea, synced_commit),"
            " sync_requested_at = CASE WHEN sync_requested_at = $5 THEN NULL ELSE sync_requested_at END"
            " WHERE workspace_id = $1 AND id = $2",
            tx.workspace_id, claim.mirror_id, None if synced is None else bytes.fromhex(synced), error,
            claim.requested_at)
        await tx.execute("INSERT INTO mirror_events (workspace_id, mirror_id, kind, outcome, details)"
                         " VALUES ($1, $2, 'sync', $3, $4)", tx.workspace_id, claim.mirror_id, outcome, details)
