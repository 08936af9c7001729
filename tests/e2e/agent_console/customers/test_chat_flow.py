"""End to end: one web chat from a customer to an agent and back, through a running hub."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import websockets
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
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

    assert (await agent.command("send", contact_id=contact_id, text="Let me check"))[
        "type"
    ] == "ack"
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
    ack = await agent.command(
        "wrapup", contact_id=contact_id, disposition="resolved", notes="delivery rescheduled"
    )
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
        bodies = [
            r["body"]
            for r in await conn.fetch(
                "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at",
                uuid.UUID(contact_id),
            )
        ]
        assert bodies == ["Hello, my order is late", "Let me check", "Thanks!"]
        for _ in range(100):
            row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact_id))
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


async def test_supervisor_sees_every_event_without_message_bodies(hub: LiveHub) -> None:
    supervisor = await AgentClient.connect(hub.base_url, "sam", hub.demo_password)
    assert supervisor.snapshot["agent"]["role"] == "supervisor"
    customer = await ChatClient.connect(hub.base_url, "Fay")
    await customer.say("private words")
    arrived = await supervisor.expect("event")
    while arrived["event"]["type"] != "MessageSent":
        arrived = await supervisor.expect("event")
    assert arrived["event"]["body"] is None
    assert "private words" not in str(supervisor.seen)
    await supervisor.close()
    await customer.close()


async def test_customer_returns_to_the_open_conversation_with_its_visitor_id(
    hub: LiveHub,
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Gus")
    visitor_id = customer.welcome["visitor_id"]
    await customer.say("first")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer")
    await agent.command("accept", contact_id=contact_id)
    await agent.command("send", contact_id=contact_id, text="hello Gus")
    await customer.close()

    again = await ChatClient.connect(hub.base_url, "Gus", visitor_id=visitor_id)
    assert again.welcome["contact_id"] == contact_id
    assert again.welcome["status"] == "connected"
    assert [m["body"] for m in again.welcome["messages"]] == ["first", "hello Gus"]
    await again.say("second")
    got = await agent.expect("message")
    while got["message"]["body"] != "second":
        got = await agent.expect("message")
    await agent.close()
    await again.close()


async def test_unanswered_offer_goes_to_the_next_agent(settings, redis) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from tests.conftest import start_hub

    quick = replace(settings, queues=(replace(settings.queues[0], offer_timeout_s=1.0),))
    live, runner = await start_hub(quick)
    try:
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await alice.go_available()
        customer = await ChatClient.connect(live.base_url, "Hal")
        await customer.say("anyone?")
        first = await alice.expect("offer")
        contact_id = first["contact"]["contact_id"]
        bob = await AgentClient.connect(live.base_url, "bob", live.demo_password)
        await bob.go_available()
        withdrawn = await alice.expect("offer_withdrawn", timeout_s=5)
        assert withdrawn == {**withdrawn, "contact_id": contact_id, "why": "expired"}
        second = await bob.expect("offer", timeout_s=5)
        assert second["contact"]["contact_id"] == contact_id
        err = await alice.command("accept", contact_id=contact_id)
        assert err["error_id"] == "offer.gone"
        assert (await bob.command("accept", contact_id=contact_id))["type"] == "ack"
        joined = await customer.expect("agent_joined")
        assert joined["agent_name"] == "Bob Okafor"
        for c in (alice, bob, customer):
            await c.close()
    finally:
        await runner.cleanup()


async def test_shutdown_closes_a_chat_that_has_not_said_hello_yet(
    settings: HubSettings, redis: Redis
) -> None:
    live, runner = await start_hub(settings)
    ws = await websockets.connect(live.ws_url + "/ws/chat")
    await runner.cleanup()  # would wait for the open socket until aiohttp's own timeout
    await asyncio.wait_for(ws.wait_closed(), timeout=5)
    assert ws.close_code == 1001  # going away
