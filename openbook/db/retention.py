"""Retention (SPEC §11): which finished deployments of a site are pruned.

A site keeps `keep` deployments, `keep_deployments` of its site file
(default `DEFAULT_KEEP`), counted over all its targets (live and previews),
newest created first, as Netlify and Vercel keep the last N deploys:

- a `deployed` deployment is pruned once `keep` newer *deployed* ones exist:
  builds that failed or were superseded have no folder and do not push real
  builds out;
- a `failed` or `superseded` one is pruned once `keep` newer *finished* ones
  (any status) exist: its row stays as history either way, pruning only
  releases its commit to `openbook gc`;
- never the live deployment, never one a preview points at, never one
  finished less than `min_age_s` ago, never an unfinished one.

Pruning sets `pruned_at` (the rows stay; a pruned deployment cannot go live)
and returns which commits the site's unpruned deployments still use: a build
folder is per commit and several deployments can share it, so the caller
(openbook.worker.retention) deletes only folders no unpruned deployment uses,
after this transaction committed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from openbook.db.audit import record
from openbook.db.database import Database
from openbook.db.scopes import Tenant

DEFAULT_KEEP = 20


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pruning did: the deployments it marked, and the commits whose folders must stay."""

    deployments: tuple[uuid.UUID, ...]
    in_use: frozenset[str]


async def prune_site(db: Database, workspace_id: uuid.UUID, site_id: uuid.UUID, keep: int, min_age_s: float,
                     actor: str) -> Pruned:
    """Mark the site's deployments beyond `keep` pruned, with an audit row, in one transaction.

    Raises Unavailable when PostgreSQL cannot be reached (then nothing changed).
    """
    async with db.transaction(Tenant(workspace_id)) as tx:
        # The site's row lock: a finisher moving live or a preview waits for us (and we for it),
        # so what is live or previewed cannot change under this statement.
        site = await tx.fetchrow("SELECT live_deployment_id FROM sites WHERE workspace_id = $1 AND id = $2"
                                 " FOR UPDATE", workspace_id, site_id)
        if site is None:
            return Pruned((), frozenset())
        rows = await tx.fetch(
            "WITH ranked AS ("
            "  SELECT id, status,"
            "         row_number() OVER (PARTITION BY status = 'deployed' ORDER BY created_at DESC, id DESC)"
            "           AS status_rank,"
            "         row_number() OVER (ORDER BY created_at DESC, id DESC) AS rank"
            "    FROM deployments WHERE workspace_id = $1 AND site_id = $2"
            "     AND status IN ('deployed', 'failed', 'superseded'))"
            " UPDATE deployments d SET pruned_at = clock_timestamp() FROM ranked r"
            " WHERE d.id = r.id AND d.workspace_id = $1 AND d.pruned_at IS NULL"
            "   AND CASE WHEN r.status = 'deployed' THEN r.status_rank ELSE r.rank END > $3"
            "   AND d.finished_at < clock_timestamp() - make_interval(secs => $4)"
            "   AND d.id IS DISTINCT FROM $5"
            "   AND NOT EXISTS (SELECT 1 FROM previews p WHERE p.workspace_id = $1 AND p.deployment_id = d.id)"
            " RETURNING d.id",
            workspace_id, site_id, keep, float(min_age_s), site["live_deployment_id"])
        used = await tx.fetch("SELECT DISTINCT commit_id FROM deployments WHERE workspace_id = $1 AND site_id = $2"
                              " AND pruned_at IS NULL", workspace_id, site_id)
        pruned = tuple(sorted(r["id"] for r in rows))
        if pruned:
            await record(tx, "deployments.pruned", actor, str(site_id),
                         {"deployments": [str(d) for d in pruned], "keep": keep, "min_age_s": min_age_s})
    return Pruned(pruned, frozenset(r["commit_id"] for r in used))
