"""Long transcripts reach consoles a page at a time: the latest in the snapshot, offers and
assignments, earlier pages from GET /api/contacts/{id}/messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, login
from tests.e2e.traffic import close_all, conversation, unthrottled

PAGE = 10


@pytest.fixture
async def paged_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(replace(unthrottled(settings), transcript_page_messages=PAGE))
    yield live
    await runner.cleanup()


async def earlier(
    hub: LiveHub, token: str, contact_id: str, **query: Any
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(
            f"{hub.base_url}/api/contacts/{contact_id}/messages",
            params={k: str(v) for k, v in query.items()},
        ) as resp,
    ):
        return resp.status, await resp.json()


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["body"] for m in messages]


async def test_a_snapshot_carries_the_latest_page_and_the_rest_comes_page_by_page(
    paged_hub: LiveHub,
) -> None:
    hub = paged_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Nia", first="m0")
    for i in range(1, 25):
        await customer.say(f"m{i}")
        await alice.expect("message", contact_id=contact_id)
    transcript = [f"m{i}" for i in range(25)]

    again = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    (shown,) = again.snapshot["contacts"]
    assert bodies(shown["messages"]) == transcript[-PAGE:] and shown["more_messages"] is True

    token = await login(hub.base_url, "alice", hub.demo_password)
    pages, before, more = [shown["messages"]], shown["messages"][0]["message_id"], True
    while more:
        status, page = await earlier(hub, token, contact_id, before=before, limit=PAGE)
        assert status == 200, page
        pages.insert(0, page["messages"])
        before, more = page["messages"][0]["message_id"], page["more"]
    assert [len(p) for p in pages] == [5, 10, 10]
    assert [b for p in pages for b in bodies(p)] == transcript
    # Without a cursor: the latest.
    status, latest = await earlier(hub, token, contact_id, limit=3)
    assert (status, bodies(latest["messages"]), latest["more"]) == (200, transcript[-3:], True)
    await close_all(again, alice, customer)


async def test_earlier_messages_only_for_ones_own_contacts_and_bad_cursors_are_refused(
    paged_hub: LiveHub,
) -> None:
    hub = paged_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Oz", first="hello")
    bob = await login(hub.base_url, "bob", hub.demo_password)
    status, body = await earlier(hub, bob, contact_id)
    assert (status, body["error_id"]) == (409, "contact.not_assigned")
    status, body = await earlier(hub, bob, "not-a-contact")
    assert (status, body["error_id"]) == (409, "contact.not_assigned")

    token = await login(hub.base_url, "alice", hub.demo_password)
    for query, error_id in (
        ({"before": str(uuid.uuid4())}, "messages.unknown_message"),
        ({"before": "m1"}, "request.invalid"),
        ({"limit": 0}, "request.invalid"),
        ({"limit": 201}, "request.invalid"),
        ({"after": "x"}, "request.invalid"),
    ):
        status, body = await earlier(hub, token, contact_id, **query)
        assert (status, body["error_id"]) == (400, error_id), query
    await close_all(alice, customer)


async def test_long_bodies_make_a_shorter_page_and_offers_are_paged_too(
    settings: HubSettings, redis: Redis
) -> None:
    """Past its newest message, a page holds at most transcript_page_chars characters."""
    paged = replace(
        unthrottled(settings), transcript_page_messages=PAGE, transcript_page_chars=1000
    )
    hub, runner = await start_hub(paged)
    try:
        alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
        bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
        await alice.go_available()
        customer, contact_id = await conversation(hub, alice, "Pia", first="short")
        long = [f"{i} " + "y" * 298 for i in range(6)]  # 300 characters each
        for text in long:
            await customer.say(text)
            await alice.expect("message", contact_id=contact_id)
        # Handed to bob: his offer shows the newest three (900 characters), and says more.
        await alice.command("set_state", state="away")
        await bob.go_available()
        assert (await alice.command("transfer", contact_id=contact_id, to_agent="bob"))[
            "type"
        ] == "ack"
        offer = await bob.expect("offer", timeout_s=10)
        contact = offer["contact"]
        assert bodies(contact["messages"]) == long[-3:] and contact["more_messages"] is True
        await close_all(alice, bob, customer)
    finally:
        await runner.cleanup()
