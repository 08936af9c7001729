"""The live statistics fold, driven by a known day of events and checked against figures
computed by hand in the comments (docs/supervisor.md, docs/measures.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contactcenter.core import events as ev
from contactcenter.supervision.stats import LiveStats
from routing.model import QueuePolicy

DAY = int(datetime(2024, 5, 6, tzinfo=UTC).timestamp() * 1000)  # the operator's midnight
B = DAY + 10 * 3_600_000  # 10:00, on a minute boundary
S = 1_000

POLICIES = {
    "sales": QueuePolicy("sales", "sales", offer_timeout_ms=20_000),
    "support": QueuePolicy("support", "support", offer_timeout_ms=20_000),
}
# sales: one target for every channel (20 s); support: 30 s.
TARGETS = {"sales": {"chat": 20_000, "voice": 20_000}, "support": {"chat": 30_000, "voice": 30_000}}


def at(seconds: float) -> int:
    return B + int(seconds * S)


def fold() -> LiveStats:
    return LiveStats(policies=POLICIES, targets_ms=TARGETS, day_start_ms=DAY)


def queued(t: float, cid: str, queue: str = "sales", channel: str = "chat") -> ev.ContactQueued:
    return ev.ContactQueued(
        at_ms=at(t), contact_id=cid, queue=queue, channel=channel, priority=0, enqueued_at_ms=at(t)
    )


def offered(t: float, cid: str, agent: str, queue: str = "sales") -> ev.ContactOffered:
    return ev.ContactOffered(
        at_ms=at(t), contact_id=cid, agent_id=agent, queue=queue, deadline_ms=at(t + 20), reason={}
    )


def the_day() -> list[ev.Event]:
    """a1 serves sales; a2 serves sales and support. c1 answered in target, c2 answered
    after it (after a reject and an expiry) then transferred to support, c3 a short abandon,
    c4 a long one, c5 still waiting; a1 goes to lunch."""
    return [
        ev.AgentProfileChanged(
            at_ms=at(0), agent_id="a1", skills={"sales": 50}, capacity={"chat": 3}, languages=[]
        ),
        ev.AgentProfileChanged(
            at_ms=at(0),
            agent_id="a2",
            skills={"sales": 50, "support": 50},
            capacity={"chat": 3, "voice": 1},
            languages=[],
        ),
        ev.AgentStateChanged(at_ms=at(0), agent_id="a1", state="available"),
        ev.AgentStateChanged(at_ms=at(0), agent_id="a2", state="available"),
        queued(0, "c1"),
        offered(1, "c1", "a1"),
        ev.OfferAccepted(at_ms=at(10), contact_id="c1", agent_id="a1", queue="sales"),
        queued(5, "c2", channel="voice"),
        offered(6, "c2", "a2"),
        ev.OfferRejected(at_ms=at(8), contact_id="c2", agent_id="a2", queue="sales"),
        offered(9, "c2", "a2"),
        queued(20, "c3"),
        ev.ContactAbandoned(at_ms=at(22), contact_id="c3", queue="sales"),
        ev.OfferExpired(at_ms=at(29), contact_id="c2", agent_id="a2", queue="sales"),
        queued(30, "c4"),
        offered(30, "c2", "a2"),
        ev.OfferAccepted(at_ms=at(35), contact_id="c2", agent_id="a2", queue="sales"),
        queued(40, "c5"),
        ev.ContactTransferred(
            at_ms=at(65),
            contact_id="c2",
            from_agent_id="a2",
            from_queue="sales",
            to_queue="support",
        ),
        ev.ConversationEnded(
            at_ms=at(70), contact_id="c1", agent_id="a1", queue="sales", ended_by="agent"
        ),
    ]


def the_rest() -> list[ev.Event]:
    return [
        ev.WrapUpCompleted(
            at_ms=at(80), contact_id="c1", agent_id="a1", queue="sales", disposition=None, notes=""
        ),
        ev.ContactAbandoned(at_ms=at(90), contact_id="c4", queue="sales"),
        offered(99, "c2", "a2", "support"),
        ev.OfferAccepted(at_ms=at(100), contact_id="c2", agent_id="a2", queue="support"),
        ev.AgentStateChanged(at_ms=at(120), agent_id="a1", state="away", reason="lunch"),
        ev.ConversationEnded(
            at_ms=at(160), contact_id="c2", agent_id="a2", queue="support", ended_by="customer"
        ),
        ev.WrapUpCompleted(
            at_ms=at(170),
            contact_id="c2",
            agent_id="a2",
            queue="support",
            disposition="ok",
            notes="",
        ),
    ]


def run(events: list[ev.Event], stats: LiveStats | None = None) -> LiveStats:
    stats = stats or fold()
    for event in events:
        stats.apply(event)
    return stats


def test_mid_run_waits_keep_the_original_arrival_and_agents_are_counted_by_activity() -> None:
    stats = run(the_day())
    sales = stats.queue("sales", at(75))
    # c4 (since 30 s) and c5 (since 40 s) wait; the oldest has waited 75 - 30 = 45 s.
    assert (sales.waiting, sales.oldest_wait_ms) == (2, 45_000)
    support = stats.queue("support", at(75))
    # c2 waits in support since its transfer at 65 s, but its wait counts from 5 s: 70 s.
    assert (support.waiting, support.oldest_wait_ms) == (1, 70_000)
    # a1 is in c1's wrap-up (ended at 70 s); a2 handed c2 on and holds nothing.
    assert sales.agents == {"staffed": 2, "available": 1, "busy": 0, "wrapup": 1}
    assert support.agents == {"staffed": 1, "available": 1, "busy": 0, "wrapup": 0}
    a1 = stats.agent("a1", at(75))
    assert (a1.activity, a1.in_hand, a1.capacity) == ("wrapup", {"chat": 1}, {"chat": 3})


def test_a_known_day_gives_the_figures_counted_by_hand() -> None:
    stats = run(the_day() + the_rest())
    sales = stats.queue("sales", at(200))
    today = sales.today
    # offered c1..c5; answered c1 (10 s, in the 20 s target) and c2 (30 s, after it);
    # c4 abandoned after 60 s, c3 after 2 s (short: under 5 s); c2 transferred out.
    assert (today.offered, today.answered, today.abandoned, today.short_abandoned) == (5, 2, 1, 1)
    assert (today.transferred_out, today.overflowed_out) == (1, 0)
    assert today.service_level == pytest.approx(1 / 3)  # 1 in target / (2 answered + 1)
    assert today.abandon_rate == pytest.approx(1 / 3)  # 1 / (2 + 1)
    assert today.average_speed_of_answer_ms == 20_000  # (10 + 30) / 2
    # handled: c1 (talk 10→70 = 60 s, wrap-up 70→80 = 10 s), c2's part (talk 35→65 = 30 s)
    assert (today.handled, today.average_handle_time_ms) == (2, 50_000)  # (70 + 30) / 2
    assert (sales.waiting, sales.oldest_wait_ms) == (1, 160_000)  # c5 since 40 s
    assert sales.window == today  # everything happened within the last 30 minutes

    chat, voice = sales.channels["chat"], sales.channels["voice"]
    # chat: c1 answered in 10 s, c4 long and c3 short abandons, c5 waits.
    assert (chat.today.offered, chat.today.answered, chat.today.abandoned) == (4, 1, 1)
    assert chat.today.service_level == pytest.approx(1 / 2)
    assert chat.today.average_handle_time_ms == 70_000
    assert (chat.waiting, chat.oldest_wait_ms) == (1, 160_000)
    # voice: c2 answered in 30 s (over 20 s), transferred out, its part handled in 30 s.
    assert (voice.today.answered, voice.today.service_level) == (1, 0.0)
    assert (voice.today.transferred_out, voice.today.average_handle_time_ms) == (1, 30_000)
    assert (voice.waiting, voice.oldest_wait_ms) == (0, None)

    support = stats.queue("support", at(200)).today
    # c2 arrived again in support at 65 s, answered at 100 s: waited 100 - 5 = 95 s > 30 s;
    # handled talk 100→160 = 60 s, wrap-up 160→170 = 10 s.
    assert (support.offered, support.answered, support.service_level) == (1, 1, 0.0)
    assert support.average_speed_of_answer_ms == 95_000
    assert (support.handled, support.average_handle_time_ms) == (1, 70_000)

    # a1 is at lunch since 120 s; a2 available again.
    agents = stats.queue("sales", at(200)).agents
    assert agents == {"staffed": 2, "available": 1, "busy": 0, "wrapup": 0, "away:lunch": 1}


def test_agents_figures_counted_by_hand() -> None:
    stats = run(the_day() + the_rest())
    a1, a2 = stats.agent("a1", at(200)), stats.agent("a2", at(200))
    assert (a1.state, a1.reason, a1.activity) == ("away", "lunch", "away:lunch")
    assert (a1.time_in_state_ms, a1.last_state_change_ms) == (80_000, at(120))
    assert (a1.handled_today, a1.average_handle_time_ms, a1.missed_offers_today) == (1, 70_000, 0)
    # a2 handled c2 twice (its sales part, 30 s; its support part, 70 s); rejected once and
    # let one offer expire.
    assert (a2.state, a2.activity, a2.in_hand) == ("available", "available", {})
    assert (a2.handled_today, a2.average_handle_time_ms, a2.missed_offers_today) == (2, 50_000, 2)
    assert a2.last_login_ms == at(0)


def test_a_redelivered_event_counts_once() -> None:
    events = the_day() + the_rest()
    stats = run(events + events)
    assert stats.queue("sales", at(200)).today.offered == 5


def test_the_window_forgets_what_is_older_than_it() -> None:
    stats = run(
        [
            queued(10, "c1"),
            ev.OfferAccepted(at_ms=at(20), contact_id="c1", agent_id="a1", queue="sales"),
        ]
    )
    # Answered in minute 0 of the window (10:00); the window is the last 30 minutes.
    assert stats.queue("sales", B + 29 * 60_000 + 59_000).window.answered == 1
    later = stats.queue("sales", B + 30 * 60_000)
    assert (later.window.answered, later.window.service_level) == (0, None)
    assert later.today.answered == 1
    # Many minutes later, the buckets kept never exceed the window's 30.
    for minute in range(1, 100):
        stats.apply(queued(minute * 60, f"n{minute}"))
    assert len(stats.lines[("sales", None)].window.buckets) <= 30


def test_a_new_day_starts_today_afresh_and_keeps_the_window() -> None:
    stats = run(the_day())
    stats.start_day(at(76))
    sales = stats.queue("sales", at(77))
    assert (sales.today.offered, sales.window.offered) == (0, 5)
    assert stats.agent("a2", at(77)).missed_offers_today == 0
