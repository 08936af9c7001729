"""Fixtures of the administration tests: a hub's API as an admin of the test's own
(`admin`), and the administration commands as an operator runs them (`cli`): real
`contactcenter` processes against the test's PostgreSQL database and Redis routing domain,
with the shipped configuration plus a `billing` queue (so that `billing` is a skill routing
knows)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from contactcenter.core.events import Event, decode_event
from contactcenter.core.redisconn import RedisClient
from contactcenter.settings.hub import HubSettings
from routing.keys import Keys
from tests.conftest import ROOT, LiveHub
from tests.e2e.contactcenter.agents.admin_support import AdminApi, admin_api

COMMAND_TIMEOUT_S = 90.0
BILLING_QUEUE = '\n[[queue]]\nname = "billing"\nskill = "billing"\nchannels = ["chat", "email"]\n'


@dataclass
class Cli:
    env: dict[str, str]
    redis: RedisClient
    keys: Keys
    database_url: str

    async def __call__(
        self, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `contactcenter *args` in a thread, so that a hub in this process keeps going."""
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "contactcenter", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        done = await self(*args, stdin=stdin)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stdout

    async def refused(self, *args: str, stdin: str | None = None) -> str:
        """The command's refusal (exit 2): its standard error."""
        done = await self(*args, stdin=stdin)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stderr

    async def events(self, kind: type[Event] | None = None, **match: Any) -> list[Any]:
        """Events on the stream, of `kind` and with fields equal to `match`."""
        found = []
        for _, fields in await self.redis.xrange(self.keys.events):
            event = decode_event(fields)
            if kind is not None and not isinstance(event, kind):
                continue
            if all(getattr(event, k) == v for k, v in match.items()):
                found.append(event)
        return found

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def agent_id(self, login: str) -> str:
        rows = await self.fetch("SELECT id::text AS id FROM agents WHERE username = $1", login)
        assert rows, f"no agent {login}"
        return str(rows[0]["id"])


def one_time_password(stdout: str, login: str) -> str:
    found = re.search(rf"one-time password for {re.escape(login)}: (\S+)", stdout)
    assert found, stdout
    return found.group(1)


def unique(prefix: str) -> str:
    """A login or team name no other test of the session uses (they share one database)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    with (folder / "queues.toml").open("a") as queues:
        queues.write(BILLING_QUEUE)
    return folder


@pytest.fixture
async def cli(
    settings: HubSettings, redis: RedisClient, cli_config: Path, tmp_path: Path
) -> AsyncIterator[Cli]:
    assert settings.redis_url and settings.database_url
    scrubbed = ("REDIS_URL", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in scrubbed and not k.startswith("CC_")}
    env.update(
        {
            "REDIS_URL": settings.redis_url,
            "DATABASE_URL": settings.database_url,
            "CC_ROUTING_DOMAIN": settings.routing_domain,
            "CC_CONFIG_DIR": str(cli_config),
            "CC_DATA_DIR": str(tmp_path / "data"),
            "CC_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    yield Cli(env, redis, Keys(settings.routing_domain), settings.database_url)


@pytest.fixture
async def admin(hub: LiveHub) -> AsyncIterator[AdminApi]:
    async with aiohttp.ClientSession() as http:
        yield await admin_api(hub, http)
