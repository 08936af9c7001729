"""End to end: who a web chat visitor is. What they type is a claim; what the embedding site
signs is proof (docs/widget.md, "Who the visitor is")."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import websockets
from redis.asyncio import Redis

from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.identity import site_signature
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient


@pytest.fixture
async def pool(settings: HubSettings) -> AsyncIterator[asyncpg.Pool]:
    """The test's database; ask for the hub first, which migrates it."""
    p = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    assert p is not None
    yield p
    await p.close()


def email() -> str:
    return f"ivy.{uuid.uuid4().hex[:8]}@example.com"


async def test_a_visitor_typing_a_customers_name_and_email_does_not_take_over_their_chat(
    hub: LiveHub, pool: asyncpg.Pool
) -> None:
    address = email()
    victim = await ChatClient.connect(hub.base_url, "Ivy Stone", email=address)
    await victim.say("My card is 4111 1111 1111 1111")
    victim_contact = (await victim.expect("queued"))["contact_id"]
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    offer = await agent.expect("offer")
    assert offer["contact"]["contact_id"] == victim_contact
    assert (await agent.command("accept", contact_id=victim_contact))["type"] == "ack"
    victim_customer = offer["contact"]["customer"]["customer_id"]

    # A fresh browser types the same name and email: a claim, not proof.
    attacker = await ChatClient.connect(hub.base_url, "Ivy Stone", email=address.upper())
    assert attacker.welcome["contact_id"] is None
    assert attacker.welcome["messages"] == []
    assert attacker.welcome["status"] == "new"
    assert attacker.welcome["verified"] is False
    await agent.send(type="send", contact_id=victim_contact, text="Your refund is on its way")
    while (await victim.expect("message"))["message"]["body"] != "Your refund is on its way":
        pass
    await attacker.say("It is me, Ivy")
    attacker_contact = (await attacker.expect("queued"))["contact_id"]
    assert attacker_contact != victim_contact
    await attacker.expect("message")  # its own first message, echoed
    seen = [f for f in attacker.seen if f.get("type") == "message"]
    assert [f["message"]["body"] for f in seen] == ["It is me, Ivy"]

    # No merge happened; the pair waits on the review list with its evidence.
    merges = await pool.fetchval(
        "SELECT count(*) FROM customer_merges WHERE $1::uuid IN (survivor_id, merged_id)",
        uuid.UUID(victim_customer),
    )
    assert merges == 0
    review = await pool.fetchrow(
        "SELECT reason, evidence FROM merge_reviews WHERE status = 'pending'"
        " AND $1::uuid IN (customer_a, customer_b)",
        uuid.UUID(victim_customer),
    )
    assert review is not None
    assert review["reason"].split(",")[0] == "unverified_claim"
    # The victim's conversation is untouched and theirs alone.
    rows = await pool.fetch(
        "SELECT sender, body FROM messages WHERE contact_id = $1 ORDER BY created_at",
        uuid.UUID(victim_contact),
    )
    assert [r["body"] for r in rows] == [
        "My card is 4111 1111 1111 1111",
        "Your refund is on its way",
    ]


async def test_the_agent_sees_that_a_typed_identity_is_claimed(
    hub: LiveHub, pool: asyncpg.Pool
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    chat = await ChatClient.connect(hub.base_url, "Ivy Stone", email=email())
    await chat.say("Hello")
    customer = (await agent.expect("offer"))["contact"]["customer"]
    assert (customer["verified"], customer["verified_by"]) == (False, None)


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


# --- identities the embedding site signs (docs/widget.md, "Who the visitor is") -------------

SECRET = "site-secret-for-tests-0123456789"


@pytest.fixture
async def signing_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    widget = replace(settings.widget, identity_secret=SECRET)
    live, runner = await start_hub(replace(settings, widget=widget))
    yield live
    await runner.cleanup()


async def signed_hello(
    base_url: str, name: str, user_id: str, signature: str, visitor_id: str | None = None
) -> dict[str, Any]:
    async with websockets.connect(base_url.replace("http", "ws", 1) + "/ws/chat") as ws:
        hello: dict[str, Any] = {
            "type": "hello",
            "name": name,
            "user_id": user_id,
            "user_hash": signature,
        }
        if visitor_id:
            hello["visitor_id"] = visitor_id
        await ws.send(json.dumps(hello))
        frame: dict[str, Any] = json.loads(await ws.recv())
        return frame


async def test_a_site_signed_user_is_verified_and_finds_their_conversation_on_any_browser(
    signing_hub: LiveHub, pool: asyncpg.Pool
) -> None:
    hub = signing_hub
    user_id = f"shop-user-{uuid.uuid4().hex[:8]}"
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    first = await ChatClient.connect_signed(
        hub.base_url, "Ivy Stone", user_id, site_signature(SECRET, user_id)
    )
    assert first.welcome["verified"] is True
    await first.say("Where is my order?")
    contact_id = (await first.expect("queued"))["contact_id"]
    customer = (await agent.expect("offer"))["contact"]["customer"]
    assert (customer["verified"], customer["verified_by"]) == (True, "site")
    held = await pool.fetchval(
        "SELECT customer_id FROM identities WHERE kind = 'external' AND value = $1", user_id
    )
    assert str(held) == customer["customer_id"]
    # Another browser (another visitor id) signed in as the same user: the same conversation.
    second = await ChatClient.connect_signed(
        hub.base_url, "Ivy Stone", user_id, site_signature(SECRET, user_id)
    )
    assert second.welcome["contact_id"] == contact_id
    assert [m["body"] for m in second.welcome["messages"]] == ["Where is my order?"]


@pytest.mark.parametrize(
    "signature",
    [
        site_signature("another-secret-0123456789", "shop-user-1"),
        site_signature(SECRET, "shop-user-2"),  # signed for someone else
        "0" * 64,
    ],
)
async def test_a_wrong_signature_is_refused_and_changes_nothing(
    signing_hub: LiveHub, pool: asyncpg.Pool, signature: str
) -> None:
    visitor_id = uuid.uuid4().hex
    frame = await signed_hello(
        signing_hub.base_url, "Mallory", "shop-user-1", signature, visitor_id
    )
    assert (frame["type"], frame["error_id"]) == ("error", "chat.identity_invalid")
    held = await pool.fetchval(
        "SELECT count(*) FROM identities WHERE (kind, value) IN"
        " (('visitor', $1), ('external', 'shop-user-1'))",
        visitor_id,
    )
    assert held == 0


async def test_a_hub_without_an_identity_secret_verifies_no_one(hub: LiveHub) -> None:
    frame = await signed_hello(
        hub.base_url, "Mallory", "shop-user-1", site_signature("", "shop-user-1")
    )
    assert (frame["type"], frame["error_id"]) == ("error", "chat.identity_invalid")


async def test_an_identity_given_without_its_signature_is_malformed(hub: LiveHub) -> None:
    async with websockets.connect(hub.ws_url + "/ws/chat") as ws:
        await ws.send(json.dumps({"type": "hello", "name": "M", "user_id": "shop-user-1"}))
        frame = json.loads(await ws.recv())
    assert (frame["type"], frame["error_id"]) == ("error", "frame.malformed")
