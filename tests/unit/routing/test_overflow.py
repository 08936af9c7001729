"""A contact that waited its queue's maximum moves to the overflow queue."""

from __future__ import annotations

from routing.core import RoutingState, decide
from routing.model import AgentView, ContactView, OfferContact, OverflowContact, QueuePolicy

QUEUES = {
    "tier1": QueuePolicy("tier1", "tier1", 20_000, max_wait_ms=60_000, overflow_queue="tier2"),
    "tier2": QueuePolicy("tier2", "tier2", 20_000),
}


def _state(*agents: AgentView) -> RoutingState:
    c = ContactView("c1", "tier1", 0, 1_000)
    return RoutingState(agents={a.agent_id: a for a in agents}, contacts={"c1": c})


def test_a_contact_moves_once_it_waited_the_maximum() -> None:
    assert decide(_state(), QUEUES, 1_000 + 59_999) == []
    assert decide(_state(), QUEUES, 1_000 + 60_000) == [OverflowContact("c1", "tier1", "tier2")]


def test_before_the_maximum_the_queues_own_agents_serve_it() -> None:
    agent = AgentView("a", "available", {"tier1": 10})
    (offer,) = decide(_state(agent), QUEUES, 30_000)
    assert isinstance(offer, OfferContact) and offer.agent_id == "a"


def test_a_moved_contact_is_not_offered_in_the_same_pass() -> None:
    agent = AgentView("a", "available", {"tier1": 10})
    assert decide(_state(agent), QUEUES, 70_000) == [OverflowContact("c1", "tier1", "tier2")]
