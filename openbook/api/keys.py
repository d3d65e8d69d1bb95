"""Typed application keys shared by the handlers."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from openbook.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Any)
REDIS = web.AppKey("redis", aioredis.Redis)
