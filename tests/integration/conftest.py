"""Fixtures shared by the integration tests of the CRM's figures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from contactcenter.core.db import create_pool, migrate
from contactcenter.crm.settings import CrmSettings, load_crm_settings
from tests.conftest import ROOT, Servers


@pytest.fixture(scope="module")
async def own_database(servers: Servers) -> AsyncIterator[str]:
    """A database of the test module's own: a full recompute ranks every customer in its
    database, so tests of the figures must not share one with other tests."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.admin_database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(servers.admin_database_url)._replace(path=f"/{name}"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="module")
async def own_pool(own_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(own_database, size=4)
    await migrate(pool)
    yield pool
    await pool.close()


@pytest.fixture
def crm() -> CrmSettings:
    return load_crm_settings(ROOT / "config", {})
