"""Routing rules: first match wins, every condition must hold, the default catches the rest."""

from __future__ import annotations

from routing.rules import ContactAttributes, RoutingRule, RuleTarget, route

DEFAULT = RuleTarget("support")
RULES = (
    RoutingRule("complaints", {"open_complaint": True}, RuleTarget("care", 100, ("complaints",))),
    RoutingRule(
        "french vip", {"language": ("fr",), "tier": ("gold", "platinum")}, RuleTarget("vip-fr", 50)
    ),
    RoutingRule("billing", {"intent": ("billing", "refund")}, RuleTarget("billing")),
    RoutingRule("whatsapp", {"channel": ("whatsapp",)}, RuleTarget("messaging")),
)


def test_the_first_matching_rule_wins() -> None:
    contact = ContactAttributes("whatsapp", open_complaint=True, intents=frozenset({"refund"}))
    routed = route(contact, RULES, DEFAULT)
    assert routed.rule == "complaints"
    assert routed.target == RuleTarget("care", 100, ("complaints",))


def test_every_condition_of_a_rule_must_hold() -> None:
    assert route(ContactAttributes("chat", language="fr", tier="gold"), RULES, DEFAULT).rule == (
        "french vip"
    )
    assert route(ContactAttributes("chat", language="fr", tier="silver"), RULES, DEFAULT).rule is (
        None
    )


def test_any_listed_intent_matches() -> None:
    contact = ContactAttributes("email", intents=frozenset({"refund", "delivery"}))
    assert route(contact, RULES, DEFAULT).target.queue == "billing"


def test_an_unknown_attribute_matches_no_listed_value() -> None:
    assert route(ContactAttributes("chat", language=None), RULES, DEFAULT).target == DEFAULT


def test_no_match_goes_to_the_default() -> None:
    routed = route(ContactAttributes("voice"), RULES, DEFAULT)
    assert routed.rule is None and routed.target == DEFAULT


def test_open_complaint_false_is_a_condition_too() -> None:
    rules = (RoutingRule("calm", {"open_complaint": False}, RuleTarget("sales")),)
    assert route(ContactAttributes("chat"), rules, DEFAULT).target.queue == "sales"
    assert route(ContactAttributes("chat", open_complaint=True), rules, DEFAULT).target == (DEFAULT)
