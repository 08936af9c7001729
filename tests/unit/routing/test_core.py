"""The pure routing core: events folded into a state, decisions out. No Redis, no event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactcenter import events as ev
from routing.core import (
    MAX_PRIORITY,
    Decision,
    ExpireOffer,
    OfferContact,
    QueuePolicy,
    RoutingState,
    decide,
    queue_score,
)

TIMEOUT_MS = 30_000
QUEUES = {
    "billing": QueuePolicy("billing", "billing", TIMEOUT_MS),
    "support": QueuePolicy("support", "support", TIMEOUT_MS),
}


# --- building a state from events ---------------------------------------------------------


def agent(
    state: RoutingState,
    agent_id: str,
    *,
    at_ms: int = 0,
    status: str = "available",
    skills: tuple[str, ...] = ("billing",),
    capacity: int = 1,
) -> None:
    state.apply(
        ev.AgentStateChanged(
            at_ms=at_ms,
            agent_id=agent_id,
            state=status,
            skills=dict.fromkeys(skills, 5),
            capacity=capacity,
        )
    )


def queued(
    state: RoutingState,
    contact_id: str,
    *,
    at_ms: int = 0,
    queue: str = "billing",
    priority: int = 0,
) -> None:
    state.apply(
        ev.ContactQueued(
            at_ms=at_ms,
            contact_id=contact_id,
            queue=queue,
            skill=QUEUES[queue].skill,
            channel="chat",
            priority=priority,
            enqueued_at_ms=at_ms,
        )
    )


def offered(
    state: RoutingState, contact_id: str, agent_id: str, *, at_ms: int, queue: str = "billing"
) -> None:
    state.apply(
        ev.ContactOffered(
            at_ms=at_ms,
            contact_id=contact_id,
            agent_id=agent_id,
            queue=queue,
            deadline_ms=at_ms + TIMEOUT_MS,
            reason={},
        )
    )


def expired(state: RoutingState, contact_id: str, agent_id: str, *, at_ms: int) -> None:
    state.apply(
        ev.OfferExpired(
            at_ms=at_ms,
            contact_id=contact_id,
            agent_id=agent_id,
            queue=state.contacts[contact_id].queue,
        )
    )


# --- reading decisions ----------------------------------------------------------------------


def offers(decisions: list[Decision]) -> list[tuple[str, str]]:
    """(contact, agent) of each offer, in decision order."""
    return [(d.contact_id, d.agent_id) for d in decisions if isinstance(d, OfferContact)]


def offered_to(decisions: list[Decision], contact_id: str) -> str | None:
    return dict(offers(decisions)).get(contact_id)


def load(state: RoutingState, agent_id: str) -> int:
    return state.agents[agent_id].load


# --- skills -----------------------------------------------------------------------------------


def test_contact_needing_a_skill_is_never_offered_to_an_agent_without_it() -> None:
    state = RoutingState()
    agent(state, "sam", skills=("support",), capacity=3)
    queued(state, "c1", queue="billing")
    assert decide(state, QUEUES, now_ms=1_000) == []


def test_contact_needing_a_skill_goes_to_the_agent_who_has_it() -> None:
    state = RoutingState()
    agent(state, "sam", at_ms=0, skills=("support",))  # longest idle, but the wrong skill
    agent(state, "bea", at_ms=500, skills=("billing", "support"))
    queued(state, "c1", at_ms=600, queue="billing")
    assert offers(decide(state, QUEUES, now_ms=1_000)) == [("c1", "bea")]


def test_each_queue_is_served_by_agents_with_its_skill() -> None:
    state = RoutingState()
    agent(state, "sam", at_ms=0, skills=("support",))
    agent(state, "bea", at_ms=1, skills=("billing",))
    queued(state, "bill", at_ms=10, queue="billing")
    queued(state, "help", at_ms=20, queue="support")
    assert sorted(offers(decide(state, QUEUES, now_ms=100))) == [
        ("bill", "bea"),
        ("help", "sam"),
    ]


# --- longest idle -----------------------------------------------------------------------------


def test_agent_who_went_available_earliest_gets_the_offer() -> None:
    state = RoutingState()
    agent(state, "late", at_ms=300)
    agent(state, "early", at_ms=100)
    agent(state, "middle", at_ms=200)
    queued(state, "c1", at_ms=400)
    assert offers(decide(state, QUEUES, now_ms=500)) == [("c1", "early")]


def test_agent_whose_last_offer_is_oldest_is_the_longest_idle() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    agent(state, "y", at_ms=100)
    queued(state, "c1", at_ms=150)
    offered(state, "c1", "x", at_ms=200)  # x's idle clock restarts at 200
    state.apply(ev.ContactAbandoned(at_ms=250, contact_id="c1", queue="billing", agent_id="x"))
    queued(state, "c2", at_ms=260)
    assert load(state, "x") == load(state, "y") == 0
    decisions = decide(state, QUEUES, now_ms=300)
    assert offered_to(decisions, "c2") == "y"


def test_agent_with_nothing_on_hand_goes_before_one_holding_work() -> None:
    state = RoutingState()
    agent(state, "busy", at_ms=0, capacity=3)
    queued(state, "c0", at_ms=10)
    offered(state, "c0", "busy", at_ms=20)
    agent(state, "free", at_ms=5_000, capacity=3)  # idle for less time, but empty-handed
    queued(state, "c1", at_ms=6_000)
    assert offers(decide(state, QUEUES, now_ms=7_000)) == [("c1", "free")]


@pytest.mark.parametrize("arrival", [("a", "b", "c"), ("c", "b", "a"), ("b", "c", "a")])
def test_equally_idle_agents_are_chosen_by_id(arrival: tuple[str, ...]) -> None:
    state = RoutingState()
    for agent_id in arrival:
        agent(state, agent_id, at_ms=100)
    queued(state, "c1", at_ms=200)
    assert offers(decide(state, QUEUES, now_ms=300)) == [("c1", "a")]


def test_offers_in_one_pass_are_spread_by_idleness() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=2)
    agent(state, "y", at_ms=100, capacity=2)
    for i in range(4):
        queued(state, f"c{i}", at_ms=200 + i)
    # After x takes c0, y (nothing on hand) is next; then x again (older last offer)...
    assert offers(decide(state, QUEUES, now_ms=1_000)) == [
        ("c0", "x"),
        ("c1", "y"),
        ("c2", "x"),
        ("c3", "y"),
    ]


# --- who can take work ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["away", "offline"])
def test_no_offer_to_an_agent_who_is_not_available(status: str) -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, status=status, capacity=3)
    queued(state, "c1", at_ms=10)
    assert decide(state, QUEUES, now_ms=100) == []


def test_agent_who_went_away_gets_nothing_and_the_available_one_does() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    agent(state, "y", at_ms=50)
    agent(state, "x", at_ms=60, status="away")
    queued(state, "c1", at_ms=70)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c1", "y")]


def test_no_offer_to_a_full_agent() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=1)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    queued(state, "c2", at_ms=30)
    assert load(state, "x") == state.agents["x"].capacity
    assert decide(state, QUEUES, now_ms=100) == []


def test_chat_agent_with_capacity_three_gets_three_offers_in_one_pass_but_not_four() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    for i in range(4):
        queued(state, f"c{i}", at_ms=10 + i)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c0", "x"), ("c1", "x"), ("c2", "x")]


def test_agent_with_some_load_gets_only_the_room_left() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "held", at_ms=1)
    offered(state, "held", "x", at_ms=2)
    for i in range(3):
        queued(state, f"c{i}", at_ms=10 + i)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c0", "x"), ("c1", "x")]


# --- order of waiting contacts ----------------------------------------------------------------


def test_higher_priority_is_served_first_then_the_oldest() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=10)
    queued(state, "old-low", at_ms=10, priority=0)
    queued(state, "new-high", at_ms=40, priority=5)
    queued(state, "old-mid", at_ms=20, priority=3)
    queued(state, "old-high", at_ms=30, priority=5)
    queued(state, "new-mid", at_ms=50, priority=3)
    assert [c for c, _ in offers(decide(state, QUEUES, now_ms=100))] == [
        "old-high",
        "new-high",
        "old-mid",
        "new-mid",
        "old-low",
    ]


def test_single_free_slot_goes_to_the_highest_priority_across_queues() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, skills=("billing", "support"))
    queued(state, "billing-old", at_ms=10, queue="billing", priority=1)
    queued(state, "support-urgent", at_ms=90, queue="support", priority=7)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("support-urgent", "x")]


def test_single_free_slot_goes_to_the_oldest_across_queues_at_equal_priority() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, skills=("billing", "support"))
    queued(state, "support-new", at_ms=20, queue="support")
    queued(state, "billing-old", at_ms=10, queue="billing")
    assert offers(decide(state, QUEUES, now_ms=100)) == [("billing-old", "x")]


# --- offers and their deadline ----------------------------------------------------------------


def test_offer_runs_until_now_plus_the_queue_timeout() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    [decision] = decide(state, QUEUES, now_ms=1_000)
    assert decision == OfferContact("c1", "x", "billing", 1_000 + TIMEOUT_MS, decision.reason)
    assert decision.reason["strategy"] == "longest-idle"


def test_offer_is_left_alone_until_its_deadline_and_expired_at_it() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "a", at_ms=10)
    offered(state, "a", "x", at_ms=100)
    deadline_ms = 100 + TIMEOUT_MS
    assert decide(state, QUEUES, now_ms=deadline_ms - 1) == []
    assert ExpireOffer("a", "x", "billing") in decide(state, QUEUES, now_ms=deadline_ms)


def _a_offered_to_x_then_b_arrives() -> RoutingState:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "a", at_ms=10)
    offered(state, "a", "x", at_ms=20)
    queued(state, "b", at_ms=30)
    agent(state, "y", at_ms=40)
    return state


def test_expired_offer_is_taken_back_and_reoffered_to_another_agent_before_later_contacts() -> None:
    state = _a_offered_to_x_then_b_arrives()
    decisions = decide(state, QUEUES, now_ms=20 + TIMEOUT_MS)
    assert decisions[0] == ExpireOffer("a", "x", "billing")
    assert offers(decisions) == [("a", "y"), ("b", "x")]
    first_offer = next(d for d in decisions if isinstance(d, OfferContact))
    assert first_offer.reason["passed_over"] == ["x"]


def test_after_the_offer_expires_the_contact_is_still_ahead_of_a_later_one() -> None:
    state = _a_offered_to_x_then_b_arrives()
    expired(state, "a", "x", at_ms=20 + TIMEOUT_MS)
    agent(state, "x", at_ms=20 + TIMEOUT_MS, status="away")  # one free slot left: y's
    assert offers(decide(state, QUEUES, now_ms=21 + TIMEOUT_MS)) == [("a", "y")]


def test_agent_who_let_the_offer_go_is_passed_over_while_another_is_eligible() -> None:
    state = _a_offered_to_x_then_b_arrives()
    state.contacts.pop("b")
    expired(state, "a", "x", at_ms=20 + TIMEOUT_MS)
    # x (last offer at 20) is idler than y (available at 40), yet y is asked.
    assert state.agents["x"].last_offer_ms < state.agents["y"].last_offer_ms
    assert offers(decide(state, QUEUES, now_ms=21 + TIMEOUT_MS)) == [("a", "y")]


def test_agent_who_let_the_offer_go_is_asked_again_when_nobody_else_is_eligible() -> None:
    state = _a_offered_to_x_then_b_arrives()
    state.contacts.pop("b")
    expired(state, "a", "x", at_ms=20 + TIMEOUT_MS)
    agent(state, "y", at_ms=20 + TIMEOUT_MS, status="away")
    assert offers(decide(state, QUEUES, now_ms=21 + TIMEOUT_MS)) == [("a", "x")]


def test_expired_offer_goes_back_to_the_same_agent_at_the_deadline_when_alone() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "a", at_ms=10)
    offered(state, "a", "x", at_ms=20)
    decisions = decide(state, QUEUES, now_ms=20 + TIMEOUT_MS)
    assert decisions[0] == ExpireOffer("a", "x", "billing")
    assert offers(decisions) == [("a", "x")]


# --- nothing to do ----------------------------------------------------------------------------


def test_no_decision_when_nothing_is_waiting() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    assert decide(state, QUEUES, now_ms=100) == []


def test_no_decision_when_nobody_is_eligible() -> None:
    state = RoutingState()
    agent(state, "away", at_ms=0, status="away")
    agent(state, "wrong-skill", at_ms=0, skills=("support",))
    agent(state, "full", at_ms=0)
    queued(state, "held", at_ms=5)
    offered(state, "held", "full", at_ms=6)
    queued(state, "c1", at_ms=10)
    assert decide(state, QUEUES, now_ms=100) == []


def test_no_decision_for_an_empty_state() -> None:
    assert decide(RoutingState(), QUEUES, now_ms=100) == []


def test_contact_of_a_queue_without_policy_is_not_offered() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    assert decide(state, {"support": QUEUES["support"]}, now_ms=100) == []


# --- queue_score --------------------------------------------------------------------------------

priorities = st.integers(min_value=0, max_value=MAX_PRIORITY)
arrival_times = st.integers(min_value=0, max_value=2**42 - 1)


@given(priorities, arrival_times, priorities, arrival_times)
def test_queue_score_orders_by_priority_then_arrival(p1: int, t1: int, p2: int, t2: int) -> None:
    by_score = (queue_score(p1, t1) > queue_score(p2, t2)) - (
        queue_score(p1, t1) < queue_score(p2, t2)
    )
    by_rule = ((-p1, t1) > (-p2, t2)) - ((-p1, t1) < (-p2, t2))
    assert by_score == by_rule


@given(priorities, arrival_times, priorities, arrival_times)
def test_queue_score_order_survives_redis_double_scores(p1: int, t1: int, p2: int, t2: int) -> None:
    s1, s2 = queue_score(p1, t1), queue_score(p2, t2)
    assert float(s1) == s1 and float(s2) == s2  # exact in a sorted set's double
    assert (float(s1) < float(s2)) == ((-p1, t1) < (-p2, t2))


@pytest.mark.parametrize("priority", [-1, MAX_PRIORITY + 1, 10_000])
def test_queue_score_rejects_a_priority_out_of_range(priority: int) -> None:
    with pytest.raises(ValueError, match="priority"):
        queue_score(priority, 0)


@pytest.mark.parametrize("priority", [0, MAX_PRIORITY])
def test_queue_score_accepts_the_ends_of_the_priority_range(priority: int) -> None:
    assert queue_score(priority, 0) >= 0


# --- apply: bookkeeping -------------------------------------------------------------------------


def test_offer_raises_the_agent_load_and_restarts_their_idle_clock() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    assert load(state, "x") == 1
    assert state.agents["x"].last_offer_ms == 20
    c = state.contacts["c1"]
    assert (c.state, c.agent_id, c.deadline_ms) == ("offered", "x", 20 + TIMEOUT_MS)


@pytest.mark.parametrize("let_go", [ev.OfferRejected, ev.OfferExpired])
def test_offer_let_go_lowers_the_load_and_puts_the_contact_back(
    let_go: type[ev.OfferRejected] | type[ev.OfferExpired],
) -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    state.apply(let_go(at_ms=30, contact_id="c1", agent_id="x", queue="billing"))
    assert load(state, "x") == 0
    c = state.contacts["c1"]
    assert (c.state, c.agent_id, c.deadline_ms) == ("queued", None, None)
    assert c.declined_by == {"x"}
    assert c.enqueued_at_ms == 10  # its place is unchanged


def test_accepted_and_ended_contact_holds_the_load_until_wrap_up_completes() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    state.apply(ev.OfferAccepted(at_ms=30, contact_id="c1", agent_id="x", queue="billing"))
    state.apply(
        ev.ConversationEnded(
            at_ms=40, contact_id="c1", agent_id="x", queue="billing", ended_by="agent"
        )
    )
    assert load(state, "x") == 1
    assert state.contacts["c1"].state == "wrapup"
    state.apply(
        ev.WrapUpCompleted(
            at_ms=50,
            contact_id="c1",
            agent_id="x",
            queue="billing",
            disposition="resolved",
            notes="",
        )
    )
    assert load(state, "x") == 0
    assert "c1" not in state.contacts


def test_abandon_while_offered_frees_the_agent() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    state.apply(ev.ContactAbandoned(at_ms=30, contact_id="c1", queue="billing", agent_id="x"))
    assert load(state, "x") == 0
    assert "c1" not in state.contacts


def test_abandon_while_queued_leaves_agents_alone() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "held", at_ms=5)
    offered(state, "held", "x", at_ms=6)
    queued(state, "c1", at_ms=10)
    state.apply(ev.ContactAbandoned(at_ms=30, contact_id="c1", queue="billing"))
    assert load(state, "x") == 1
    assert "c1" not in state.contacts


def test_abandon_after_accept_keeps_the_load_until_wrap_up() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    state.apply(ev.OfferAccepted(at_ms=30, contact_id="c1", agent_id="x", queue="billing"))
    state.apply(ev.ContactAbandoned(at_ms=40, contact_id="c1", queue="billing"))
    assert load(state, "x") == 1


def test_presence_change_keeps_load_and_only_going_available_restarts_the_idle_clock() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=100, capacity=3)
    queued(state, "c1", at_ms=110)
    offered(state, "c1", "x", at_ms=120)
    agent(state, "x", at_ms=200, capacity=5)  # still available, new capacity
    assert (load(state, "x"), state.agents["x"].last_offer_ms) == (1, 120)
    agent(state, "x", at_ms=300, status="away", capacity=5)
    agent(state, "x", at_ms=400, capacity=5)
    assert (load(state, "x"), state.agents["x"].last_offer_ms) == (1, 400)


def test_events_that_do_not_concern_routing_are_ignored() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    before = (dict(state.agents), dict(state.contacts))
    state.apply(
        ev.MessageSent(
            at_ms=20,
            contact_id="c1",
            message_id="m1",
            sender="customer",
            agent_id=None,
            body="hello",
        )
    )
    assert (state.agents, state.contacts) == before
