"""GET /api/audit: the workspace's audit trail, newest first."""

from __future__ import annotations

from aiohttp import web

from openbook.api.auth import require
from openbook.api.bodies import query_int
from openbook.api.keys import POOL
from openbook.db.audit import list_entries


async def get_audit(request: web.Request) -> web.Response:
    who = require(request, "read")
    limit = query_int(request, "limit", 100, 1, 1000)
    entries = await list_entries(request.app[POOL], who.workspace_id, limit)
    return web.json_response({"entries": entries})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/audit", get_audit)
