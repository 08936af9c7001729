"""Routing rules: from a contact's attributes to its queue, priority and required skills.

Rules are tried in order and the first whose every condition holds wins; the default applies
when none does. A condition lists accepted values (any of them matches), except
`open_complaint`, which is true or false. An attribute the contact does not have (an unknown
language, say) matches no listed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MATCH_KEYS = ("channel", "entry", "tier", "language", "intent", "open_complaint")


@dataclass(frozen=True)
class ContactAttributes:
    channel: str
    entry: str | None = None  # the number, address or widget the customer used
    tier: str | None = None
    language: str | None = None
    intents: frozenset[str] = frozenset()
    open_complaint: bool = False


@dataclass(frozen=True)
class RuleTarget:
    queue: str
    priority: int | None = None  # None: the queue's own priority
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingRule:
    name: str
    conditions: Mapping[str, tuple[str, ...] | bool] = field(default_factory=dict)
    target: RuleTarget = field(default_factory=lambda: RuleTarget(""))

    def matches(self, contact: ContactAttributes) -> bool:
        for key, accepted in self.conditions.items():
            if key == "open_complaint":
                if contact.open_complaint is not accepted:
                    return False
            elif key == "intent":
                if not contact.intents & set(accepted):  # type: ignore[arg-type]
                    return False
            elif getattr(contact, key) not in accepted:  # type: ignore[operator]
                return False
        return True


@dataclass(frozen=True)
class Routed:
    """Where a contact goes, and which rule sent it there (None: the default)."""

    target: RuleTarget
    rule: str | None


def route(
    contact: ContactAttributes,
    rules: tuple[RoutingRule, ...],
    default: RuleTarget,
    channels: Mapping[str, tuple[str, ...]] | None = None,
) -> Routed:
    """The first matching rule's target, or the default. With `channels` (the channels each
    queue serves), a rule whose queue does not serve the contact's channel is passed over,
    and when the default queue does not serve it either, the first queue that does takes
    it (rule "channel-fallback"); when none does, the default still takes it: a contact is
    never turned away for a configuration gap (check-config reports such gaps)."""

    def serves(target: RuleTarget) -> bool:
        return channels is None or contact.channel in channels.get(target.queue, ())

    for rule in rules:
        if rule.matches(contact) and serves(rule.target):
            return Routed(rule.target, rule.name)
    if serves(default) or channels is None:
        return Routed(default, None)
    for queue, served in channels.items():
        if contact.channel in served:
            return Routed(RuleTarget(queue), "channel-fallback")
    return Routed(default, None)
