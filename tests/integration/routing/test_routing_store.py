"""The routing store against a real Redis: each Lua script's statuses, its effects, and the one
event each successful transition appends to the stream (a refused one appends none)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from contactcenter.core import events as ev
from routing.core import AgentView, OfferContact, QueuePolicy, RoutingState, queue_score
from routing.model import CHANNELS, EscalationStep, Liveness
from routing.status import (
    AbandonStatus,
    AcceptStatus,
    AgentStateStatus,
    EndStatus,
    EnqueueStatus,
    EscalateStatus,
    OfferStatus,
    ProfileStatus,
    RequeueStatus,
    WrapUpStatus,
)
from routing.store import RoutingStore
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


async def profile(
    store: RoutingStore,
    agent_id: str,
    *,
    capacity: int | Mapping[str, int] = 1,
    skills: Mapping[str, int] | None = None,
    languages: tuple[str, ...] = (),
    voice_blocks_chat: bool = True,
    now_ms: int = T0,
) -> ProfileStatus:
    """A bare capacity is the chat capacity."""
    return await store.set_agent_profile(
        agent_id,
        skills={"billing": 5} if skills is None else dict(skills),
        capacity={"chat": capacity} if isinstance(capacity, int) else dict(capacity),
        languages=languages,
        voice_blocks_chat=voice_blocks_chat,
        now_ms=now_ms,
    )


async def agent(
    store: RoutingStore,
    agent_id: str,
    *,
    state: str = "available",
    capacity: int | Mapping[str, int] = 1,
    skills: Mapping[str, int] | None = None,
    voice_blocks_chat: bool = True,
    now_ms: int = T0,
) -> AgentStateStatus:
    """The agent's profile, then their presence (the store wants them in that order)."""
    await profile(
        store,
        agent_id,
        capacity=capacity,
        skills=skills,
        voice_blocks_chat=voice_blocks_chat,
        now_ms=now_ms,
    )
    return await store.set_agent_state(agent_id, state, now_ms=now_ms)


async def queued(
    store: RoutingStore,
    contact_id: str,
    *,
    priority: int = 0,
    now_ms: int = T0,
    queue: str = "billing",
    channel: str = "chat",
    aging_ms: int | None = None,
    max_length: int = 0,
) -> EnqueueStatus:
    return await store.enqueue(
        contact_id=contact_id,
        queue=queue,
        channel=channel,
        customer_id=f"cust-{contact_id}",
        priority=priority,
        now_ms=now_ms,
        aging_ms=aging_ms,
        max_length=max_length,
    )


async def offer(
    store: RoutingStore,
    contact_id: str,
    agent_id: str,
    *,
    now_ms: int = T0,
    queue: str = "billing",
) -> OfferStatus:
    decision = OfferContact(contact_id, agent_id, queue, now_ms + TIMEOUT_MS, {"strategy": "test"})
    return await store.offer(decision, now_ms)


async def load(store: RoutingStore, agent_id: str, channel: str = "chat") -> int:
    return int((await store.agent_fields(agent_id)).get(f"load:{channel}", "0"))


async def misses(store: RoutingStore, agent_id: str) -> int:
    return int((await store.agent_fields(agent_id)).get("misses", "0"))


async def waiting(store: RoutingStore, queue: str = "billing") -> list[str]:
    return list(await store.redis.zrange(store.keys.queue(queue), 0, -1))


async def score(store: RoutingStore, contact_id: str, queue: str = "billing") -> float | None:
    return await store.redis.zscore(store.keys.queue(queue), contact_id)


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


async def test_enqueue_records_the_routing_needs_of_the_contact_in_its_event(
    store: RoutingStore, log: EventLog
) -> None:
    status = await store.enqueue(
        contact_id="c1",
        queue="billing",
        channel="email",
        customer_id="cust-c1",
        priority=1,
        now_ms=T0,
        required_skills=("vip", "refunds", "vip"),
        language="fr",
        preferred_agent_id="bea",
    )
    assert status is EnqueueStatus.QUEUED
    [event] = await log.new()
    assert isinstance(event, ev.ContactQueued)
    assert (event.channel, event.required_skills, event.language, event.preferred_agent_id) == (
        "email",
        ["refunds", "vip"],
        "fr",
        "bea",
    )


async def test_enqueueing_the_same_contact_twice_is_a_duplicate_and_changes_nothing(
    store: RoutingStore, log: EventLog
) -> None:
    await queued(store, "c1", now_ms=T0)
    await log.new()
    assert await queued(store, "c1", priority=9, now_ms=T0 + 5_000) is EnqueueStatus.DUPLICATE
    assert await score(store, "c1") == queue_score(0, T0)
    assert await log.new() == []


async def test_enqueue_into_a_queue_at_its_maximum_length_is_refused_and_changes_nothing(
    store: RoutingStore, log: EventLog
) -> None:
    assert await queued(store, "c1", max_length=2) is EnqueueStatus.QUEUED
    assert await queued(store, "c2", now_ms=T0 + 1, max_length=2) is EnqueueStatus.QUEUED
    await log.new()
    assert await queued(store, "c3", now_ms=T0 + 2, max_length=2) is EnqueueStatus.QUEUE_FULL
    assert await log.new() == []
    assert await store.contact("c3") is None
    assert await waiting(store) == ["c1", "c2"]


async def test_a_contact_offered_out_of_a_full_queue_makes_room_for_the_next(
    store: RoutingStore,
) -> None:
    await agent(store, "x")
    await queued(store, "c1", max_length=1)
    assert await queued(store, "c2", now_ms=T0 + 1, max_length=1) is EnqueueStatus.QUEUE_FULL
    await offer(store, "c1", "x")
    assert await queued(store, "c2", now_ms=T0 + 2, max_length=1) is EnqueueStatus.QUEUED


async def test_enqueue_with_aging_scores_the_contact_by_arrival_less_its_priority_worth(
    store: RoutingStore,
) -> None:
    aging_ms = 10_000
    await queued(store, "c1", priority=3, now_ms=T0, aging_ms=aging_ms)
    assert await score(store, "c1") == queue_score(3, T0, aging_ms) == T0 - 3 * aging_ms


@pytest.mark.parametrize(
    ("high_arrives_after_ms", "order"),
    [(19_999, ["new-high", "old-low"]), (20_001, ["old-low", "new-high"])],
)
async def test_with_aging_an_old_low_priority_contact_is_ahead_once_it_waited_long_enough(
    store: RoutingStore, high_arrives_after_ms: int, order: list[str]
) -> None:
    await queued(store, "old-low", priority=0, now_ms=T0, aging_ms=10_000)
    await queued(store, "new-high", priority=2, now_ms=T0 + high_arrives_after_ms, aging_ms=10_000)
    assert await waiting(store) == order


# --- agent profile and state ----------------------------------------------------------------


async def test_new_agent_profile_starts_offline_with_nothing_on_hand(
    store: RoutingStore, log: EventLog
) -> None:
    status = await profile(
        store,
        "x",
        capacity={"voice": 1, "chat": 3},
        skills={"billing": 70, "sales": 20},
        languages=("fr", "en"),
        voice_blocks_chat=False,
    )
    assert status is ProfileStatus.CHANGED
    [event] = await log.new()
    assert isinstance(event, ev.AgentProfileChanged)
    assert (event.agent_id, event.skills, event.capacity, event.languages) == (
        "x",
        {"billing": 70, "sales": 20},
        {"voice": 1, "chat": 3},
        ["en", "fr"],
    )
    assert event.voice_blocks_chat is False
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["misses"], fields["last_offer_ms"]) == ("offline", "0", "0")
    assert {ch: fields[f"load:{ch}"] for ch in CHANNELS} == dict.fromkeys(CHANNELS, "0")
    assert {ch: fields[f"cap:{ch}"] for ch in CHANNELS} == {
        "voice": "1",
        "chat": "3",
        "sms": "0",
        "whatsapp": "0",
        "email": "0",
    }
    assert await store.redis.smembers(store.keys.agents) == {"x"}


async def test_unchanged_profile_appends_no_event(store: RoutingStore, log: EventLog) -> None:
    await profile(store, "x", capacity=3, languages=("en", "fr"))
    await log.new()
    again = await profile(store, "x", capacity=3, languages=("fr", "en"), now_ms=T0 + 1)
    assert again is ProfileStatus.UNCHANGED
    assert await log.new() == []


async def test_changed_profile_keeps_the_agent_presence_and_load(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=3)
    await queued(store, "c1")
    await offer(store, "c1", "x", now_ms=T0 + 10)
    await log.new()
    changed = await profile(store, "x", capacity=5, skills={"billing": 90}, now_ms=T0 + 20)
    assert changed is ProfileStatus.CHANGED
    assert types(await log.new()) == ["AgentProfileChanged"]
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["load:chat"], fields["cap:chat"]) == ("available", "1", "5")
    assert fields["last_offer_ms"] == str(T0 + 10)


async def test_agent_state_change_appends_one_event_and_a_repeat_appends_none(
    store: RoutingStore, log: EventLog
) -> None:
    await profile(store, "x", capacity=3)
    await log.new()
    assert await store.set_agent_state("x", "available", now_ms=T0) is AgentStateStatus.CHANGED
    [event] = await log.new()
    assert isinstance(event, ev.AgentStateChanged)
    assert (event.agent_id, event.state, event.reason) == ("x", "available", None)
    repeat = await store.set_agent_state("x", "available", now_ms=T0 + 1)
    assert repeat is AgentStateStatus.UNCHANGED
    assert await log.new() == []
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["load:chat"], fields["last_offer_ms"]) == (
        "available",
        "0",
        str(T0),
    )


async def test_agent_state_with_another_reason_is_a_change(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", state="away")
    await log.new()
    status = await store.set_agent_state("x", "away", now_ms=T0 + 1, reason="lunch")
    assert status is AgentStateStatus.CHANGED
    [event] = await log.new()
    assert isinstance(event, ev.AgentStateChanged) and event.reason == "lunch"
    assert (await store.agent_fields("x"))["reason"] == "lunch"


async def test_agent_state_without_a_profile_is_refused_and_creates_no_agent(
    store: RoutingStore, log: EventLog
) -> None:
    status = await store.set_agent_state("ghost", "available", now_ms=T0)
    assert status is AgentStateStatus.NO_PROFILE
    assert await log.new() == []
    assert await store.agent_fields("ghost") == {}
    assert await store.redis.smembers(store.keys.agents) == set()


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


async def test_offer_holds_capacity_on_the_contact_channel_only(store: RoutingStore) -> None:
    await agent(store, "x", capacity={"chat": 1, "email": 2})
    await queued(store, "mail", channel="email")
    assert await offer(store, "mail", "x") is OfferStatus.OFFERED
    assert (await load(store, "x", "email"), await load(store, "x", "chat")) == (1, 0)


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


async def test_offer_on_a_channel_the_agent_has_no_capacity_for_is_refused(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity={"chat": 3})
    await queued(store, "sms", channel="sms")
    await log.new()
    assert await offer(store, "sms", "x") is OfferStatus.AGENT_FULL
    assert await log.new() == []


async def _on_a_voice_call(store: RoutingStore, voice_blocks_chat: bool) -> None:
    await agent(store, "x", capacity={"voice": 1, "chat": 3}, voice_blocks_chat=voice_blocks_chat)
    await queued(store, "call", channel="voice")
    assert await offer(store, "call", "x") is OfferStatus.OFFERED
    assert await store.accept("call", "x", T0 + 1) is AcceptStatus.ACCEPTED
    await queued(store, "c1", now_ms=T0 + 2)


async def test_chat_offer_to_an_agent_on_a_voice_call_is_refused_when_voice_blocks_chat(
    store: RoutingStore, log: EventLog
) -> None:
    await _on_a_voice_call(store, voice_blocks_chat=True)
    await log.new()
    assert await offer(store, "c1", "x", now_ms=T0 + 3) is OfferStatus.AGENT_ON_VOICE
    assert await log.new() == []
    assert await load(store, "x") == 0
    assert await waiting(store) == ["c1"]


async def test_chat_offer_to_an_agent_on_a_voice_call_goes_through_when_voice_does_not_block(
    store: RoutingStore,
) -> None:
    await _on_a_voice_call(store, voice_blocks_chat=False)
    assert await offer(store, "c1", "x", now_ms=T0 + 3) is OfferStatus.OFFERED
    assert (await load(store, "x", "voice"), await load(store, "x")) == (1, 1)


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


async def test_accept_resets_the_agent_misses(store: RoutingStore) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await store.requeue("c1", "x", "billing", T0 + 1, expired=False, max_misses=3)
    assert await misses(store, "x") == 1
    await offer(store, "c1", "x", now_ms=T0 + 2)
    assert await store.accept("c1", "x", T0 + 3) is AcceptStatus.ACCEPTED
    assert await misses(store, "x") == 0


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


async def test_expired_offer_in_an_aging_queue_keeps_its_aged_score(store: RoutingStore) -> None:
    await agent(store, "x")
    await queued(store, "c1", priority=2, now_ms=T0, aging_ms=10_000)
    await offer(store, "c1", "x", now_ms=T0 + 10)
    await store.requeue("c1", "x", "billing", T0 + 10 + TIMEOUT_MS, expired=True)
    assert await score(store, "c1") == queue_score(2, T0, 10_000)


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


# --- missed offers ----------------------------------------------------------------------------


async def _offered_at(store: RoutingStore, contact_id: str, at_ms: int) -> None:
    await queued(store, contact_id, now_ms=at_ms)
    assert await offer(store, contact_id, "x", now_ms=at_ms) is OfferStatus.OFFERED


async def test_agent_missing_max_misses_offers_in_a_row_is_set_away_in_the_same_step(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=3)
    await _offered_at(store, "c1", T0)
    status = await store.requeue("c1", "x", "billing", T0 + 1, expired=False, max_misses=2)
    assert status is RequeueStatus.REQUEUED
    assert await misses(store, "x") == 1
    await _offered_at(store, "c2", T0 + 2)
    await log.new()

    deadline_ms = T0 + 2 + TIMEOUT_MS
    status = await store.requeue("c2", "x", "billing", deadline_ms, expired=True, max_misses=2)

    assert status is RequeueStatus.REQUEUED_AGENT_AWAY
    expired_event, away = await log.new()
    assert isinstance(expired_event, ev.OfferExpired) and expired_event.contact_id == "c2"
    assert isinstance(away, ev.AgentStateChanged)
    assert (away.agent_id, away.state, away.reason, away.at_ms) == (
        "x",
        "away",
        "missed-offers",
        deadline_ms,
    )
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["reason"], fields["misses"]) == ("away", "missed-offers", "0")
    assert await waiting(store) == ["c1", "c2"]
    assert await load(store, "x") == 0


async def test_misses_are_counted_but_never_set_the_agent_away_without_a_maximum(
    store: RoutingStore,
) -> None:
    await agent(store, "x")
    for i in range(5):
        await _offered_at(store, f"c{i}", T0 + i)
        status = await store.requeue(f"c{i}", "x", "billing", T0 + i, expired=False)
        assert status is RequeueStatus.REQUEUED
    assert await misses(store, "x") == 5
    assert (await store.agent_fields("x"))["state"] == "available"


async def test_withdrawn_offer_never_counts_as_a_miss(store: RoutingStore, log: EventLog) -> None:
    await agent(store, "x")
    await _offered_at(store, "c1", T0)
    await log.new()
    status = await store.requeue(
        "c1", "x", "billing", T0 + 1, expired=False, withdraw=True, max_misses=1
    )
    assert status is RequeueStatus.REQUEUED
    assert types(await log.new()) == ["OfferWithdrawn"]
    assert await misses(store, "x") == 0
    assert (await store.agent_fields("x"))["state"] == "available"
    assert await waiting(store) == ["c1"]


async def test_going_available_again_starts_the_misses_afresh(store: RoutingStore) -> None:
    await agent(store, "x")
    await _offered_at(store, "c1", T0)
    await store.requeue("c1", "x", "billing", T0 + 1, expired=False, max_misses=3)
    await store.set_agent_state("x", "away", now_ms=T0 + 2)
    await store.set_agent_state("x", "available", now_ms=T0 + 3)
    assert await misses(store, "x") == 0


# --- escalate -------------------------------------------------------------------------------


async def test_escalate_records_the_step_once_and_never_goes_back(
    store: RoutingStore, log: EventLog
) -> None:
    await queued(store, "c1")
    await log.new()
    assert await store.escalate("c1", "billing", 1, T0 + 10) is EscalateStatus.ESCALATED
    [event] = await log.new()
    assert isinstance(event, ev.ContactEscalated)
    assert (event.contact_id, event.queue, event.step, event.at_ms) == ("c1", "billing", 1, T0 + 10)
    assert await store.escalate("c1", "billing", 1, T0 + 20) is EscalateStatus.ALREADY
    assert await store.escalate("c1", "billing", 0, T0 + 20) is EscalateStatus.ALREADY
    assert await log.new() == []
    assert await store.escalate("c1", "billing", 2, T0 + 30) is EscalateStatus.ESCALATED
    assert types(await log.new()) == ["ContactEscalated"]
    assert await store.redis.hget(store.keys.contact("c1"), "step") == "2"


async def test_escalate_of_an_offered_contact_is_recorded(store: RoutingStore) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    assert await store.escalate("c1", "billing", 1, T0 + 1) is EscalateStatus.ESCALATED


async def test_escalate_after_accept_or_of_an_unknown_contact_is_refused(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await queued(store, "c1")
    await offer(store, "c1", "x")
    await store.accept("c1", "x", T0 + 1)
    await log.new()
    assert await store.escalate("c1", "billing", 1, T0 + 2) is EscalateStatus.NOT_WAITING
    assert await store.escalate("ghost", "billing", 1, T0 + 2) is EscalateStatus.NOT_WAITING
    assert await log.new() == []


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
    assert (await store.agent_fields("x"))["idle_since_ms"] == str(T0 + 30)
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


def _comparable(a: AgentView) -> AgentView:
    """The same agent, whichever way it was built: console heartbeats are liveness, not events,
    so the fold cannot know them; a channel left out of a profile, or with nothing on it, is
    worth zero either way."""
    return replace(
        a,
        console_seen_ms=0,
        capacity={ch: a.capacity.get(ch, 0) for ch in CHANNELS},
        load={ch: n for ch, n in a.load.items() if n},
    )


async def _fold(log: EventLog) -> RoutingState:
    folded = RoutingState()
    for event in await log.all():
        folded.apply(event)
    return folded


async def test_snapshot_agrees_with_the_fold_of_the_event_stream(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity={"chat": 3, "email": 2}, now_ms=T0)
    await agent(store, "y", capacity=2, now_ms=T0 + 1)
    await agent(store, "z", state="away", now_ms=T0 + 2)
    await profile(store, "w", capacity=1, skills={"support": 50}, now_ms=T0 + 3)
    for i in range(6):
        await queued(store, f"c{i}", priority=i % 3, now_ms=T0 + 10 + i)
    await queued(store, "mail", channel="email", now_ms=T0 + 16)
    await offer(store, "c0", "x", now_ms=T0 + 20)
    await offer(store, "c1", "x", now_ms=T0 + 21)
    await offer(store, "c2", "y", now_ms=T0 + 22)
    await store.requeue("c1", "x", "billing", T0 + 23, expired=False, max_misses=3)
    await store.accept("c0", "x", T0 + 24)
    await store.abandon("c3", T0 + 25)
    await offer(store, "c4", "y", now_ms=T0 + 26)
    await store.abandon("c4", T0 + 27)
    await store.escalate("c5", "billing", 1, T0 + 28)
    await offer(store, "mail", "x", now_ms=T0 + 29)
    await store.accept("mail", "x", T0 + 30)
    await store.end_conversation("mail", None, T0 + 31)
    await profile(store, "y", capacity=4, now_ms=T0 + 32)

    folded = await _fold(log)
    snap = await store.snapshot(["billing"])

    assert {k: _comparable(a) for k, a in snap.agents.items()} == {
        k: _comparable(a) for k, a in folded.agents.items()
    }
    live = {c: v for c, v in folded.contacts.items() if v.state in ("queued", "offered", "wrapup")}
    assert snap.contacts == live
    assert snap.contacts["c1"].declined_by == {"x"}
    assert snap.contacts["c5"].escalation_step == 1
    assert snap.contacts["mail"].ended_at_ms == T0 + 31
    assert (snap.agents["y"].capacity["chat"], snap.agents["x"].load) == (
        4,
        {"chat": 1, "email": 1},
    )


async def test_snapshot_agrees_with_the_fold_after_an_agent_is_set_away_for_missed_offers(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=3)
    for i in range(2):
        await _offered_at(store, f"c{i}", T0 + i)
        await store.requeue(f"c{i}", "x", "billing", T0 + i, expired=False, max_misses=2)
    folded = await _fold(log)
    snap = await store.snapshot(["billing"])
    assert _comparable(snap.agents["x"]) == _comparable(folded.agents["x"])


async def test_snapshot_agrees_with_the_fold_after_an_offer_is_withdrawn(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await _offered_at(store, "c1", T0)
    await store.requeue("c1", "x", "billing", T0 + 1, expired=False, withdraw=True, max_misses=3)
    folded = await _fold(log)
    snap = await store.snapshot(["billing"])
    assert _comparable(snap.agents["x"]) == _comparable(folded.agents["x"])


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
    assert offered.reason["eligible"] == 2


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
    assert await misses(store, "x") == 1


async def test_expired_contact_is_still_ahead_of_a_later_one_in_the_queue(
    store: RoutingStore, log: EventLog
) -> None:
    clock = ManualClock(T0)
    worker = await _x_then_y_available_and_a_offered_to_x(store, clock)
    await store.set_agent_state("y", "away", now_ms=T0 + 3_500)
    await store.set_agent_state("x", "away", now_ms=T0 + 3_600)
    await queued(store, "b", now_ms=T0 + 4_000)
    clock.now_ms = T0 + 3_000 + TIMEOUT_MS + 1
    result = await worker.run_pass()
    assert (result.expired, result.offered) == (1, 0)
    assert await waiting(store) == ["a", "b"]

    await store.set_agent_state("y", "available", now_ms=clock.now_ms)  # one slot opens up
    await log.new()
    assert (await worker.run_pass()).offered == 1
    [event] = await log.new()
    assert isinstance(event, ev.ContactOffered)
    assert (event.contact_id, event.agent_id) == ("a", "y")
    assert await waiting(store) == ["b"]


async def test_worker_sets_away_an_agent_who_let_the_queue_max_misses_offers_expire(
    store: RoutingStore, log: EventLog
) -> None:
    queues = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS, max_misses=1)}
    clock = ManualClock(T0 + 1_000)
    worker = RoutingWorker(store, queues, clock=clock)
    await agent(store, "x")
    await queued(store, "a")
    assert (await worker.run_pass()).offered == 1
    await log.new()
    clock.now_ms = T0 + 1_000 + TIMEOUT_MS
    result = await worker.run_pass()
    assert (result.expired, result.offered) == (1, 0)
    assert types(await log.new()) == ["OfferExpired", "AgentStateChanged"]
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["reason"]) == ("away", "missed-offers")
    assert await waiting(store) == ["a"]


async def test_worker_escalates_a_contact_and_offers_it_to_the_overflow_queue_agents(
    store: RoutingStore, log: EventLog
) -> None:
    queues = {
        "billing": QueuePolicy(
            "billing",
            "billing",
            TIMEOUT_MS,
            escalation=(EscalationStep(after_ms=10_000, overflow=("support",)),),
        ),
        "support": QueuePolicy("support", "support", TIMEOUT_MS),
    }
    clock = ManualClock(T0 + 9_999)
    worker = RoutingWorker(store, queues, clock=clock)
    await agent(store, "helper", skills={"support": 50})
    await queued(store, "a", now_ms=T0)
    await log.new()
    result = await worker.run_pass()
    assert (result.offered, result.other) == (0, 0)
    assert await log.new() == []

    clock.now_ms = T0 + 10_000
    result = await worker.run_pass()

    assert (result.offered, result.other) == (1, 1)
    escalated, offered = await log.new()
    assert isinstance(escalated, ev.ContactEscalated)
    assert (escalated.contact_id, escalated.queue, escalated.step) == ("a", "billing", 1)
    assert isinstance(offered, ev.ContactOffered)
    assert (offered.contact_id, offered.agent_id) == ("a", "helper")
    assert offered.reason["escalation_step"] == 1
    assert await store.redis.hget(store.keys.contact("a"), "step") == "1"
    clock.now_ms = T0 + 11_000
    assert (await worker.run_pass()).other == 0
    assert await log.new() == []


async def test_worker_completes_a_wrap_up_once_the_queue_wrap_up_time_is_over(
    store: RoutingStore, log: EventLog
) -> None:
    queues = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS, wrapup_ms=5_000)}
    clock = ManualClock(T0 + 1_000)
    worker = RoutingWorker(store, queues, clock=clock)
    await agent(store, "x")
    await queued(store, "a")
    assert (await worker.run_pass()).offered == 1
    await store.accept("a", "x", T0 + 1_500)
    await store.end_conversation("a", "x", T0 + 2_000)
    await log.new()

    clock.now_ms = T0 + 2_000 + 4_999
    assert (await worker.run_pass()).other == 0
    assert await log.new() == []
    assert await load(store, "x") == 1

    clock.now_ms = T0 + 2_000 + 5_000
    assert (await worker.run_pass()).other == 1
    [event] = await log.new()
    assert isinstance(event, ev.WrapUpCompleted)
    assert (event.contact_id, event.agent_id, event.disposition, event.notes) == (
        "a",
        "x",
        None,
        "",
    )
    live = await store.contact("a")
    assert live is not None and live.state == "closed"
    assert await load(store, "x") == 0
    assert await store.agent_contact_ids("x") == set()


async def test_worker_closes_a_wrap_up_without_a_queue_wrap_up_time_at_its_maximum(
    store: RoutingStore, log: EventLog
) -> None:
    clock = ManualClock(T0 + 1_000)
    worker = RoutingWorker(store, QUEUES, clock=clock)
    await agent(store, "x")
    await queued(store, "a")
    await worker.run_pass()
    await store.accept("a", "x", T0 + 1_500)
    await store.end_conversation("a", "x", T0 + 2_000)
    await log.new()
    limit_ms = QUEUES["billing"].max_wrapup_ms
    clock.now_ms = T0 + 2_000 + limit_ms - 1
    assert (await worker.run_pass()).other == 0
    assert await log.new() == []
    clock.now_ms = T0 + 2_000 + limit_ms
    assert (await worker.run_pass()).other == 1
    assert [e.type for e in await log.new()] == ["WrapUpCompleted"]


async def test_worker_sets_a_silent_agent_offline_and_their_pending_offer_goes_to_another(
    store: RoutingStore, log: EventLog
) -> None:
    long_timeout_ms = 600_000  # the offer is still running when the grace period ends
    queues = {"billing": QueuePolicy("billing", "billing", long_timeout_ms)}
    liveness = Liveness(console_timeout_ms=6_000, offline_after_ms=60_000)
    clock = ManualClock(T0 + 1_000)
    worker = RoutingWorker(store, queues, clock=clock, liveness=liveness)
    await agent(store, "x", now_ms=T0)  # from a console: seen at T0
    await agent(store, "y", now_ms=T0 + 500)
    await queued(store, "a", now_ms=T0 + 600)
    await store.heartbeat(["x", "y"], T0 + 1_000)
    assert (await worker.run_pass()).offered == 1
    assert await store.agent_contact_ids("x") == {"a"}
    await log.new()

    clock.now_ms = T0 + 1_000 + 60_001
    await store.heartbeat(["y"], clock.now_ms)  # only y's console is still there
    result = await worker.run_pass()

    assert (result.other, result.offered) == (1, 0)
    offline, withdrawn = await log.new()
    assert isinstance(offline, ev.AgentStateChanged)
    assert (offline.agent_id, offline.state, offline.reason) == ("x", "offline", "no-console")
    assert isinstance(withdrawn, ev.OfferWithdrawn)
    assert (withdrawn.contact_id, withdrawn.agent_id) == ("a", "x")
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["misses"], fields["load:chat"]) == ("offline", "0", "0")
    assert fields["console_seen_ms"] == str(T0 + 1_000)  # routing's own change is no sign
    assert await store.agent_contact_ids("x") == set()
    assert await waiting(store) == ["a"]

    result = await worker.run_pass()
    assert (result.offered, result.other) == (1, 0)
    [reoffered] = await log.new()
    assert isinstance(reoffered, ev.ContactOffered)
    assert (reoffered.contact_id, reoffered.agent_id) == ("a", "y")


async def test_heartbeat_marks_known_agents_and_never_creates_one(
    redis: Redis, routing_domain: str
) -> None:
    store = RoutingStore(redis, routing_domain)
    await store.set_agent_profile("known", skills={"support": 1}, capacity={"chat": 1}, now_ms=0)
    await store.set_agent_state("known", "available", now_ms=1_000)
    assert await store.heartbeat(["known", "stranger"], 5_000) == 1
    assert (await store.agent_fields("known"))["console_seen_ms"] == "5000"
    assert await store.agent_fields("stranger") == {}
    # A presence change decided by routing itself is not a sign of a console.
    await store.set_agent_state("known", "offline", now_ms=9_000, from_console=False)
    assert (await store.agent_fields("known"))["console_seen_ms"] == "5000"
