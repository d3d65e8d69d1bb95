"""What a branch head move sets off, inside the transaction that moves it (SPEC §11).

- every site of that branch with `auto_deploy` gets a `push` deployment of the new head;
- every site with `previews` whose branch is another gets a `preview` deployment of it;
- subscribed webhooks get `branch.updated`.

Being in the head's own transaction, there is no moment where a head moved and
its deployments do not exist, and a rolled-back move leaves none behind.
"""

from __future__ import annotations

from openbook.db import deployments, previews, webhooks
from openbook.db.database import Tx
from openbook.db.deployments import Queued


async def head_moved(tx: Tx, branch: str, before: str | None, after: str, actor: str,
                     via: str) -> list[Queued]:
    """Queue the deployments and webhook deliveries of a head move; the deployments to XADD."""
    queued: list[Queued] = []
    sites = await tx.fetch(
        "SELECT id, branch, auto_deploy, previews FROM sites WHERE workspace_id = $1"
        " AND ((branch = $2 AND auto_deploy) OR (branch <> $2 AND previews)) ORDER BY created_at, id",
        tx.workspace_id, branch)
    for site in sites:
        if site["branch"] == branch:
            _, q = await deployments.insert(tx, actor, site["id"], after, trigger="push", branch=branch,
                                            target=deployments.LIVE, ref=branch)
        else:
            await previews.ensure(tx, site["id"], branch)
            _, q = await deployments.insert(tx, actor, site["id"], after, trigger="preview", branch=branch,
                                            target=deployments.preview_target(branch), ref=branch)
        queued.append(q)
    await webhooks.enqueue(tx, "branch.updated", {"branch": branch, "before": before, "after": after,
                                                  "actor": actor, "via": via})
    return queued
