"""The next state in the live store (docs/states.md), against a real Redis: kept in the agent's
hash, no offer meanwhile, and applied in the same script that frees the agent's last contact,
whichever one that is, with its events after that script's own."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from contactcenter.core import events as ev
from routing.core import OfferContact
from routing.status import (
    AcceptStatus,
    AgentStateStatus,
    EndStatus,
    NextStateStatus,
    OfferStatus,
    RequeueStatus,
    WrapUpStatus,
)
from routing.store import RoutingStore
from routing.worker import RoutingWorker
from tests.integration.routing.test_routing_store import (
    QUEUES,
    T0,
    TIMEOUT_MS,
    EventLog,
    agent,
    queued,
    types,
)


@pytest.fixture
def store(redis: Redis, routing_domain: str) -> RoutingStore:
    return RoutingStore(redis, routing_domain)


@pytest.fixture
def log(store: RoutingStore) -> EventLog:
    return EventLog(store)


async def _in_conversation(store: RoutingStore, contact_id: str, agent_id: str, at: int) -> None:
    assert await queued(store, contact_id, now_ms=at) is not None
    offer = OfferContact(contact_id, agent_id, "billing", at + TIMEOUT_MS, {"strategy": "test"})
    assert await store.offer(offer, at) is OfferStatus.OFFERED
    assert await store.accept(contact_id, agent_id, at + 1) is AcceptStatus.ACCEPTED


async def test_the_next_state_waits_for_the_last_wrap_up_and_takes_effect_with_it(
    store: RoutingStore, log: EventLog, redis: Redis
) -> None:
    await agent(store, "x", capacity=3)
    await _in_conversation(store, "c1", "x", T0 + 1)
    await _in_conversation(store, "c2", "x", T0 + 3)
    await log.new()
    status = await store.set_next_state(
        "x", "away", now_ms=T0 + 10, reason="lunch", productive=False
    )
    assert status is NextStateStatus.SCHEDULED
    assert types(await log.new()) == ["AgentNextStateScheduled"]
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["next_state"], fields["next_reason"]) == (
        "available",
        "away",
        "lunch",
    )
    # The same again changes nothing.
    again = await store.set_next_state("x", "away", now_ms=T0 + 11, reason="lunch")
    assert again is NextStateStatus.UNCHANGED and await log.new() == []

    # The first wrap-up leaves one contact in hand: nothing happens yet.
    assert await store.end_conversation("c1", "x", T0 + 20) is EndStatus.ENDED
    assert await store.wrap_up("c1", "x", "resolved", "", T0 + 21) is WrapUpStatus.CLOSED
    assert (await store.agent_fields("x"))["state"] == "available"
    # The last one: the state changes in the same step, its events after WrapUpCompleted.
    assert await store.end_conversation("c2", "x", T0 + 30) is EndStatus.ENDED
    await log.new()
    assert await store.wrap_up("c2", "x", None, "", T0 + 31) is WrapUpStatus.CLOSED
    done = await log.new()
    assert types(done) == ["WrapUpCompleted", "AgentStateChanged", "AgentNextStateApplied"]
    changed = done[1]
    assert isinstance(changed, ev.AgentStateChanged)
    assert (changed.agent_id, changed.state, changed.reason, changed.productive) == (
        "x",
        "away",
        "lunch",
        False,
    )
    assert changed.at_ms == T0 + 31 and len({e.event_id for e in done}) == 3
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["reason"]) == ("away", "lunch")
    assert "next_state" not in fields


async def test_routing_offers_nothing_new_while_a_next_state_waits(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=3)
    await _in_conversation(store, "c1", "x", T0 + 1)
    await store.set_next_state("x", "offline", now_ms=T0 + 5)
    await queued(store, "c2", now_ms=T0 + 6)
    clock = [T0 + 7]
    worker = RoutingWorker(store, QUEUES, clock=lambda: clock[0])
    assert (await worker.run_pass()).offered == 0
    # The script refuses it too, whatever a stale decision says.
    offer = OfferContact("c2", "x", "billing", T0 + 8 + TIMEOUT_MS, {"strategy": "test"})
    assert await store.offer(offer, T0 + 8) is OfferStatus.AGENT_NOT_AVAILABLE
    # Taken back: she has room again.
    assert await store.cancel_next_state("x", now_ms=T0 + 9) is NextStateStatus.SCHEDULED
    assert await store.cancel_next_state("x", now_ms=T0 + 9) is NextStateStatus.UNCHANGED
    clock[0] = T0 + 10
    assert (await worker.run_pass()).offered == 1
    assert "AgentNextStateCancelled" in types(await log.all())


async def test_an_agent_holding_nothing_gets_the_next_state_at_once(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x")
    await log.new()
    status = await store.set_next_state("x", "away", now_ms=T0 + 1, reason="break")
    assert status is NextStateStatus.APPLIED
    assert types(await log.new()) == [
        "AgentNextStateScheduled",
        "AgentStateChanged",
        "AgentNextStateApplied",
    ]
    fields = await store.agent_fields("x")
    assert (fields["state"], fields["reason"], fields.get("next_state")) == (
        "away",
        "break",
        None,
    )


async def test_a_lapsed_offer_or_a_transfer_can_free_the_last_contact_too(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=2)
    await queued(store, "c1", now_ms=T0)
    offer = OfferContact("c1", "x", "billing", T0 + TIMEOUT_MS, {"strategy": "test"})
    assert await store.offer(offer, T0 + 1) is OfferStatus.OFFERED
    assert (await store.set_next_state("x", "offline", now_ms=T0 + 2)) is (
        NextStateStatus.SCHEDULED
    )
    await log.new()
    lapsed = await store.requeue("c1", "x", "billing", T0 + TIMEOUT_MS, expired=True)
    assert lapsed is RequeueStatus.REQUEUED
    assert types(await log.new()) == ["OfferExpired", "AgentStateChanged", "AgentNextStateApplied"]
    assert (await store.agent_fields("x"))["state"] == "offline"

    await agent(store, "y", capacity=2)
    await _in_conversation(store, "c3", "y", T0 + 100)
    await store.set_next_state("y", "away", now_ms=T0 + 102, reason="training", productive=True)
    await log.new()
    await store.transfer_to_queue("c3", "y", "billing", T0 + 103)
    assert types(await log.new()) == [
        "ContactTransferred",
        "AgentStateChanged",
        "AgentNextStateApplied",
    ]


async def test_a_state_chosen_at_once_drops_the_next_state(
    store: RoutingStore, log: EventLog
) -> None:
    await agent(store, "x", capacity=2)
    await _in_conversation(store, "c1", "x", T0 + 1)
    await store.set_next_state("x", "away", now_ms=T0 + 5, reason="lunch")
    await log.new()
    # Available again while available (Amazon Connect's way to cancel): no state change.
    status = await store.set_agent_state("x", "available", now_ms=T0 + 6)
    assert status is AgentStateStatus.UNCHANGED
    [dropped] = await log.new()
    assert isinstance(dropped, ev.AgentNextStateCancelled) and dropped.why == "state-chosen"
    assert "next_state" not in await store.agent_fields("x")
    # Her wrap-up then leaves her as she is.
    await store.end_conversation("c1", "x", T0 + 7)
    await store.wrap_up("c1", "x", None, "", T0 + 8)
    assert types(await log.new()) == ["ConversationEnded", "WrapUpCompleted"]
