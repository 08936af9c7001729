"""End to end: a web chat visitor who gives an email is one customer with whoever holds it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import websockets

from contactcenter.customers import CustomerStore
from tests.conftest import LiveHub
from tests.e2e.clients import AgentClient, ChatClient


@pytest.fixture
async def pool(hub: LiveHub) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(hub.settings.database_url, min_size=1, max_size=2)
    assert p is not None
    yield p
    await p.close()


def email() -> str:
    return f"ivy.{uuid.uuid4().hex[:8]}@example.com"


async def test_a_visitor_giving_a_known_customers_email_becomes_that_customer(
    hub: LiveHub, pool: asyncpg.Pool
) -> None:
    address = email()
    known = await CustomerStore(pool).create("Ivy Stone", identities=[("email", address, False)])
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    chat = await ChatClient.connect(hub.base_url, "Ivy Stone", email=address.upper())
    await chat.say("Hello again")
    offer = await agent.expect("offer")
    customer = offer["contact"]["customer"]
    # Safe to merge (same name, no orders either side): one customer, both identities.
    assert customer["customer_id"] in (known.customer_id, customer["context"]["customer_id"])
    kinds = sorted(i["kind"] for i in customer["context"]["identities"])
    assert kinds == ["email", "visitor"]
    merges = await pool.fetchval(
        "SELECT count(*) FROM customer_merges WHERE $1::uuid IN (survivor_id, merged_id)",
        uuid.UUID(known.customer_id),
    )
    assert merges == 1


async def test_a_conflicting_match_goes_to_the_review_list_and_the_chat_goes_on(
    hub: LiveHub, pool: asyncpg.Pool
) -> None:
    address = email()
    known = await CustomerStore(pool).create("Ivan Other", identities=[("email", address, False)])
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    chat = await ChatClient.connect(hub.base_url, "Ivy Stone", email=address)
    await chat.say("Hi")
    offer = await agent.expect("offer")
    visitor_customer = offer["contact"]["customer"]["customer_id"]
    assert visitor_customer != known.customer_id  # not merged behind anyone's back
    pending = await pool.fetchval(
        "SELECT count(*) FROM merge_reviews WHERE status = 'pending'"
        " AND $1::uuid IN (customer_a, customer_b) AND $2::uuid IN (customer_a, customer_b)",
        uuid.UUID(known.customer_id),
        uuid.UUID(visitor_customer),
    )
    assert pending == 1


async def test_a_malformed_email_is_refused_and_creates_no_customer(
    hub: LiveHub, pool: asyncpg.Pool
) -> None:
    visitor_id = uuid.uuid4().hex
    async with websockets.connect(hub.ws_url + "/ws/chat") as ws:
        await ws.send(
            json.dumps({"type": "hello", "name": "X", "visitor_id": visitor_id, "email": "no-at"})
        )
        answer = json.loads(await ws.recv())
    assert (answer["type"], answer["error_id"]) == ("error", "identity.invalid")
    held = await pool.fetchval(
        "SELECT count(*) FROM identities WHERE kind = 'visitor' AND value = $1", visitor_id
    )
    assert held == 0
