"""The application's typed keys for the core's shared resources (aiohttp `web.AppKey`).

The composition root (contactcenter/app.py) fills them; handlers read them from here, never
from the app factory. Each domain declares the keys of what it owns in its own `appkeys.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from aiohttp import web

from contactcenter.core.eventbus import EventBus
from contactcenter.core.redisconn import RedisClient

REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
POOL = web.AppKey("pool", asyncpg.Pool)
BUS = web.AppKey("bus", EventBus)
CLOCK: web.AppKey[Callable[[], int]] = web.AppKey("clock")
