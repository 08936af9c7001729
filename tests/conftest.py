"""Shared fixtures: real Redis and PostgreSQL, chosen by the same switch as the hub.

With REDIS_URL and DATABASE_URL set, tests use those servers; otherwise they start the
embedded ones once per session in a temporary folder. Each test session gets a fresh
PostgreSQL database, dropped at the end, and each test its own routing domain, so tests never
see each other's Redis keys and the machine's own data is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from redis.asyncio import Redis

from contactcenter.app import init
from contactcenter.core.redisconn import RedisClient, is_cluster_url, redis_client
from contactcenter.settings.hub import HubSettings, QueueSettings
from contactcenter.site_settings import load_settings
from tests.cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "test-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Servers:
    redis_url: str  # `?cluster=true` when it names a Redis Cluster (contactcenter.core.redisconn)
    admin_database_url: str  # a database to connect to for CREATE/DROP DATABASE

    @property
    def redis_cluster(self) -> bool:
        return is_cluster_url(self.redis_url)

    def client(self) -> RedisClient:
        """A new client of the right kind (Redis or RedisCluster) for `redis_url`."""
        return redis_client(self.redis_url)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """With CC_TEST_REDIS_CLUSTER=1, Redis is a three-node cluster started for the session on
    loopback ports (tests/cluster.py), whatever REDIS_URL says; PostgreSQL is chosen as ever."""
    redis_url, database_url = os.environ.get("REDIS_URL"), os.environ.get("DATABASE_URL")
    with ExitStack() as stack:
        if os.environ.get("CC_TEST_REDIS_CLUSTER") == "1":
            redis_url = stack.enter_context(LocalCluster()).url
        if redis_url and database_url:
            yield Servers(redis_url, database_url)
            return
        from contactcenter.embedded.servers import EmbeddedServices

        # Not pytest's tmp_path: it sits in a 0700 folder, and as root PostgreSQL runs as an
        # unprivileged user who must be able to reach its data folder.
        data_dir = Path(tempfile.mkdtemp(prefix="cc-embedded-"))
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        urls = stack.enter_context(
            EmbeddedServices(data_dir, start_redis=not redis_url, start_postgres=not database_url)
        )
        yield Servers(redis_url or urls.redis_url or "", database_url or urls.database_url or "")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def database_url(servers: Servers) -> AsyncIterator[str]:
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.admin_database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(servers.admin_database_url, name)
    admin = await asyncpg.connect(servers.admin_database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def routing_domain() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(servers: Servers, routing_domain: str) -> AsyncIterator[RedisClient]:
    """A client of the session's Redis (a RedisCluster one in cluster mode); the test's routing
    domain is deleted afterwards. On a cluster, scan_iter walks every primary."""
    client = servers.client()
    yield client
    keys = [k async for k in client.scan_iter(match=f"cc:{{{routing_domain}}}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def settings(
    servers: Servers, database_url: str, routing_domain: str, tmp_path: Path
) -> HubSettings:
    base = load_settings(ROOT / "config", {})
    return replace(
        base,
        port=free_port(),
        redis_url=servers.redis_url,
        database_url=database_url,
        routing_domain=routing_domain,
        routing_tick_ms=50,
        demo_password=TEST_PASSWORD,
        data_dir=tmp_path,
        db_pool_size=4,
        queues=(
            QueueSettings(
                name="support",
                skill="support",
                channels=("chat",),
                offer_timeout_s=20,
                dispositions=("resolved", "follow-up", "no-answer", "spam"),
            ),
        ),
    )


@dataclass
class LiveHub:
    base_url: str
    ws_url: str
    demo_password: str
    app: web.Application
    settings: HubSettings


async def start_hub(
    settings: HubSettings, clock: Callable[[], int] | None = None
) -> tuple[LiveHub, web.AppRunner]:
    """A hub on `settings`; `clock` (epoch ms) replaces the wall clock when given."""
    app = init(settings, clock=clock)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.port)
    await site.start()
    base = f"http://127.0.0.1:{settings.port}"
    return LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, settings), runner


@pytest.fixture
async def hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub running in this process on a free port, with the demo accounts seeded."""
    live, runner = await start_hub(settings)
    yield live
    await runner.cleanup()
    await asyncio.sleep(0)
