"""GET /health: 200 when PostgreSQL and Redis answer, else 500 naming the failed check."""

from __future__ import annotations

import asyncio

from aiohttp import web

from openbook.api.keys import DATABASE, STREAM
from openbook.errors import Unavailable

CHECK_TIMEOUT_S = 3.0


async def get_health(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, check in (("postgres", request.app[DATABASE].ping()), ("redis", request.app[STREAM].ping())):
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except (Unavailable, TimeoutError) as exc:
            checks[name] = f"failed: {exc.message if isinstance(exc, Unavailable) else 'timeout'}"
    failed = [k for k, v in checks.items() if v != "ok"]
    body: dict[str, object] = {"status": "failed" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return web.json_response(body, status=500 if failed else 200)


def setup(app: web.Application) -> None:
    app.router.add_get("/health", get_health)
