"""How each queue strategy picks among eligible agents, seen through `decide`. No Redis, no loop.

Agents are built as views directly, so that load, capacity and the idle clocks can be set to
exactly the situation a strategy has to tell apart.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

import pytest

from routing.core import AgentView, ContactView, OfferContact, QueuePolicy, RoutingState, decide
from routing.expr import Expr, parse
from routing.model import STRATEGIES
from routing.strategies import rank, rank_key

NOW = 1_000_000
TIMEOUT_MS = 30_000
STICKY_MS = 60_000


def agent(
    agent_id: str,
    *,
    skills: Mapping[str, int] | None = None,
    capacity: Mapping[str, int] | None = None,
    load: Mapping[str, int] | None = None,
    last_offer_ms: int = 0,
    idle_since_ms: int = 0,
    state: str = "available",
) -> AgentView:
    return AgentView(
        agent_id,
        state,
        {"billing": 50} if skills is None else dict(skills),
        capacity={"chat": 3, "email": 5} if capacity is None else dict(capacity),
        load={} if load is None else dict(load),
        last_offer_ms=last_offer_ms,
        idle_since_ms=idle_since_ms,
    )


def contact(
    *,
    channel: str = "chat",
    enqueued_at_ms: int = NOW - 1_000,
    preferred_agent_id: str | None = None,
    declined_by: frozenset[str] = frozenset(),
) -> ContactView:
    return ContactView(
        "c1",
        "billing",
        0,
        enqueued_at_ms,
        channel=channel,
        preferred_agent_id=preferred_agent_id,
        declined_by=declined_by,
    )


def policy(strategy: str, *, eligibility: Expr | None = None, sticky_ms: int = 0) -> QueuePolicy:
    return QueuePolicy(
        "billing",
        "billing",
        TIMEOUT_MS,
        eligibility=eligibility,
        strategy=strategy,
        sticky_ms=sticky_ms,
    )


def pick(
    queue: QueuePolicy,
    agents: list[AgentView],
    waiting: ContactView | None = None,
    now_ms: int = NOW,
) -> OfferContact | None:
    """The offer `decide` makes for the one waiting contact, if any."""
    c = waiting or contact()
    state = RoutingState(agents={a.agent_id: a for a in agents}, contacts={c.contact_id: c})
    made = [d for d in decide(state, {queue.name: queue}, now_ms) if isinstance(d, OfferContact)]
    assert len(made) <= 1
    return made[0] if made else None


def picked(
    queue: QueuePolicy,
    agents: list[AgentView],
    waiting: ContactView | None = None,
    now_ms: int = NOW,
) -> str | None:
    offer = pick(queue, agents, waiting, now_ms)
    return offer.agent_id if offer else None


def score(offer: OfferContact) -> Mapping[str, object]:
    """The named parts of the winning agent's rank, as the offer explains them."""
    parts = offer.reason["score"]
    assert isinstance(parts, dict)
    return parts


# --- longest idle (the default) ---------------------------------------------------------------


def test_default_strategy_is_longest_idle() -> None:
    offer = pick(QueuePolicy("billing", "billing", TIMEOUT_MS), [agent("x")])
    assert offer is not None and offer.reason["strategy"] == "longest-idle"


def test_longest_idle_takes_the_agent_with_the_least_on_hand_first() -> None:
    holding = agent("holding", load={"email": 1}, last_offer_ms=10)
    empty = agent("empty", last_offer_ms=900_000, idle_since_ms=900_000)
    assert picked(policy("longest-idle"), [holding, empty]) == "empty"


def test_longest_idle_counts_from_the_later_of_last_offer_and_becoming_free() -> None:
    # a: offered long ago but only free since 800_000; b: offered at 500_000, free since then.
    a = agent("a", last_offer_ms=100_000, idle_since_ms=800_000)
    b = agent("b", last_offer_ms=500_000, idle_since_ms=500_000)
    offer = pick(policy("longest-idle"), [a, b])
    assert offer is not None and offer.agent_id == "b"
    assert offer.reason["score"] == {"load": 0, "last_activity_ms": 500_000, "agent": "b"}


# --- least occupied -----------------------------------------------------------------------------


def test_least_occupied_picks_the_lowest_share_of_the_channel_capacity() -> None:
    # big holds more contacts (2 of 6) than small (1 of 2), but a smaller share of its capacity.
    big = agent("big", capacity={"chat": 6}, load={"chat": 2}, last_offer_ms=500_000)
    small = agent("small", capacity={"chat": 2}, load={"chat": 1}, last_offer_ms=100_000)
    assert picked(policy("longest-idle"), [big, small]) == "small"
    offer = pick(policy("least-occupied"), [big, small])
    assert offer is not None and offer.agent_id == "big"
    assert offer.reason["strategy"] == "least-occupied"
    assert score(offer)["occupancy"] == pytest.approx(2 / 6)


def test_least_occupied_looks_at_the_share_on_the_contact_channel_only() -> None:
    mailer = agent("mailer", capacity={"chat": 4, "email": 4}, load={"email": 3})
    chatter = agent("chatter", capacity={"chat": 4, "email": 4}, load={"chat": 1})
    assert picked(policy("least-occupied"), [mailer, chatter]) == "mailer"
    by_mail = contact(channel="email")
    assert picked(policy("least-occupied"), [mailer, chatter], by_mail) == "chatter"


def test_least_occupied_breaks_an_equal_share_by_longest_idle() -> None:
    a = agent("a", capacity={"chat": 4}, load={"chat": 2}, last_offer_ms=100)
    b = agent("b", capacity={"chat": 2}, load={"chat": 1}, last_offer_ms=200)
    c = agent("c", capacity={"chat": 2}, load={"chat": 1}, last_offer_ms=100)
    assert picked(policy("least-occupied"), [a, b, c]) == "c"  # less on hand than a, idler than b


# --- most skilled -------------------------------------------------------------------------------

BILLING_AND_REFUNDS = parse("billing and refunds")


def test_most_skilled_picks_the_highest_level_sum_over_the_skills_the_eligibility_names() -> None:
    expert = agent("expert", skills={"billing": 90, "refunds": 80}, last_offer_ms=900_000)
    novice = agent("novice", skills={"billing": 30, "refunds": 20}, last_offer_ms=0)
    queue = policy("most-skilled", eligibility=BILLING_AND_REFUNDS)
    assert picked(policy("longest-idle", eligibility=BILLING_AND_REFUNDS), [expert, novice]) == (
        "novice"
    )
    offer = pick(queue, [expert, novice])
    assert offer is not None and offer.agent_id == "expert"
    assert score(offer)["skill_level"] == -170


def test_most_skilled_ignores_levels_in_skills_the_eligibility_does_not_name() -> None:
    generalist = agent("generalist", skills={"billing": 40, "refunds": 40, "sales": 100})
    focused = agent("focused", skills={"billing": 50, "refunds": 50})
    queue = policy("most-skilled", eligibility=BILLING_AND_REFUNDS)
    assert picked(queue, [generalist, focused]) == "focused"


def test_most_skilled_counts_the_plain_queue_skill() -> None:
    low = agent("low", skills={"billing": 10}, last_offer_ms=0)
    high = agent("high", skills={"billing": 95}, last_offer_ms=900_000)
    assert picked(policy("most-skilled"), [low, high]) == "high"


def test_most_skilled_breaks_an_equal_level_by_longest_idle() -> None:
    recent = agent("a", skills={"billing": 70}, last_offer_ms=900_000)
    idle = agent("b", skills={"billing": 70}, last_offer_ms=100_000)
    assert picked(policy("most-skilled"), [recent, idle]) == "b"


# --- round robin --------------------------------------------------------------------------------


def test_round_robin_picks_the_oldest_last_offer_whatever_the_agent_holds() -> None:
    busy = agent("busy", load={"chat": 2}, last_offer_ms=100_000)
    free = agent("free", last_offer_ms=500_000)
    assert picked(policy("longest-idle"), [busy, free]) == "free"
    offer = pick(policy("round-robin"), [busy, free])
    assert offer is not None and offer.agent_id == "busy"
    assert offer.reason["score"] == {"last_offer_ms": 100_000, "agent": "busy"}


def test_round_robin_ignores_when_the_agent_became_free() -> None:
    a = agent("a", last_offer_ms=100_000, idle_since_ms=900_000)
    b = agent("b", last_offer_ms=200_000, idle_since_ms=200_000)
    assert picked(policy("longest-idle"), [a, b]) == "b"
    assert picked(policy("round-robin"), [a, b]) == "a"


def test_round_robin_takes_turns_within_one_pass() -> None:
    agents = [agent("a", last_offer_ms=3), agent("b", last_offer_ms=1), agent("c", last_offer_ms=2)]
    contacts = {f"c{i}": ContactView(f"c{i}", "billing", 0, NOW - 100 + i) for i in range(3)}
    state = RoutingState(agents={a.agent_id: a for a in agents}, contacts=contacts)
    decisions = decide(state, {"billing": policy("round-robin")}, NOW)
    assert [d.agent_id for d in decisions if isinstance(d, OfferContact)] == ["b", "c", "a"]


# --- sticky -------------------------------------------------------------------------------------

STICKY = policy("sticky", sticky_ms=STICKY_MS)
ENQUEUED = NOW - 1_000


def _sticky_contact(
    preferred: str | None = "pref", declined_by: frozenset[str] = frozenset()
) -> ContactView:
    return contact(enqueued_at_ms=ENQUEUED, preferred_agent_id=preferred, declined_by=declined_by)


def test_sticky_offers_the_contact_to_its_preferred_agent_while_eligible() -> None:
    pref = agent("pref", load={"chat": 2}, last_offer_ms=900_000)  # busier and less idle
    other = agent("other", last_offer_ms=0)
    offer = pick(STICKY, [pref, other], _sticky_contact())
    assert offer is not None and offer.agent_id == "pref"
    assert offer.reason["strategy"] == "sticky"
    assert score(offer)["not_preferred"] == 0


def test_sticky_holds_the_contact_for_a_busy_preferred_agent_within_the_window() -> None:
    full = agent("pref", load={"chat": 3})
    other = agent("other")
    assert picked(STICKY, [full, other], _sticky_contact()) is None
    last_held_ms = ENQUEUED + STICKY_MS - 1
    assert picked(STICKY, [full, other], _sticky_contact(), now_ms=last_held_ms) is None


def test_sticky_falls_back_to_another_agent_once_the_window_is_over() -> None:
    full = agent("pref", load={"chat": 3})
    other = agent("other")
    waiting = _sticky_contact()
    assert picked(STICKY, [full, other], waiting, now_ms=ENQUEUED + STICKY_MS) == "other"


def test_sticky_falls_back_at_once_when_the_preferred_agent_is_unknown() -> None:
    a = agent("a", last_offer_ms=500)
    b = agent("b", last_offer_ms=100)
    assert picked(STICKY, [a, b], _sticky_contact("stranger")) == "b"


def test_sticky_without_a_preferred_agent_is_longest_idle() -> None:
    a = agent("a", last_offer_ms=500)
    b = agent("b", last_offer_ms=100)
    assert picked(STICKY, [a, b], _sticky_contact(None)) == "b"


def test_sticky_with_no_sticky_time_does_not_hold_the_contact() -> None:
    full = agent("pref", load={"chat": 3})
    other = agent("other")
    assert picked(policy("sticky"), [full, other], _sticky_contact()) == "other"


def test_sticky_falls_back_at_once_when_the_preferred_agent_is_offline() -> None:
    gone = agent("pref", state="offline")
    other = agent("other")
    assert picked(STICKY, [gone, other], _sticky_contact()) == "other"


def test_sticky_falls_back_at_once_when_the_preferred_agent_is_not_eligible() -> None:
    wrong_skill = agent("pref", skills={"sales": 90})
    other = agent("other")
    assert picked(STICKY, [wrong_skill, other], _sticky_contact()) == "other"


def test_sticky_contact_declined_by_its_preferred_agent_goes_to_another_agent() -> None:
    pref = agent("pref")
    other = agent("other")
    waiting = _sticky_contact(declined_by=frozenset({"pref"}))
    assert picked(STICKY, [pref, other], waiting) == "other"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_fast_rank_key_orders_exactly_as_the_named_rank(strategy: str) -> None:
    rng = random.Random(strategy)
    q = policy(strategy, eligibility=parse("billing >= 10 or sales >= 10"))
    for _ in range(300):
        a = agent(
            rng.choice(["a1", "a2", "b7"]),
            skills={"billing": rng.randint(0, 100), "sales": rng.randint(0, 100)},
            load={"chat": rng.randint(0, 3), "voice": rng.randint(0, 1)},
            last_offer_ms=rng.randint(0, 50),
            idle_since_ms=rng.randint(0, 50),
        )
        c = replace(
            contact(preferred_agent_id=rng.choice([None, "a1"])),
            required_skills=frozenset(rng.choice([(), ("sales",)])),
        )
        named = rank(strategy, a, c, q)
        assert rank_key(strategy, a, c, q) == tuple(value for _, value in named)
