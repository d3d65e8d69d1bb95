"""The JSON API's aiohttp application factory: resources in cleanup_ctx, thin handlers per module.

`openbook/server.py` mounts the web studio on it; both serve the API port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator

from aiohttp import web

from openbook.api import audit, content, deployments, git, health, mirrors, openapi, sites, webhooks
from openbook.api import metrics as api_metrics
from openbook.api.auth import auth_middleware
from openbook.api.bodies import url_text_middleware
from openbook.api.errors import PARSER_LIMITS, error_middleware, header_limit_middleware, request_id_middleware
from openbook.api.keys import DATABASE, SETTINGS, STREAM
from openbook.api.metrics import metrics_middleware
from openbook.config import Settings
from openbook.db.database import Database
from openbook.db.workspaces import workspace_exists
from openbook.pipeline.relay import Relay
from openbook.pipeline.webhooks import WebhookDelivery
from openbook.stream.deployments import DeploymentStream

log = logging.getLogger("openbook.api")

# A workspace deleted in the database stops authenticating within this time.
WORKSPACE_TTL_S = 30.0
WORKSPACE_CACHE_MAX = 10_000


class KnownWorkspaces:
    """Workspaces recently seen to exist: a bounded LRU whose entries expire after `ttl_s`."""

    def __init__(self, ttl_s: float = WORKSPACE_TTL_S, max_entries: int = WORKSPACE_CACHE_MAX) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: OrderedDict[uuid.UUID, float] = OrderedDict()

    def fresh(self, workspace_id: uuid.UUID) -> bool:
        seen = self._seen.get(workspace_id)
        if seen is None or time.monotonic() - seen > self.ttl_s:
            self._seen.pop(workspace_id, None)
            return False
        return True

    def remember(self, workspace_id: uuid.UUID) -> None:
        self._seen[workspace_id] = time.monotonic()
        self._seen.move_to_end(workspace_id)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)


def create_api(settings: Settings) -> web.Application:
    """Build the app; PostgreSQL and Redis are opened when it starts, closed when it stops."""
    assert settings.jwt is not None and settings.redis is not None
    known = KnownWorkspaces(WORKSPACE_TTL_S)

    async def check_workspace(workspace_id: uuid.UUID) -> bool:
        if known.fresh(workspace_id):
            return True
        if await workspace_exists(app[DATABASE], workspace_id):
            known.remember(workspace_id)
            return True
        return False

    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_id_middleware, metrics_middleware, header_limit_middleware, error_middleware,
                     auth_middleware(settings.jwt, check_workspace), url_text_middleware],
        handler_args=PARSER_LIMITS,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_postgres)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_outbox_relay)
    app.cleanup_ctx.append(_webhook_delivery)
    health.setup(app)
    api_metrics.setup(app)
    content.setup(app)
    audit.setup(app)
    sites.setup(app)
    deployments.setup(app)
    webhooks.setup(app)
    git.setup(app)
    mirrors.setup(app)
    openapi.setup(app)
    return app


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    app[DATABASE] = await Database.open(app[SETTINGS].database)
    yield
    await app[DATABASE].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].redis
    assert settings is not None
    stream = DeploymentStream(settings)
    await stream.wait_until_ready(settings.startup_wait_s)
    app[STREAM] = stream
    yield
    await stream.close()


async def _outbox_relay(app: web.Application) -> AsyncIterator[None]:
    """Re-send deployments whose XADD did not happen (Redis down, crash after COMMIT)."""
    task = asyncio.create_task(Relay(app[DATABASE], app[STREAM]).run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    """Send due webhook deliveries (leased: safe beside the workers' and other APIs' loops)."""
    task = asyncio.create_task(WebhookDelivery(app[DATABASE], app[SETTINGS].webhooks).run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

