"""Away reasons and next states on the agents' socket: the `set_state` and
`cancel_next_state` commands, and the `next_state` frames (docs/protocol.md)."""

from __future__ import annotations

import json

import pytest

from agent_console import protocol as p
from agent_console.fanout import deliveries
from contactcenter.core import events as ev
from contactcenter.core.errors import MalformedFrame


def test_set_state_carries_a_reason_and_may_be_the_next_state() -> None:
    cmd = p.parse_agent_frame('{"type":"set_state","state":"away","reason":"lunch","next":true}')
    assert cmd == p.SetState(type="set_state", state="away", reason="lunch", next=True)
    assert p.parse_agent_frame('{"type":"cancel_next_state","ref":"r1"}') == p.CancelNextState(
        type="cancel_next_state", ref="r1"
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "set_state", "state": "available", "reason": "lunch"},
        {"type": "set_state", "state": "offline", "reason": "lunch"},
        {"type": "set_state", "state": "available", "next": True},
        {"type": "set_state", "state": "offline", "next": True, "release_work": True},
        {"type": "set_state", "state": "away", "next": 1},
        {"type": "set_state", "state": "away", "reason": "x" * 41},
        {"type": "cancel_next_state", "state": "away"},
    ],
)
def test_inconsistent_state_commands_are_malformed(frame: dict[str, object]) -> None:
    with pytest.raises(MalformedFrame):
        p.parse_agent_frame(json.dumps(frame))


def _agent_frame(event: ev.Event) -> dict[str, object]:
    [frame] = [d.frame for d in deliveries(event) if d.audience == "agent"]
    return frame


def test_next_state_events_reach_the_agent_as_one_kind_of_frame() -> None:
    scheduled = ev.AgentNextStateScheduled(at_ms=1, agent_id="a", state="away", reason="lunch")
    assert _agent_frame(scheduled) == {
        "type": "next_state",
        "state": "away",
        "reason": "lunch",
        "why": "scheduled",
    }
    applied = ev.AgentNextStateApplied(at_ms=2, agent_id="a", state="away", reason="lunch")
    assert _agent_frame(applied) == {
        "type": "next_state",
        "state": None,
        "reason": None,
        "why": "applied",
    }
    dropped = ev.AgentNextStateCancelled(at_ms=3, agent_id="a", why="state-chosen")
    assert _agent_frame(dropped)["why"] == "state-chosen"
    changed = ev.AgentStateChanged(at_ms=4, agent_id="a", state="away", reason="lunch")
    assert _agent_frame(changed) == {"type": "state", "state": "away", "reason": "lunch"}
