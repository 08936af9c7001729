"""Overflow through the real store: the contact moves with its arrival time, once."""

from __future__ import annotations

from redis.asyncio import Redis

from contactcenter.core import events as ev
from routing.model import QueuePolicy, queue_score
from routing.store import RoutingStore
from routing.worker import RoutingWorker

T0 = 1_700_000_000_000
QUEUES = {
    "tier1": QueuePolicy("tier1", "tier1", 20_000, max_wait_ms=60_000, overflow_queue="tier2"),
    "tier2": QueuePolicy("tier2", "tier2", 20_000),
}


async def test_a_contact_overflows_keeping_its_arrival_and_the_next_tier_serves_it(
    redis: Redis, routing_domain: str
) -> None:
    store = RoutingStore(redis, routing_domain)
    now = [T0]
    worker = RoutingWorker(store, QUEUES, clock=lambda: now[0])
    await store.set_agent_profile("t2", skills={"tier2": 10}, capacity={"chat": 1}, now_ms=T0)
    await store.set_agent_state("t2", "available", now_ms=T0)
    await store.enqueue(
        contact_id="c1", queue="tier1", channel="chat", customer_id="u", priority=0, now_ms=T0
    )
    assert (await worker.run_pass()).offered == 0  # nobody in tier1

    now[0] = T0 + 60_000
    await worker.run_pass()
    assert await redis.zscore(store.keys.queue("tier2"), "c1") == queue_score(0, T0)
    assert await redis.zcard(store.keys.queue("tier1")) == 0
    await worker.run_pass()
    assert (await store.contact("c1")) is not None
    assert (await store.contact("c1")).agent_id == "t2"  # type: ignore[union-attr]

    entries = await redis.xrange(store.keys.events)
    moved = [ev.decode_event(f) for _, f in entries if f["type"] == "ContactOverflowed"]
    assert [(m.from_queue, m.to_queue) for m in moved] == [("tier1", "tier2")]  # type: ignore[attr-defined]
