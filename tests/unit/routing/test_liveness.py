"""Agents whose consoles went silent: no new offers, then offline after the grace period; and
web chat customers who left without a word."""

from __future__ import annotations

from dataclasses import replace

from routing.core import (
    AbandonContact,
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


def test_offline_agents_holding_nothing_are_left_alone() -> None:
    gone = AgentView("a", "offline", {"support": 50}, capacity={"chat": 3})
    assert decide(_state(gone), QUEUES, NOW, LIVENESS) == []


def test_an_agent_who_went_offline_holding_work_and_closed_the_console_gives_it_back() -> None:
    holding = AgentView(
        "a", "offline", {"support": 50}, load={"chat": 2}, console_seen_ms=NOW - 61_000
    )
    assert decide(_state(holding), QUEUES, NOW, LIVENESS) == [SetAgentOffline("a")]
    within = replace(holding, console_seen_ms=NOW - 59_000)
    assert decide(_state(within), QUEUES, NOW, LIVENESS) == []


def test_work_left_with_an_agent_routing_set_offline_is_not_released_again() -> None:
    # on_agent_lost = "keep": the conversations stay; routing does not ask again and again.
    kept = AgentView(
        "a",
        "offline",
        {"support": 50},
        load={"chat": 1},
        console_seen_ms=NOW - 600_000,
        reason="no-console",
    )
    assert decide(_state(kept), QUEUES, NOW, LIVENESS) == []


def test_the_grace_period_runs_from_when_the_last_console_closed() -> None:
    # Closed at NOW - 59 s: offered nothing at once, set offline exactly after 60 s, no sooner.
    closed = replace(_agent("a", NOW - 59_000), console_left_ms=NOW - 59_000)
    assert decide(_state(closed), QUEUES, NOW, LIVENESS) == []
    assert decide(_state(closed), QUEUES, NOW + 1_000, LIVENESS) == []
    assert decide(_state(closed), QUEUES, NOW + 1_001, LIVENESS) == [SetAgentOffline("a")]


def test_a_console_seen_after_another_closed_keeps_the_agent_offered() -> None:
    # One console closed on one process, another heartbeat came from a second process since.
    both = replace(_agent("a", NOW - 500), console_left_ms=NOW - 1_500)
    (d,) = decide(_state(both), QUEUES, NOW, LIVENESS)
    assert isinstance(d, OfferContact) and d.agent_id == "a"


# --- customers who leave (web chats without a live page) -----------------------------------

GRACE = Liveness(
    console_timeout_ms=6_000, offline_after_ms=60_000, customer_grace_ms=90_000, since_ms=0
)


def _chat(seen_ms: int, **changes: object) -> RoutingState:
    contact = replace(
        ContactView("c1", "support", 0, NOW - 200_000, customer_seen_ms=seen_ms), **changes
    )
    live = _agent("b", NOW - 100)
    return RoutingState(agents={"b": live}, contacts={"c1": contact})


def test_a_waiting_chat_whose_customer_left_past_the_grace_period_is_abandoned() -> None:
    assert decide(_chat(NOW - 90_001), QUEUES, NOW, GRACE) == [AbandonContact("c1", "support")]


def test_a_waiting_chat_whose_customer_is_within_the_grace_period_is_offered() -> None:
    (d,) = decide(_chat(NOW - 90_000), QUEUES, NOW, GRACE)
    assert isinstance(d, OfferContact) and d.contact_id == "c1"


def test_an_offered_ghost_is_abandoned_and_its_agent_gets_the_next_contact() -> None:
    state = _chat(NOW - 100_000, state="offered", agent_id="b", deadline_ms=NOW + 10_000)
    state.agents["b"] = replace(state.agents["b"], capacity={"chat": 1}, load={"chat": 1})
    state.contacts["c2"] = ContactView("c2", "support", 0, NOW - 1_000, customer_seen_ms=NOW)
    decisions = decide(state, QUEUES, NOW, GRACE)
    assert decisions[0] == AbandonContact("c1", "support")
    assert [(d.contact_id, d.agent_id) for d in decisions[1:] if isinstance(d, OfferContact)] == [
        ("c2", "b")
    ]


def test_contacts_without_a_live_page_are_never_ghosts() -> None:
    # A call, an SMS thread, an email: customer_seen_ms is 0.
    (d,) = decide(_chat(0), QUEUES, NOW, GRACE)
    assert isinstance(d, OfferContact)


def test_silence_counts_from_the_process_start_at_the_earliest() -> None:
    # Every hub was down for ten minutes: customers get the grace period to come back.
    restarted = replace(GRACE, since_ms=NOW - 10_000)
    (d,) = decide(_chat(NOW - 600_000), QUEUES, NOW, restarted)
    assert isinstance(d, OfferContact)
    later = NOW + 80_001  # the agent's console is silent by then too: both are acted on
    assert AbandonContact("c1", "support") in decide(_chat(NOW - 600_000), QUEUES, later, restarted)


def test_without_liveness_consoles_are_not_considered() -> None:
    (d,) = decide(_state(_agent("a", 0)), QUEUES, NOW)
    assert isinstance(d, OfferContact)
