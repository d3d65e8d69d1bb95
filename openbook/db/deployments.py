"""Deployment rows: creation with its outbox row, leases that fence workers, terminal states.

Status moves `pending -> building -> deployed | failed`; each move appends a
condition `{"status", "reason", "at"}`. A worker may only touch a deployment
while it holds the lease (`lease_owner`, `lease_until`): taking it is one
`UPDATE ... WHERE status = 'pending' OR lease expired`, so two workers never
build the same deployment at once, and a finish by a worker whose lease was
taken over changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openbook.db import outbox
from openbook.db.audit import record
from openbook.db.database import Database, Row, Tx
from openbook.db.scopes import WORKER_CLAIM, Tenant
from openbook.db.sites import Site, get_site
from openbook.errors import Conflict, InvalidRequest, NotFound

TERMINAL = frozenset({"deployed", "failed"})
_COLUMNS = ("id, workspace_id, site_id, commit_id, status, error, stats, conditions, attempts, lease_owner,"
            " lease_until, created_at, finished_at")


@dataclass(frozen=True, slots=True)
class Deployment:
    id: uuid.UUID
    workspace_id: uuid.UUID
    site_id: uuid.UUID
    commit_id: str
    status: str
    error: str | None
    stats: dict[str, Any]
    conditions: list[dict[str, Any]]
    attempts: int
    lease_owner: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "site_id": str(self.site_id),
            "commit": self.commit_id,
            "status": self.status,
            "error": self.error,
            "stats": self.stats,
            "conditions": self.conditions,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }


def _deployment(row: Row) -> Deployment:
    return Deployment(
        id=row["id"], workspace_id=row["workspace_id"], site_id=row["site_id"], commit_id=row["commit_id"],
        status=row["status"], error=row["error"], stats=row["stats"], conditions=row["conditions"],
        attempts=row["attempts"], lease_owner=row["lease_owner"], created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def condition(status: str, reason: str) -> list[dict[str, str]]:
    """A one-element list to append to `conditions` with `||`."""
    return [{"status": status, "reason": reason, "at": datetime.now(UTC).isoformat()}]


LiveSwitch = Callable[[uuid.UUID, uuid.UUID, str], None]
"""`(workspace_id, site_id, commit_id)`: points the site's `live` link, called under the site's row lock."""


async def _get(tx: Tx, deployment_id: uuid.UUID) -> Deployment | None:
    row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM deployments WHERE workspace_id = $1 AND id = $2",
                            tx.workspace_id, deployment_id)
    return None if row is None else _deployment(row)


async def workspace_of(db: Database, deployment_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace a deployment id from the stream belongs to (the worker-claim system path)."""
    async with db.transaction(WORKER_CLAIM, readonly=True) as tx:
        workspace_id: uuid.UUID | None = await tx.fetchval(
            "SELECT workspace_id FROM deployments WHERE id = $1", deployment_id)
    return workspace_id


class Deployments:
    """The deployments of one workspace: created by the API, built under a lease by workers."""

    def __init__(self, db: Database, workspace_id: uuid.UUID) -> None:
        self.db = db
        self.scope = Tenant(workspace_id)

    # --- the API side -----------------------------------------------------------------------------------

    async def create(self, actor: str, site_id: uuid.UUID, commit_id: str, ref: str) -> tuple[Deployment, int]:
        """Insert the deployment, its outbox row and the audit row in one transaction.

        Returns the deployment and the outbox id to mark once the XADD is done.
        Raises NotFound for a site outside the workspace.
        """
        deployment_id = uuid.uuid4()
        async with self.db.transaction(self.scope) as tx:
            await get_site(tx, site_id)
            row = await tx.fetchrow(
                f"INSERT INTO deployments (id, workspace_id, site_id, commit_id, conditions)"
                f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
                deployment_id, tx.workspace_id, site_id, commit_id, condition("pending", "created"),
            )
            assert row is not None
            outbox_id = await outbox.add(tx, deployment_id)
            await record(tx, "deployment.created", actor, str(deployment_id),
                         {"site_id": str(site_id), "commit": commit_id, "ref": ref})
        return _deployment(row), outbox_id

    async def mark_published(self, outbox_id: int) -> None:
        async with self.db.transaction(self.scope) as tx:
            await outbox.mark_published(tx, outbox_id)

    async def get(self, deployment_id: uuid.UUID) -> Deployment:
        """The deployment; NotFound when absent or another workspace's."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            dep = await _get(tx, deployment_id)
        if dep is None:
            raise NotFound(f"deployment {deployment_id} does not exist", {"deployment_id": str(deployment_id)})
        return dep

    async def find(self, deployment_id: uuid.UUID) -> Deployment | None:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            return await _get(tx, deployment_id)

    async def list(self, site_id: uuid.UUID | None, limit: int) -> list[Deployment]:
        """Newest first; all of the workspace's sites when `site_id` is None (NotFound for an unknown site)."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            if site_id is not None:
                await get_site(tx, site_id)
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM deployments WHERE workspace_id = $1"
                " AND ($2::uuid IS NULL OR site_id = $2) ORDER BY created_at DESC, id DESC LIMIT $3",
                tx.workspace_id, site_id, limit,
            )
        return [_deployment(r) for r in rows]

    async def set_live(self, actor: str, site_id: uuid.UUID, deployment_id: uuid.UUID,
                       switch: LiveSwitch) -> Deployment:
        """Make a deployed deployment of the site live (rollback or forward).

        NotFound for an unknown site or deployment, InvalidRequest when the
        deployment belongs to another site, Conflict when it is not `deployed`.
        """
        async with self.db.transaction(self.scope) as tx:
            site = await get_site(tx, site_id, lock=True)
            dep = await _get(tx, deployment_id)
            if dep is None:
                raise NotFound(f"deployment {deployment_id} does not exist",
                               {"deployment_id": str(deployment_id)})
            if dep.site_id != site.id:
                raise InvalidRequest(f"deployment {deployment_id} belongs to another site",
                                     {"deployment_id": str(deployment_id)})
            if dep.status != "deployed":
                raise Conflict(f"deployment {deployment_id} is {dep.status}; only a deployed one can go live",
                               {"deployment_id": str(deployment_id), "status": dep.status})
            await tx.execute("UPDATE sites SET live_deployment_id = $3 WHERE workspace_id = $1 AND id = $2",
                             tx.workspace_id, site_id, deployment_id)
            await record(tx, "live.switched", actor, str(site_id),
                         {"deployment_id": str(deployment_id), "commit": dep.commit_id,
                          "previous": None if site.live_deployment_id is None else str(site.live_deployment_id)})
            # Under the row lock: a concurrent switch cannot interleave its symlink with ours.
            switch(tx.workspace_id, site_id, dep.commit_id)
        return dep

    # --- the worker side ------------------------------------------------------------------------------

    async def acquire_lease(self, deployment_id: uuid.UUID, owner: str, lease_s: float) -> Deployment | None:
        """Take the lease and move to `building`; None when another worker holds a live lease or it is done.

        The same owner may take its own lease again (a restarted worker keeps its name).
        """
        async with self.db.transaction(self.scope) as tx:
            row = await tx.fetchrow(
                f"UPDATE deployments SET status = 'building', lease_owner = $3,"
                f" lease_until = clock_timestamp() + make_interval(secs => $4), attempts = attempts + 1,"
                f" conditions = conditions || $5::jsonb"
                f" WHERE workspace_id = $1 AND id = $2 AND (status = 'pending' OR (status = 'building'"
                f"   AND (lease_owner = $3 OR lease_until IS NULL OR lease_until < clock_timestamp())))"
                f" RETURNING {_COLUMNS}",
                tx.workspace_id, deployment_id, owner, lease_s, condition("building", f"picked up by {owner}"),
            )
        return None if row is None else _deployment(row)

    async def renew_lease(self, deployment_id: uuid.UUID, owner: str, lease_s: float) -> bool:
        """Extend our lease; False when it was taken over (we must not finish then)."""
        async with self.db.transaction(self.scope) as tx:
            done = await tx.fetchval(
                "UPDATE deployments SET lease_until = clock_timestamp() + make_interval(secs => $4)"
                " WHERE workspace_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'building' RETURNING true",
                tx.workspace_id, deployment_id, owner, lease_s,
            )
        return bool(done)

    async def build_inputs(self, dep: Deployment) -> tuple[Site, str | None]:
        """The deployment's site and the commit of the site's live deployment (to reuse its files)."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            site = await get_site(tx, dep.site_id)
            live: str | None = await tx.fetchval(
                "SELECT d.commit_id FROM sites s JOIN deployments d ON d.id = s.live_deployment_id"
                " WHERE s.workspace_id = $1 AND s.id = $2", tx.workspace_id, dep.site_id)
        return site, live

    async def finish_deployed(self, dep: Deployment, owner: str, stats: dict[str, Any],
                              switch: LiveSwitch) -> bool | None:
        """Mark deployed and move live when `dep` is newer than the live one, in one transaction.

        Returns whether live moved, or None when our lease was lost (nothing changed).
        """
        async with self.db.transaction(self.scope) as tx:
            # Lock the site first; the live deployment is read by a later statement, so it sees
            # what a concurrent finisher committed before we got the lock.
            live_id = await tx.fetchval(
                "SELECT live_deployment_id FROM sites WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
                tx.workspace_id, dep.site_id)
            live_created = None if live_id is None else await tx.fetchval(
                "SELECT created_at FROM deployments WHERE workspace_id = $1 AND id = $2", tx.workspace_id, live_id)
            done = await tx.fetchval(
                "UPDATE deployments SET status = 'deployed', stats = $4, error = NULL,"
                " finished_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,"
                " conditions = conditions || $5::jsonb"
                " WHERE workspace_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'building' RETURNING true",
                tx.workspace_id, dep.id, owner, stats, condition("deployed", "build finished"),
            )
            if not done:
                return None
            newer = live_id is None or (live_created, str(live_id)) < (dep.created_at, str(dep.id))
            if newer:
                await tx.execute("UPDATE sites SET live_deployment_id = $3 WHERE workspace_id = $1 AND id = $2",
                                 tx.workspace_id, dep.site_id, dep.id)
            await record(tx, "deployment.finished", f"worker:{owner}", str(dep.id),
                         {"status": "deployed", "site_id": str(dep.site_id), "commit": dep.commit_id,
                          "live": newer})
            if newer:
                await record(tx, "live.switched", f"worker:{owner}", str(dep.site_id),
                             {"deployment_id": str(dep.id), "commit": dep.commit_id,
                              "previous": None if live_id is None else str(live_id)})
                switch(tx.workspace_id, dep.site_id, dep.commit_id)
        return newer

    async def finish_failed(self, deployment_id: uuid.UUID, owner: str, error: str, reason: str,
                            stats: dict[str, Any] | None = None) -> bool:
        """Mark failed unless finished, or leased by another live worker; True when this call failed it."""
        async with self.db.transaction(self.scope) as tx:
            row = await tx.fetchrow(
                "UPDATE deployments SET status = 'failed', error = $4, stats = stats || $6::jsonb,"
                " finished_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,"
                " conditions = conditions || $5::jsonb"
                " WHERE workspace_id = $1 AND id = $2 AND (status = 'pending' OR (status = 'building'"
                "   AND (lease_owner = $3 OR lease_until IS NULL OR lease_until < clock_timestamp())))"
                " RETURNING site_id, commit_id",
                tx.workspace_id, deployment_id, owner, error, condition("failed", reason), stats or {},
            )
            if row is None:
                return False
            await record(tx, "deployment.finished", f"worker:{owner}", str(deployment_id),
                         {"status": "failed", "site_id": str(row["site_id"]), "commit": row["commit_id"],
                          "error": error})
        return True
