"""The application of the API port: the JSON API (`api/`) with the web studio (`studio/`) under /studio/."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from openbook.api.app import create_api
from openbook.config import Settings
from openbook.logs import setup_logging
from openbook.studio.app import create_studio


def create_app(settings: Settings) -> web.Application:
    """The API with the studio mounted on it (the studio uses the API's database, stream and settings)."""
    app = create_api(settings)
    app.add_subapp("/studio", create_studio(app))
    return app


def run_api(settings: Settings) -> int:
    """`openbook api`: serve the API port until SIGINT or SIGTERM."""
    setup_logging()
    with contextlib.suppress(asyncio.CancelledError):
        web.run_app(create_app(settings), host="0.0.0.0", port=settings.app_port, print=None, access_log=None,
                    shutdown_timeout=10)
    return 0
