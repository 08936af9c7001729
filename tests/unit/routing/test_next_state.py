"""An agent waiting for their next state (docs/states.md) is offered nothing new, in the pure
core as in the fold of events; the state itself comes with its own event."""

from __future__ import annotations

from dataclasses import replace

from contactcenter.core import events as ev
from routing.core import QueuePolicy, RoutingState, decide
from routing.model import AgentView

QUEUES = {"billing": QueuePolicy("billing", "billing", 30_000)}


def _state_with_two_agents() -> RoutingState:
    state = RoutingState()
    for agent_id in ("x", "y"):
        state.apply(
            ev.AgentProfileChanged(
                at_ms=0,
                agent_id=agent_id,
                skills={"billing": 5},
                capacity={"chat": 3},
                languages=[],
            )
        )
        state.apply(ev.AgentStateChanged(at_ms=0, agent_id=agent_id, state="available"))
    return state


def _queue(state: RoutingState, contact_id: str, at_ms: int) -> None:
    state.apply(
        ev.ContactQueued(
            at_ms=at_ms,
            contact_id=contact_id,
            queue="billing",
            channel="chat",
            priority=0,
            enqueued_at_ms=at_ms,
        )
    )


def test_an_agent_with_a_next_state_has_no_room() -> None:
    free = AgentView("x", "available", {"billing": 5}, capacity={"chat": 3})
    assert free.room("chat") == 3
    assert replace(free, next_state="away").room("chat") == 0


def test_routing_passes_over_an_agent_waiting_for_their_next_state() -> None:
    state = _state_with_two_agents()
    # x became idle first, so longest-idle would pick x.
    state.apply(ev.AgentStateChanged(at_ms=1, agent_id="y", state="away"))
    state.apply(ev.AgentStateChanged(at_ms=2, agent_id="y", state="available"))
    state.apply(ev.AgentNextStateScheduled(at_ms=3, agent_id="x", state="away", reason="lunch"))
    _queue(state, "c1", 4)
    [offer] = decide(state, QUEUES, 5)
    assert offer.agent_id == "y"  # type: ignore[union-attr]


def test_a_cancelled_or_applied_next_state_is_folded_away() -> None:
    state = _state_with_two_agents()
    state.apply(ev.AgentNextStateScheduled(at_ms=1, agent_id="x", state="offline"))
    assert state.agents["x"].next_state == "offline"
    state.apply(ev.AgentNextStateCancelled(at_ms=2, agent_id="x", why="cancelled"))
    assert state.agents["x"].next_state == ""
    state.apply(ev.AgentNextStateScheduled(at_ms=3, agent_id="x", state="away", reason="break"))
    state.apply(
        ev.AgentStateChanged(at_ms=4, agent_id="x", state="away", reason="break", productive=False)
    )
    state.apply(ev.AgentNextStateApplied(at_ms=4, agent_id="x", state="away", reason="break"))
    assert (state.agents["x"].state, state.agents["x"].next_state) == ("away", "")
