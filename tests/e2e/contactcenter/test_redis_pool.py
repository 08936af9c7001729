"""A hub process holds at most `storage.redis_max_connections` Redis connections, whatever
the bursts of consoles it served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import websockets
from redis.asyncio import Redis, RedisCluster

from contactcenter.core.redisconn import RedisClient, hub_client_name
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import login

BOUND = 6
CONSOLES = 80


@pytest.fixture
async def bounded_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(replace(settings, redis_max_connections=BOUND))
    yield live
    await runner.cleanup()


async def connections_named(redis: RedisClient, name: str) -> list[int]:
    """How many connections carry `name`, on each server (each node of a cluster)."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # learns the nodes, if no command did yet
        per_node = [await redis.client_list(target_nodes=node) for node in redis.get_primaries()]
    else:
        per_node = [await redis.client_list()]
    return [sum(1 for c in clients if c.get("name") == name) for clients in per_node]


async def burst(hub: LiveHub, token: str) -> None:
    """CONSOLES consoles connect at once, each reads its snapshot, and all leave at once."""
    headers = {"Authorization": f"Bearer {token}"}
    consoles = await asyncio.gather(
        *(
            websockets.connect(hub.ws_url + "/ws/agent", additional_headers=headers)
            for _ in range(CONSOLES)
        )
    )
    firsts = await asyncio.gather(*(asyncio.wait_for(c.recv(), 30) for c in consoles))
    assert all('"type":"snapshot"' in str(f) for f in firsts)
    await asyncio.gather(*(c.close() for c in consoles))


async def test_bursts_of_consoles_leave_at_most_the_bound_of_connections(
    bounded_hub: LiveHub, redis: RedisClient
) -> None:
    hub = bounded_hub
    name = hub_client_name(hub.settings.routing_domain)
    token = await login(hub.base_url, "alice", hub.demo_password)
    for _round in range(3):
        await burst(hub, token)
    held = await connections_named(redis, name)
    # Named, so the count is this hub's; at most the bound on each server (a cluster node
    # may hold a few more: the client reads the slot layout on a connection of its own).
    headroom = 4 if isinstance(redis, RedisCluster) else 0
    assert 0 < sum(held) and max(held) <= BOUND + headroom, held
