"""GET /health: 200 when PostgreSQL and Redis answer, else 500 naming the failed check."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError

from openbook.api.keys import POOL, REDIS
from openbook.db.pool import ping


async def get_health(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(ping(request.app[POOL]), 3)
        checks["postgres"] = "ok"
    except Exception as exc:  # whatever failed, the check's answer is that it failed
        checks["postgres"] = f"failed: {type(exc).__name__}"
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), 3)
        checks["redis"] = "ok"
    except (TimeoutError, RedisError, OSError) as exc:
        checks["redis"] = f"failed: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    failed = [k for k, v in checks.items() if v != "ok"]
    body: dict[str, object] = {"status": "ok" if ok else "failed", "checks": checks}
    if failed:
        body["failed"] = failed
    return web.json_response(body, status=200 if ok else 500)


def setup(app: web.Application) -> None:
    app.router.add_get("/health", get_health)
