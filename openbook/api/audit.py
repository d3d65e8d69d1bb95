"""GET /api/audit: the workspace's audit trail, newest first."""

from __future__ import annotations

from aiohttp import web

from openbook.api.auth import require
from openbook.api.bodies import query_int
from openbook.api.keys import DATABASE
from openbook.db.audit import list_entries
from openbook.db.scopes import Tenant


async def get_audit(request: web.Request) -> web.Response:
    who = require(request, "read")
    limit = query_int(request, "limit", 100, 1, 1000)
    async with request.app[DATABASE].transaction(Tenant(who.workspace_id), readonly=True) as tx:
        entries = await list_entries(tx, limit)
    return web.json_response({"entries": entries})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/audit", get_audit)
