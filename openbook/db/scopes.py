"""Whose rows a transaction may see: one tenant's, or a named system path's.

Row-level security (migration 0004) lets a transaction see the rows of the
workspace in `app.workspace_id`, or every row when `app.system_path` names a
system path. System paths are the few places that must cross workspaces; they
are all listed here (and, as the only names it accepts, in the policy of
migration 0004), and docs/ops/security.md says why each exists:

    outbox-relay      re-send unpublished outbox rows, re-queue unfinished deployments
    worker-claim      find which workspace a deployment id from the stream belongs to
    hosts-reconcile   rebuild every `_hosts/<hostname>` link at worker start
    webhook-delivery  send the webhook deliveries that are due, whoever's they are
    git-mirrors       find the mirror a push hook names, and the mirror syncs that are due
    backup            pg_dump, run by an operator (docs/ops/backup.md), never by OpenBook
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_NAME_RE = re.compile(r"^[a-z][a-z-]{0,40}$")


@dataclass(frozen=True, slots=True)
class Tenant:
    """A transaction of one workspace: RLS shows it that workspace's rows only."""

    workspace_id: uuid.UUID

    def __post_init__(self) -> None:
        if not isinstance(self.workspace_id, uuid.UUID):
            raise TypeError(f"workspace_id must be a uuid.UUID, got {type(self.workspace_id).__name__}")

    def setting_sql(self) -> str:
        # A uuid.UUID's text is hex digits and hyphens: safe inside the literal.
        return f"SELECT set_config('app.workspace_id', '{self.workspace_id}', true)"

    def __str__(self) -> str:
        return f"tenant {self.workspace_id}"


@dataclass(frozen=True, slots=True)
class SystemPath:
    """A transaction that may see every workspace's rows; only the constants below exist."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"system path names are lower-case words with hyphens, got {self.name!r}")

    def setting_sql(self) -> str:
        return f"SELECT set_config('app.system_path', '{self.name}', true)"

    def __str__(self) -> str:
        return f"system path {self.name}"


Scope = Tenant | SystemPath

OUTBOX_RELAY = SystemPath("outbox-relay")
WORKER_CLAIM = SystemPath("worker-claim")
HOSTS_RECONCILE = SystemPath("hosts-reconcile")
WEBHOOK_DELIVERY = SystemPath("webhook-delivery")
GIT_MIRRORS = SystemPath("git-mirrors")
SYSTEM_PATHS = (OUTBOX_RELAY, WORKER_CLAIM, HOSTS_RECONCILE, WEBHOOK_DELIVERY, GIT_MIRRORS)
