"""What administration does to routing, end to end through a running hub with real websocket
consoles: an agent made through the API first chooses their own password, then takes the
contacts their skills allow; a skill taken away or a level raised counts at the next
decision; a deactivated agent's console closes, their conversation goes back to its queue,
and they cannot log in until reactivated."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from contactcenter.conversations.appkeys import ROUTING, ROUTING_WORKER
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient, login
from tests.e2e.contactcenter.agents.admin_support import PASSWORD, AdminApi, admin_api
from tests.e2e.contactcenter.test_multiprocess import eventually

CHOSEN = "my-own-choice-2025"
SESSION_ENDED = 4001  # agent_console/agents/socket.py: the login session ended


async def console(hub: LiveHub, token: str) -> AgentClient:
    ws = await websockets.connect(
        hub.ws_url + "/ws/agent", additional_headers={"Authorization": f"Bearer {token}"}
    )
    client = AgentClient(ws)
    client.snapshot = await client.expect("snapshot")
    return client


async def closed_with(client: AgentClient, timeout_s: float = 10.0) -> tuple[int, str]:
    """The close code and reason the hub closed `client` with (within a bounded wait)."""
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                await client.ws.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason


async def support_team(admin: AdminApi) -> str:
    teams = (await admin.ok("GET", "/api/teams"))["items"]
    return str(next(t["team_id"] for t in teams if t["name"] == "Support"))


async def routing_skills(hub: LiveHub, agent_id: str) -> dict[str, int] | None:
    """The agent's skills as routing holds them (its Redis hash); None: unknown to routing."""
    fields = await hub.app[ROUTING].agent_fields(agent_id)
    return json.loads(fields["skills"]) if fields else None


async def chat(hub: LiveHub, name: str) -> tuple[ChatClient, str]:
    customer = await ChatClient.connect(hub.base_url, name)
    await customer.say("I need help with my invoice")
    return customer, (await customer.expect("queued"))["contact_id"]


async def refused_console(hub: LiveHub, token: str) -> tuple[int, dict[str, Any]]:
    try:
        ws = await websockets.connect(
            hub.ws_url + "/ws/agent", additional_headers={"Authorization": f"Bearer {token}"}
        )
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, json.loads(exc.response.body or b"{}")
    await ws.close()
    raise AssertionError("the console opened")


async def test_a_new_agent_chooses_their_password_then_takes_their_skills_contacts(
    hub: LiveHub, admin: AdminApi
) -> None:
    made = await admin.new_agent(
        "newcomer", skills={"support": 50}, team_ids=[await support_team(admin)],
        must_change_password=True,
    )  # fmt: skip
    other = await admin.login_as(made["login"])  # another session, ended by the change
    token = await admin.login_as(made["login"])  # the one-time password logs in...
    me = await admin.ok("GET", "/api/me", token)
    assert me["agent"]["must_change_password"] is True
    # ...to a session that serves nothing but choosing one's own.
    me_path = f"/api/agents/{made['agent_id']}"
    for method, path in (("GET", "/api/customers"), ("GET", me_path + "/voice"),
                         ("GET", "/api/contacts/x/messages"), ("GET", "/api/skills")):  # fmt: skip
        status, body = await admin.call(token, method, path)
        assert (status, body["error_id"]) == (403, "auth.password_change_required"), path
    status, body = await refused_console(hub, token)
    assert (status, body["error_id"]) == (403, "auth.password_change_required")
    assert await routing_skills(hub, made["agent_id"]) is None  # routing never heard of them
    await admin.ok(
        "POST", "/api/me/password", token,
        json={"current_password": PASSWORD, "new_password": CHOSEN},
    )  # fmt: skip
    assert (await admin.ok("GET", "/api/me", token))["agent"]["must_change_password"] is False
    assert (await admin.call(other, "GET", "/api/me"))[0] == 401
    assert (await admin.call(token, "GET", "/api/customers"))[0] == 200

    agent = await console(hub, token)  # the same session, now free
    await agent.go_available()
    assert await routing_skills(hub, made["agent_id"]) == {"support": 50}
    customer, contact_id = await chat(hub, "Newcomer's First")
    offer = await agent.expect("offer", timeout_s=10)
    assert offer["contact"]["contact_id"] == contact_id
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined")
    # The one-time password is spent; the chosen one logs in.
    async with aiohttp.ClientSession() as http:
        body = {"username": made["login"], "password": PASSWORD}
        async with http.post(hub.base_url + "/api/login", json=body) as r:
            assert r.status == 401
    assert await login(hub.base_url, made["login"], CHOSEN)
    for c in (agent, customer):
        await c.close()


async def test_a_skill_taken_away_stops_its_queues_offers_at_the_next_decision(
    hub: LiveHub, admin: AdminApi
) -> None:
    made = await admin.new_agent(
        "skilled", skills={"support": 50}, capacity={"chat": 3},
        team_ids=[await support_team(admin)],
    )  # fmt: skip
    agent_id = made["agent_id"]
    agent = await console(hub, await admin.login_as(made["login"]))
    await agent.go_available()
    first, first_id = await chat(hub, "Before")
    assert (await agent.expect("offer", timeout_s=10))["contact"]["contact_id"] == first_id
    assert (await agent.command("accept", contact_id=first_id))["type"] == "ack"

    # Still available, two chats free; the admin takes the skill away.
    await admin.ok("PATCH", f"/api/agents/{agent_id}", json={"skills": {}})
    assert await routing_skills(hub, agent_id) == {}
    second, second_id = await chat(hub, "After")
    # Not slowness: a whole routing pass, with this agent available and free, offers it to
    # nobody; the contact waits.
    assert (await hub.app[ROUTING_WORKER].run_pass()).offered == 0
    view = await hub.app[ROUTING].contact_view(second_id)
    assert view is not None and view.state == "queued"
    # Another agent with the skill comes: they get it.
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    assert (await alice.expect("offer", timeout_s=10))["contact"]["contact_id"] == second_id
    # Frames arrive in order: whatever the hub sent before this ack is read by now.
    assert (await agent.command("set_state", state="available"))["type"] == "ack"
    offered = [f["contact"]["contact_id"] for f in agent.seen if f["type"] == "offer"]
    assert offered == [first_id]
    for c in (agent, alice, first, second):
        await c.close()


async def test_a_supervisors_level_change_is_in_routing_at_once(
    hub: LiveHub, admin: AdminApi
) -> None:
    team = await support_team(admin)
    made = await admin.new_agent("levelled", skills={"support": 20}, team_ids=[team])
    never = await admin.new_agent("absent", skills={"support": 20}, team_ids=[team])
    sam = await login(hub.base_url, "sam", hub.demo_password)  # supervises Support
    agent = await console(hub, await admin.login_as(made["login"]))
    assert await routing_skills(hub, made["agent_id"]) == {"support": 20}
    for who in (made, never):
        changed = await admin.ok(
            "PATCH", f"/api/agents/{who['agent_id']}", sam, json={"skills": {"support": 90}}
        )
        assert changed["skills"] == {"support": 90}
    assert await routing_skills(hub, made["agent_id"]) == {"support": 90}
    # One who never opened a console is not made up in routing; theirs comes with it.
    assert await routing_skills(hub, never["agent_id"]) is None
    absent = await console(hub, await admin.login_as(never["login"]))
    assert await routing_skills(hub, never["agent_id"]) == {"support": 90}
    for c in (agent, absent):
        await c.close()


async def test_a_password_reset_signs_the_agent_out_until_they_choose_a_new_one(
    hub: LiveHub, admin: AdminApi
) -> None:
    made = await admin.new_agent("reset", skills={"support": 50})
    token = await admin.login_as(made["login"])
    agent = await console(hub, token)
    await admin.ok(
        "PUT", f"/api/agents/{made['agent_id']}/password", json={"password": "one-time-9876"}
    )
    assert await closed_with(agent) == (SESSION_ENDED, "session ended")
    assert (await admin.call(token, "GET", "/api/me"))[0] == 401
    token = await admin.login_as(made["login"], "one-time-9876")
    status, body = await refused_console(hub, token)
    assert (status, body["error_id"]) == (403, "auth.password_change_required")
    await admin.ok(
        "POST", "/api/me/password", token,
        json={"current_password": "one-time-9876", "new_password": CHOSEN},
    )  # fmt: skip
    await (await console(hub, token)).close()


@pytest.mark.parametrize("on_agent_lost", ["requeue-front", "keep"])
async def test_a_deactivated_agent_is_signed_out_and_their_conversation_requeued(
    settings: HubSettings, redis: Any, on_agent_lost: str
) -> None:
    """Even where a lost console keeps its conversations ("keep"), a deactivated agent
    keeps none: they are not coming back."""
    queue = replace(settings.queues[0], on_agent_lost=on_agent_lost)
    hub, runner = await start_hub(replace(settings, queues=(queue,)))
    try:
        async with aiohttp.ClientSession() as http:
            admin = await admin_api(hub, http)
            await deactivate_while_in_conversation(hub, admin)
    finally:
        await runner.cleanup()


async def deactivate_while_in_conversation(hub: LiveHub, admin: AdminApi) -> None:
    made = await admin.new_agent(
        "leaving", skills={"support": 50}, team_ids=[await support_team(admin)]
    )
    agent_id = made["agent_id"]
    token = await admin.login_as(made["login"])
    agent = await console(hub, token)
    await agent.go_available()
    customer, contact_id = await chat(hub, "Left Behind")
    assert (await agent.expect("offer", timeout_s=10))["contact"]["contact_id"] == contact_id
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined")
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)  # offline

    deactivated = await admin.ok("POST", f"/api/agents/{agent_id}/deactivate")
    assert deactivated["active"] is False
    assert await closed_with(agent) == (SESSION_ENDED, "session ended")
    fields = await hub.app[ROUTING].agent_fields(agent_id)
    assert fields["state"] == "offline"

    async def back_in_queue() -> bool:
        view = await hub.app[ROUTING].contact_view(contact_id)
        return view is not None and view.state == "queued" and view.agent_id is None

    assert await eventually(back_in_queue)
    assert contact_id not in await hub.app[ROUTING].agent_contact_ids(agent_id)
    await alice.go_available()
    assert (await alice.expect("offer", timeout_s=10))["contact"]["contact_id"] == contact_id

    # Signed out everywhere, and kept out: the old session is gone, a new one refused.
    assert (await admin.call(token, "GET", "/api/me"))[0] == 401
    async with aiohttp.ClientSession() as http:
        for password, status, error_id in (
            (PASSWORD, 403, "auth.deactivated"),
            ("not-the-password", 401, "auth.bad_credentials"),  # says nothing more
        ):
            body = {"username": made["login"], "password": password}
            async with http.post(hub.base_url + "/api/login", json=body) as r:
                assert (r.status, (await r.json())["error_id"]) == (status, error_id)
    await admin.ok("POST", f"/api/agents/{agent_id}/reactivate")
    back = await console(hub, await admin.login_as(made["login"]))
    assert back.snapshot["contacts"] == []  # what they held went to others
    for c in (back, alice, customer):
        await c.close()
