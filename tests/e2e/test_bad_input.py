"""Bad input gets a clear error with a stable id and changes nothing."""

from __future__ import annotations

import json

import aiohttp
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from contactcenter.app import ROUTING
from tests.conftest import LiveHub, free_port, start_hub
from tests.e2e.clients import AgentClient, ChatClient


async def test_malformed_and_unknown_frames_get_errors_and_the_connection_survives(
    hub: LiveHub,
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.ws.send("{not json")
    assert (await agent.expect("error"))["error_id"] == "frame.malformed"
    await agent.send(type="fly", ref="x1")
    err = await agent.expect("error")
    assert err["error_id"] == "frame.unknown_type" and err["ref"] == "x1"
    await agent.send(type="set_state", state="dancing", ref="x2")
    err = await agent.expect("error")
    assert err["error_id"] == "frame.malformed" and err["details"]["errors"][0]["field"] == "state"
    err = await agent.command("accept", contact_id="no-such-contact")
    assert err["error_id"] == "offer.gone"
    # Nothing changed: the agent is still offline, and the connection still answers.
    fields = await hub.app[ROUTING].agent_fields(agent.agent_id)
    assert fields.get("state", "offline") == "offline"
    await agent.send(type="ping")
    await agent.expect("pong")
    await agent.close()


async def test_oversized_frame_closes_with_1009(hub: LiveHub) -> None:
    customer = await ChatClient.connect(hub.base_url, "Big Sender")
    await customer.ws.send(json.dumps({"type": "message", "text": "x" * 70_000}))
    with pytest.raises(ConnectionClosed):
        await customer.next(timeout_s=5)
    assert customer.ws.close_code == 1009


async def test_customer_frames_before_hello_are_refused(hub: LiveHub) -> None:
    async with websockets.connect(hub.ws_url + "/ws/chat") as ws:
        await ws.send(json.dumps({"type": "message", "text": "hi"}))
        frame = json.loads(await ws.recv())
        assert frame["seq"] == 1 and frame["error_id"] == "chat.hello_required"


async def test_agent_socket_without_a_session_is_refused_with_401(hub: LiveHub) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await websockets.connect(
            hub.ws_url + "/ws/agent", additional_headers={"Authorization": "Bearer forged"}
        )
    assert info.value.response.status_code == 401


async def test_wrapup_with_unknown_disposition_is_refused(hub: LiveHub) -> None:
    agent = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Wren")
    await customer.say("hello")
    contact_id = (await agent.expect("offer"))["contact"]["contact_id"]
    await agent.command("accept", contact_id=contact_id)
    await agent.command("end", contact_id=contact_id)
    err = await agent.command("wrapup", contact_id=contact_id, disposition="teleported")
    assert err["error_id"] == "wrapup.unknown_disposition"
    err = await agent.command("wrapup", contact_id=contact_id, disposition=None)
    assert err["error_id"] == "wrapup.disposition_required"
    live = await hub.app[ROUTING].contact(contact_id)
    assert live is not None and live.state == "wrapup"
    assert (await agent.command("wrapup", contact_id=contact_id, disposition="resolved"))[
        "type"
    ] == "ack"
    for c in (agent, customer):
        await c.close()


async def test_login_errors_have_stable_ids(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(hub.base_url + "/api/login", data="{") as r:
            assert r.status == 400 and (await r.json())["error_id"] == "request.invalid"
        async with http.post(
            hub.base_url + "/api/login", json={"username": "alice", "password": "wrong"}
        ) as r:
            assert r.status == 401 and (await r.json())["error_id"] == "auth.bad_credentials"
        async with http.get(hub.base_url + "/api/me") as r:
            assert r.status == 401 and (await r.json())["error_id"] == "auth.required"
        async with http.get(hub.base_url + "/api/nothing-here") as r:
            assert r.status == 404 and (await r.json())["error_id"] == "http.404"


async def test_healthz_is_ok_when_both_stores_answer(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http, http.get(hub.base_url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


async def test_healthz_names_redis_when_it_is_down(settings) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    dead = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", port=free_port())
    live, runner = await start_hub(dead)
    try:
        async with aiohttp.ClientSession() as http, http.get(live.base_url + "/healthz") as r:
            assert r.status == 503
            assert await r.json() == {"status": "down", "down": ["redis"]}
    finally:
        await runner.cleanup()
