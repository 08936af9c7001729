"""Agents whose consoles went silent: no new offers, then offline after the grace period."""

from __future__ import annotations

from routing.core import (
    AgentView,
    ContactView,
    Liveness,
    OfferContact,
    QueuePolicy,
    RoutingState,
    SetAgentOffline,
    decide,
)

QUEUES = {"support": QueuePolicy("support", "support", 20_000)}
LIVENESS = Liveness(console_timeout_ms=6_000, offline_after_ms=60_000)
NOW = 1_000_000


def _state(*agents: AgentView) -> RoutingState:
    contact = ContactView("c1", "support", 0, NOW - 5_000)
    return RoutingState(agents={a.agent_id: a for a in agents}, contacts={"c1": contact})


def _agent(agent_id: str, seen_ms: int, last_offer_ms: int = 0) -> AgentView:
    return AgentView(
        agent_id,
        "available",
        {"support": 50},
        capacity={"chat": 3},
        last_offer_ms=last_offer_ms,
        console_seen_ms=seen_ms,
    )


def test_agent_with_a_live_console_gets_the_offer() -> None:
    (d,) = decide(_state(_agent("a", NOW - 1_000)), QUEUES, NOW, LIVENESS)
    assert isinstance(d, OfferContact) and d.agent_id == "a"


def test_agent_whose_console_went_silent_gets_nothing_even_if_longest_idle() -> None:
    silent = _agent("a", NOW - 7_000, last_offer_ms=0)
    live = _agent("b", NOW - 100, last_offer_ms=NOW - 1_000)
    decisions = decide(_state(silent, live), QUEUES, NOW, LIVENESS)
    assert decisions == [d for d in decisions if isinstance(d, OfferContact)]
    assert [d.agent_id for d in decisions if isinstance(d, OfferContact)] == ["b"]


def test_console_silent_exactly_the_timeout_still_counts_as_live() -> None:
    (d,) = decide(_state(_agent("a", NOW - 6_000)), QUEUES, NOW, LIVENESS)
    assert isinstance(d, OfferContact) and d.agent_id == "a"


def test_agent_silent_past_the_grace_period_is_set_offline_and_offered_nothing() -> None:
    decisions = decide(_state(_agent("a", NOW - 61_000)), QUEUES, NOW, LIVENESS)
    assert decisions == [SetAgentOffline("a")]


def test_away_agent_silent_past_the_grace_period_is_set_offline_too() -> None:
    away = AgentView("a", "away", {"support": 50}, console_seen_ms=NOW - 61_000)
    assert decide(_state(away), QUEUES, NOW, LIVENESS) == [SetAgentOffline("a")]


def test_offline_agents_are_left_alone() -> None:
    gone = AgentView("a", "offline", {"support": 50}, capacity={"chat": 3})
    assert decide(_state(gone), QUEUES, NOW, LIVENESS) == []


def test_without_liveness_consoles_are_not_considered() -> None:
    (d,) = decide(_state(_agent("a", 0)), QUEUES, NOW)
    assert isinstance(d, OfferContact)
