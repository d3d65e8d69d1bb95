"""Sites and their domains: rows, validation, audit in the same transaction.

A hostname belongs to one site in the whole system (the `domains` primary
key: a taken name is refused whoever holds it, by design); every other read
and write runs in a tenant transaction, so another tenant's site answers
NotFound exactly like a missing one.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openbook.db.audit import record
from openbook.db.database import Database, Row, Tx
from openbook.db.idempotency import OnEffect, no_effect_hook
from openbook.db.scopes import HOSTS_RECONCILE, Tenant
from openbook.errors import AlreadyExists, Conflict, InvalidRequest, NotFound

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
THEME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Site:
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    slug: str
    theme: str
    branch: str
    root: str
    settings: dict[str, Any]
    live_deployment_id: uuid.UUID | None
    created_at: datetime
    domains: tuple[str, ...] = ()
    auto_deploy: bool = True
    previews: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "slug": self.slug,
            "theme": self.theme,
            "branch": self.branch,
            "root": self.root,
            "settings": self.settings,
            "live_deployment_id": None if self.live_deployment_id is None else str(self.live_deployment_id),
            "domains": list(self.domains),
            "auto_deploy": self.auto_deploy,
            "previews": self.previews,
            "created_at": self.created_at.isoformat(),
        }


def validate_slug(slug: str) -> str:
    if not SLUG_RE.fullmatch(slug):  # match() lets "slug\n" through: $ matches before a final newline
        raise InvalidRequest(f"slug {slug!r} must match {SLUG_RE.pattern}", {"field": "slug"})
    return slug


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidRequest(f"name must be 1 to {MAX_NAME} printable characters", {"field": "name"})
    return name


HTML_MODES = ("escape", "sanitize", "trusted")
SETTINGS_KEYS = ("html", "strict", "base_url", "params")
MAX_SETTINGS_BYTES = 64 * 1024


def validate_settings(raw: Any) -> dict[str, Any]:
    """Site settings the renderer reads; every problem named at once (InvalidRequest).

    `html`: escape | sanitize (default) | trusted; `strict`: fail deployments
    with broken links; `base_url`: absolute http(s) URL for sitemaps (default:
    the site's first domain); `params`: free-form values for templates.
    """
    if not isinstance(raw, dict):
        raise InvalidRequest("settings must be an object", {"field": "settings"})
    problems = [f"unknown setting {k!r} (known: {', '.join(SETTINGS_KEYS)})" for k in raw if k not in SETTINGS_KEYS]
    if "html" in raw and raw["html"] not in HTML_MODES:
        problems.append(f"html must be one of {', '.join(HTML_MODES)}")
    if "strict" in raw and not isinstance(raw["strict"], bool):
        problems.append("strict must be true or false")
    if "base_url" in raw and not (isinstance(raw["base_url"], str)
                                  and re.match(r"^https?://[^/\s]+(/\S*)?$", raw["base_url"])):
        problems.append("base_url must be an absolute http(s) URL")
    if "params" in raw and not isinstance(raw["params"], dict):
        problems.append("params must be an object")
    if len(json.dumps(raw)) > MAX_SETTINGS_BYTES:
        problems.append(f"settings must be at most {MAX_SETTINGS_BYTES} bytes of JSON")
    if problems:
        raise InvalidRequest("invalid site settings: " + "; ".join(problems),
                             {"field": "settings", "problems": problems})
    return dict(raw)


def _site(row: Row, domains: tuple[str, ...]) -> Site:
    return Site(
        id=row["id"],
        workspace_id=row["workspace_id"],
        name=row["name"],
        slug=row["slug"],
        theme=row["theme"],
        branch=row["branch"],
        root=row["root"],
        settings=row["settings"],
        live_deployment_id=row["live_deployment_id"],
        created_at=row["created_at"],
        domains=domains,
        auto_deploy=row["auto_deploy"],
        previews=row["previews"],
    )


_COLUMNS = ("id, workspace_id, name, slug, theme, branch, root, settings, live_deployment_id, created_at,"
            " auto_deploy, previews")
UPDATABLE = ("name", "theme", "branch", "root", "settings", "auto_deploy", "previews")


async def get_site(tx: Tx, site_id: uuid.UUID, *, lock: bool = False) -> Site:
    """The site with its domains; NotFound when absent or another workspace's."""
    row = await tx.fetchrow(
        f"SELECT {_COLUMNS} FROM sites WHERE workspace_id = $1 AND id = $2" + (" FOR UPDATE" if lock else ""),
        tx.workspace_id, site_id,
    )
    if row is None:
        raise NotFound(f"site {site_id} does not exist", {"site_id": str(site_id)})
    hosts = await tx.fetch("SELECT hostname FROM domains WHERE workspace_id = $1 AND site_id = $2"
                           " ORDER BY hostname", tx.workspace_id, site_id)
    return _site(row, tuple(h["hostname"] for h in hosts))


class Sites:
    """The sites and domains of one workspace."""

    def __init__(self, db: Database, workspace_id: uuid.UUID) -> None:
        self.db = db
        self.scope = Tenant(workspace_id)

    async def create(self, actor: str, *, name: str, slug: str, theme: str, branch: str, root: str,
                     settings: dict[str, Any] | None = None, auto_deploy: bool = True,
                     previews: bool = False, on_effect: OnEffect[Site] = no_effect_hook) -> Site:
        """Insert the site and its audit row in one transaction; AlreadyExists for a taken slug."""
        site_id = uuid.uuid4()
        async with self.db.transaction(self.scope) as tx:
            row = await tx.insert_unique(
                f"INSERT INTO sites (id, workspace_id, name, slug, theme, branch, root, settings, auto_deploy,"
                f" previews) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_COLUMNS}",
                site_id, tx.workspace_id, name, slug, theme, branch, root, settings or {}, auto_deploy, previews,
                taken=AlreadyExists(f"a site with slug {slug!r} already exists", {"slug": slug}),
            )
            assert row is not None
            site = _site(row, ())
            await on_effect(tx, site)
            await record(tx, "site.created", actor, str(site_id),
                         {"slug": slug, "theme": theme, "branch": branch, "root": root, "auto_deploy": auto_deploy,
                          "previews": previews})
        return site

    async def update(self, actor: str, site_id: uuid.UUID, changes: dict[str, Any]) -> Site:
        """Change some of the site's fields (already validated); they apply from the next deployment."""
        fields = [k for k in UPDATABLE if k in changes]
        assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=3))
        async with self.db.transaction(self.scope) as tx:
            await get_site(tx, site_id, lock=True)
            await tx.execute(f"UPDATE sites SET {assignments} WHERE workspace_id = $1 AND id = $2",
                             tx.workspace_id, site_id, *(changes[k] for k in fields))
            await record(tx, "site.updated", actor, str(site_id), {k: changes[k] for k in fields})
            return await get_site(tx, site_id)

    async def get(self, site_id: uuid.UUID) -> Site:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            return await get_site(tx, site_id)

    async def all(self) -> list[Site]:
        async with self.db.transaction(self.scope, readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM sites WHERE workspace_id = $1 ORDER BY created_at, id", tx.workspace_id)
            hosts = await tx.fetch(
                "SELECT site_id, hostname FROM domains WHERE workspace_id = $1 ORDER BY hostname", tx.workspace_id)
        by_site: dict[uuid.UUID, list[str]] = {}
        for h in hosts:
            by_site.setdefault(h["site_id"], []).append(h["hostname"])
        return [_site(r, tuple(by_site.get(r["id"], ()))) for r in rows]

    async def add_domain(self, actor: str, site_id: uuid.UUID, hostname: str) -> Site:
        """Attach `hostname` to the site; Conflict when any site (of any workspace) holds it."""
        async with self.db.transaction(self.scope) as tx:
            await get_site(tx, site_id)
            # Whoever holds it: naming the holder would leak another tenant's site.
            await tx.insert_unique(
                "INSERT INTO domains (hostname, workspace_id, site_id) VALUES ($1, $2, $3)",
                hostname, tx.workspace_id, site_id,
                taken=Conflict(f"hostname {hostname!r} is already in use", {"hostname": hostname}),
            )
            await record(tx, "domain.added", actor, str(site_id), {"hostname": hostname})
            return await get_site(tx, site_id)

    async def remove_domain(self, actor: str, site_id: uuid.UUID, hostname: str) -> None:
        """Detach `hostname` from the site; NotFound when this site does not hold it."""
        async with self.db.transaction(self.scope) as tx:
            await get_site(tx, site_id)
            deleted = await tx.fetchval(
                "DELETE FROM domains WHERE hostname = $1 AND workspace_id = $2 AND site_id = $3"
                " RETURNING hostname",
                hostname, tx.workspace_id, site_id,
            )
            if deleted is None:
                raise NotFound(f"site {site_id} has no domain {hostname!r}", {"hostname": hostname})
            await record(tx, "domain.removed", actor, str(site_id), {"hostname": hostname})


async def all_domains(db: Database) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    """Every (hostname, workspace_id, site_id) of the system, for reconciling `_hosts` (a system path)."""
    async with db.transaction(HOSTS_RECONCILE, readonly=True) as tx:
        rows = await tx.fetch("SELECT hostname, workspace_id, site_id FROM domains ORDER BY hostname")
    return [(r["hostname"], r["workspace_id"], r["site_id"]) for r in rows]


async def all_previews(db: Database) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    """Every (preview key, workspace_id, site_id) with a deployed build, for reconciling `_hosts`."""
    async with db.transaction(HOSTS_RECONCILE, readonly=True) as tx:
        rows = await tx.fetch("SELECT key, workspace_id, site_id FROM previews WHERE deployment_id IS NOT NULL"
                              " ORDER BY key")
    return [(r["key"], r["workspace_id"], r["site_id"]) for r in rows]
