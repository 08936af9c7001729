"""States and reasons through real hubs (docs/states.md): away reasons from the catalogue, the
next state, and the queue's dispositions in what the console receives."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from contactcenter.core import events as ev
from contactcenter.settings.hub import HubSettings, QueueSettings
from contactcenter.settings.reasons import DEFAULT_REASONS
from routing.keys import Keys
from tests.conftest import TEST_PASSWORD, LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.processes import HubFactory


async def eventually(probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """`probe()` once it returns something truthy, polling for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(0.05)


async def events_of(redis: Redis, domain: str, kind: type[ev.Event]) -> list[Any]:
    entries = await redis.xrange(Keys(domain).events, "-", "+")
    decoded = [ev.decode_event(fields) for _id, fields in entries]
    return [e for e in decoded if isinstance(e, kind)]


async def in_conversation(
    base_url: str, agent: AgentClient, customer_name: str, chat_url: str | None = None
) -> tuple[ChatClient, str, dict[str, Any]]:
    """A customer (on `chat_url`, default `base_url`) whose contact `agent` accepts; with the
    offer frame."""
    customer = await ChatClient.connect(chat_url or base_url, customer_name)
    await customer.say("Where is my order?")
    contact_id = (await customer.expect("queued"))["contact_id"]
    offer = await agent.expect("offer", timeout_s=10)
    assert offer["contact"]["contact_id"] == contact_id
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await agent.expect("assigned")
    return customer, contact_id, offer


async def test_the_snapshot_carries_the_catalogue_and_a_reason_goes_into_the_event(
    hub: LiveHub, redis: Redis
) -> None:
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    assert alice.snapshot["reasons"] == DEFAULT_REASONS.public()
    assert alice.snapshot["agent"]["next_state"] is None
    ack = await alice.command("set_state", state="away", reason="training")
    assert ack["type"] == "ack", ack
    frame = await alice.expect("state", state="away")
    assert frame["reason"] == "training"
    domain = hub.settings.routing_domain
    [changed] = [
        e
        for e in await events_of(redis, domain, ev.AgentStateChanged)
        if e.agent_id == alice.agent_id and e.state == "away"
    ]
    assert (changed.reason, changed.productive) == ("training", True)
    # A console opened now finds the reason in its snapshot.
    again = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    assert (again.snapshot["agent"]["state"], again.snapshot["agent"]["reason"]) == (
        "away",
        "training",
    )

    # The history writer records the period it starts.
    async def recorded() -> Any:
        conn = await asyncpg.connect(hub.settings.database_url)
        try:
            return await conn.fetchrow(
                "SELECT state, reason, productive, ended_at FROM agent_state_periods"
                " WHERE event_id = $1",
                changed.event_id,
            )
        finally:
            await conn.close()

    row = await eventually(recorded)
    assert row is not None and tuple(row) == ("away", "training", True, None)
    for c in (alice, again):
        await c.close()


async def test_an_unknown_reason_is_refused_and_changes_nothing(hub: LiveHub, redis: Redis) -> None:
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    domain = hub.settings.routing_domain
    before = len(await events_of(redis, domain, ev.AgentStateChanged))
    for extra in ({}, {"next": True}):
        err = await alice.command("set_state", state="away", reason="nap", **extra)
        assert err["error_id"] == "agent.unknown_reason", err
        assert err["details"]["reasons"] == list(DEFAULT_REASONS.codes)
    fields = await redis.hgetall(Keys(domain).agent(alice.agent_id))  # type: ignore[misc]
    assert fields["state"] == "available" and "next_state" not in fields
    assert len(await events_of(redis, domain, ev.AgentStateChanged)) == before
    assert await events_of(redis, domain, ev.AgentNextStateScheduled) == []
    # A reason with another state than away is a malformed frame.
    err = await alice.command("set_state", state="available", reason="break")
    assert err["error_id"] == "frame.malformed"
    await alice.close()


async def test_the_next_state_waits_for_the_wrap_up_and_can_be_cancelled(
    hub: LiveHub, redis: Redis
) -> None:
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    await alice.expect("state", state="available")
    customer, contact_id, _offer = await in_conversation(hub.base_url, alice, "Una")
    ack = await alice.command("set_state", state="away", reason="lunch", next=True)
    assert ack["type"] == "ack", ack
    frame = await alice.expect("next_state", why="scheduled")
    assert (frame["state"], frame["reason"]) == ("away", "lunch")
    # Taken back, then asked for again: offline this time.
    assert (await alice.command("cancel_next_state"))["type"] == "ack"
    frame = await alice.expect("next_state", why="cancelled")
    assert frame["state"] is None
    assert (await alice.command("set_state", state="offline", next=True))["type"] == "ack"
    await alice.expect("next_state", why="scheduled", state="offline")
    # Routing offers her nothing new meanwhile (she has room for two more chats).
    waiting = await ChatClient.connect(hub.base_url, "Vic")
    await waiting.say("Anyone there?")
    waiting_id = (await waiting.expect("queued"))["contact_id"]
    await waiting.expect("position", contact_id=waiting_id)
    # Still in conversation with the customer meanwhile, and still available.
    assert (await alice.command("send", contact_id=contact_id, text="one moment"))["type"] == (
        "ack"
    )
    fields = await redis.hgetall(Keys(hub.settings.routing_domain).agent(alice.agent_id))  # type: ignore[misc]
    assert (fields["state"], fields["next_state"]) == ("available", "offline")

    assert (await alice.command("end", contact_id=contact_id))["type"] == "ack"
    ack = await alice.command("wrapup", contact_id=contact_id, disposition="resolved")
    assert ack["type"] == "ack", ack
    await alice.expect("wrapup_done", contact_id=contact_id)
    await alice.expect("state", state="offline")
    await alice.expect("next_state", why="applied")
    fields = await redis.hgetall(Keys(hub.settings.routing_domain).agent(alice.agent_id))  # type: ignore[misc]
    assert fields["state"] == "offline" and "next_state" not in fields
    offers = await events_of(redis, hub.settings.routing_domain, ev.ContactOffered)
    assert [o.contact_id for o in offers] == [contact_id]
    for c in (alice, customer, waiting):
        await c.close()


@pytest.fixture
async def sales_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub whose one queue has dispositions of its own, none of them required."""
    queue = QueueSettings(
        name="sales",
        skill="support",
        channels=("chat",),
        dispositions=("sold", "callback-later"),
        disposition_required=False,
    )
    live, runner = await start_hub(replace(settings, queues=(queue,)))
    yield live
    await runner.cleanup()


async def test_the_offer_carries_the_queues_dispositions(sales_hub: LiveHub) -> None:
    alice = await AgentClient.connect(sales_hub.base_url, "alice", sales_hub.demo_password)
    await alice.go_available()
    customer, contact_id, offer = await in_conversation(sales_hub.base_url, alice, "Ola")
    wanted = {"dispositions": ["sold", "callback-later"], "disposition_required": False}
    assert {k: offer["contact"][k] for k in wanted} == wanted
    [assigned] = [f for f in alice.seen if f["type"] == "assigned"]
    assert {k: assigned["contact"][k] for k in wanted} == wanted
    again = await AgentClient.connect(sales_hub.base_url, "alice", sales_hub.demo_password)
    [held] = again.snapshot["contacts"]
    assert held["contact_id"] == contact_id
    assert {k: held[k] for k in wanted} == wanted
    # Not required: a wrap-up without one is taken.
    assert (await alice.command("end", contact_id=contact_id))["type"] == "ack"
    ack = await alice.command("wrapup", contact_id=contact_id, disposition=None)
    assert ack["type"] == "ack", ack
    for c in (alice, again, customer):
        await c.close()


async def test_a_next_state_holds_across_hub_processes_and_a_dead_console_hub(
    hubs: HubFactory, redis: Redis, routing_domain: str
) -> None:
    a, b = await hubs.start("a", "b")
    alice_a = await AgentClient.connect(a.base_url, "alice", TEST_PASSWORD)
    await alice_a.go_available()
    customer, contact_id, _offer = await in_conversation(
        a.base_url, alice_a, f"Pia {uuid.uuid4().hex[:4]}", chat_url=b.base_url
    )
    ack = await alice_a.command("set_state", state="away", reason="coaching", next=True)
    assert ack["type"] == "ack", ack
    await alice_a.expect("next_state", why="scheduled")

    # The process holding that console dies; another console (on b) and a restarted process
    # both find the next state where it is kept.
    alice_b = await AgentClient.connect(b.base_url, "alice", TEST_PASSWORD)
    a.kill()
    [a2] = await hubs.start("a2")
    alice_a2 = await AgentClient.connect(a2.base_url, "alice", TEST_PASSWORD)
    for console in (alice_b, alice_a2):
        assert console.snapshot["agent"]["next_state"] == {"state": "away", "reason": "coaching"}
        assert console.snapshot["agent"]["state"] == "available"

    # The wrap-up ends on b; the console on the restarted process hears of the change.
    assert (await alice_b.command("end", contact_id=contact_id))["type"] == "ack"
    ack = await alice_b.command("wrapup", contact_id=contact_id, disposition="resolved")
    assert ack["type"] == "ack", ack
    for console in (alice_b, alice_a2):
        frame = await console.expect("state", state="away", timeout_s=15)
        assert frame["reason"] == "coaching"
        await console.expect("next_state", why="applied", timeout_s=15)
    [applied] = await events_of(redis, routing_domain, ev.AgentNextStateApplied)
    assert (applied.agent_id, applied.state, applied.reason) == (
        alice_b.agent_id,
        "away",
        "coaching",
    )
    for c in (alice_b, alice_a2, customer):
        await c.close()
