"""Typed application keys shared by the handlers."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from openbook.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
