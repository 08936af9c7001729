"""A console that does not read is bounded in bytes, not only in frames, and is let go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import psutil
import pytest
import websockets
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

from agent_console.appkeys import HUB
from contactcenter.conversations.appkeys import SERVICE
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, login
from tests.e2e.traffic import close_all, conversation

BOUND_BYTES = 64 * 1024
# The operating system buffers up to about 4 MB for a client that does not read (loopback
# included) before anything waits in the hub: send well past that.
BODY = "x" * 60_000
MESSAGES = 150  # 9 MB, in 150 frames: far below the frame bound


@pytest.fixture
async def bounded_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A bound of 64 KiB, and a frame bound no test here comes near."""
    tight = replace(settings, outbound_queue_size=100_000, max_outbound_bytes=BOUND_BYTES)
    live, runner = await start_hub(tight)
    yield live
    await runner.cleanup()


def grace(hub: LiveHub, seconds: float) -> None:
    """How long a client dropped as too slow has to take its close frame (for consoles
    connected from now on)."""
    console_hub = hub.app[HUB]
    console_hub.limits = replace(console_hub.limits, close_grace_s=seconds)


async def stuck_console(hub: LiveHub, username: str) -> ClientConnection:
    """A console whose client reads nothing until told: a small receive buffer, and a
    websocket client that stops reading from its socket after one frame. Returned once the
    hub has queued its snapshot: until then what comes is held for the hub's own sake, not
    the client's (agent_console/connection.py)."""
    token = await login(hub.base_url, username, hub.demo_password)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", hub.settings.port))
    sock.setblocking(False)
    ws = await websockets.connect(
        hub.ws_url + "/ws/agent",
        sock=sock,
        max_queue=1,
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    console_hub = hub.app[HUB]
    async with asyncio.timeout(10):
        while True:  # bounded by the timeout above
            if all(c.opened for conns in console_hub.agents.values() for c in conns):
                return ws
            await asyncio.sleep(0.02)


async def flood(hub: LiveHub, alice: AgentClient, contact_id: str) -> None:
    """Big customer messages in alice's conversation, each read by her console that reads
    before the next is stored (so that only the console that does not read falls behind)."""
    service = hub.app[SERVICE]
    for i in range(MESSAGES):
        await service.customer_message(contact_id, f"{i} {BODY}", None)
        await alice.expect("message", contact_id=contact_id)


async def read_to_close(ws: ClientConnection, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """Every frame until the hub closes the connection."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                frames.append(json.loads(text))
    return frames


def hub_sockets_to(local_port: int) -> list[Any]:
    """This process's TCP connections whose far end is `local_port` (the hub runs here)."""
    return [
        c for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr[1] == local_port
    ]


async def test_a_console_with_more_bytes_waiting_than_the_bound_is_closed_1013(
    bounded_hub: LiveHub,
) -> None:
    hub = bounded_hub
    grace(hub, 60.0)  # this client will read, later: it must find the close frame
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Kim")
    await customer.close()  # the conversation stays; the customer's chat is not the subject
    stuck = await stuck_console(hub, "alice")
    await flood(hub, alice, contact_id)

    frames = await read_to_close(stuck)
    assert stuck.close_code == 1013, (stuck.close_code, stuck.close_reason)
    # Whatever the client got before the close began with its snapshot (on a loaded machine
    # the close may overtake even that: everything waiting is let go at once).
    assert not frames or frames[0]["type"] == "snapshot"
    assert len([f for f in frames if f["type"] == "message"]) < MESSAGES
    # The agent's other console lives on, and the dropped one comes back with a snapshot.
    await alice.send(type="ping")
    await alice.expect("pong")
    again = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    assert [c["contact_id"] for c in again.snapshot["contacts"]] == [contact_id]
    await close_all(again, alice)


async def test_a_dropped_console_that_reads_nothing_is_cut_off_after_the_grace(
    bounded_hub: LiveHub,
) -> None:
    """Its socket goes, with what the operating system still buffered for it."""
    hub = bounded_hub
    grace(hub, 0.5)
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Lou")
    await customer.close()
    stuck = await stuck_console(hub, "alice")
    local_port = stuck.local_address[1]
    assert hub_sockets_to(local_port)
    await flood(hub, alice, contact_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while hub_sockets_to(local_port):  # bounded: cut after the grace, half a second
        assert loop.time() < deadline, "the hub still holds the socket"
        await asyncio.sleep(0.05)
    await close_all(alice)
    stuck.transport.abort()


async def test_consoles_that_read_nothing_do_not_hold_the_hub_s_shutdown_up(
    settings: HubSettings, redis: Redis
) -> None:
    """Their close frames wait behind megabytes they will never read: cut, not waited for."""
    roomy = replace(settings, outbound_queue_size=100_000, max_outbound_bytes=100 * 1024 * 1024)
    hub, runner = await start_hub(roomy)
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Max")
    await customer.close()
    stuck = [await stuck_console(hub, "alice") for _ in range(3)]
    await flood(hub, alice, contact_id)
    await close_all(alice)
    async with asyncio.timeout(15):
        await runner.cleanup()
    for ws in stuck:
        ws.transport.abort()
