"""The aiohttp application factory: resources in cleanup_ctx, thin handlers per module."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from openbook.api import audit, content, deployments, health, openapi, sites
from openbook.api.auth import auth_middleware
from openbook.api.bodies import url_text_middleware
from openbook.api.errors import PARSER_LIMITS, error_middleware, header_limit_middleware, request_id_middleware
from openbook.api.keys import POOL, REDIS, SETTINGS
from openbook.config import Settings
from openbook.db.outbox import Relay
from openbook.db.pool import create_pool
from openbook.db.workspaces import workspace_exists
from openbook.logs import setup_logging
from openbook.stream.deployments import connect, wait_until_ready

log = logging.getLogger("openbook.api")


def create_app(settings: Settings) -> web.Application:
    """Build the app; PostgreSQL and Redis are opened when it starts, closed when it stops."""
    assert settings.jwt is not None and settings.redis is not None
    known_workspaces: set[uuid.UUID] = set()

    async def check_workspace(workspace_id: uuid.UUID) -> bool:
        # Workspaces are never deleted, so a positive answer can be remembered.
        if workspace_id in known_workspaces:
            return True
        if await workspace_exists(app[POOL], workspace_id):
            known_workspaces.add(workspace_id)
            return True
        return False

    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_id_middleware, header_limit_middleware, error_middleware,
                     auth_middleware(settings.jwt, check_workspace), url_text_middleware],
        handler_args=PARSER_LIMITS,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_postgres)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_outbox_relay)
    health.setup(app)
    content.setup(app)
    audit.setup(app)
    sites.setup(app)
    deployments.setup(app)
    openapi.setup(app)
    return app


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    app[POOL] = await create_pool(app[SETTINGS].database)
    yield
    await app[POOL].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].redis
    assert settings is not None
    client = connect(settings)
    await wait_until_ready(client, settings.startup_wait_s)
    app[REDIS] = client
    yield
    await client.aclose()


async def _outbox_relay(app: web.Application) -> AsyncIterator[None]:
    """Re-send deployments whose XADD did not happen (Redis down, crash after COMMIT)."""
    task = asyncio.create_task(Relay(app[POOL], app[REDIS]).run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_api(settings: Settings) -> int:
    setup_logging()
    app = create_app(settings)
    with contextlib.suppress(asyncio.CancelledError):
        web.run_app(app, host="0.0.0.0", port=settings.app_port, print=None, access_log=None,
                    shutdown_timeout=10)
    return 0


