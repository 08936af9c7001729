"""The routing store against a real Redis: each Lua script's statuses, its effects, and the one
event each successful transition appends to the stream (a refused one appends none)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from redis.asyncio import Redis

from contactcenter import events as ev
from routing.core import OfferContact, QueuePolicy, RoutingState, queue_score
from routing.store import (
    AbandonStatus,
    AcceptStatus,
    AgentStateStatus,
    EndStatus,
    EnqueueStatus,
    OfferStatus,
    RequeueStatus,
    RoutingStore,
    WrapUpStatus,
)
from routing.worker import RoutingWorker

T0 = 1_700_000_000_000
TIMEOUT_MS = 30_000
QUEUES = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS)}


class EventLog:
    """The domain's event stream, read a slice at a time."""

    def __init__(self, store: RoutingStore) -> None:
        self.store = store
        self.seen = 0

    async def all(self) -> list[ev.Event]:
        entries = await self.store.redis.xrange(self.store.keys.events)
        return [ev.decode_event(fields) for _id, fields in entries]

    async def new(self) -> list[ev.Event]:
        """Events appended since the last call."""
        events = await self.all()
        fresh, self.seen = events[self.seen :], len(events)
        return fresh


class ManualClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def store(redis: Redis, routing_domain: str) -> RoutingStore:
    return RoutingStore(redis, routing_domain)


@pytest.fixture
def log(store: RoutingStore) -> EventLog:
    return EventLog(store)


def types(events: list[ev.Event]) -> list[str]:
    return [e.type for e in events]


async def agent(
    store: RoutingStore,
    agent_id: str,
    *,
    state: str = "available",
    capacity: int = 1,
    now_ms: int = T0,
) -> AgentStateStatus:
    return await store.set_agent_state(
        agent_id, state, skills={"billing": 5}, capacity=capacity, now_ms=now_ms
    )


async def queued(
    store: RoutingStore, contact_id: str, *, priority: int = 0, now_ms: int = T0
) -> EnqueueStatus:
    return await store.enqueue(
        contact_id=contact_id,
        queue="billing",
        skill="billing",
        channel="chat",
        customer_id=f"cust-{contact_id}",
        priority=priority,
        now_ms=now_ms,
    )


async def offer(
    store: RoutingStore, contact_id: str, agent_id: str, *, now_ms: int = T0
) -> OfferStatus:
    decision = OfferContact(
        contact_id, agent_id, "billing", now_ms + TIMEOUT_MS, {"strategy": "test"}
    )
    return await store.offer(decision, now_ms)


async def load(store: RoutingStore, agent_id: str) -> int:
    return int((await store.agent_fields(agent_id)).get("load", "0"))


async def waiting(store: RoutingStore) -> list[str]:
    return list(await store.redis.zrange(store.keys.queue("billing"), 0, -1))


async def score(store: RoutingStore, contact_id: str) -> float | None:
    return await store.redis.zscore(store.keys.queue("billing"), contact_id)


# --- enqueue --------------------------------------------------------------------------------


async def test_enqueue_puts_the_contact_in_its_queue_at_its_score(
    store: RoutingStore, log: EventLog
) -> None:
    assert await queued(store, "c1", priority=3) is EnqueueStatus.QUEUED
    assert await score(store, "c1") == queue_score(3, T0)
    [event] = await log.new()
    assert isinstance(event, ev.ContactQueued)
    assert (event.contact_id, event.queue, event.priority, event.enqueued_at_ms) == (
        "c1",
        "billing",
        3,
        T0,
    )
    live = await store.contact("c1")
    assert live is not None and (live.state, live.customer_id) == ("queued", "cust-c1")


async def test_enqueueing_the_same_contact_twice_is_a_duplicate_and_changes_nothing(
    store: RoutingStore, log: EventLog
) -> None:
    await queued(store, "c1", now_ms=T0)
    await log.new()
    assert await queued(store, "c1", priority=9, now_ms=T0 + 5_000) is EnqueueStatus.DUPLICATE
    assert await score(store, "c1") == queue_score(0, T0)
    assert await log.new() == []


# --- agent state ----------------------------------------------------------------------------


async def test_agent_state_change_appends_one_event_and_a_repeat_appends_none(
    store: RoutingStore, log: EventLog
) -> None:
    assert await agent(store, "x", capacity=3) is AgentStateStatus.CHANGED
    [event] = await log.new()
    assert isinstance(event, ev.AgentStateChanged)
    assert (event.agent_id, event.state, event.capacity) == ("x", "available", 3)
    assert await agent(store, "x", capacity=3, now_ms=T0 + 1) is AgentStateStatus.UNCHANGED
    assert await log.new() == []
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["load"], fields["last_offer_ms"]) == ("available", "0", str(T0))


# --- offer ----------------------------------------------------------------------------------


async def test_offer_claims_a_waiting_contact_for_an_agent_with_room(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await log.new()
    assert await offer(store, "c1", "x", now_ms=T0 + 100) is OfferStatus.OFFERED
    [event] = await log.new()
    assert isinstance(event, ev.ContactOffered)
    assert (event.contact_id, event.agent_id, event.deadline_ms) == (
        "c1",
        "x",
        T0 + 100 + TIMEOUT_MS,
    )
    assert event.reason == {"strategy": "test"}
    assert await waiting(store) == []
    assert await load(store, "x") == 1
    assert await store.agent_contact_ids("x") == {"c1"}
    assert await store.redis.zscore(store.keys.offers, "c1") == T0 + 100 + TIMEOUT_MS
    assert (await store.agent_fields("x"))["last_offer_ms"] == str(T0 + 100)


@pytest.mark.parametrize("presence", ["away", "offline", None])
async def test_offer_to_an_agent_who_is_not_available_is_refused(
    store: RoutingStore, log: EventLog, presence: str | None
) -> None:
    if presence is not None:
        await agent(store, "x", state=presence)
    await queued(store, "c1")
    await log.new()
    assert await offer(store, "c1", "x") is OfferStatus.AGENT_NOT_AVAILABLE
    assert await log.new() == []
    assert await waiting(store) == ["c1"]


async def test_offer_to_a_full_agent_is_refused(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x", capacity=1)
    await queued(store, "c1")
    await queued(store, "c2", now_ms=T0 + 1)
    await offer(store, "c1", "x")
    await log.new()
    assert await offer(store, "c2", "x") is OfferStatus.AGENT_FULL
    assert await log.new() == []
    assert await load(store, "x") == 1
    assert await waiting(store) == ["c2"]


async def test_offer_of_a_contact_already_offered_is_refused(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await agent(store, "y")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    assert await offer(store, "c1", "y") is OfferStatus.CONTACT_NOT_WAITING
    assert await log.new() == []
    assert await load(store, "y") == 0
    live = await store.contact("c1")
    assert live is not None and live.agent_id == "x"


async def test_offer_of_an_unknown_contact_is_refused(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await log.new()
    assert await offer(store, "ghost", "x") is OfferStatus.CONTACT_NOT_WAITING
    assert await log.new() == []
    assert await load(store, "x") == 0


# --- accept ---------------------------------------------------------------------------------


async def test_accept_within_the_lease_assigns_the_contact(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    assert await store.accept("c1", "x", T0 + TIMEOUT_MS - 1) is AcceptStatus.ACCEPTED
    [event] = await log.new()
    assert isinstance(event, ev.OfferAccepted)
    assert (event.contact_id, event.agent_id, event.queue) == ("c1", "x", "billing")
    live = await store.contact("c1")
    assert live is not None and (live.state, live.agent_id) == ("assigned", "x")
    assert await store.redis.zscore(store.keys.offers, "c1") is None
    assert await load(store, "x") == 1  # the conversation holds the capacity


async def test_accept_by_another_agent_is_refused(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await agent(store, "y")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    assert await store.accept("c1", "y", T0 + 1) is AcceptStatus.NO_SUCH_OFFER
    assert await log.new() == []
    live = await store.contact("c1")
    assert live is not None and (live.state, live.agent_id) == ("offered", "x")


@pytest.mark.parametrize("late_ms", [0, 1, 60_000])
async def test_accept_at_or_after_the_deadline_is_refused(
    store: RoutingStore, log: EventLog, late_ms: int
) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    status = await store.accept("c1", "x", T0 + TIMEOUT_MS + late_ms)
    assert status is AcceptStatus.LEASE_EXPIRED
    assert await log.new() == []


# --- requeue --------------------------------------------------------------------------------


async def test_expiring_an_offer_before_its_deadline_is_refused(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    status = await store.requeue("c1", "x", "billing", T0 + TIMEOUT_MS - 1, expired=True)
    assert status is RequeueStatus.NOT_YET_EXPIRED
    assert await log.new() == []
    assert await load(store, "x") == 1


async def test_expired_offer_puts_the_contact_back_at_its_original_score(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1", now_ms=T0)
    original = await score(store, "c1")
    await offer(store, "c1", "x", now_ms=T0 + 10)
    await queued(store, "c2", now_ms=T0 + 20)
    await log.new()
    status = await store.requeue("c1", "x", "billing", T0 + 10 + TIMEOUT_MS, expired=True)
    assert status is RequeueStatus.REQUEUED
    [event] = await log.new()
    assert isinstance(event, ev.OfferExpired) and event.agent_id == "x"
    assert await score(store, "c1") == original
    assert await waiting(store) == ["c1", "c2"]
    assert await load(store, "x") == 0
    assert await store.redis.smembers(store.keys.declined("c1")) == {"x"}


async def test_reject_puts_the_contact_back_at_its_original_score_and_frees_the_agent(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1", priority=2, now_ms=T0)
    original = await score(store, "c1")
    await offer(store, "c1", "x", now_ms=T0 + 10)
    await queued(store, "c2", priority=2, now_ms=T0 + 20)
    await log.new()
    assert await store.requeue("c1", "x", "billing", T0 + 30, expired=False) is (
        RequeueStatus.REQUEUED
    )
    [event] = await log.new()
    assert isinstance(event, ev.OfferRejected)
    assert (event.contact_id, event.agent_id) == ("c1", "x")
    assert await score(store, "c1") == original
    assert await waiting(store) == ["c1", "c2"]
    assert await load(store, "x") == 0
    assert await store.agent_contact_ids("x") == set()
    assert await store.redis.zscore(store.keys.offers, "c1") is None
    live = await store.contact("c1")
    assert live is not None and (live.state, live.agent_id) == ("queued", None)


async def test_requeue_by_an_agent_without_the_offer_is_refused(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await agent(store, "y")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    status = await store.requeue("c1", "y", "billing", T0 + 1, expired=False)
    assert status is RequeueStatus.NO_SUCH_OFFER
    assert await log.new() == []
    assert (await load(store, "x"), await load(store, "y")) == (1, 0)


async def test_requeue_into_another_queue_is_refused(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    status = await store.requeue("c1", "x", "sales", T0 + 1, expired=False)
    assert status is RequeueStatus.OTHER_QUEUE
    assert await log.new() == []
    assert await load(store, "x") == 1
    assert await store.redis.zcard(store.keys.queue("sales")) == 0


# --- abandon --------------------------------------------------------------------------------


async def test_abandon_while_queued_takes_the_contact_out_of_its_queue(
    store: RoutingStore, log: EventLog
) -> None:
    await queued(store, "c1")
    await log.new()
    assert await store.abandon("c1", T0 + 5) is AbandonStatus.ABANDONED
    [event] = await log.new()
    assert isinstance(event, ev.ContactAbandoned)
    assert (event.contact_id, event.queue, event.agent_id) == ("c1", "billing", None)
    assert await waiting(store) == []
    live = await store.contact("c1")
    assert live is not None and live.state == "abandoned"


async def test_abandon_while_offered_frees_the_agent(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    assert await store.abandon("c1", T0 + 5) is AbandonStatus.ABANDONED
    [event] = await log.new()
    assert isinstance(event, ev.ContactAbandoned) and event.agent_id == "x"
    assert await load(store, "x") == 0
    assert await store.agent_contact_ids("x") == set()
    assert await store.redis.zscore(store.keys.offers, "c1") is None
    assert await store.accept("c1", "x", T0 + 6) is AcceptStatus.NO_SUCH_OFFER


async def test_abandon_after_accept_or_twice_is_refused(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x", capacity=2)
    await queued(store, "served")
    await offer(store, "served", "x")
    await store.accept("served", "x", T0 + 1)
    await queued(store, "gone")
    await store.abandon("gone", T0 + 2)
    await log.new()
    assert await store.abandon("served", T0 + 3) is AbandonStatus.NOT_WAITING
    assert await store.abandon("gone", T0 + 3) is AbandonStatus.NOT_WAITING
    assert await store.abandon("ghost", T0 + 3) is AbandonStatus.NOT_WAITING
    assert await log.new() == []
    assert await load(store, "x") == 1


# --- end of conversation and wrap-up ----------------------------------------------------------


async def test_end_and_wrap_up_free_the_capacity_for_the_next_offer(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=1)
    await queued(store, "c1")
    await queued(store, "c2", now_ms=T0 + 1)
    await offer(store, "c1", "x")
    await log.new()
    assert await store.accept("c1", "x", T0 + 10) is AcceptStatus.ACCEPTED
    assert await store.end_conversation("c1", "x", T0 + 20) is EndStatus.ENDED
    assert await load(store, "x") == 1  # wrap-up still holds it
    assert await offer(store, "c2", "x", now_ms=T0 + 25) is OfferStatus.AGENT_FULL
    status = await store.wrap_up("c1", "x", "resolved", "paid", T0 + 30)
    assert status is WrapUpStatus.CLOSED
    assert await load(store, "x") == 0
    assert await store.agent_contact_ids("x") == set()
    events = await log.new()
    assert types(events) == ["OfferAccepted", "ConversationEnded", "WrapUpCompleted"]
    ended, closed = events[1], events[2]
    assert isinstance(ended, ev.ConversationEnded) and ended.ended_by == "agent"
    assert isinstance(closed, ev.WrapUpCompleted) and closed.disposition == "resolved"
    live = await store.contact("c1")
    assert live is not None and live.state == "closed"
    assert await offer(store, "c2", "x", now_ms=T0 + 40) is OfferStatus.OFFERED


async def test_customer_can_end_the_conversation(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await store.accept("c1", "x", T0 + 1)
    await log.new()
    assert await store.end_conversation("c1", None, T0 + 2) is EndStatus.ENDED
    [event] = await log.new()
    assert isinstance(event, ev.ConversationEnded)
    assert (event.agent_id, event.ended_by) == ("x", "customer")


async def test_end_is_refused_before_accept_and_for_another_agent(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await agent(store, "y")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await log.new()
    assert await store.end_conversation("c1", "x", T0 + 1) is EndStatus.NOT_ASSIGNED
    await store.accept("c1", "x", T0 + 2)
    await log.new()
    assert await store.end_conversation("c1", "y", T0 + 3) is EndStatus.NOT_ASSIGNED
    assert await store.end_conversation("ghost", "x", T0 + 3) is EndStatus.NOT_ASSIGNED
    assert await log.new() == []


async def test_wrap_up_is_refused_before_the_end_and_for_another_agent(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await agent(store, "y")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await store.accept("c1", "x", T0 + 1)
    await log.new()
    assert await store.wrap_up("c1", "x", None, "", T0 + 2) is WrapUpStatus.NOT_IN_WRAPUP
    await store.end_conversation("c1", "x", T0 + 3)
    await log.new()
    assert await store.wrap_up("c1", "y", None, "", T0 + 4) is WrapUpStatus.NOT_IN_WRAPUP
    assert await log.new() == []
    assert await load(store, "x") == 1


# --- snapshot -------------------------------------------------------------------------------


async def test_snapshot_agrees_with_the_fold_of_the_event_stream(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=3, now_ms=T0)
    await agent(store, "y", capacity=2, now_ms=T0 + 1)
    await agent(store, "z", state="away", now_ms=T0 + 2)
    for i in range(6):
        await queued(store, f"c{i}", priority=i % 3, now_ms=T0 + 10 + i)
    await offer(store, "c0", "x", now_ms=T0 + 20)
    await offer(store, "c1", "x", now_ms=T0 + 21)
    await offer(store, "c2", "y", now_ms=T0 + 22)
    await store.requeue("c1", "x", "billing", T0 + 23, expired=False)
    await store.accept("c0", "x", T0 + 24)
    await store.abandon("c3", T0 + 25)
    await offer(store, "c4", "y", now_ms=T0 + 26)
    await store.abandon("c4", T0 + 27)

    folded = RoutingState()
    for event in await log.all():
        folded.apply(event)
    snap = await store.snapshot(["billing"])

    # Console heartbeats are liveness, not events: the fold cannot know them.
    assert {k: replace(a, console_seen_ms=0) for k, a in snap.agents.items()} == folded.agents
    live = {c: v for c, v in folded.contacts.items() if v.state in ("queued", "offered")}
    assert snap.contacts == live
    assert snap.contacts["c1"].declined_by == {"x"}


# --- the worker, with a clock of its own ------------------------------------------------------


async def _x_then_y_available_and_a_offered_to_x(
    store: RoutingStore, clock: ManualClock
) -> RoutingWorker:
    await agent(store, "x", now_ms=T0)
    await agent(store, "y", now_ms=T0 + 1_000)
    await queued(store, "a", now_ms=T0 + 2_000)
    worker = RoutingWorker(store, QUEUES, tick_ms=50, clock=clock)
    clock.now_ms = T0 + 3_000
    result = await worker.run_pass()
    assert (result.offered, result.expired, result.refused) == (1, 0, 0)
    return worker


async def test_worker_offers_a_new_contact_to_the_longest_idle_agent(
    store: RoutingStore, log: EventLog
) -> None:
    await _x_then_y_available_and_a_offered_to_x(store, ManualClock(T0))
    offered = (await log.all())[-1]
    assert isinstance(offered, ev.ContactOffered)
    assert (offered.contact_id, offered.agent_id) == ("a", "x")
    assert offered.deadline_ms == T0 + 3_000 + TIMEOUT_MS
    assert offered.reason["strategy"] == "longest-idle"


async def test_worker_leaves_an_offer_alone_until_its_deadline(
    store: RoutingStore, log: EventLog
) -> None:
    clock = ManualClock(T0)
    worker = await _x_then_y_available_and_a_offered_to_x(store, clock)
    await log.new()
    clock.now_ms = T0 + 3_000 + TIMEOUT_MS - 1
    result = await worker.run_pass()
    assert (result.expired, result.offered, result.refused) == (0, 0, 0)
    assert await log.new() == []
    assert await load(store, "x") == 1


async def test_worker_expires_an_offer_and_reoffers_the_contact_to_the_other_agent_first(
    store: RoutingStore, log: EventLog
) -> None:
    clock = ManualClock(T0)
    worker = await _x_then_y_available_and_a_offered_to_x(store, clock)
    await queued(store, "b", now_ms=T0 + 4_000)
    await log.new()

    clock.now_ms = T0 + 3_000 + TIMEOUT_MS + 1
    result = await worker.run_pass()
    assert (result.expired, result.offered, result.refused) == (1, 2, 0)
    events = await log.new()
    assert [
        (e.type, getattr(e, "contact_id", None), getattr(e, "agent_id", None)) for e in events
    ] == [
        ("OfferExpired", "a", "x"),
        ("ContactOffered", "a", "y"),  # a goes first, to the agent who has not let it go
        ("ContactOffered", "b", "x"),
    ]
    assert (await load(store, "x"), await load(store, "y")) == (1, 1)


async def test_expired_contact_is_still_ahead_of_a_later_one_in_the_queue(
    store: RoutingStore, log: EventLog
) -> None:
    clock = ManualClock(T0)
    worker = await _x_then_y_available_and_a_offered_to_x(store, clock)
    await agent(store, "y", state="away", now_ms=T0 + 3_500)
    await agent(store, "x", state="away", now_ms=T0 + 3_600)
    await queued(store, "b", now_ms=T0 + 4_000)
    clock.now_ms = T0 + 3_000 + TIMEOUT_MS + 1
    result = await worker.run_pass()
    assert (result.expired, result.offered) == (1, 0)
    assert await waiting(store) == ["a", "b"]

    await agent(store, "y", now_ms=clock.now_ms)  # one slot opens up
    await log.new()
    assert (await worker.run_pass()).offered == 1
    [event] = await log.new()
    assert isinstance(event, ev.ContactOffered)
    assert (event.contact_id, event.agent_id) == ("a", "y")
    assert await waiting(store) == ["b"]


async def test_heartbeat_marks_known_agents_and_never_creates_one(
    redis: Redis, routing_domain: str
) -> None:
    store = RoutingStore(redis, routing_domain)
    await store.set_agent_state(
        "known", "available", skills={"support": 1}, capacity=1, now_ms=1_000
    )
    assert await store.heartbeat(["known", "stranger"], 5_000) == 1
    assert (await store.agent_fields("known"))["console_seen_ms"] == "5000"
    assert await store.agent_fields("stranger") == {}
    # A presence change decided by routing itself is not a sign of a console.
    await store.set_agent_state(
        "known", "offline", skills={"support": 1}, capacity=1, now_ms=9_000, from_console=False
    )
    assert (await store.agent_fields("known"))["console_seen_ms"] == "5000"
