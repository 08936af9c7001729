"""End to end: one web chat from a customer to an agent and back, through a running hub."""

from __future__ import annotations

import uuid

import asyncpg

from tests.conftest import LiveHub
from tests.e2e.clients import AgentClient, ChatClient


async def test_chat_reaches_an_agent_and_comes_back(hub: LiveHub) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Dana Customer")
    assert customer.welcome["status"] == "new"
    await customer.say("Hello, my order is late")
    queued = await customer.expect("queued")
    contact_id = queued["contact_id"]

    offer = await agent.expect("offer")
    assert offer["contact"]["contact_id"] == contact_id
    assert offer["contact"]["customer"]["name"] == "Dana Customer"
    assert [m["body"] for m in offer["contact"]["messages"]] == ["Hello, my order is late"]
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    assigned = await agent.expect("assigned")
    assert assigned["contact"]["state"] == "assigned"
    joined = await customer.expect("agent_joined")
    assert joined["agent_name"] == "Alice Martin"

    assert (await agent.command("send", contact_id=contact_id, text="Let me check"))["type"] == "ack"
    got = await customer.expect("message")
    while got["message"]["sender"] != "agent":
        got = await customer.expect("message")
    assert got["message"]["body"] == "Let me check"
    await customer.say("Thanks!")
    got = await agent.expect("message")
    while got["message"]["body"] != "Thanks!":
        got = await agent.expect("message")
    assert got["message"]["sender"] == "customer"

    assert (await agent.command("end", contact_id=contact_id))["type"] == "ack"
    await agent.expect("conversation_ended", contact_id=contact_id)
    await customer.expect("ended", contact_id=contact_id)
    ack = await agent.command("wrapup", contact_id=contact_id, disposition="resolved",
                              notes="delivery rescheduled")
    assert ack["type"] == "ack", ack
    await agent.expect("wrapup_done", contact_id=contact_id)

    # Available again: the next customer's chat is offered to the same agent.
    other = await ChatClient.connect(hub.base_url, "Eve Next")
    await other.say("Hi")
    nxt = await agent.expect("offer")
    assert nxt["contact"]["customer"]["name"] == "Eve Next"

    # The conversation and its messages are in PostgreSQL; the history writer closed it.
    conn = await asyncpg.connect(hub.settings.database_url)
    try:
        bodies = [r["body"] for r in await conn.fetch(
            "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at",
            uuid.UUID(contact_id))]
        assert bodies == ["Hello, my order is late", "Let me check", "Thanks!"]
        for _ in range(100):
            row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1",
                                      uuid.UUID(contact_id))
            if row and row["state"] == "closed":
                break
            await __import__("asyncio").sleep(0.05)
        assert row is not None and row["state"] == "closed"
        assert row["disposition"] == "resolved" and row["notes"] == "delivery rescheduled"
        assert str(row["agent_id"]) == agent.agent_id
    finally:
        await conn.close()
    for c in (agent, customer, other):
        await c.close()
