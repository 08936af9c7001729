"""The pure routing core: events folded into a state, decisions out. No Redis, no event loop."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactcenter.core import events as ev
from routing.core import (
    MAX_PRIORITY,
    CompleteWrapUp,
    Decision,
    EscalateContact,
    ExpireOffer,
    OfferContact,
    QueuePolicy,
    RoutingState,
    decide,
    eligible_agents,
    queue_score,
)
from routing.expr import parse
from routing.model import EscalationStep

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
    skills: tuple[str, ...] | Mapping[str, int] = ("billing",),
    capacity: int | Mapping[str, int] = 1,
    languages: tuple[str, ...] = (),
    voice_blocks_chat: bool = True,
) -> None:
    """The agent's profile, then their presence. Bare skill names get level 5; a bare
    capacity is the chat capacity."""
    state.apply(
        ev.AgentProfileChanged(
            at_ms=at_ms,
            agent_id=agent_id,
            skills=dict(skills) if isinstance(skills, Mapping) else dict.fromkeys(skills, 5),
            capacity={"chat": capacity} if isinstance(capacity, int) else dict(capacity),
            languages=list(languages),
            voice_blocks_chat=voice_blocks_chat,
        )
    )
    state.apply(ev.AgentStateChanged(at_ms=at_ms, agent_id=agent_id, state=status))


def queued(
    state: RoutingState,
    contact_id: str,
    *,
    at_ms: int = 0,
    queue: str = "billing",
    priority: int = 0,
    channel: str = "chat",
    required_skills: tuple[str, ...] = (),
    language: str | None = None,
) -> None:
    state.apply(
        ev.ContactQueued(
            at_ms=at_ms,
            contact_id=contact_id,
            queue=queue,
            channel=channel,
            priority=priority,
            enqueued_at_ms=at_ms,
            required_skills=list(required_skills),
            language=language,
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


def accepted(state: RoutingState, contact_id: str, agent_id: str, *, at_ms: int) -> None:
    queue = state.contacts[contact_id].queue
    state.apply(
        ev.OfferAccepted(at_ms=at_ms, contact_id=contact_id, agent_id=agent_id, queue=queue)
    )


def ended(state: RoutingState, contact_id: str, agent_id: str, *, at_ms: int) -> None:
    queue = state.contacts[contact_id].queue
    state.apply(
        ev.ConversationEnded(
            at_ms=at_ms, contact_id=contact_id, agent_id=agent_id, queue=queue, ended_by="agent"
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


def the_offer(decisions: list[Decision]) -> OfferContact:
    [offer] = [d for d in decisions if isinstance(d, OfferContact)]
    return offer


def escalations(decisions: list[Decision]) -> list[EscalateContact]:
    return [d for d in decisions if isinstance(d, EscalateContact)]


def load(state: RoutingState, agent_id: str, channel: str = "chat") -> int:
    return state.agents[agent_id].load.get(channel, 0)


def eligible_ids(
    state: RoutingState, contact_id: str, queues: Mapping[str, QueuePolicy], now_ms: int
) -> set[str]:
    contact = state.contacts[contact_id]
    return {a.agent_id for a in eligible_agents(state.agents, contact, queues, now_ms)}


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


def test_a_skill_at_level_zero_still_counts_as_having_it() -> None:
    state = RoutingState()
    agent(state, "x", skills={"billing": 0})
    queued(state, "c1")
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c1", "x")]


def test_contact_with_required_skills_goes_only_to_an_agent_having_all_of_them() -> None:
    state = RoutingState()
    agent(state, "plain", at_ms=0, skills=("billing",))  # longest idle, lacks refunds
    agent(state, "half", at_ms=1, skills=("billing", "refunds"))
    agent(state, "full", at_ms=2, skills=("billing", "refunds", "vip"))
    queued(state, "c1", at_ms=10, required_skills=("refunds", "vip"))
    assert eligible_ids(state, "c1", QUEUES, now_ms=100) == {"full"}
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c1", "full")]


def test_required_skills_come_on_top_of_the_queue_eligibility() -> None:
    state = RoutingState()
    agent(state, "refunds-only", skills=("refunds",))  # has the required skill, not the queue's
    queued(state, "c1", required_skills=("refunds",))
    assert decide(state, QUEUES, now_ms=100) == []


# --- eligibility expressions --------------------------------------------------------------------

FR_EN_BILLING = {
    "billing": QueuePolicy(
        "billing",
        None,
        TIMEOUT_MS,
        eligibility=parse('billing >= 50 and language in ("fr", "en")'),
    )
}


@pytest.mark.parametrize(
    ("level", "languages", "expected"),
    [
        (50, ("fr",), True),
        (100, ("en", "de"), True),
        (49, ("fr",), False),
        (80, ("de",), False),
        (80, (), False),
    ],
)
def test_queue_eligibility_expression_tests_levels_and_languages(
    level: int, languages: tuple[str, ...], expected: bool
) -> None:
    state = RoutingState()
    agent(state, "x", skills={"billing": level}, languages=languages)
    queued(state, "c1")
    assert eligible_ids(state, "c1", FR_EN_BILLING, now_ms=100) == ({"x"} if expected else set())


def test_eligibility_expression_replaces_the_plain_skill() -> None:
    queues = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS, eligibility=parse("senior"))}
    state = RoutingState()
    agent(state, "plain", at_ms=0, skills=("billing",))
    agent(state, "senior", at_ms=1, skills=("senior",))
    queued(state, "c1", at_ms=10)
    assert offers(decide(state, queues, now_ms=100)) == [("c1", "senior")]


def test_only_the_agent_matching_the_expression_is_offered_the_contact() -> None:
    state = RoutingState()
    agent(state, "novice", at_ms=0, skills={"billing": 30}, languages=("fr",))
    agent(state, "german", at_ms=1, skills={"billing": 90}, languages=("de",))
    agent(state, "fit", at_ms=2, skills={"billing": 60}, languages=("en",))
    queued(state, "c1", at_ms=10)
    assert offers(decide(state, FR_EN_BILLING, now_ms=100)) == [("c1", "fit")]


# --- the contact's language -----------------------------------------------------------------


def test_contact_with_a_language_goes_only_to_an_agent_who_speaks_it() -> None:
    state = RoutingState()
    agent(state, "en", at_ms=0, languages=("en",))  # longest idle
    agent(state, "none", at_ms=1)
    agent(state, "fr", at_ms=2, languages=("en", "fr"))
    queued(state, "c1", at_ms=10, language="fr")
    assert eligible_ids(state, "c1", QUEUES, now_ms=100) == {"fr"}
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c1", "fr")]


def test_contact_without_a_language_may_go_to_any_agent() -> None:
    state = RoutingState()
    agent(state, "en", languages=("en",))
    agent(state, "none")
    queued(state, "c1")
    assert eligible_ids(state, "c1", QUEUES, now_ms=100) == {"en", "none"}


def test_escalation_step_with_any_language_lets_other_speakers_take_the_contact() -> None:
    queues = {
        "billing": QueuePolicy(
            "billing",
            "billing",
            TIMEOUT_MS,
            escalation=(EscalationStep(after_ms=60_000, any_language=True),),
        )
    }
    state = RoutingState()
    agent(state, "en", languages=("en",))
    queued(state, "c1", at_ms=0, language="fr")
    assert decide(state, queues, now_ms=59_999) == []
    decisions = decide(state, queues, now_ms=60_000)
    assert offers(decisions) == [("c1", "en")]
    assert escalations(decisions) == [EscalateContact("c1", "billing", 1)]


def test_escalation_step_without_any_language_keeps_the_language_requirement() -> None:
    queues = {
        "billing": QueuePolicy(
            "billing",
            "billing",
            TIMEOUT_MS,
            escalation=(EscalationStep(after_ms=60_000, overflow=("support",)),),
        ),
        "support": QUEUES["support"],
    }
    state = RoutingState()
    agent(state, "en", skills=("support",), languages=("en",))
    queued(state, "c1", at_ms=0, language="fr")
    assert offers(decide(state, queues, now_ms=120_000)) == []


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


def test_agent_free_since_their_last_contact_ended_counts_from_that_end() -> None:
    # x got the older offer, but their contact ended only later: y is free the longest.
    state = RoutingState()
    agent(state, "x", at_ms=0)
    agent(state, "y", at_ms=0)
    queued(state, "c0", at_ms=10)
    offered(state, "c0", "x", at_ms=100)
    queued(state, "c1", at_ms=110)
    offered(state, "c1", "y", at_ms=200)
    state.apply(ev.ContactAbandoned(at_ms=300, contact_id="c1", queue="billing", agent_id="y"))
    state.apply(ev.ContactAbandoned(at_ms=400, contact_id="c0", queue="billing", agent_id="x"))
    assert state.agents["x"].last_offer_ms < state.agents["y"].last_offer_ms
    assert (state.agents["x"].idle_since_ms, state.agents["y"].idle_since_ms) == (400, 300)
    queued(state, "c2", at_ms=500)
    assert offers(decide(state, QUEUES, now_ms=600)) == [("c2", "y")]


def test_agent_with_nothing_on_hand_goes_before_one_holding_work() -> None:
    state = RoutingState()
    agent(state, "busy", at_ms=0, capacity=3)
    queued(state, "c0", at_ms=10)
    offered(state, "c0", "busy", at_ms=20)
    agent(state, "free", at_ms=5_000, capacity=3)  # idle for less time, but empty-handed
    queued(state, "c1", at_ms=6_000)
    assert offers(decide(state, QUEUES, now_ms=7_000)) == [("c1", "free")]


def test_work_on_another_channel_counts_as_being_on_hand() -> None:
    state = RoutingState()
    agent(state, "mailer", at_ms=0, capacity={"chat": 3, "email": 3})
    queued(state, "mail", at_ms=10, channel="email")
    offered(state, "mail", "mailer", at_ms=20)
    agent(state, "free", at_ms=5_000, capacity={"chat": 3, "email": 3})
    queued(state, "c1", at_ms=6_000)
    assert offers(decide(state, QUEUES, now_ms=7_000)) == [("c1", "free")]


@pytest.mark.parametrize("arrival", [("a", "b", "c"), ("c", "b", "a"), ("b", "c", "a")])
def test_equally_idle_agents_are_chosen_by_id(arrival: tuple[str, ...]) -> None:
    state = RoutingState()
    for agent_id in arrival:
        agent(state, agent_id, at_ms=100)
    queued(state, "c1", at_ms=200)
    assert offers(decide(state, QUEUES, now_ms=300)) == [("c1", "a")]


def test_offers_in_one_pass_are_spread_by_load() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=2)
    agent(state, "y", at_ms=100, capacity=2)
    for i in range(4):
        queued(state, f"c{i}", at_ms=200 + i)
    # After x takes c0, y (nothing on hand) is next; then x again (both hold one, both last
    # got work in this pass: the id decides), and y takes the last.
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
    assert load(state, "x") == state.agents["x"].capacity["chat"]
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


def test_agent_full_on_chat_can_still_take_an_email() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity={"chat": 1, "email": 2})
    queued(state, "chat0", at_ms=1)
    offered(state, "chat0", "x", at_ms=2)
    queued(state, "chat1", at_ms=10)
    queued(state, "mail", at_ms=20, channel="email")
    decisions = decide(state, QUEUES, now_ms=100)
    assert offers(decisions) == [("mail", "x")]
    assert the_offer(decisions).channel == "email"


def test_agent_without_capacity_on_a_channel_gets_none_of_its_contacts() -> None:
    state = RoutingState()
    agent(state, "x", capacity={"chat": 3})
    queued(state, "sms", channel="sms")
    assert decide(state, QUEUES, now_ms=100) == []


def test_channel_capacity_is_counted_per_channel_within_one_pass() -> None:
    state = RoutingState()
    agent(state, "x", capacity={"chat": 1, "email": 1})
    for i, channel in enumerate(["chat", "chat", "email", "email"]):
        queued(state, f"{channel}{i}", at_ms=i, channel=channel)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("chat0", "x"), ("email2", "x")]


def _on_a_voice_call(voice_blocks_chat: bool) -> RoutingState:
    state = RoutingState()
    agent(
        state,
        "x",
        at_ms=0,
        capacity={"voice": 1, "chat": 3, "email": 3},
        voice_blocks_chat=voice_blocks_chat,
    )
    queued(state, "call", at_ms=1, channel="voice")
    offered(state, "call", "x", at_ms=2)
    accepted(state, "call", "x", at_ms=3)
    queued(state, "c1", at_ms=10)
    return state


def test_agent_on_a_voice_call_gets_no_chat_offer_when_voice_blocks_chat() -> None:
    state = _on_a_voice_call(voice_blocks_chat=True)
    assert load(state, "x", "voice") == 1
    assert decide(state, QUEUES, now_ms=100) == []


def test_agent_on_a_voice_call_gets_chat_offers_when_voice_does_not_block_chat() -> None:
    state = _on_a_voice_call(voice_blocks_chat=False)
    assert offers(decide(state, QUEUES, now_ms=100)) == [("c1", "x")]


def test_agent_whose_voice_call_is_over_gets_chat_again() -> None:
    state = _on_a_voice_call(voice_blocks_chat=True)
    ended(state, "call", "x", at_ms=20)
    assert decide(state, QUEUES, now_ms=30) == []  # the wrap-up still holds the voice line
    state.apply(
        ev.WrapUpCompleted(
            at_ms=40, contact_id="call", agent_id="x", queue="billing", disposition=None, notes=""
        )
    )
    assert offers(decide(state, QUEUES, now_ms=50)) == [("c1", "x")]


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


AGING_MS = 10_000
AGING = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS, aging_ms=AGING_MS)}


@pytest.mark.parametrize(
    ("high_arrives_ms", "served_first"),
    [
        (2 * AGING_MS - 1, "new-high"),  # the old one is still short of two points
        (2 * AGING_MS, "old-low"),  # caught up exactly: equal priority, the older first
        (2 * AGING_MS + 1, "old-low"),
    ],
)
@pytest.mark.parametrize("now_ms", [100_000, 1_000_000])
def test_with_aging_an_old_low_priority_contact_overtakes_a_new_high_one_after_enough_waiting(
    high_arrives_ms: int, served_first: str, now_ms: int
) -> None:
    # One priority point per AGING_MS waited: arriving 2 * AGING_MS earlier is worth the two
    # points between them, whatever the time now.
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=1)
    queued(state, "old-low", at_ms=0, priority=0)
    queued(state, "new-high", at_ms=high_arrives_ms, priority=2)
    assert offers(decide(state, AGING, now_ms=now_ms)) == [(served_first, "x")]


def test_without_aging_priority_is_strict_however_long_a_contact_waits() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=1)
    queued(state, "old-low", at_ms=0, priority=0)
    queued(state, "new-high", at_ms=10_000_000, priority=1)
    assert offers(decide(state, QUEUES, now_ms=10_000_001)) == [("new-high", "x")]


def test_queue_weight_scales_priority_against_other_queues() -> None:
    queues = {
        "vip": QueuePolicy("vip", "billing", TIMEOUT_MS, weight=2.0),
        "billing": QueuePolicy("billing", "billing", TIMEOUT_MS),
    }
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=1)
    queued(state, "plain-3", at_ms=0, queue="billing", priority=3)  # older, higher priority
    queued(state, "vip-2", at_ms=50, queue="vip", priority=2)  # weighs 4
    assert offers(decide(state, queues, now_ms=100)) == [("vip-2", "x")]


def test_queue_weight_does_not_lift_a_contact_of_priority_zero() -> None:
    queues = {
        "vip": QueuePolicy("vip", "billing", TIMEOUT_MS, weight=2.0),
        "billing": QueuePolicy("billing", "billing", TIMEOUT_MS),
    }
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=1)
    queued(state, "plain", at_ms=0, queue="billing")
    queued(state, "vip", at_ms=50, queue="vip")
    assert offers(decide(state, queues, now_ms=100)) == [("plain", "x")]


# --- escalation -------------------------------------------------------------------------------

ESCALATING = {
    "billing": QueuePolicy(
        "billing",
        None,
        TIMEOUT_MS,
        eligibility=parse("billing >= 80"),
        escalation=(
            EscalationStep(after_ms=30_000, eligibility=parse("billing >= 20")),
            EscalationStep(after_ms=60_000, overflow=("support",)),
        ),
    ),
    "support": QueuePolicy("support", "support", TIMEOUT_MS),
}


def test_contact_escalates_once_when_its_wait_reaches_the_next_step() -> None:
    state = RoutingState()
    queued(state, "c1", at_ms=0)
    assert escalations(decide(state, ESCALATING, now_ms=29_999)) == []
    assert escalations(decide(state, ESCALATING, now_ms=30_000)) == [
        EscalateContact("c1", "billing", 1)
    ]
    state.apply(ev.ContactEscalated(at_ms=30_000, contact_id="c1", queue="billing", step=1))
    assert state.contacts["c1"].escalation_step == 1
    assert escalations(decide(state, ESCALATING, now_ms=45_000)) == []
    assert escalations(decide(state, ESCALATING, now_ms=60_000)) == [
        EscalateContact("c1", "billing", 2)
    ]


def test_contact_that_waited_past_several_steps_escalates_straight_to_the_last() -> None:
    state = RoutingState()
    queued(state, "c1", at_ms=0)
    assert escalations(decide(state, ESCALATING, now_ms=90_000)) == [
        EscalateContact("c1", "billing", 2)
    ]


def test_escalation_step_eligibility_replaces_the_queue_eligibility() -> None:
    state = RoutingState()
    agent(state, "mid", skills={"billing": 50})
    queued(state, "c1", at_ms=0)
    assert eligible_ids(state, "c1", ESCALATING, now_ms=29_999) == set()
    assert decide(state, ESCALATING, now_ms=29_999) == []
    assert eligible_ids(state, "c1", ESCALATING, now_ms=30_000) == {"mid"}
    assert offers(decide(state, ESCALATING, now_ms=30_000)) == [("c1", "mid")]


def test_overflow_queue_agents_become_eligible_at_the_step() -> None:
    state = RoutingState()
    agent(state, "helper", skills=("support",))
    queued(state, "c1", at_ms=0)
    assert eligible_ids(state, "c1", ESCALATING, now_ms=59_999) == set()
    decisions = decide(state, ESCALATING, now_ms=60_000)
    assert offers(decisions) == [("c1", "helper")]
    assert the_offer(decisions).reason["escalation_step"] == 2


def test_earlier_step_agents_stay_eligible_after_an_overflow_step() -> None:
    state = RoutingState()
    agent(state, "mid", skills={"billing": 50})
    agent(state, "helper", skills=("support",))
    queued(state, "c1", at_ms=0)
    assert eligible_ids(state, "c1", ESCALATING, now_ms=60_000) == {"mid", "helper"}


# --- offers and their deadline ----------------------------------------------------------------


def test_offer_runs_until_now_plus_the_queue_timeout() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    decisions = decide(state, QUEUES, now_ms=1_000)
    decision = the_offer(decisions)
    assert decisions == [decision]
    assert decision == OfferContact(
        "c1", "x", "billing", 1_000 + TIMEOUT_MS, decision.reason, "chat"
    )
    assert decision.reason["strategy"] == "longest-idle"


def test_offer_reason_names_the_strategy_the_eligible_count_the_score_and_the_step() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=100)
    agent(state, "y", at_ms=200)
    agent(state, "z", at_ms=300, skills=("support",))
    queued(state, "c1", at_ms=400)
    offer = the_offer(decide(state, QUEUES, now_ms=1_000))
    assert offer.reason == {
        "strategy": "longest-idle",
        "eligible": 2,
        "score": {"load": 0, "last_activity_ms": 100, "agent": "x"},
        "escalation_step": 0,
        "passed_over": [],
        "waited_ms": 600,
    }


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
    # y comes back just after, so x (free since the expiry) is the longer idle; yet y is asked.
    agent(state, "y", at_ms=20 + TIMEOUT_MS, status="away")
    agent(state, "y", at_ms=21 + TIMEOUT_MS)
    assert state.agents["x"].idle_since_ms < state.agents["y"].idle_since_ms
    assert offers(decide(state, QUEUES, now_ms=22 + TIMEOUT_MS)) == [("a", "y")]


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


# --- wrap-up time -----------------------------------------------------------------------------

WRAPUP_MS = 15_000


def _in_wrap_up(wrapup_ms: int | None) -> tuple[RoutingState, dict[str, QueuePolicy]]:
    queues = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS, wrapup_ms=wrapup_ms)}
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    accepted(state, "c1", "x", at_ms=30)
    ended(state, "c1", "x", at_ms=1_000)
    return state, queues


def test_wrap_up_is_completed_once_the_queue_wrap_up_time_has_passed_since_the_end() -> None:
    state, queues = _in_wrap_up(WRAPUP_MS)
    assert state.contacts["c1"].ended_at_ms == 1_000
    assert decide(state, queues, now_ms=1_000 + WRAPUP_MS - 1) == []
    assert decide(state, queues, now_ms=1_000 + WRAPUP_MS) == [CompleteWrapUp("c1", "x", "billing")]


def test_wrap_up_without_a_queue_wrap_up_time_is_closed_at_the_queues_maximum() -> None:
    state, queues = _in_wrap_up(None)
    limit_ms = queues["billing"].max_wrapup_ms
    assert decide(state, queues, now_ms=1_000 + limit_ms - 1) == []
    assert decide(state, queues, now_ms=1_000 + limit_ms) == [CompleteWrapUp("c1", "x", "billing")]


def test_contact_in_wrap_up_is_not_offered_again() -> None:
    state, queues = _in_wrap_up(WRAPUP_MS)
    agent(state, "y", at_ms=2_000)
    assert offers(decide(state, queues, now_ms=3_000)) == []


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


def test_expired_offer_of_a_queue_without_policy_is_taken_back_and_not_offered_again() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    support_only = {"support": QUEUES["support"]}
    assert decide(state, support_only, now_ms=20 + TIMEOUT_MS) == [
        ExpireOffer("c1", "x", "billing")
    ]


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


@given(
    priorities,
    arrival_times,
    priorities,
    arrival_times,
    st.integers(min_value=1, max_value=3_600_000),
)
def test_aged_queue_score_orders_like_the_effective_priority(
    p1: int, t1: int, p2: int, t2: int, aging_ms: int
) -> None:
    # Effective priority at any common time `now`: p + (now - t) / aging_ms, higher first.
    s1, s2 = queue_score(p1, t1, aging_ms), queue_score(p2, t2, aging_ms)
    assert float(s1) == s1 and float(s2) == s2
    assert (s1 < s2) == (p1 * aging_ms - t1 > p2 * aging_ms - t2)


def test_aged_queue_score_is_the_arrival_less_the_priority_worth_of_waiting() -> None:
    assert queue_score(3, 1_000_000, aging_ms=10_000) == 1_000_000 - 30_000
    assert queue_score(0, 1_000_000, aging_ms=10_000) == 1_000_000
    assert queue_score(2, 20_000, aging_ms=10_000) == queue_score(0, 0, aging_ms=10_000)


@pytest.mark.parametrize("priority", [-1, MAX_PRIORITY + 1, 10_000])
@pytest.mark.parametrize("aging_ms", [None, 10_000])
def test_queue_score_rejects_a_priority_out_of_range(priority: int, aging_ms: int | None) -> None:
    with pytest.raises(ValueError, match="priority"):
        queue_score(priority, 0, aging_ms)


@pytest.mark.parametrize("priority", [0, MAX_PRIORITY])
def test_queue_score_accepts_the_ends_of_the_priority_range(priority: int) -> None:
    assert queue_score(priority, 0) >= 0


# --- apply: bookkeeping -------------------------------------------------------------------------


def test_profile_of_a_new_agent_leaves_them_offline_with_nothing_on_hand() -> None:
    state = RoutingState()
    state.apply(
        ev.AgentProfileChanged(
            at_ms=5,
            agent_id="x",
            skills={"billing": 70},
            capacity={"chat": 2, "voice": 1},
            languages=["fr", "en"],
            voice_blocks_chat=False,
        )
    )
    x = state.agents["x"]
    assert (x.state, x.total_load, x.misses) == ("offline", 0, 0)
    assert (x.skills, x.capacity, x.languages) == (
        {"billing": 70},
        {"chat": 2, "voice": 1},
        frozenset({"fr", "en"}),
    )
    assert x.voice_blocks_chat is False


def test_offer_raises_the_agent_load_on_its_channel_and_restarts_their_idle_clock() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity={"chat": 3, "email": 3})
    queued(state, "c1", at_ms=10, channel="email")
    offered(state, "c1", "x", at_ms=20)
    assert (load(state, "x", "email"), load(state, "x", "chat")) == (1, 0)
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
    assert state.agents["x"].idle_since_ms == 30
    c = state.contacts["c1"]
    assert (c.state, c.agent_id, c.deadline_ms) == ("queued", None, None)
    assert c.declined_by == {"x"}
    assert c.enqueued_at_ms == 10  # its place is unchanged


def test_rejected_and_expired_offers_count_as_misses_and_an_accept_resets_them() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    for i in range(3):
        queued(state, f"c{i}", at_ms=10 + i)
    offered(state, "c0", "x", at_ms=20)
    state.apply(ev.OfferRejected(at_ms=21, contact_id="c0", agent_id="x", queue="billing"))
    assert state.agents["x"].misses == 1
    offered(state, "c1", "x", at_ms=22)
    expired(state, "c1", "x", at_ms=23)
    assert state.agents["x"].misses == 2
    offered(state, "c2", "x", at_ms=24)
    assert state.agents["x"].misses == 2  # an offer alone changes nothing
    accepted(state, "c2", "x", at_ms=25)
    assert state.agents["x"].misses == 0


def test_going_available_again_resets_the_misses() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    expired(state, "c1", "x", at_ms=30)
    agent(state, "x", at_ms=40, status="away")
    agent(state, "x", at_ms=50)
    assert state.agents["x"].misses == 0


def test_escalation_event_records_the_step() -> None:
    state = RoutingState()
    queued(state, "c1", at_ms=0)
    state.apply(ev.ContactEscalated(at_ms=5, contact_id="c1", queue="billing", step=2))
    assert state.contacts["c1"].escalation_step == 2


def test_accepted_and_ended_contact_holds_the_load_until_wrap_up_completes() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=0, capacity=3)
    queued(state, "c1", at_ms=10)
    offered(state, "c1", "x", at_ms=20)
    accepted(state, "c1", "x", at_ms=30)
    ended(state, "c1", "x", at_ms=40)
    assert load(state, "x") == 1
    assert (state.contacts["c1"].state, state.contacts["c1"].ended_at_ms) == ("wrapup", 40)
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
    assert state.agents["x"].idle_since_ms == 50
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
    accepted(state, "c1", "x", at_ms=30)
    state.apply(ev.ContactAbandoned(at_ms=40, contact_id="c1", queue="billing"))
    assert load(state, "x") == 1


def test_profile_change_keeps_load_and_only_going_available_restarts_the_idle_clock() -> None:
    state = RoutingState()
    agent(state, "x", at_ms=100, capacity=3)
    queued(state, "c1", at_ms=110)
    offered(state, "c1", "x", at_ms=120)
    agent(state, "x", at_ms=200, capacity=5)  # still available, new capacity
    x = state.agents["x"]
    assert (load(state, "x"), x.capacity["chat"], x.last_offer_ms, x.idle_since_ms) == (
        1,
        5,
        120,
        100,
    )
    agent(state, "x", at_ms=300, status="away", capacity=5)
    agent(state, "x", at_ms=400, capacity=5)
    x = state.agents["x"]
    assert (load(state, "x"), x.last_offer_ms, x.idle_since_ms) == (1, 400, 400)


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


def test_a_contact_transferred_to_a_queue_passes_over_the_agent_who_handed_it_on() -> None:
    s = RoutingState()
    agent(s, "a", at_ms=0)
    queued(s, "c1", at_ms=10)
    offered(s, "c1", "a", at_ms=20)
    accepted(s, "c1", "a", at_ms=30)
    s.apply(
        ev.ContactTransferred(
            at_ms=50, contact_id="c1", from_agent_id="a", from_queue="billing", to_queue="billing"
        )
    )
    agent(s, "b", at_ms=55)  # idle for less time than a: longest idle alone would pick a
    (offer,) = decide(s, QUEUES, now_ms=60)
    assert isinstance(offer, OfferContact) and offer.agent_id == "b"


def test_the_agent_who_handed_it_on_takes_it_again_when_nobody_else_can() -> None:
    s = RoutingState()
    agent(s, "a", at_ms=0)
    queued(s, "c1", at_ms=10)
    offered(s, "c1", "a", at_ms=20)
    accepted(s, "c1", "a", at_ms=30)
    s.apply(
        ev.ContactTransferred(
            at_ms=50, contact_id="c1", from_agent_id="a", from_queue="billing", to_queue="billing"
        )
    )
    (offer,) = decide(s, QUEUES, now_ms=60)
    assert isinstance(offer, OfferContact) and offer.agent_id == "a"
