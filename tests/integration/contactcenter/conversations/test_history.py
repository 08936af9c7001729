"""The history writer: every event stored once, whatever retries or dead consumers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

from contactcenter.conversations.history import HistoryWriter
from contactcenter.core import events as ev
from contactcenter.core.db import create_pool, migrate
from contactcenter.core.eventbus import EventBus, EventGroupConsumer
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.store import CrmStore
from routing.keys import Keys


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, size=2)
    await migrate(p)
    yield p
    await p.close()


async def _contact(pool: asyncpg.Pool) -> str:
    crm = CrmStore(pool)
    customer = (
        await CustomerStore(pool).resolve("visitor", uuid.uuid4().hex, display_name="Ida")
    ).customer_id
    return await crm.create_contact(
        customer_id=customer, channel="chat", queue="support", arrived_at_ms=1_700_000_000_000
    )


async def _count(pool: asyncpg.Pool, event_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event_id))


async def test_the_same_event_delivered_twice_is_stored_once(pool: asyncpg.Pool) -> None:
    contact_id = await _contact(pool)
    event = ev.OfferAccepted(
        at_ms=1_700_000_001_000, contact_id=contact_id, agent_id="", queue="support"
    )
    writer = HistoryWriter(pool)
    await writer(event)
    await writer(event)
    assert await _count(pool, event.event_id) == 1


async def test_message_bodies_are_not_copied_into_the_event_history(pool: asyncpg.Pool) -> None:
    contact_id = await _contact(pool)
    event = ev.MessageSent(
        at_ms=1,
        contact_id=contact_id,
        message_id="m",
        sender="customer",
        agent_id=None,
        body="card 4111",
    )
    await HistoryWriter(pool)(event)
    payload = await pool.fetchval(
        "SELECT payload::text FROM events WHERE event_id = $1", event.event_id
    )
    assert "4111" not in payload


async def test_contact_row_follows_its_events_even_out_of_order(pool: asyncpg.Pool) -> None:
    contact_id = await _contact(pool)
    writer = HistoryWriter(pool)
    base = 1_700_000_000_000
    closed = ev.WrapUpCompleted(
        at_ms=base + 3000,
        contact_id=contact_id,
        agent_id="",
        queue="support",
        disposition="resolved",
        notes="done",
    )
    ended = ev.ConversationEnded(
        at_ms=base + 2000, contact_id=contact_id, agent_id="", queue="support", ended_by="agent"
    )
    await writer(closed)
    await writer(ended)  # arrives late: must not reopen the contact
    row = await pool.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact_id))
    assert row is not None and row["state"] == "closed" and row["disposition"] == "resolved"


async def test_a_batch_is_stored_in_order_and_a_replayed_batch_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    contact_id = await _contact(pool)
    base = 1_700_000_000_000
    common = {"contact_id": contact_id, "queue": "support"}
    batch: list[ev.Event] = [
        ev.OfferAccepted(at_ms=base + 1000, agent_id="", **common),
        ev.ContactTransferred(
            at_ms=base + 1500,
            contact_id=contact_id,
            from_agent_id="",
            from_queue="support",
            to_queue="billing",
        ),
        ev.ContactTransferred(
            at_ms=base + 1600,
            contact_id=contact_id,
            from_agent_id="",
            from_queue="billing",
            to_queue="sales",
        ),
        ev.ConversationEnded(at_ms=base + 2000, agent_id="", ended_by="agent", **common),
        ev.WrapUpCompleted(
            at_ms=base + 3000, agent_id="", disposition="resolved", notes="", **common
        ),
    ]
    writer = HistoryWriter(pool)
    await writer.write_many(batch)
    queue = await pool.fetchval("SELECT queue FROM contacts WHERE id = $1", uuid.UUID(contact_id))
    assert queue == "sales"  # the later transfer wins
    await pool.execute(
        "UPDATE contacts SET queue = 'moved-since' WHERE id = $1", uuid.UUID(contact_id)
    )
    await writer.write_many(batch)  # redelivered: stored rows are not projected again
    row = await pool.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact_id))
    assert row is not None
    assert (row["state"], row["disposition"], row["queue"]) == ("closed", "resolved", "moved-since")
    assert row["accepted_at"] is not None and row["ended_at"] is not None
    for event in batch:
        assert await _count(pool, event.event_id) == 1


async def test_events_left_pending_by_a_dead_consumer_are_claimed_and_stored(
    pool: asyncpg.Pool, redis: Redis, routing_domain: str
) -> None:
    stream = Keys(routing_domain).events
    bus = EventBus(redis, stream)
    contact_id = await _contact(pool)
    dead = EventGroupConsumer(redis, stream, "history", HistoryWriter(pool), consumer="dead")
    await dead.ensure_group()
    events = [
        ev.ContactAbandoned(at_ms=1_700_000_000_000 + i, contact_id=contact_id, queue="support")
        for i in range(3)
    ]
    for e in events:
        await bus.publish(e)
    # The dead consumer read them (so they are pending on it) and died before handling them.
    await redis.xreadgroup("history", "dead", {stream: ">"}, count=10)
    survivor = EventGroupConsumer(
        redis, stream, "history", HistoryWriter(pool), consumer="alive", claim_idle_ms=0
    )
    assert await survivor.run_once(block_ms=None) == 0, "nothing new: all were taken"
    assert await survivor.claim_stale() == 3
    for e in events:
        assert await _count(pool, e.event_id) == 1
    pending = await redis.xpending(stream, "history")
    assert pending["pending"] == 0


def test_migrate_command_brings_the_schema_up_to_date(database_url: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url, "CC_LOG_FORMAT": "json"}
    env.pop("REDIS_URL", None)  # migrate needs PostgreSQL only
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-m", "contactcenter", "migrate"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
    assert "schema is up to date" in out.stdout


async def test_a_refused_contact_is_not_the_customers_open_one(pool: asyncpg.Pool) -> None:
    crm = CrmStore(pool)
    contact_id = await _contact(pool)
    record = await crm.contact(contact_id)
    assert record is not None
    found = await crm.latest_open_contact(record.customer_id, "chat")
    assert found is not None and found.contact_id == contact_id
    await crm.set_state(contact_id, "refused")  # a full queue turned it away
    assert await crm.latest_open_contact(record.customer_id, "chat") is None
