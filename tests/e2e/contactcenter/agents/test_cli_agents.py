"""`contactcenter agents ...` as real processes against PostgreSQL and Redis: an agent made
from the command line logs in, changes their one-time password and takes work; a skill set
from the command line reaches routing at once; deactivating or resetting a password closes
their console; every refusal names the field and exits 2, changing nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from contactcenter.core.events import AgentAccountChanged, AgentProfileChanged
from contactcenter.core.redisconn import RedisClient
from tests.conftest import LiveHub, free_port
from tests.e2e.clients import AgentClient, login
from tests.e2e.contactcenter.agents.conftest import Cli, one_time_password, unique

FIRST_PASSWORD = "first-one-time-pw-1"
OWN_PASSWORD = "my-own-chosen-pw-2"


async def test_add_creates_an_agent_with_a_one_time_password_announced_and_audited(
    cli: Cli,
) -> None:
    team, name = unique("Team "), unique("dora")
    await cli.ok("teams", "add", team, "--queue", "support")
    out = await cli.ok(
        "agents", "add", name, "--name", "Dora Diaz", "--email", f"{name}@example.com",
        "--skill", "support=50", "--skill", "billing=20", "--language", "en", "--language",
        "es", "--capacity", "chat=2", "--capacity", "voice=0", "--team", team,
    )  # fmt: skip
    password = one_time_password(out, name)
    assert out.count(password) == 1 and "must change password at next login" in out
    assert f"teams: {team}" in out and "skills: billing=20, support=50" in out

    [row] = await cli.fetch("SELECT * FROM agents WHERE username = $1", name)
    assert row["must_change_password"] and row["active"] and row["role"] == "agent"
    assert json.loads(row["skills"]) == {"support": 50, "billing": 20}
    capacity = json.loads(row["capacity"])
    assert (capacity["chat"], capacity["voice"], capacity["email"]) == (2, 0, 5)  # 5: default
    assert list(row["languages"]) == ["en", "es"]
    agent_id = str(row["id"])
    [audit] = await cli.fetch(
        "SELECT actor, actor_id, action FROM audit_log WHERE target_id = $1", agent_id
    )
    assert (audit["actor"], audit["actor_id"], audit["action"]) == ("cli", None, "agent.create")
    said = await cli.events(AgentAccountChanged, agent_id=agent_id)
    assert [(e.change, e.by_agent_id) for e in said] == [("created", None)]

    listed = json.loads(await cli.ok("agents", "list", "--team", team, "--json"))
    assert [a["login"] for a in listed] == [name]
    table = await cli.ok("agents", "list", "--skill", "billing")
    assert name in table and "billing=20,support=50" in table


async def test_refusals_name_the_field_exit_2_and_change_nothing(cli: Cli) -> None:
    name = unique("eli")
    await cli.ok("agents", "add", name, "--name", "Eli", "--skill", "support=10")
    before = await cli.fetch("SELECT * FROM agents WHERE username = $1", name)
    refusals = {
        ("agents", "add", name, "--name", "Again"):
            "login: this login is taken [agents.login_taken]",
        ("agents", "add", unique("x"), "--name", "X", "--skill", "sales=5"):
            "skills.sales: no queue or routing rule uses the skill 'sales' [agents.unknown_skill]",
        ("agents", "add", unique("x"), "--name", "X", "--skill", "support=101"):
            "skills.support: a level is 0 to 100 [agents.level_out_of_range]",
        ("agents", "add", unique("x"), "--name", "X", "--skill", "support"):
            "skills: 'support' is not name=number (like support=50)",
        ("agents", "add", unique("x"), "--name", "X", "--team", "No Such Team"):
            "team: no team named 'No Such Team' [teams.not_found]",
        ("agents", "add", unique("x"), "--name", "X", "--email", "nope"):
            "email: not an email address [agents.invalid]",
        ("agents", "set", name, "--capacity", "chat=0", "--capacity", "voice=0",
         "--capacity", "sms=0", "--capacity", "whatsapp=0", "--capacity", "email=0"):
            "capacity: an agent who can take nothing on any channel [agents.no_capacity]",
        ("agents", "set", name, "--no-skill", "billing"): f"skills.billing: {name} has no skill",
        ("agents", "set", name): "nothing to change",
        ("agents", "set", "nobody-here", "--name", "X"):
            "login: no agent has the login 'nobody-here' [agents.not_found]",
        ("agents", "deactivate", "nobody-here"): "login: no agent has the login 'nobody-here'",
    }  # fmt: skip
    for args, said in refusals.items():
        assert said in await cli.refused(*args), args
    assert await cli.fetch("SELECT * FROM agents WHERE username = $1", name) == before
    assert (
        await cli.fetch("SELECT 1 FROM agents WHERE username LIKE 'x%' AND display_name = 'X'")
        == []
    )


async def test_a_store_that_does_not_answer_is_said_in_one_line(cli: Cli) -> None:
    env = {**cli.env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "contactcenter", "agents", "list"], env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "PostgreSQL or Redis did not answer" in done.stderr
    assert "Traceback" not in done.stderr


@dataclass
class Working:
    login: str
    agent_id: str
    console: AgentClient


async def _logged_in_with_own_password(hub: LiveHub, login_name: str) -> str:
    token = await login(hub.base_url, login_name, FIRST_PASSWORD)
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(
            f"{hub.base_url}/api/me/password",
            json={"current_password": FIRST_PASSWORD, "new_password": OWN_PASSWORD},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
    return token


@pytest.fixture
async def working(hub: LiveHub, cli: Cli, redis: RedisClient) -> AsyncIterator[Working]:
    """An agent made from the command line who changed their one-time password, has a
    console open and is available: one routing knows."""
    name = unique("fay")
    await cli.ok("agents", "add", name, "--name", "Fay Lee", "--skill", "support=50",
                 "--password-stdin", stdin=FIRST_PASSWORD + "\n")  # fmt: skip
    await _logged_in_with_own_password(hub, name)
    console = await AgentClient.connect(hub.base_url, name, OWN_PASSWORD)
    await console.go_available()
    agent_id = console.agent_id
    assert await redis.hget(cli.keys.agent(agent_id), "state") == "available"
    yield Working(name, agent_id, console)
    await console.close()


async def test_a_skill_set_from_the_command_line_reaches_routing_at_once(
    working: Working, cli: Cli, redis: RedisClient
) -> None:
    key = cli.keys.agent(working.agent_id)
    assert json.loads(await redis.hget(key, "skills")) == {"support": 50}

    out = await cli.ok("agents", "set", working.login, "--skill", "support=80",
                       "--skill", "billing=30", "--language", "fr")  # fmt: skip
    assert f"updated {working.login}: languages, skills" in out
    # set by the command before it returns: the next decision sees it
    assert json.loads(await redis.hget(key, "skills")) == {"support": 80, "billing": 30}
    assert json.loads(await redis.hget(key, "languages")) == ["fr"]
    changed = await cli.events(AgentAccountChanged, agent_id=working.agent_id, change="updated")
    assert [e.fields for e in changed] == [["languages", "skills"]]
    profiles = await cli.events(AgentProfileChanged, agent_id=working.agent_id)
    assert profiles[-1].skills == {"support": 80, "billing": 30}

    await cli.ok("agents", "set", working.login, "--no-skill", "support", "--capacity", "chat=1")
    assert json.loads(await redis.hget(key, "skills")) == {"billing": 30}
    assert await redis.hget(key, "cap:chat") == "1"
    assert await redis.hget(key, "state") == "available"  # a change of profile, not of state


async def test_deactivating_closes_the_console_and_takes_the_agent_offline(
    working: Working, hub: LiveHub, cli: Cli, redis: RedisClient
) -> None:
    out = await cli.ok("agents", "deactivate", working.login)
    assert "is deactivated" in out
    await asyncio.wait_for(working.console.ws.wait_closed(), timeout=10)
    assert working.console.ws.close_code == 4001
    assert await redis.hget(cli.keys.agent(working.agent_id), "state") == "offline"
    said = await cli.events(AgentAccountChanged, agent_id=working.agent_id, change="deactivated")
    assert len(said) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hub.base_url}/api/login",
                  json={"username": working.login, "password": OWN_PASSWORD}) as resp,
    ):  # fmt: skip
        assert resp.status == 403 and (await resp.json())["error_id"] == "auth.deactivated"
    assert "already deactivated" in await cli.ok("agents", "deactivate", working.login)
    everyone = json.loads(await cli.ok("agents", "list", "--all", "--json"))
    assert [a["active"] for a in everyone if a["login"] == working.login] == [False]
    active = json.loads(await cli.ok("agents", "list", "--json"))
    assert working.login not in [a["login"] for a in active]

    assert "reactivated" in await cli.ok("agents", "reactivate", working.login)
    await login(hub.base_url, working.login, OWN_PASSWORD)


async def test_a_new_password_ends_the_sessions_and_must_be_changed(
    working: Working, hub: LiveHub, cli: Cli
) -> None:
    out = await cli.ok("agents", "password", working.login)
    password = one_time_password(out, working.login)
    await asyncio.wait_for(working.console.ws.wait_closed(), timeout=10)
    assert working.console.ws.close_code == 4001
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hub.base_url}/api/login",
                  json={"username": working.login, "password": password}) as resp,
    ):  # fmt: skip
        assert resp.status == 200
        assert (await resp.json())["agent"]["must_change_password"] is True
    said = await cli.events(AgentAccountChanged, agent_id=working.agent_id, change="password_set")
    assert len(said) == 1

    refused = await cli.refused("agents", "password", working.login, "--password-stdin",
                                stdin=f"{working.login}-secret-9\n")  # fmt: skip
    assert "password: password too weak: must not contain the login" in refused
