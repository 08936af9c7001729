"""Routers racing for the same agent or the same contact: exactly one wins, every time.

Each router is a `RoutingStore` on its own Redis connection, so the claims really are in flight
together and only the atomicity of the Lua scripts keeps them apart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, TypeVar

import pytest
from redis.asyncio import Redis

from contactcenter.core import events as ev
from routing.core import OfferContact, QueuePolicy
from routing.status import (
    AbandonStatus,
    AcceptStatus,
    EscalateStatus,
    OfferStatus,
    RequeueStatus,
)
from routing.store import RoutingStore
from routing.worker import RoutingWorker

if TYPE_CHECKING:
    from tests.conftest import Servers

T0 = 1_700_000_000_000
TIMEOUT_MS = 30_000
ROUNDS = 200
QUEUES = {"chat": QueuePolicy("chat", "chat", TIMEOUT_MS)}
T = TypeVar("T")


@pytest.fixture
def store(redis: Redis, routing_domain: str) -> RoutingStore:
    """The referee: sets the scene and checks the outcome."""
    return RoutingStore(redis, routing_domain)


@pytest.fixture
async def routers(
    servers: Servers, routing_domain: str, redis: Redis
) -> AsyncIterator[list[RoutingStore]]:
    """Three routers, each with a Redis client (and so a connection) of its own."""
    clients = [servers.client() for _ in range(3)]  # RedisCluster ones in cluster mode
    for client in clients:
        await client.ping()  # connect now, so the race is not decided by connection setup
    yield [RoutingStore(client, routing_domain) for client in clients]
    for client in clients:
        await client.aclose()


async def agent(store: RoutingStore, agent_id: str, *, capacity: int = 1, now_ms: int = T0) -> None:
    """An available agent serving the chat queue, with `capacity` chat contacts at once."""
    await store.set_agent_profile(
        agent_id, skills={"chat": 5}, capacity={"chat": capacity}, now_ms=now_ms
    )
    await store.set_agent_state(agent_id, "available", now_ms=now_ms)


async def queued(
    store: RoutingStore, contact_id: str, *, priority: int = 0, now_ms: int = T0
) -> None:
    await store.enqueue(
        contact_id=contact_id,
        queue="chat",
        channel="chat",
        customer_id=f"cust-{contact_id}",
        priority=priority,
        now_ms=now_ms,
    )


async def offer(router: RoutingStore, contact_id: str, agent_id: str) -> OfferStatus:
    decision = OfferContact(contact_id, agent_id, "chat", T0 + TIMEOUT_MS, {"strategy": "race"})
    return await router.offer(decision, T0)


async def load(store: RoutingStore, agent_id: str) -> int:
    return int((await store.agent_fields(agent_id)).get("load:chat", "0"))


async def offered_events(store: RoutingStore) -> list[ev.ContactOffered]:
    entries = await store.redis.xrange(store.keys.events)
    events = [ev.decode_event(fields) for _id, fields in entries]
    return [e for e in events if isinstance(e, ev.ContactOffered)]


async def staggered(router: RoutingStore, round_trips: int, claim: Awaitable[T]) -> T:
    """`claim`, sent after `round_trips` pings on the router's own connection: varying it moves
    the claim before, into and after the other side's, so every interleaving gets its turn."""
    for _ in range(round_trips):
        await router.redis.ping()
    return await claim


def rotated(items: list[RoutingStore], by: int) -> list[RoutingStore]:
    # Each router in turn sends its claim first, so no router is favoured by gather's order.
    by %= len(items)
    return items[by:] + items[:by]


@pytest.mark.parametrize("n_routers", [2, 3])
async def test_routers_racing_for_one_contact_offer_it_to_exactly_one_agent(
    store: RoutingStore, routers: list[RoutingStore], n_routers: int
) -> None:
    racing = routers[:n_routers]
    for r in range(ROUNDS):
        contact_id, agent_ids = f"c{r}", [f"r{r}-a{i}" for i in range(n_routers)]
        await queued(store, contact_id)
        for agent_id in agent_ids:
            await agent(store, agent_id)
        claims = list(zip(rotated(racing, r), agent_ids, strict=True))

        statuses = await asyncio.gather(*(offer(rt, contact_id, a) for rt, a in claims))

        assert Counter(statuses) == {
            OfferStatus.OFFERED: 1,
            OfferStatus.CONTACT_NOT_WAITING: n_routers - 1,
        }, f"round {r}"
        winner = agent_ids[statuses.index(OfferStatus.OFFERED)]
        live = await store.contact(contact_id)
        assert live is not None and (live.state, live.agent_id) == ("offered", winner)
        loads = {a: await load(store, a) for a in agent_ids}
        assert loads[winner] == 1 and sum(loads.values()) == 1, f"round {r}: {loads}"
        for agent_id in agent_ids:
            held = await store.agent_contact_ids(agent_id)
            assert held == ({contact_id} if agent_id == winner else set()), f"round {r}"
    offers = await offered_events(store)
    assert sorted(e.contact_id for e in offers) == sorted(f"c{r}" for r in range(ROUNDS))
    assert await store.redis.zcard(store.keys.queue("chat")) == 0


@pytest.mark.parametrize(("capacity", "n_contacts"), [(1, 2), (1, 3), (2, 3)])
async def test_routers_racing_for_one_agent_never_fill_it_beyond_capacity(
    store: RoutingStore, routers: list[RoutingStore], capacity: int, n_contacts: int
) -> None:
    racing = routers[:n_contacts]
    for r in range(ROUNDS):
        agent_id, contact_ids = f"a{r}", [f"r{r}-c{i}" for i in range(n_contacts)]
        await agent(store, agent_id, capacity=capacity)
        for contact_id in contact_ids:
            await queued(store, contact_id)
        claims = list(zip(rotated(racing, r), contact_ids, strict=True))

        statuses = await asyncio.gather(*(offer(rt, c, agent_id) for rt, c in claims))

        assert Counter(statuses) == {
            OfferStatus.OFFERED: capacity,
            OfferStatus.AGENT_FULL: n_contacts - capacity,
        }, f"round {r}"
        winners = {
            c for c, s in zip(contact_ids, statuses, strict=True) if s is OfferStatus.OFFERED
        }
        assert await load(store, agent_id) == capacity, f"round {r}"
        assert await store.agent_contact_ids(agent_id) == winners
        for contact_id in contact_ids:
            live = await store.contact(contact_id)
            assert live is not None
            if contact_id in winners:
                assert (live.state, live.agent_id) == ("offered", agent_id)
            else:
                assert (live.state, live.agent_id) == ("queued", None)
                assert await store.redis.zscore(store.keys.queue("chat"), contact_id) is not None


async def test_accept_racing_the_expiry_of_the_same_offer_has_exactly_one_winner(
    store: RoutingStore, routers: list[RoutingStore]
) -> None:
    # The agent's clock says the lease still runs; the worker's says it is over. Both are
    # valid on their own; the scripts must let only one through.
    deadline_ms = T0 + TIMEOUT_MS
    outcomes: Counter[str] = Counter()
    for r in range(ROUNDS):
        contact_id, agent_id = f"c{r}", f"a{r}"
        await agent(store, agent_id)
        await queued(store, contact_id)
        assert await offer(store, contact_id, agent_id) is OfferStatus.OFFERED
        console, worker = routers[:2]

        accepted, requeued = await asyncio.gather(
            console.accept(contact_id, agent_id, deadline_ms - 1),
            staggered(
                worker,
                r % 3,
                worker.requeue(contact_id, agent_id, "chat", deadline_ms, expired=True),
            ),
        )

        live = await store.contact(contact_id)
        assert live is not None
        in_queue = await store.redis.zscore(store.keys.queue("chat"), contact_id)
        if accepted is AcceptStatus.ACCEPTED:
            assert requeued is RequeueStatus.NO_SUCH_OFFER, f"round {r}"
            assert (live.state, live.agent_id, in_queue) == ("assigned", agent_id, None)
            assert await load(store, agent_id) == 1
            outcomes["accepted"] += 1
        else:
            assert (accepted, requeued) == (AcceptStatus.NO_SUCH_OFFER, RequeueStatus.REQUEUED), (
                f"round {r}"
            )
            assert (live.state, live.agent_id) == ("queued", None)
            assert in_queue is not None
            assert await load(store, agent_id) == 0
            outcomes["expired"] += 1
        assert await store.redis.zscore(store.keys.offers, contact_id) is None
    assert set(outcomes) == {"accepted", "expired"}, f"both sides should win some: {outcomes}"


async def test_customer_leaving_while_a_router_offers_never_leaves_a_phantom_offer(
    store: RoutingStore, routers: list[RoutingStore]
) -> None:
    outcomes: Counter[OfferStatus] = Counter()
    for r in range(ROUNDS):
        contact_id, agent_id = f"c{r}", f"a{r}"
        await agent(store, agent_id)
        await queued(store, contact_id)
        router, hub = routers[:2]

        offered, abandoned = await asyncio.gather(
            staggered(router, r % 3, offer(router, contact_id, agent_id)),
            hub.abandon(contact_id, T0 + 1),
        )
        outcomes[offered] += 1

        assert abandoned is AbandonStatus.ABANDONED, f"round {r}"
        assert offered in (OfferStatus.OFFERED, OfferStatus.CONTACT_NOT_WAITING)
        live = await store.contact(contact_id)
        assert live is not None and live.state == "abandoned"
        assert await load(store, agent_id) == 0, f"round {r}: the agent holds a phantom offer"
        assert await store.agent_contact_ids(agent_id) == set()
        assert await store.redis.zscore(store.keys.offers, contact_id) is None
        assert await store.redis.zscore(store.keys.queue("chat"), contact_id) is None
    assert set(outcomes) == {OfferStatus.OFFERED, OfferStatus.CONTACT_NOT_WAITING}, outcomes


async def test_two_expiries_reaching_max_misses_together_set_the_agent_away_exactly_once(
    store: RoutingStore, routers: list[RoutingStore]
) -> None:
    # Two workers take back the agent's two expired offers at once; with max_misses=2 the
    # second miss, whichever it is, sets the agent away, and only that one.
    deadline_ms = T0 + TIMEOUT_MS
    for r in range(ROUNDS):
        agent_id, contact_ids = f"a{r}", [f"r{r}-c0", f"r{r}-c1"]
        await agent(store, agent_id, capacity=2)
        for contact_id in contact_ids:
            await queued(store, contact_id)
            assert await offer(store, contact_id, agent_id) is OfferStatus.OFFERED
        first, second = rotated(routers[:2], r)

        statuses = await asyncio.gather(
            first.requeue(
                contact_ids[0], agent_id, "chat", deadline_ms, expired=True, max_misses=2
            ),
            staggered(
                second,
                r % 3,
                second.requeue(
                    contact_ids[1], agent_id, "chat", deadline_ms, expired=True, max_misses=2
                ),
            ),
        )

        assert Counter(statuses) == {
            RequeueStatus.REQUEUED: 1,
            RequeueStatus.REQUEUED_AGENT_AWAY: 1,
        }, f"round {r}"
        fields = await store.agent_fields(agent_id)
        assert (fields["state"], fields["reason"], fields["misses"], fields["load:chat"]) == (
            "away",
            "missed-offers",
            "0",
            "0",
        ), f"round {r}"
    entries = await store.redis.xrange(store.keys.events)
    set_away = [
        e.agent_id
        for e in (ev.decode_event(fields) for _id, fields in entries)
        if isinstance(e, ev.AgentStateChanged) and e.reason == "missed-offers"
    ]
    assert sorted(set_away) == sorted(f"a{r}" for r in range(ROUNDS))


async def test_routers_escalating_the_same_contact_together_record_the_step_once(
    store: RoutingStore, routers: list[RoutingStore]
) -> None:
    for r in range(ROUNDS):
        contact_id = f"c{r}"
        await queued(store, contact_id)

        statuses = await asyncio.gather(
            *(
                staggered(router, (r + i) % 3, router.escalate(contact_id, "chat", 1, T0 + 1))
                for i, router in enumerate(rotated(routers, r))
            )
        )

        assert Counter(statuses) == {EscalateStatus.ESCALATED: 1, EscalateStatus.ALREADY: 2}, (
            f"round {r}"
        )
    entries = await store.redis.xrange(store.keys.events)
    escalated = [
        e.contact_id
        for e in (ev.decode_event(fields) for _id, fields in entries)
        if isinstance(e, ev.ContactEscalated)
    ]
    assert sorted(escalated) == sorted(f"c{r}" for r in range(ROUNDS))


N_CONTACTS, N_AGENTS, CAPACITY = 50, 10, 3


async def _assert_consistent(
    store: RoutingStore, contact_ids: list[str], agent_ids: list[str]
) -> dict[str, str]:
    """Checks the invariants; returns who holds each offered contact."""
    offers = await offered_events(store)
    holder = {e.contact_id: e.agent_id for e in offers}
    assert len(holder) == len(offers), "a contact was offered twice"
    per_agent = Counter(holder.values())
    for agent_id in agent_ids:
        agent_load = await load(store, agent_id)
        assert agent_load <= CAPACITY, agent_id
        assert agent_load == per_agent[agent_id], agent_id
        held = {c for c, a in holder.items() if a == agent_id}
        assert await store.agent_contact_ids(agent_id) == held, agent_id
    still_queued = set(await store.redis.zrange(store.keys.queue("chat"), 0, -1))
    assert still_queued.isdisjoint(holder), "a contact is both offered and queued"
    assert still_queued | set(holder) == set(contact_ids), "a contact was lost"
    for contact_id in contact_ids:
        live = await store.contact(contact_id)
        assert live is not None
        expected = ("offered", holder[contact_id]) if contact_id in holder else ("queued", None)
        assert (live.state, live.agent_id) == expected, contact_id
    return holder


@pytest.mark.parametrize("head_start", [0, 1, 3, 8, 20])
async def test_racing_workers_never_offer_a_contact_twice_nor_overfill_an_agent(
    store: RoutingStore, routers: list[RoutingStore], head_start: int
) -> None:
    # `head_start` round trips let the first worker's offers land while the second is still
    # reading its snapshot, so the two decide on different pictures and collide both on
    # contacts and on agents.
    agent_ids = [f"a{i}" for i in range(N_AGENTS)]
    contact_ids = [f"c{i}" for i in range(N_CONTACTS)]
    for i, agent_id in enumerate(agent_ids):
        await agent(store, agent_id, capacity=CAPACITY, now_ms=T0 + i)
    for i, contact_id in enumerate(contact_ids):
        await queued(store, contact_id, priority=i % 4, now_ms=T0 + 100 + i)
    now_ms = T0 + 1_000
    first, second = (RoutingWorker(router, QUEUES, clock=lambda: now_ms) for router in routers[:2])
    workers = [first, second]

    results = await asyncio.gather(
        first.run_pass(),
        staggered(second.store, head_start, second.run_pass()),
    )

    holder = await _assert_consistent(store, contact_ids, agent_ids)
    assert sum(r.offered for r in results) == len(holder)
    assert sum(r.expired for r in results) == 0

    # Claims lost to the other worker are simply decided again: a few more racing passes
    # fill every slot, and the invariants still hold.
    for _ in range(10):
        if len(holder) == N_AGENTS * CAPACITY:
            break
        await asyncio.gather(*(w.run_pass() for w in workers))
        holder = await _assert_consistent(store, contact_ids, agent_ids)
    assert len(holder) == N_AGENTS * CAPACITY
