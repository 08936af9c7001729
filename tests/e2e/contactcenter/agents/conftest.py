"""Fixtures of the administration tests: a hub's API as an admin of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import LiveHub
from tests.e2e.contactcenter.agents.admin_support import AdminApi, admin_api


@pytest.fixture
async def admin(hub: LiveHub) -> AsyncIterator[AdminApi]:
    async with aiohttp.ClientSession() as http:
        yield await admin_api(hub, http)
