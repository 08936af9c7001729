"""The agents' CSV import against real PostgreSQL and Redis, when things go wrong mid-way: the
database failing after some agents are written, the passwords file failing before the commit,
another admin taking a login between the check and the write, Redis failing after the commit.
All or nothing holds: nothing is written and nothing announced, or everything is written."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from contactcenter.agents import audit, csv_import
from contactcenter.agents.audit import CLI
from contactcenter.agents.csv_import import ImportNotAnnounced, ImportRejected, import_agents
from contactcenter.agents.csv_rows import AgentRow, parse_file
from contactcenter.agents.service import AdminService, NewAgent
from contactcenter.agents.validation import known_skills
from contactcenter.core.db import create_pool, migrate
from contactcenter.core.eventbus import EventBus
from contactcenter.core.redisconn import RedisClient
from contactcenter.settings.hub import HubSettings
from routing.store import RoutingStore
from routing.worker import wall_clock_ms


@pytest.fixture
async def admin(settings: HubSettings, redis: RedisClient) -> AsyncIterator[AdminService]:
    assert settings.database_url
    pool = await create_pool(settings.database_url, size=2)
    await migrate(pool)
    routing = RoutingStore(redis, settings.routing_domain)
    yield AdminService(
        pool, routing, EventBus(redis, routing.keys.events), lambda: settings, wall_clock_ms
    )
    await pool.close()


def _rows(settings: HubSettings, count: int = 3) -> list[AgentRow]:
    tag = uuid.uuid4().hex[:6]
    text = "login,display_name,skills\n" + "".join(
        f"imp{tag}{i},Agent {i},support={10 * i}\n" for i in range(count)
    )
    rows, errors = parse_file(io.StringIO(text), known_skills(settings))
    assert errors == []
    return rows


async def _existing(admin: AdminService, rows: list[AgentRow]) -> list[str]:
    found = await admin.pool.fetch(
        "SELECT username FROM agents WHERE username = ANY($1)", [r.login for r in rows]
    )
    return sorted(r["username"] for r in found)


class Kept:
    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}

    def __call__(self, generated: Mapping[str, str]) -> None:
        self.passwords.update(generated)


async def test_a_good_import_is_written_then_announced(
    admin: AdminService, settings: HubSettings, redis: RedisClient
) -> None:
    rows, kept = _rows(settings), Kept()
    before = await redis.xlen(admin.routing.keys.events)
    report = await import_agents(admin, rows, actor=CLI, keep_passwords=kept)
    assert report.created == [r.login for r in rows] and report.generated == kept.passwords
    assert await _existing(admin, rows) == sorted(r.login for r in rows)
    assert await redis.xlen(admin.routing.keys.events) == before + 3


async def test_the_database_failing_mid_way_leaves_no_agent_and_announces_nothing(
    admin: AdminService, settings: HubSettings, redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, kept = _rows(settings), Kept()
    record, calls = audit.record, []

    async def failing_third_time(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 3:  # two agents written in the transaction, the third under way
            raise asyncpg.PostgresConnectionError("connection lost")
        await record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", failing_third_time)
    before = await redis.xlen(admin.routing.keys.events)
    with pytest.raises(asyncpg.PostgresConnectionError):
        await import_agents(admin, rows, actor=CLI, keep_passwords=kept)
    assert len(calls) == 3
    assert await _existing(admin, rows) == []
    assert kept.passwords == {}  # handed over only when everything is written
    assert await redis.xlen(admin.routing.keys.events) == before


async def test_the_passwords_file_failing_before_the_commit_rolls_everything_back(
    admin: AdminService, settings: HubSettings
) -> None:
    rows = _rows(settings)

    def disk_full(_: Mapping[str, str]) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        await import_agents(admin, rows, actor=CLI, keep_passwords=disk_full)
    assert await _existing(admin, rows) == []


async def test_a_login_taken_between_the_check_and_the_write_is_named_and_rolls_back(
    admin: AdminService, settings: HubSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(settings)
    passwords = csv_import._passwords

    async def meanwhile(*args: Any, **kwargs: Any) -> Any:
        hashed = await passwords(*args, **kwargs)
        new = NewAgent(login=rows[2].login, display_name="Quick", password="another-admin-42")
        await admin.create_agent(CLI, new)  # another admin, between the check and the write
        return hashed

    monkeypatch.setattr(csv_import, "_passwords", meanwhile)
    with pytest.raises(ImportRejected) as caught:
        await import_agents(admin, rows, actor=CLI, keep_passwords=Kept())
    assert [str(e) for e in caught.value.errors] == ["line 4: login: this login is taken"]
    assert await _existing(admin, rows) == [rows[2].login]  # the other admin's only


async def test_redis_failing_after_the_commit_says_the_agents_are_written(
    admin: AdminService, settings: HubSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, kept = _rows(settings), Kept()

    async def down(*_: Any) -> list[str]:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(admin.bus, "publish_many", down)
    with pytest.raises(ImportNotAnnounced) as caught:
        await import_agents(admin, rows, actor=CLI, keep_passwords=kept)
    assert "3 created and 0 updated agent(s) are written" in caught.value.message
    assert await _existing(admin, rows) == sorted(r.login for r in rows)
    assert sorted(kept.passwords) == sorted(r.login for r in rows)
