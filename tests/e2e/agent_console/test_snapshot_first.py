"""The snapshot is the first frame of every agent connection, even while traffic flows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient
from tests.e2e.traffic import chatter, close_all, conversation, unthrottled


@pytest.fixture
async def busy_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(unthrottled(settings))
    yield live
    await runner.cleanup()


def _messages(client: AgentClient, contact_id: str) -> list[dict[str, Any]]:
    return [f for f in client.seen if f["type"] == "message" and f["contact_id"] == contact_id]


async def test_new_consoles_get_the_snapshot_before_anything_else(busy_hub: LiveHub) -> None:
    hub = busy_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Ida")
    stop = asyncio.Event()
    talking = asyncio.create_task(chatter(customer, stop))
    consoles: list[AgentClient] = []
    try:
        for _round in range(3):
            consoles += await asyncio.gather(
                *(AgentClient.connect(hub.base_url, who, hub.demo_password)
                  for who in ("alice", "alice", "sam"))
            )  # fmt: skip
        # Each has had news of the live conversation since: traffic flowed while it connected.
        for console in consoles:
            if console.snapshot["agent"]["role"] == "agent":
                await console.expect("message", contact_id=contact_id)
            else:
                await console.expect("event")
    finally:
        stop.set()
        sent = await talking
    assert sent > 10
    firsts = [(c.snapshot["agent"]["username"], c.seen[0]["type"]) for c in consoles]
    assert all(kind == "snapshot" for _who, kind in firsts), firsts
    await close_all(*consoles, alice, customer)


async def test_messages_around_the_snapshot_reach_a_new_console_once_each_in_order(
    busy_hub: LiveHub,
) -> None:
    """Messages stored while the snapshot was being read reach the new console once each,
    in the snapshot's transcript or after it, in order, none missing."""
    hub = busy_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Jo")
    stop = asyncio.Event()
    talking = asyncio.create_task(chatter(customer, stop))
    try:
        late = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
        await late.expect("message", contact_id=contact_id)
        await late.expect("message", contact_id=contact_id)
    finally:
        stop.set()
        sent = await talking
    last = f"line {sent - 1}"
    while not any(f["message"]["body"] == last for f in _messages(late, contact_id)):
        await late.expect("message", contact_id=contact_id)
    (shown,) = [c for c in late.snapshot["contacts"] if c["contact_id"] == contact_id]
    bodies = [m["body"] for m in shown["messages"]]
    bodies += [f["message"]["body"] for f in _messages(late, contact_id)]
    assert len(bodies) == len(set(bodies)), "a message came twice"
    expected = ["hello"] + [f"line {i}" for i in range(sent)]
    assert bodies == expected[-len(bodies) :]
    await close_all(late, alice, customer)
