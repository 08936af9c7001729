"""A queue's live state as GET /api/queues shows it, computed from routing's view alone
(contactcenter/conversations/queues_api.py): no store, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contactcenter.conversations.queues_api import config_wire, live_wire
from contactcenter.settings.routing import QueueSettings, parse_queue
from routing.model import AgentView, ContactView
from routing.state import RoutingState

NOW_MS = 1_800_000_000_000


def _queue(**keys: Any) -> QueueSettings:
    return parse_queue({"name": "billing", "skill": "billing", **keys}, "test")


def _agent(agent_id: str, state: str, skills: dict[str, int], **load: int) -> AgentView:
    return AgentView(agent_id, state, skills, load=load)


def _contact(contact_id: str, queue: str, state: str, waited_s: int) -> ContactView:
    return ContactView(contact_id, queue, 0, NOW_MS - waited_s * 1000, state=state)


def test_the_oldest_unanswered_contact_sets_the_oldest_wait() -> None:
    state = RoutingState(
        contacts={
            c.contact_id: c
            for c in (
                _contact("a", "billing", "queued", 30),
                _contact("b", "billing", "offered", 95),  # offered is not answered yet
                _contact("c", "billing", "wrapup", 900),  # answered: not waiting
                _contact("d", "support", "queued", 600),  # another queue
            )
        }
    )
    live = live_wire(_queue(), state, waiting=1, now_ms=NOW_MS)
    assert (live["waiting"], live["offered"], live["oldest_wait_s"]) == (1, 1, 95.0)
    assert live["at_ms"] == NOW_MS and live["open"] is True


def test_nobody_waiting_has_no_oldest_wait() -> None:
    live = live_wire(_queue(), RoutingState(), waiting=0, now_ms=NOW_MS)
    assert (live["waiting"], live["offered"], live["oldest_wait_s"]) == (0, 0, None)
    assert live["agents"] == {"eligible": 0, "logged_in": 0, "available": 0}


def test_agents_count_by_eligibility_presence_and_room() -> None:
    agents = [
        _agent("free", "available", {"billing": 10}),
        _agent("full", "available", {"billing": 90}, chat=3),
        _agent("away", "away", {"billing": 50}),
        _agent("gone", "offline", {"billing": 50}),
        _agent("other", "available", {"support": 80}),
    ]
    state = RoutingState(agents={a.agent_id: a for a in agents})
    live = live_wire(_queue(), state, 0, NOW_MS)
    assert live["agents"] == {"eligible": 4, "logged_in": 3, "available": 1}
    # An expression admits by level: the low-level agent is not eligible any more.
    strict = parse_queue({"name": "billing", "eligibility": "billing >= 50"}, "test")
    live = live_wire(strict, state, 0, NOW_MS)
    assert live["agents"] == {"eligible": 3, "logged_in": 2, "available": 0}
    # Room on any of the queue's channels counts: email is free for the full chat agent.
    both = _queue(channels=["chat", "email"])
    live = live_wire(both, state, 0, NOW_MS)
    assert live["agents"]["available"] == 2


def test_business_hours_say_whether_the_queue_is_open_and_read_back_as_configured() -> None:
    queue = _queue(hours={"timezone": "Europe/Paris", "mon": ["09:00-18:00"]})
    monday_10_paris = int(datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp() * 1000)
    sunday = int(datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp() * 1000)
    assert live_wire(queue, RoutingState(), 0, monday_10_paris)["open"] is True
    assert live_wire(queue, RoutingState(), 0, sunday)["open"] is False
    hours = config_wire(queue)["hours"]
    assert hours is not None
    assert hours["weekly"] == {"mon": ["09:00-18:00"]} and hours["when_closed"] == "refuse"
