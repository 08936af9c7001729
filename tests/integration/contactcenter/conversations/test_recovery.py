"""Contacts stored in PostgreSQL but missing from Redis are queued again, in their place."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from redis.asyncio import Redis

from contactcenter.conversations.history import HistoryWriter
from contactcenter.conversations.recovery import requeue_orphans
from contactcenter.core import events as ev
from contactcenter.core.db import create_pool, migrate
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.store import CrmStore
from contactcenter.settings.hub import HubSettings
from routing.core import queue_score
from routing.store import RoutingStore
from tests.conftest import free_port, start_hub
from tests.e2e.clients import AgentClient, ChatClient

ARRIVED_MS = 1_700_000_000_000


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, size=2)
    await migrate(p)
    yield p
    await p.close()


async def _stored_contact(pool: asyncpg.Pool, domain: str) -> str:
    crm = CrmStore(pool)
    customer = (
        await CustomerStore(pool).resolve("visitor", uuid.uuid4().hex, display_name="Jo")
    ).customer_id
    return await crm.create_contact(
        customer_id=customer,
        channel="chat",
        queue="support",
        arrived_at_ms=ARRIVED_MS,
        routing_domain=domain,
    )


async def test_a_stored_contact_missing_from_redis_is_queued_at_its_arrival_time(
    pool: asyncpg.Pool, redis: Redis, routing_domain: str, settings: HubSettings
) -> None:
    store = RoutingStore(redis, routing_domain)
    contact_id = await _stored_contact(pool, routing_domain)
    now = ARRIVED_MS + 60_000
    assert await requeue_orphans(pool, store, settings, now, [contact_id]) == 1
    score = await redis.zscore(store.keys.queue("support"), contact_id)
    assert score == queue_score(0, ARRIVED_MS)
    # Idempotent: a second sweep (another hub process) changes nothing.
    assert await requeue_orphans(pool, store, settings, now, [contact_id]) == 0


async def test_a_contact_already_past_waiting_is_not_queued_again(
    pool: asyncpg.Pool, redis: Redis, routing_domain: str, settings: HubSettings
) -> None:
    store = RoutingStore(redis, routing_domain)
    contact_id = await _stored_contact(pool, routing_domain)
    await HistoryWriter(pool)(
        ev.ContactAbandoned(at_ms=ARRIVED_MS + 1, contact_id=contact_id, queue="support")
    )
    assert await requeue_orphans(pool, store, settings, ARRIVED_MS + 2, [contact_id]) == 0
    assert await store.contact(contact_id) is None


async def test_contacts_of_another_routing_domain_are_left_to_it(
    pool: asyncpg.Pool, redis: Redis, routing_domain: str, settings: HubSettings
) -> None:
    store = RoutingStore(redis, routing_domain)
    theirs = await _stored_contact(pool, "another-domain")
    assert await requeue_orphans(pool, store, settings, ARRIVED_MS + 2, [theirs]) == 0


async def test_waiting_customer_is_served_after_redis_lost_everything(
    settings: HubSettings, redis: Redis, routing_domain: str
) -> None:
    live, runner = await start_hub(settings)
    try:
        customer = await ChatClient.connect(live.base_url, "Kit")
        await customer.say("still there?")
        contact_id = (await customer.expect("queued"))["contact_id"]
    finally:
        await runner.cleanup()
    # Redis loses the domain's data (a restart without persistence).
    keys = [k async for k in redis.scan_iter(match=f"cc:{{{routing_domain}}}:*")]
    await redis.delete(*keys)

    live, runner = await start_hub(replace(settings, port=free_port()))
    try:
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await alice.go_available()
        offer = await alice.expect("offer")
        assert offer["contact"]["contact_id"] == contact_id
        assert [m["body"] for m in offer["contact"]["messages"]] == ["still there?"]
        await alice.close()
        await customer.close()
    finally:
        await runner.cleanup()


async def _wait_for_state(database_url: str, contact_id: str, state: str) -> None:
    import asyncio

    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            row = await conn.fetchrow(
                "SELECT state FROM contacts WHERE id = $1", uuid.UUID(contact_id)
            )
            if row is not None and row["state"] == state:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"contact never reached {state} in PostgreSQL")
    finally:
        await conn.close()


async def test_a_conversation_in_progress_survives_redis_losing_everything(
    settings: HubSettings, redis: Redis, routing_domain: str
) -> None:
    live, runner = await start_hub(settings)
    try:
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await alice.go_available()
        customer = await ChatClient.connect(live.base_url, "Uma")
        visitor_id = customer.welcome["visitor_id"]
        await customer.say("my parcel is lost")
        contact_id = (await customer.expect("queued"))["contact_id"]
        await alice.expect("offer", timeout_s=5)
        await alice.command("accept", contact_id=contact_id)
        await alice.command("send", contact_id=contact_id, text="let me look")
        await _wait_for_state(settings.database_url or "", contact_id, "assigned")
        await alice.close()
        await customer.close()
    finally:
        await runner.cleanup()
    keys = [k async for k in redis.scan_iter(match=f"cc:{{{routing_domain}}}:*")]
    await redis.delete(*keys)

    live, runner = await start_hub(replace(settings, port=free_port()))
    try:
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        assert alice.snapshot["agent"]["state"] == "available"
        (held,) = alice.snapshot["contacts"]
        assert held["contact_id"] == contact_id and held["state"] == "assigned"
        assert [m["body"] for m in held["messages"]] == ["my parcel is lost", "let me look"]
        customer = await ChatClient.connect(live.base_url, "Uma", visitor_id=visitor_id)
        assert customer.welcome["status"] == "connected"
        await customer.say("thank you")
        got = await alice.expect("message")
        while got["message"]["body"] != "thank you":
            got = await alice.expect("message")
        assert (await alice.command("send", contact_id=contact_id, text="found it"))["type"] == (
            "ack"
        )
        await alice.close()
        await customer.close()
    finally:
        await runner.cleanup()
