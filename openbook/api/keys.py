"""Typed application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from openbook.config import Settings
from openbook.db.database import Database
from openbook.stream.deployments import DeploymentStream

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
STREAM = web.AppKey("stream", DeploymentStream)
