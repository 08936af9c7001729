"""An agent's messages are rate limited (agents.messages_per_window per message_window_s),
across all of the agent's consoles; a refused message is neither stored nor sent. The hub's
clock stands still here, so every message falls in one window."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.contactcenter.web.test_login_limits import ManualClock

PER_WINDOW = 5
SHIPPED_PER_WINDOW = 30  # config/hub.toml, agents.messages_per_window


@pytest.fixture
async def hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub as shipped, on a clock that stands still."""
    live, runner = await start_hub(settings, clock=ManualClock())
    yield live
    await runner.cleanup()


@pytest.fixture
async def limited(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub allowing PER_WINDOW messages a minute, on a clock that stands still."""
    few = replace(settings, agent_messages_per_window=PER_WINDOW, agent_message_window_s=60)
    live, runner = await start_hub(few, clock=ManualClock())
    yield live
    await runner.cleanup()


async def in_conversation(hub: LiveHub) -> tuple[AgentClient, ChatClient, str]:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Rita Limit")
    await customer.say("Hello")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer")
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await agent.expect("assigned")
    return agent, customer, contact_id


async def agent_messages(database_url: str, contact_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE contact_id = $1 AND sender = 'agent'",
                uuid.UUID(contact_id),
            )
        )
    finally:
        await conn.close()


async def test_past_the_limit_a_send_is_refused_and_nothing_is_stored(limited: LiveHub) -> None:
    hub = limited
    agent, _customer, contact_id = await in_conversation(hub)
    for i in range(PER_WINDOW):
        ack = await agent.command("send", contact_id=contact_id, text=f"reply {i} " + "x" * 3990)
        assert ack["type"] == "ack", ack
    refused = await agent.command("send", contact_id=contact_id, text="one too many")
    assert (refused["type"], refused["error_id"]) == ("error", "agent.rate_limited"), refused
    assert 0 < refused["details"]["retry_after_s"] <= 60
    assert await agent_messages(hub.settings.database_url or "", contact_id) == PER_WINDOW


async def test_the_shipped_limit_counts_every_console_of_the_agent(hub: LiveHub) -> None:
    agent, _customer, contact_id = await in_conversation(hub)
    other = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    for i in range(SHIPPED_PER_WINDOW):
        sender = agent if i % 2 else other
        ack = await sender.command("send", contact_id=contact_id, text=f"reply {i}")
        assert ack["type"] == "ack", ack
    refused = await agent.command("send", contact_id=contact_id, text="one too many")
    assert refused.get("error_id") == "agent.rate_limited", refused
    # Other commands are not limited.
    assert (await agent.command("set_state", state="away"))["type"] == "ack"
    assert hub.settings.agent_messages_per_window == SHIPPED_PER_WINDOW
