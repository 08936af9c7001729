"""Fixtures of the end-to-end tests beyond tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.conftest import Servers
from tests.e2e.processes import HubFactory
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.fake_twilio import FakeTwilio


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """Twilio's REST API on loopback, answering for the Twilio tests' account."""
    api = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def hubs(
    servers: Servers, database_url: str, routing_domain: str, redis: Redis, tmp_path: Path
) -> AsyncIterator[HubFactory]:
    """Starts hub processes on demand; stops them all (SIGTERM, then SIGKILL) at teardown,
    before the `redis` fixture removes the domain's keys."""
    factory = HubFactory(servers, database_url, routing_domain, tmp_path)
    try:
        yield factory
    finally:
        await factory.stop_all()
