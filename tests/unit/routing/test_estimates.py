"""Estimated waits: rounds of the average handle time, as many contacts per round as slots."""

from __future__ import annotations

from routing.estimates import DEFAULT_HANDLE_MS, estimate_wait
from routing.model import AgentView


def _agent(load: int = 0, capacity: int = 3, state: str = "available") -> AgentView:
    return AgentView("a", state, {"support": 1}, {"chat": capacity}, {"chat": load})


def test_a_contact_a_free_slot_can_take_waits_nothing() -> None:
    assert estimate_wait(2, [_agent(load=1)], "chat", 60_000).estimated_wait_ms == 0


def test_contacts_beyond_free_slots_wait_rounds_of_the_handle_time() -> None:
    agents = [_agent(load=3), _agent(load=3)]  # six slots, none free
    assert estimate_wait(1, agents, "chat", 60_000).estimated_wait_ms == 60_000
    assert estimate_wait(6, agents, "chat", 60_000).estimated_wait_ms == 60_000
    assert estimate_wait(7, agents, "chat", 60_000).estimated_wait_ms == 120_000


def test_no_eligible_agent_means_no_estimate() -> None:
    assert estimate_wait(1, [], "chat", 60_000).estimated_wait_ms is None
    assert estimate_wait(1, [_agent(capacity=0)], "chat", 60_000).estimated_wait_ms is None


def test_without_history_the_default_handle_time_is_used() -> None:
    est = estimate_wait(1, [_agent(load=3)], "chat", None)
    assert est.estimated_wait_ms == DEFAULT_HANDLE_MS and est.position == 1
