"""Live traffic for tests of the consoles' connections: a hub whose chat limits let a test
customer write as fast as it can, a conversation accepted by an agent, a customer who writes
until told to stop."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub
from tests.e2e.clients import AgentClient, ChatClient, FrameClient


def unthrottled(settings: HubSettings) -> HubSettings:
    """`settings` with the widget's per-visitor and per-address limits out of the way."""
    widget = replace(
        settings.widget,
        messages_per_visitor_per_min=1_000_000,
        messages_per_ip_per_min=1_000_000,
        connections_per_ip_per_min=1_000_000,
    )
    return replace(settings, widget=widget)


async def conversation(
    hub: LiveHub, agent: AgentClient, customer_name: str, first: str = "hello"
) -> tuple[ChatClient, str]:
    """A customer whose chat `agent` (available) accepted; returns it and the contact id."""
    customer = await ChatClient.connect(hub.base_url, customer_name)
    await customer.say(first)
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer", timeout_s=10)
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined")
    return customer, contact_id


async def chatter(customer: ChatClient, stop: asyncio.Event, prefix: str = "line") -> int:
    """The customer writes `<prefix> 0`, `<prefix> 1`... until `stop`, reading the echo of
    each message (a chat that does not read is dropped as too slow); returns how many."""
    sent = 0
    while not stop.is_set():
        await customer.say(f"{prefix} {sent}")
        sent += 1
        await customer.expect("message")
    return sent


async def close_all(*clients: FrameClient) -> None:
    """Close every client at once, waiting at most a second for each close handshake: one
    that read little has frames waiting ahead of the hub's answer to its close."""
    for client in clients:
        client.ws.close_timeout = 1.0
    await asyncio.gather(*(client.close() for client in clients))
