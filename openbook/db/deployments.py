"""Deployment rows: creation with its outbox row, leases that fence workers, terminal states.

Status moves `pending -> building -> deployed | failed | superseded`; each
move appends a condition `{"status", "reason", "at"}`. A deployment
publishes to a target: the site's live folder (`live`) or one branch's
preview (`preview:<branch>`). Creating one makes the older deployments of the
same site and target that have not started building `superseded` (they are
never built: a burst of commits builds a handful of times, not once each).

A worker may only touch a deployment while it holds the lease (`lease_owner`,
`lease_until`): taking it is one `UPDATE ... WHERE status = 'pending' OR lease
expired`, so two workers never build the same deployment at once, and a
finish by a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from openbook.db import gclock, outbox, webhooks
from openbook.db.audit import record
from openbook.db.database import Database, Row, Tx
from openbook.db.idempotency import OnEffect, no_effect_hook
from openbook.db.previews import Preview
from openbook.db.scopes import WORKER_CLAIM, Tenant
from openbook.db.sites import Site, get_site
from openbook.errors import Conflict, InvalidRequest, NotFound

TERMINAL = frozenset({"deployed", "failed", "superseded"})
LIVE = "live"
Trigger = Literal["manual", "push", "preview"]
_COLUMNS = ("id, workspace_id, site_id, commit_id, status, error, stats, conditions, attempts, lease_owner,"
            " lease_until, created_at, finished_at, trigger, branch, target, pruned_at")


def preview_target(branch: str) -> str:
    return f"preview:{branch}"


@dataclass(frozen=True, slots=True)
class Queued:
    """A deployment committed with its outbox row: to XADD once the transaction is over."""

    deployment_id: uuid.UUID
    outbox_id: int


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
    trigger: str = "manual"
    branch: str | None = None
    target: str = LIVE
    pruned_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def preview_branch(self) -> str | None:
        """The branch this deployment previews, or None for the live site."""
        return self.target.removeprefix("preview:") if self.target != LIVE else None

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
            "trigger": self.trigger,
            "branch": self.branch,
            "target": "live" if self.target == LIVE else "preview",
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "pruned_at": None if self.pruned_at is None else self.pruned_at.isoformat(),
        }


def _deployment(row: Row) -> Deployment:
    return Deployment(
        id=row["id"], workspace_id=row["workspace_id"], site_id=row["site_id"], commit_id=row["commit_id"],
        status=row["status"], error=row["error"], stats=row["stats"], conditions=row["conditions"],
        attempts=row["attempts"], lease_owner=row["lease_owner"], created_at=row["created_at"],
        finished_at=row["finished_at"], trigger=row["trigger"], branch=row["branch"], target=row["target"],
        pruned_at=row["pruned_at"],
    )


def condition(status: str, reason: str) -> list[dict[str, str]]:
    """A one-element list to append to `conditions` with `||`."""
    return [{"status": status, "reason": reason, "at": datetime.now(UTC).isoformat()}]


LiveSwitch = Callable[[uuid.UUID, uuid.UUID, str], None]
"""`(workspace_id, site_id, commit_id)`: points the site's `live` link, called under the site's row lock."""


class Switches(Protocol):
    """What a finished build points at its folder: the live link, or one branch's preview links."""

    def live(self, workspace_id: uuid.UUID, site_id: uuid.UUID, commit_id: str) -> None: ...

    def preview(self, workspace_id: uuid.UUID, site_id: uuid.UUID, key: str, commit_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Finished:
    """What finishing a build moved: the live site, a preview (its key), or nothing newer."""

    live: bool
    preview_key: str | None = None


async def insert(tx: Tx, actor: str, site_id: uuid.UUID, commit_id: str, *, trigger: Trigger,
                 branch: str | None, target: str, ref: str) -> tuple[Deployment, Queued]:
    """A pending deployment with its outbox and audit rows; older pending ones of its target superseded."""
    deployment_id = uuid.uuid4()
    row = await tx.fetchrow(
        f"INSERT INTO deployments (id, workspace_id, site_id, commit_id, conditions, trigger, branch, target)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
        deployment_id, tx.workspace_id, site_id, commit_id, condition("pending", f"created ({trigger})"),
        trigger, branch, target,
    )
    assert row is not None
    superseded = await tx.fetch(
        "UPDATE deployments SET status = 'superseded', finished_at = clock_timestamp(),"
        " conditions = conditions || $5::jsonb"
        " WHERE workspace_id = $1 AND site_id = $2 AND target = $3 AND status = 'pending' AND id <> $4"
        " RETURNING id",
        tx.workspace_id, site_id, target, deployment_id, condition("superseded", f"newer deployment {deployment_id}"),
    )
    outbox_id = await outbox.add(tx, deployment_id)
    await record(tx, "deployment.created", actor, str(deployment_id),
                 {"site_id": str(site_id), "commit": commit_id, "ref": ref, "trigger": trigger,
                  "superseded": [str(r["id"]) for r in superseded]})
    return _deployment(row), Queued(deployment_id, outbox_id)


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

    async def create(self, actor: str, site_id: uuid.UUID, commit_id: str, ref: str, branch: str | None = None,
                     on_effect: OnEffect[Deployment] = no_effect_hook) -> tuple[Deployment, int]:
        """A manual deployment of the live site, with its outbox and audit rows, in one transaction.

        Returns the deployment and the outbox id to mark once the XADD is done.
        Raises NotFound for a site outside the workspace or a commit no longer stored.
        """
        async with self.db.transaction(self.scope) as tx:
            await get_site(tx, site_id)
            await gclock.protect(tx, [commit_id])
            dep, queued = await insert(tx, actor, site_id, commit_id, trigger="manual", branch=branch,
                                       target=LIVE, ref=ref)
            await on_effect(tx, dep)
        return dep, queued.outbox_id

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

    async def recent(self, site_id: uuid.UUID | None, limit: int) -> list[Deployment]:
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

    async def of_commit(self, commit_id: str) -> list[Deployment]:
        """Every deployment built from the commit, newest first (the commit's statuses)."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM deployments WHERE workspace_id = $1 AND commit_id = $2"
                                  " ORDER BY created_at DESC, id DESC", tx.workspace_id, commit_id)
        return [_deployment(r) for r in rows]

    async def previews(self, site_id: uuid.UUID) -> list[tuple[Preview, Deployment | None]]:
        """The site's previews by branch, each with its newest deployment (whatever its status)."""
        async with self.db.transaction(self.scope, readonly=True) as tx:
            await get_site(tx, site_id)
            found = await tx.fetch("SELECT site_id, branch, key, deployment_id FROM previews"
                                   " WHERE workspace_id = $1 AND site_id = $2 ORDER BY branch",
                                   tx.workspace_id, site_id)
            newest = await tx.fetch(
                f"SELECT DISTINCT ON (target) {_COLUMNS} FROM deployments WHERE workspace_id = $1"
                " AND site_id = $2 AND target LIKE 'preview:%' ORDER BY target, created_at DESC, id DESC",
                tx.workspace_id, site_id)
        by_target = {r["target"]: _deployment(r) for r in newest}
        return [(Preview(r["site_id"], r["branch"], r["key"], r["deployment_id"]),
                 by_target.get(preview_target(r["branch"]))) for r in found]

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
            if dep.pruned_at is not None:
                raise Conflict(f"deployment {deployment_id} was pruned (its files are gone); deploy its commit again",
                               {"deployment_id": str(deployment_id), "pruned_at": dep.pruned_at.isoformat()})
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
        A deployment taken up again (its builder died) when a newer one of its site and
        target exists ends `superseded` instead: it could never show, and building it
        again and again would make it a poison message.
        """
        async with self.db.transaction(self.scope) as tx:
            stale = await tx.fetchrow(
                f"UPDATE deployments d SET status = 'superseded', finished_at = clock_timestamp(),"
                f" lease_owner = NULL, lease_until = NULL, conditions = conditions || $4::jsonb"
                f" WHERE d.workspace_id = $1 AND d.id = $2 AND (d.status = 'pending' OR (d.status = 'building'"
                f"   AND (d.lease_owner = $3 OR d.lease_until IS NULL OR d.lease_until < clock_timestamp())))"
                f" AND EXISTS (SELECT 1 FROM deployments n WHERE n.workspace_id = d.workspace_id"
                f"   AND n.site_id = d.site_id AND n.target = d.target AND n.created_at > d.created_at"
                f"   AND n.status IN ('pending', 'building', 'deployed'))"
                f" RETURNING {_COLUMNS}",
                tx.workspace_id, deployment_id, owner, condition("superseded", "a newer deployment exists"),
            )
            if stale is not None:
                return _deployment(stale)
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
                              switches: Switches) -> Finished | None:
        """Mark deployed and point its target at it when it is newer than what the target shows.

        One transaction, under the site's row lock: the live site moves when `dep` was
        created after the live deployment (never backwards); a preview moves likewise
        within its branch (and not at all when the branch was deleted meanwhile).
        Returns what moved, or None when our lease was lost (nothing changed).
        """
        async with self.db.transaction(self.scope) as tx:
            # Lock the site first; what the target shows is read by later statements, so they
            # see what a concurrent finisher committed before we got the lock.
            live_id = await tx.fetchval(
                "SELECT live_deployment_id FROM sites WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
                tx.workspace_id, dep.site_id)
            done = await tx.fetchrow(
                "UPDATE deployments SET status = 'deployed', stats = $4, error = NULL,"
                " finished_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,"
                " conditions = conditions || $5::jsonb"
                " WHERE workspace_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'building'"
                " RETURNING finished_at, conditions",
                tx.workspace_id, dep.id, owner, stats, condition("deployed", "build finished"),
            )
            if done is None:
                return None
            branch = dep.preview_branch
            if branch is None:
                finished = Finished(live=await self._move_live(tx, dep, owner, live_id, switches))
            else:
                finished = Finished(live=False, preview_key=await self._move_preview(tx, dep, branch, switches))
            await record(tx, "deployment.finished", f"worker:{owner}", str(dep.id),
                         {"status": "deployed", "site_id": str(dep.site_id), "commit": dep.commit_id,
                          "live": finished.live, "preview": finished.preview_key})
            # `dep` is the row as claimed (building): what finishing changed comes from the UPDATE.
            await webhooks.enqueue(tx, "deployment.finished", {
                **dep.to_json(), "status": "deployed", "error": None, "stats": stats,
                "finished_at": done["finished_at"].isoformat(), "conditions": done["conditions"],
                "live": finished.live, "preview_key": finished.preview_key})
        return finished

    async def _move_live(self, tx: Tx, dep: Deployment, owner: str, live_id: uuid.UUID | None,
                         switches: Switches) -> bool:
        live_created = None if live_id is None else await tx.fetchval(
            "SELECT created_at FROM deployments WHERE workspace_id = $1 AND id = $2", tx.workspace_id, live_id)
        if live_id is not None and (dep.created_at, str(dep.id)) <= (live_created, str(live_id)):
            return False
        await tx.execute("UPDATE sites SET live_deployment_id = $3 WHERE workspace_id = $1 AND id = $2",
                         tx.workspace_id, dep.site_id, dep.id)
        await record(tx, "live.switched", f"worker:{owner}", str(dep.site_id),
                     {"deployment_id": str(dep.id), "commit": dep.commit_id,
                      "previous": None if live_id is None else str(live_id)})
        switches.live(tx.workspace_id, dep.site_id, dep.commit_id)
        return True

    async def _move_preview(self, tx: Tx, dep: Deployment, branch: str, switches: Switches) -> str | None:
        row = await tx.fetchrow(
            "SELECT p.key, d.created_at, d.id FROM previews p LEFT JOIN deployments d ON d.id = p.deployment_id"
            " WHERE p.workspace_id = $1 AND p.site_id = $2 AND p.branch = $3 FOR UPDATE OF p",
            tx.workspace_id, dep.site_id, branch)
        if row is None:
            return None  # the branch (and its previews) went away while this built
        if row["id"] is not None and (dep.created_at, str(dep.id)) <= (row["created_at"], str(row["id"])):
            return None
        await tx.execute("UPDATE previews SET deployment_id = $4, updated_at = clock_timestamp()"
                         " WHERE workspace_id = $1 AND site_id = $2 AND branch = $3",
                         tx.workspace_id, dep.site_id, branch, dep.id)
        key: str = row["key"]
        switches.preview(tx.workspace_id, dep.site_id, key, dep.commit_id)
        return key

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
                f" RETURNING {_COLUMNS}",
                tx.workspace_id, deployment_id, owner, error, condition("failed", reason), stats or {},
            )
            if row is None:
                return False
            dep = _deployment(row)
            await record(tx, "deployment.finished", f"worker:{owner}", str(deployment_id),
                         {"status": "failed", "site_id": str(dep.site_id), "commit": dep.commit_id, "error": error})
            await webhooks.enqueue(tx, "deployment.finished", dep.to_json())
        return True
