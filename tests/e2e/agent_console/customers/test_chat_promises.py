"""Promises of docs/protocol.md that a black-box client held the hub to: a first message sent
again opens one contact, a returning customer whose conversation ended is told so, and a
pre-chat topic does not switch off language detection."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import websockets
from redis.asyncio import Redis

from contactcenter.conversations.appkeys import SERVICE
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient


async def _contacts_of_visitor(hub: LiveHub, visitor_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(hub.settings.database_url)
    try:
        return list(
            await conn.fetch(
                "SELECT c.id, c.language FROM contacts c JOIN identities i"
                " ON i.customer_id = c.customer_id WHERE i.kind = 'visitor' AND i.value = $1",
                visitor_id,
            )
        )
    finally:
        await conn.close()


async def test_the_same_first_message_sent_twice_opens_one_contact(hub: LiveHub) -> None:
    visitor_id = uuid.uuid4().hex
    first = await ChatClient.connect(hub.base_url, "Resa", visitor_id=visitor_id)
    second = await ChatClient.connect(hub.base_url, "Resa", visitor_id=visitor_id)
    assert first.welcome["status"] == second.welcome["status"] == "new"
    frame = {"type": "message", "text": "Is my order shipped?", "client_msg_id": "m-1"}
    # The client lost the answer and sent again, on a new connection, at the same moment.
    await asyncio.gather(first.send(**frame), second.send(**frame))
    a = (await first.expect("queued"))["contact_id"]
    b = (await second.expect("queued"))["contact_id"]
    assert a == b
    rows = await _contacts_of_visitor(hub, visitor_id)
    assert [str(r["id"]) for r in rows] == [a]
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    offer = await agent.expect("offer")
    assert [m["body"] for m in offer["contact"]["messages"]] == ["Is my order shipped?"]


async def test_a_returning_customer_whose_conversation_ended_is_told_it_ended(
    hub: LiveHub,
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Enid")
    visitor_id = customer.welcome["visitor_id"]
    await customer.say("hello")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer")
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    assert (await agent.command("end", contact_id=contact_id))["type"] == "ack"
    await customer.expect("ended")
    await customer.close()
    back = await ChatClient.connect(hub.base_url, "Enid", visitor_id=visitor_id)
    assert (back.welcome["status"], back.welcome["contact_id"]) == ("ended", contact_id)
    # It may still rate the conversation it came back to.
    await back.send(type="csat", contact_id=contact_id, rating=5, ref="r")
    ack = await back.expect("ack")
    assert ack["ref"] == "r"


@pytest.fixture
async def topic_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    widget = replace(settings.widget, topics=(("billing", "Billing"),))
    live, runner = await start_hub(replace(settings, widget=widget))
    yield live
    await runner.cleanup()


async def test_a_pre_chat_topic_leaves_language_detection_on(topic_hub: LiveHub) -> None:
    service = topic_hub.app[SERVICE]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the classifier is built in the background at start
        if service.classify is not None:
            break
        await asyncio.sleep(0.1)
    assert service.classify is not None
    visitor_id = uuid.uuid4().hex
    async with websockets.connect(topic_hub.ws_url + "/ws/chat") as ws:
        hello: dict[str, Any] = {
            "type": "hello",
            "name": "Élodie",
            "visitor_id": visitor_id,
            "topic": "billing",
        }
        await ws.send(json.dumps(hello))
        assert json.loads(await ws.recv())["type"] == "welcome"
        text = "Bonjour, je n'ai toujours pas reçu le remboursement de ma dernière facture"
        await ws.send(json.dumps({"type": "message", "text": text}))
        while json.loads(await ws.recv())["type"] != "queued":
            pass
    (row,) = await _contacts_of_visitor(topic_hub, visitor_id)
    assert row["language"] == "fr"
