"""What the queue and contact resources' tests share: a hub whose queues come from a folder
the test may edit (`support`, served by the demo agents, and `billing`, whose skill is the
test's own, so that agents of other tests never count as eligible), an admin, two teams with
a supervisor each (created with SQL: there is no teams API yet), their tokens, and calls
that poll with a bounded wait."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from argon2 import PasswordHasher
from pydantic import BaseModel

from contactcenter.core.appkeys import POOL
from contactcenter.settings.hub import HubSettings, load_routing
from contactcenter.web.appkeys import AGENTS
from contactcenter.web.auth import session_hash
from tests.conftest import ROOT, TEST_PASSWORD, LiveHub, start_hub
from tests.e2e.clients import login

QUEUES_TOML = """
[[queue]]
name = "support"
skill = "support"
channels = ["chat"]
offer_timeout_s = 20
dispositions = ["resolved", "follow-up"]
wrapup_s = 120
service_level_s = { chat = 60 }

[[queue]]
name = "billing"
skill = "{billing_skill}"
strategy = "most-skilled"
priority = 5
channels = ["chat", "email"]
offer_timeout_s = 30
dispositions = ["paid", "refunded"]
disposition_required = false
max_length = 50
service_level_s = 120

[queue.hours]
timezone = "Europe/Paris"
mon = ["09:00-12:00", "14:00-18:00"]
holidays = ["2026-12-25"]
when_closed = "queue"

[[queue.escalation]]
after_s = 90
any_language = true
overflow = ["support"]
"""


SUPERVISORS = ("admin", "sup_a", "sup_b", "loner")


@dataclass
class Site:
    """A running hub with its people: `tokens` by name (admin, sup_a, sup_b, alice, bob,
    loner: a supervisor of no team); team A answers for support and holds alice, team B
    answers for billing and holds bob."""

    hub: LiveHub
    folder: Path
    billing_skill: str
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    ids: dict[str, str]

    async def call(self, who: str | None, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        async with self.session.get(self.hub.base_url + path, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def ok(self, who: str, path: str, model: type[BaseModel], **kw: Any) -> Any:
        status, body = await self.call(who, path, **kw)
        assert status == 200, (path, status, body)
        model.model_validate(body)  # the answer is what the document says
        return body

    async def until(
        self,
        who: str,
        path: str,
        model: type[BaseModel],
        done: Callable[[Any], bool],
        timeout_s: float = 10.0,
    ) -> Any:
        """The first answer `done` accepts, read again every 50 ms for at most `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            body = await self.ok(who, path, model)
            if done(body):
                return body
            if loop.time() > deadline:
                raise AssertionError(f"{path} never got there; last answer: {body}")
            await asyncio.sleep(0.05)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.hub.app[POOL]


@cache
def _password_hash() -> str:
    return PasswordHasher().hash(TEST_PASSWORD)


async def account(pool: asyncpg.Pool, username: str, role: str) -> str:
    """An account as an operator would create it, with the tests' password (hashed once:
    hashing is what makes creating accounts slow)."""
    agent_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO agents (id, username, display_name, role, password_hash)"
        " VALUES ($1, $2, $3, $4, $5)",
        agent_id, username, username.title(), role, _password_hash(),
    )  # fmt: skip
    return str(agent_id)


async def session_for(pool: asyncpg.Pool, agent_id: str) -> str:
    """A session token for `agent_id`, as a login gives one (without checking a password)."""
    token = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO sessions (token_hash, agent_id, expires_at)"
        " VALUES ($1, $2, now() + interval '1 hour')",
        session_hash(token), uuid.UUID(agent_id),
    )  # fmt: skip
    return token


def config_folder(tmp_path: Path, billing_skill: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(ROOT / "config" / "hub.toml", folder / "hub.toml")
    (folder / "queues.toml").write_text(QUEUES_TOML.replace("{billing_skill}", billing_skill))
    (folder / "routing.toml").write_text('[default]\nqueue = "support"\n')
    return folder


async def add_team(pool: asyncpg.Pool, queue: str, members: list[str], supervisor: str) -> str:
    team_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO teams (id, name) VALUES ($1, $2)", team_id, f"team-{team_id.hex[:8]}"
    )
    await pool.executemany(
        "INSERT INTO team_members (team_id, agent_id, supervises) VALUES ($1, $2, $3)",
        [(team_id, uuid.UUID(a), False) for a in members]
        + [(team_id, uuid.UUID(supervisor), True)],
    )
    await pool.execute("INSERT INTO team_queues (team_id, queue) VALUES ($1, $2)", team_id, queue)
    return str(team_id)


@asynccontextmanager
async def running_site(settings: HubSettings, tmp_path: Path) -> AsyncIterator[Site]:
    """The hub and its people, for the test's `site` fixture (the `redis` fixture, which
    clears the test's routing domain afterwards, must be among that fixture's own)."""
    billing_skill = f"billing_{uuid.uuid4().hex[:8]}"
    folder = config_folder(tmp_path, billing_skill)
    queues, rules, default = load_routing(folder)
    hub, runner = await start_hub(
        replace(settings, config_dir=folder, queues=queues, rules=rules, default_route=default)
    )
    try:
        async with aiohttp.ClientSession() as http:
            yield await _people(hub, folder, billing_skill, http)
    finally:
        await runner.cleanup()
        await asyncio.sleep(0)


async def _people(
    hub: LiveHub, folder: Path, billing_skill: str, http: aiohttp.ClientSession
) -> Site:
    pool = hub.app[POOL]
    suffix = uuid.uuid4().hex[:8]  # the session's database outlives each test's accounts
    ids = {
        "admin": await account(pool, f"ada-{suffix}", "admin"),
        **{name: await account(pool, f"{name}-{suffix}", "supervisor")
           for name in SUPERVISORS[1:]},
    }  # fmt: skip
    for name in ("alice", "bob"):
        principal = await hub.app[AGENTS].by_username(name)
        assert principal is not None
        ids[name] = principal.agent_id
    ids["team_a"] = await add_team(pool, "support", [ids["alice"]], ids["sup_a"])
    ids["team_b"] = await add_team(pool, "billing", [ids["bob"]], ids["sup_b"])
    tokens = {name: await session_for(pool, ids[name]) for name in SUPERVISORS}
    tokens["alice"] = await login(hub.base_url, "alice", TEST_PASSWORD)
    return Site(hub, folder, billing_skill, http, tokens, ids)
