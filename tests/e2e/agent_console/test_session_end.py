"""Ending a login session closes its consoles (code 4001), on every hub process."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import websockets
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, free_port, start_hub
from tests.e2e.clients import AgentClient, login

SESSION_ENDED = 4001


async def console(base_url: str, token: str) -> AgentClient:
    ws = await websockets.connect(
        base_url.replace("http", "ws", 1) + "/ws/agent",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    client = AgentClient(ws)
    client.snapshot = await client.expect("snapshot")
    return client


async def logout(base_url: str, token: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base_url}/api/logout", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status == 200, await r.text()


async def closed_with(client: AgentClient, timeout_s: float = 10.0) -> int | None:
    """The close code the hub closed `client` with (within a bounded wait)."""
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                await client.ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None


async def test_logout_closes_the_sessions_console(hub: LiveHub) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    agent = await console(hub.base_url, token)
    await logout(hub.base_url, token)
    assert await closed_with(agent) == SESSION_ENDED


async def test_logout_closes_the_sessions_consoles_on_another_hub_process(
    settings: HubSettings, redis: Redis
) -> None:
    first, first_runner = await start_hub(settings)
    second, second_runner = await start_hub(replace(settings, port=free_port()))
    try:
        token = await login(first.base_url, "alice", first.demo_password)
        here = await console(first.base_url, token)
        there = await console(second.base_url, token)
        await logout(first.base_url, token)
        assert await closed_with(there) == SESSION_ENDED
        assert await closed_with(here) == SESSION_ENDED
        # The token opens nothing any more, on either process.
        for base_url in (first.base_url, second.base_url):
            try:
                await console(base_url, token)
                raise AssertionError("a console opened with an ended session")
            except websockets.InvalidStatus as exc:
                assert exc.response.status_code == 401
    finally:
        await second_runner.cleanup()
        await first_runner.cleanup()


async def test_another_session_of_the_same_agent_keeps_its_console(hub: LiveHub) -> None:
    ending = await login(hub.base_url, "alice", hub.demo_password)
    staying = await login(hub.base_url, "alice", hub.demo_password)
    gone = await console(hub.base_url, ending)
    kept = await console(hub.base_url, staying)
    await logout(hub.base_url, ending)
    assert await closed_with(gone) == SESSION_ENDED
    ack = await kept.command("set_state", state="available")
    assert ack["type"] == "ack", ack
