"""Broadcast through real Redis: all or nothing, one winner, nobody over capacity."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from routing.model import BroadcastContact, QueuePolicy
from routing.status import AcceptStatus, BroadcastStatus
from routing.store import RoutingStore
from routing.worker import RoutingWorker
from tests.conftest import Servers

T0 = 1_700_000_000_000
QUEUES = {"chat": QueuePolicy("chat", "chat", 20_000, strategy="broadcast", broadcast_n=3)}


async def _agents(store: RoutingStore, *ids: str, capacity: int = 1) -> None:
    for agent_id in ids:
        await store.set_agent_profile(
            agent_id, skills={"chat": 1}, capacity={"chat": capacity}, now_ms=T0
        )
        await store.set_agent_state(agent_id, "available", now_ms=T0)


async def _loads(store: RoutingStore, *ids: str) -> list[int]:
    return [int((await store.agent_fields(a)).get("load:chat", "0")) for a in ids]


async def _enqueue(store: RoutingStore, contact_id: str) -> None:
    await store.enqueue(
        contact_id=contact_id, queue="chat", channel="chat", customer_id="u", priority=0, now_ms=T0
    )


async def test_agents_racing_to_accept_a_broadcast_leave_exactly_one_winner(
    servers: Servers, redis: Redis, routing_domain: str
) -> None:
    stores = [RoutingStore(servers.client(), routing_domain) for _ in range(3)]
    for round_ in range(40):
        agents = [f"r{round_}-{i}" for i in range(3)]
        await _agents(stores[0], *agents)
        contact = f"c{round_}"
        await _enqueue(stores[0], contact)
        sent = BroadcastContact(contact, tuple(agents), "chat", T0 + 60_000, {})
        assert await stores[0].broadcast(sent, T0 + 1) is BroadcastStatus.OFFERED
        results = await asyncio.gather(
            *(s.accept(contact, a, T0 + 2) for s, a in zip(stores, agents, strict=True))
        )
        assert sorted(results) == sorted(
            [AcceptStatus.ACCEPTED, AcceptStatus.NO_SUCH_OFFER, AcceptStatus.NO_SUCH_OFFER]
        )
        winner = agents[results.index(AcceptStatus.ACCEPTED)]
        loads = dict(zip(agents, await _loads(stores[0], *agents), strict=True))
        assert loads == {a: 1 if a == winner else 0 for a in agents}
        assert await redis.zscore(stores[0].keys.offers, contact) is None
    for s in stores:
        await s.redis.aclose()


async def test_a_broadcast_is_all_or_nothing(redis: Redis, routing_domain: str) -> None:
    store = RoutingStore(redis, routing_domain)
    await _agents(store, "a", "b")
    await store.set_agent_state("b", "away", now_ms=T0)
    await _enqueue(store, "c1")
    sent = BroadcastContact("c1", ("a", "b"), "chat", T0 + 60_000, {})
    assert await store.broadcast(sent, T0 + 1) is BroadcastStatus.AGENT_UNAVAILABLE
    assert await _loads(store, "a", "b") == [0, 0]
    assert await redis.zscore(store.keys.queue("chat"), "c1") is not None


async def test_an_unanswered_broadcast_frees_everyone_and_the_contact_keeps_its_place(
    redis: Redis, routing_domain: str
) -> None:
    store = RoutingStore(redis, routing_domain)
    now = [T0]
    worker = RoutingWorker(store, QUEUES, clock=lambda: now[0])
    await _agents(store, "a", "b")
    await _enqueue(store, "c1")
    score = await redis.zscore(store.keys.queue("chat"), "c1")
    assert (await worker.run_pass()).offered == 1
    assert await _loads(store, "a", "b") == [1, 1]
    now[0] = T0 + 20_000
    await worker.run_pass()  # expired for both, then offered again (to both: nobody else)
    entries = [f["type"] for _, f in await redis.xrange(store.keys.events)]
    assert entries.count("BroadcastEnded") == 1 and entries.count("ContactBroadcast") == 2
    assert await _loads(store, "a", "b") == [1, 1]
    live = await store.contact("c1")
    assert live is not None and live.broadcast and live.state == "offered"
    assert float(await redis.hget(store.keys.contact("c1"), "score")) == score  # type: ignore[arg-type]
