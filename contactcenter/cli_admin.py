"""What the administration commands run on (part of the composition root): the services of
contactcenter/agents/ over the environment's or the embedded PostgreSQL and Redis, as a hub
process builds them, so that a change made from the command line is announced on the event
stream and reaches routing and running consoles like one made in the admin page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from contactcenter.agents.service import AdminService
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.core.db import create_pool, migrate
from contactcenter.core.eventbus import EventBus
from contactcenter.core.redisconn import redis_client
from contactcenter.site_settings import SiteSettings
from routing.store import RoutingStore
from routing.worker import wall_clock_ms

T = TypeVar("T")


def with_admin(
    settings: SiteSettings, work: Callable[[AdminService, TeamAdmin], Awaitable[T]]
) -> T:
    """Run `work` with the administration services (migrating PostgreSQL first)."""
    from contactcenter.cli_storage import storage

    async def run(live: SiteSettings) -> T:
        assert live.redis_url and live.database_url
        pool = await create_pool(live.database_url, size=2)
        redis = redis_client(live.redis_url, name="contactcenter-cli")
        try:
            await migrate(pool)
            routing = RoutingStore(redis, live.routing_domain)
            bus = EventBus(redis, routing.keys.events)
            admin = AdminService(pool, routing, bus, lambda: live, wall_clock_ms)
            teams = TeamAdmin(pool, bus, lambda: live, wall_clock_ms)
            return await work(admin, teams)
        finally:
            await pool.close()
            await redis.aclose()

    with storage(settings) as live:
        return asyncio.run(run(live))
