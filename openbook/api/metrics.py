"""`GET /metrics` on the API port, and the middleware that counts every answer by route template."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from openbook import metrics
from openbook.api import openapi
from openbook.api.errors import Handler
from openbook.api.keys import DATABASE
from openbook.db import outbox
from openbook.db.scopes import OUTBOX_RELAY
from openbook.errors import Unavailable

SCRAPE_TIMEOUT_S = 2.0


def _route(request: web.Request) -> str:
    """The route's template (`/api/branches/{name}`), never the path asked for: no tenant text in labels."""
    info = request.match_info
    route = info.route if info is not None else None
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route(request)
        metrics.HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)


async def get_metrics(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S):
            async with request.app[DATABASE].transaction(OUTBOX_RELAY, readonly=True) as tx:
                metrics.OUTBOX_BACKLOG.set(await outbox.backlog(tx))
    except (Unavailable, TimeoutError):
        metrics.OUTBOX_BACKLOG.set(float("nan"))  # unknown right now; the series says so
    return web.Response(body=metrics.exposition(metrics.API), headers={"Content-Type": metrics.CONTENT_TYPE})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", get_metrics)
    openapi.document("get", "/metrics", "Prometheus metrics (text format) for operators", role="none",
                     responses={200: ("the metrics", {"type": "string"})}, media="text/plain")
