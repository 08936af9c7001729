"""The fold's work per event does not grow with the number of agents and contacts: the
same events cost the same number of Python lines whatever the population (counted with a
trace function, never timed)."""

from __future__ import annotations

import gc
import sys
from types import FrameType
from typing import Any

from contactcenter.core import events as ev
from contactcenter.supervision.stats import LiveStats
from routing.model import QueuePolicy

T = 1_714_960_800_000
POLICIES = {"sales": QueuePolicy("sales", "sales", offer_timeout_ms=20_000)}


def populated(n: int) -> LiveStats:
    """n agents (half busy with a chat), n contacts waiting."""
    stats = LiveStats(policies=POLICIES, targets_ms={"sales": {"chat": 20_000}}, day_start_ms=T)
    for i in range(n):
        stats.apply(
            ev.AgentProfileChanged(
                at_ms=T, agent_id=f"a{i}", skills={"sales": 1}, capacity={"chat": 3}, languages=[]
            )
        )
        stats.apply(ev.AgentStateChanged(at_ms=T, agent_id=f"a{i}", state="available"))
        stats.apply(_queued(T + i, f"w{i}"))
        if i % 2:
            stats.apply(_queued(T + i, f"h{i}"))
            stats.apply(
                ev.OfferAccepted(at_ms=T + i, contact_id=f"h{i}", agent_id=f"a{i}", queue="sales")
            )
    return stats


def _queued(t: int, cid: str) -> ev.ContactQueued:
    return ev.ContactQueued(
        at_ms=t, contact_id=cid, queue="sales", channel="chat", priority=0, enqueued_at_ms=t
    )


def one_contact_and_one_agent() -> list[ev.Event]:
    t = T + 60_000
    return [
        ev.AgentProfileChanged(
            at_ms=t, agent_id="new", skills={"sales": 1}, capacity={"chat": 3}, languages=[]
        ),
        ev.AgentStateChanged(at_ms=t, agent_id="new", state="available"),
        _queued(t, "c"),
        ev.ContactOffered(
            at_ms=t, contact_id="c", agent_id="new", queue="sales", deadline_ms=t, reason={}
        ),
        ev.OfferRejected(at_ms=t, contact_id="c", agent_id="new", queue="sales"),
        ev.OfferAccepted(at_ms=t + 1, contact_id="c", agent_id="new", queue="sales"),
        ev.ContactTransferred(
            at_ms=t + 2, contact_id="c", from_agent_id="new", from_queue="sales", to_queue="sales"
        ),
        ev.OfferAccepted(at_ms=t + 3, contact_id="c", agent_id="new", queue="sales"),
        ev.ConversationEnded(
            at_ms=t + 4, contact_id="c", agent_id="new", queue="sales", ended_by="agent"
        ),
        ev.WrapUpCompleted(
            at_ms=t + 5, contact_id="c", agent_id="new", queue="sales", disposition=None, notes=""
        ),
        ev.AgentStateChanged(at_ms=t + 6, agent_id="new", state="away", reason="break"),
        _queued(t + 7, "gone"),
        ev.ContactAbandoned(at_ms=t + 8, contact_id="gone", queue="sales"),
    ]


def lines_run(stats: LiveStats, events: list[ev.Event]) -> int:
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    # The collector may run other objects' finalizers (Python code) at any allocation: keep
    # it out of the count, so that only the fold's own lines are counted.
    gc.collect()
    gc.disable()
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        for event in events:
            stats.apply(event)
    finally:
        sys.settrace(previous)
        gc.enable()
    return count


def test_the_same_events_cost_the_same_work_with_ten_or_a_thousand_agents_and_contacts() -> None:
    small, large = populated(10), populated(1000)
    events = one_contact_and_one_agent()
    assert lines_run(small, events) == lines_run(large, events) > 0
    # And the figures agree on the events themselves.
    assert small.agent("new", T + 60_010) == large.agent("new", T + 60_010)


def test_a_waiting_heap_stays_bounded_while_one_contact_waits_for_ever() -> None:
    stats = populated(0)
    stats.apply(_queued(T, "stuck"))
    for i in range(5_000):
        stats.apply(_queued(T + i, f"c{i}"))
        stats.apply(ev.OfferAccepted(at_ms=T + i, contact_id=f"c{i}", agent_id="a", queue="sales"))
    line = stats.lines[("sales", None)]
    assert line.waiting == 1
    assert len(line.heap) <= 2 * line.waiting + 64 + 1
    assert stats.queue("sales", T + 10_000).oldest_wait_ms == 10_000
