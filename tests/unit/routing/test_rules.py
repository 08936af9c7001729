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


SERVED = {"support": ("chat",), "phones": ("voice", "sms"), "mail": ("email",)}


def test_a_rule_whose_queue_does_not_serve_the_channel_is_passed_over() -> None:
    to_mail = RoutingRule("vip to mail", {"tier": ("gold",)}, RuleTarget("mail"))
    to_phones = RoutingRule("vip to phones", {"tier": ("gold",)}, RuleTarget("phones"))
    contact = ContactAttributes(channel="sms", tier="gold")
    routed = route(contact, (to_mail, to_phones), RuleTarget("support"), SERVED)
    assert (routed.target.queue, routed.rule) == ("phones", "vip to phones")


def test_a_default_that_does_not_serve_the_channel_falls_to_a_queue_that_does() -> None:
    routed = route(ContactAttributes(channel="email"), (), RuleTarget("support"), SERVED)
    assert (routed.target.queue, routed.rule) == ("mail", "channel-fallback")


def test_a_channel_no_queue_serves_still_lands_in_the_default_queue() -> None:
    routed = route(ContactAttributes(channel="whatsapp"), (), RuleTarget("support"), SERVED)
    assert (routed.target.queue, routed.rule) == ("support", None)
