"""Retention after a deployment finished: prune the site's old deployments, then delete their folders.

Rows first, in one transaction (openbook.db.retention), folders after it
committed (openbook.fs.storage): a crash in between leaves at worst a folder
that no unpruned deployment uses, and the next pruning of the site deletes it.
Nothing here fails the deployment that just finished: database outages and
disk errors are logged, and the next finished deployment tries again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from openbook.db.database import Database
from openbook.db.retention import DEFAULT_KEEP, prune_site
from openbook.errors import Unavailable
from openbook.fs import storage

log = logging.getLogger("openbook.retention")


async def prune_after_deploy(db: Database, storage_root: Path, workspace_id: uuid.UUID, site_id: uuid.UUID,
                             keep: int | None, min_age_s: float, actor: str) -> None:
    """Apply the site's `keep_deployments` (`keep`, None for the default); logs, never raises OpenBook errors."""
    count = DEFAULT_KEEP if keep is None else keep
    try:
        pruned = await prune_site(db, workspace_id, site_id, count, min_age_s, actor)
    except Unavailable as exc:
        log.warning("retention skipped: %s", exc.message, extra={"site_id": str(site_id)})
        return
    cleanup = await asyncio.to_thread(storage.remove_unused_builds, storage_root, workspace_id, site_id,
                                      pruned.in_use, min_age_s)
    for problem in cleanup.problems:
        log.error("retention: %s", problem, extra={"site_id": str(site_id)})
    if pruned.deployments or cleanup.removed:
        log.info("retention pruned %d deployment(s), deleted %d folder(s)", len(pruned.deployments),
                 len(cleanup.removed), extra={"site_id": str(site_id), "keep": count,
                                              "folders": list(cleanup.removed)})
