"""Broadcast: one contact offered to several agents; the first to accept wins."""

from __future__ import annotations

from contactcenter.core import events as ev
from routing.core import RoutingState, decide
from routing.model import BroadcastContact, ExpireOffer, QueuePolicy

QUEUES = {"chat": QueuePolicy("chat", "chat", 20_000, strategy="broadcast", broadcast_n=2)}
T0 = 1_000_000


def _state(*agents: tuple[str, int]) -> RoutingState:
    s = RoutingState()
    for agent_id, went_available in agents:
        s.apply(
            ev.AgentProfileChanged(
                at_ms=0, agent_id=agent_id, skills={"chat": 1}, capacity={"chat": 2}, languages=[]
            )
        )
        s.apply(ev.AgentStateChanged(at_ms=went_available, agent_id=agent_id, state="available"))
    s.apply(
        ev.ContactQueued(
            at_ms=T0, contact_id="c1", queue="chat", channel="chat", priority=0, enqueued_at_ms=T0
        )
    )
    return s


def _broadcast(s: RoutingState, agents: list[str]) -> None:
    s.apply(
        ev.ContactBroadcast(
            at_ms=T0 + 1,
            contact_id="c1",
            agent_ids=agents,
            queue="chat",
            deadline_ms=T0 + 20_001,
            reason={},
        )
    )


def test_the_longest_idle_agents_are_offered_it_at_once() -> None:
    (d,) = decide(_state(("a", 30), ("b", 10), ("c", 20)), QUEUES, T0 + 1)
    assert isinstance(d, BroadcastContact)
    assert d.agent_ids == ("b", "c") and d.deadline_ms == T0 + 20_001
    assert d.reason["strategy"] == "broadcast" and d.reason["eligible"] == 3


def test_every_offered_agent_holds_a_unit_until_one_accepts() -> None:
    s = _state(("a", 1), ("b", 2))
    _broadcast(s, ["a", "b"])
    assert s.agents["a"].load == {"chat": 1} and s.agents["b"].load == {"chat": 1}
    s.apply(
        ev.OfferAccepted(at_ms=T0 + 2, contact_id="c1", agent_id="b", queue="chat", released=["a"])
    )
    assert s.agents["a"].total_load == 0 and s.agents["b"].load == {"chat": 1}
    assert s.contacts["c1"].state == "assigned" and s.contacts["c1"].agent_id == "b"


def test_the_last_agent_to_let_it_go_sends_it_back_to_the_queue() -> None:
    s = _state(("a", 1), ("b", 2))
    _broadcast(s, ["a", "b"])
    s.apply(ev.OfferRejected(at_ms=T0 + 2, contact_id="c1", agent_id="a", queue="chat"))
    assert s.contacts["c1"].state == "offered" and s.contacts["c1"].offered_to == {"b"}
    s.apply(ev.OfferWithdrawn(at_ms=T0 + 3, contact_id="c1", agent_id="b", queue="chat"))
    assert s.contacts["c1"].state == "queued" and s.contacts["c1"].declined_by == {"a", "b"}


def test_an_unanswered_broadcast_expires_for_everyone_at_once() -> None:
    s = _state(("a", 1), ("b", 2))
    _broadcast(s, ["a", "b"])
    decisions = decide(s, QUEUES, T0 + 20_001)
    assert decisions[0] == ExpireOffer("c1", "", "chat")
    s.apply(
        ev.BroadcastEnded(
            at_ms=T0 + 20_001, contact_id="c1", queue="chat", released=["a", "b"], why="expired"
        )
    )
    assert s.contacts["c1"].state == "queued"
    assert s.agents["a"].total_load == s.agents["b"].total_load == 0
