"""Queues (`config/queues.toml`) and routing rules (`config/routing.toml`): parsed, checked,
and turned into what routing needs.

Every problem raises `ConfigError` naming the file, the entry and key, and what is wrong, so
`contactcenter check-config` can point at the exact line to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contactcenter.core.errors import ConfigError
from routing.expr import ExpressionError, parse
from routing.hours import WEEKDAYS, BusinessHours, parse_range
from routing.model import (
    CHANNELS,
    MAX_PRIORITY,
    ON_AGENT_LOST,
    STRATEGIES,
    EscalationStep,
    QueuePolicy,
)
from routing.rules import MATCH_KEYS, RoutingRule, RuleTarget


@dataclass(frozen=True)
class EscalationSettings:
    after_s: float
    eligibility: str | None = None
    any_language: bool = False
    overflow: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueSettings:
    name: str
    skill: str | None = None
    eligibility: str | None = None
    channels: tuple[str, ...] = ("chat",)
    offer_timeout_s: float = 20.0
    dispositions: tuple[str, ...] = ("resolved",)
    disposition_required: bool = True
    strategy: str = "longest-idle"
    priority: int = 0
    aging_s: float | None = None
    weight: float = 1.0
    sticky_s: float = 0.0
    max_misses: int = 3
    wrapup_s: float | None = None
    max_wrapup_s: float = 900.0
    max_length: int = 0
    on_agent_lost: str = "requeue-front"
    broadcast_n: int = 3
    escalation: tuple[EscalationSettings, ...] = field(default=())
    hours: BusinessHours | None = None
    when_closed: str = "refuse"
    closed_message: str = "We are closed right now."
    max_wait_s: float | None = None
    overflow_queue: str | None = None
    service_level_s: Mapping[str, float] = field(default_factory=dict)

    def policy(self) -> QueuePolicy:
        """The routing core's view of this queue (expressions already checked at load)."""
        return QueuePolicy(
            name=self.name,
            skill=self.skill,
            offer_timeout_ms=int(self.offer_timeout_s * 1000),
            eligibility=parse(self.eligibility) if self.eligibility else None,
            strategy=self.strategy,
            aging_ms=int(self.aging_s * 1000) if self.aging_s else None,
            weight=self.weight,
            sticky_ms=int(self.sticky_s * 1000),
            escalation=tuple(
                EscalationStep(
                    after_ms=int(s.after_s * 1000),
                    eligibility=parse(s.eligibility) if s.eligibility else None,
                    any_language=s.any_language,
                    overflow=s.overflow,
                )
                for s in self.escalation
            ),
            max_misses=self.max_misses,
            wrapup_ms=int(self.wrapup_s * 1000) if self.wrapup_s is not None else None,
            max_wrapup_ms=int(self.max_wrapup_s * 1000),
            on_agent_lost=self.on_agent_lost,
            broadcast_n=self.broadcast_n,
            max_wait_ms=int(self.max_wait_s * 1000) if self.max_wait_s else None,
            overflow_queue=self.overflow_queue,
        )


def queue_policies(queues: tuple[QueueSettings, ...]) -> dict[str, QueuePolicy]:
    return {q.name: q.policy() for q in queues}


class _Entry:
    """Typed reads of one TOML table, each failure naming `where.key`."""

    def __init__(self, table: Any, where: str, known: set[str]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(where, "expected a table")
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
        self.table = table
        self.where = where

    def get(
        self,
        key: str,
        kind: type,
        default: Any = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.where}.{key}", f"expected {kind.__name__}, got {value!r}")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{self.where}.{key}", problem)
        return value

    def strings(
        self, key: str, default: tuple[str, ...], allowed: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        value = self.table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.where}.{key}", "expected a list of non-empty strings")
        for v in value:
            if allowed is not None and v not in allowed:
                raise ConfigError(f"{self.where}.{key}", f"{v!r} is not one of {allowed}")
        return tuple(value)

    def expression(self, key: str) -> str | None:
        text = self.get(key, str)
        if text is None:
            return None
        try:
            parse(text)
        except ExpressionError as exc:
            raise ConfigError(f"{self.where}.{key}", str(exc)) from None
        return str(text)


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _at_least_two(v: int) -> str | None:
    return None if v >= 2 else "must be at least 2 (one agent is an ordinary offer)"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _not_negative(v: float) -> str | None:
    return None if v >= 0 else "must not be negative"


def _priority(v: int) -> str | None:
    return None if 0 <= v <= MAX_PRIORITY else f"must be within 0..{MAX_PRIORITY}"


_QUEUE_KEYS = {
    "name",
    "skill",
    "eligibility",
    "channels",
    "offer_timeout_s",
    "dispositions",
    "disposition_required",
    "strategy",
    "priority",
    "aging_s",
    "weight",
    "sticky_s",
    "max_misses",
    "wrapup_s",
    "max_wrapup_s",
    "max_length",
    "escalation",
    "on_agent_lost",
    "broadcast_n",
    "hours",
    "max_wait_s",
    "overflow_queue",
    "service_level_s",
}
_HOURS_KEYS = {"timezone", "holidays", "when_closed", "closed_message", *WEEKDAYS}
_STEP_KEYS = {"after_s", "eligibility", "any_language", "overflow"}


def _escalation(items: Any, where: str) -> tuple[EscalationSettings, ...]:
    if not isinstance(items, list):
        raise ConfigError(where, "expected a list of [[queue.escalation]] tables")
    steps: list[EscalationSettings] = []
    for i, item in enumerate(items):
        e = _Entry(item, f"{where}[{i}]", _STEP_KEYS)
        after = e.get("after_s", float, check=_positive)
        if after is None:
            raise ConfigError(f"{where}[{i}].after_s", "required")
        if steps and after <= steps[-1].after_s:
            raise ConfigError(f"{where}[{i}].after_s", "steps must come in increasing order")
        steps.append(
            EscalationSettings(
                after_s=after,
                eligibility=e.expression("eligibility"),
                any_language=e.get("any_language", bool, False),
                overflow=e.strings("overflow", ()),
            )
        )
    return tuple(steps)


def _service_level(value: Any, where: str) -> dict[str, float]:
    """`service_level_s = 60` (every channel) or `{ chat = 60, voice = 20 }`."""
    if value is None:
        return {}
    if isinstance(value, int | float) and not isinstance(value, bool):
        table = dict.fromkeys(CHANNELS, float(value))
    elif isinstance(value, dict):
        table = {}
        for channel, seconds in value.items():
            if channel not in CHANNELS:
                raise ConfigError(f"{where}.{channel}", f"not a channel; one of {CHANNELS}")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ConfigError(f"{where}.{channel}", "expected seconds")
            table[channel] = float(seconds)
    else:
        raise ConfigError(where, "expected seconds, or a table of seconds per channel")
    for channel, seconds in table.items():
        if seconds <= 0:
            raise ConfigError(f"{where}.{channel}", "must be greater than 0")
    return table


def _hours(table: Any, where: str) -> dict[str, Any]:
    if table is None:
        return {}
    e = _Entry(table, where, _HOURS_KEYS)
    tz = e.get("timezone", str)
    if tz is None:
        raise ConfigError(f"{where}.timezone", "required, an IANA name such as Europe/Paris")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone", f"unknown time zone {tz!r}") from None
    weekly: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, name in enumerate(WEEKDAYS):
        ranges = []
        for text in e.strings(name, ()):
            try:
                ranges.append(parse_range(text))
            except ValueError as exc:
                raise ConfigError(f"{where}.{name}", str(exc)) from None
        if ranges:
            weekly[day] = tuple(sorted(ranges))
    holidays = set()
    for text in e.strings("holidays", ()):
        try:
            holidays.add(date.fromisoformat(text))
        except ValueError:
            raise ConfigError(
                f"{where}.holidays", f"{text!r} is not a date like 2026-12-25"
            ) from None
    return {
        "hours": BusinessHours(tz, weekly, frozenset(holidays)),
        "when_closed": e.get("when_closed", str, "refuse", _one_of(("refuse", "queue"))),
        "closed_message": e.get("closed_message", str, "We are closed right now."),
    }


def parse_queue(entry: Any, where: str) -> QueueSettings:
    e = _Entry(entry, where, _QUEUE_KEYS)
    name = e.get("name", str)
    if not name:
        raise ConfigError(f"{where}.name", "required, a non-empty string")
    skill = e.get("skill", str)
    eligibility = e.expression("eligibility")
    if not skill and not eligibility:
        raise ConfigError(f"{where}.skill", "a queue needs a skill or an eligibility expression")
    strategy = e.get("strategy", str, "longest-idle")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}.strategy", f"must be one of {', '.join(STRATEGIES)}")
    return QueueSettings(
        name=name,
        skill=skill or None,
        eligibility=eligibility,
        channels=e.strings("channels", ("chat",), CHANNELS),
        offer_timeout_s=e.get("offer_timeout_s", float, 20.0, _positive),
        dispositions=e.strings("dispositions", ("resolved",)),
        disposition_required=e.get("disposition_required", bool, True),
        strategy=strategy,
        priority=e.get("priority", int, 0, _priority),
        aging_s=e.get("aging_s", float, None, _positive),
        weight=e.get("weight", float, 1.0, _positive),
        sticky_s=e.get("sticky_s", float, 0.0, _not_negative),
        max_misses=e.get("max_misses", int, 3, _not_negative),
        wrapup_s=e.get("wrapup_s", float, None, _not_negative),
        max_wrapup_s=e.get("max_wrapup_s", float, 900.0, _positive),
        max_length=e.get("max_length", int, 0, _not_negative),
        on_agent_lost=e.get("on_agent_lost", str, "requeue-front", _one_of(ON_AGENT_LOST)),
        max_wait_s=e.get("max_wait_s", float, None, _positive),
        broadcast_n=e.get("broadcast_n", int, 3, _at_least_two),
        overflow_queue=e.get("overflow_queue", str),
        service_level_s=_service_level(entry.get("service_level_s"), f"{where}.service_level_s"),
        **_hours(entry.get("hours"), f"{where}.hours"),
        escalation=_escalation(entry.get("escalation", []), f"{where}.escalation"),
    )


def parse_queues(doc: Mapping[str, Any], path: Path) -> tuple[QueueSettings, ...]:
    unknown = set(doc) - {"queue"}
    if unknown:
        raise ConfigError(f"{path}: {sorted(unknown)[0]}", "unknown key")
    entries = doc.get("queue", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: queue", "at least one [[queue]] is required")
    queues = tuple(parse_queue(q, f"{path}: queue[{i}]") for i, q in enumerate(entries))
    names = [q.name for q in queues]
    for i, q in enumerate(queues):
        if q.name in names[:i]:
            raise ConfigError(f"{path}: queue[{i}].name", f"duplicate queue name {q.name!r}")
        if q.overflow_queue is not None and q.overflow_queue not in names:
            raise ConfigError(
                f"{path}: queue[{i}].overflow_queue", f"no queue named {q.overflow_queue!r}"
            )
        if q.overflow_queue is not None and q.max_wait_s is None:
            raise ConfigError(f"{path}: queue[{i}].max_wait_s", "required with overflow_queue")
        for j, step in enumerate(q.escalation):
            for other in step.overflow:
                if other not in names:
                    raise ConfigError(
                        f"{path}: queue[{i}].escalation[{j}].overflow", f"no queue named {other!r}"
                    )
    return queues


_RULE_KEYS = {"name", "match", "queue", "priority", "skills"}


def _target(e: _Entry, queue_names: set[str]) -> RuleTarget:
    queue = e.get("queue", str)
    if queue is None or queue not in queue_names:
        raise ConfigError(f"{e.where}.queue", f"no queue named {queue!r}")
    return RuleTarget(
        queue=queue,
        priority=e.get("priority", int, None, _priority),
        skills=e.strings("skills", ()),
    )


def parse_rules(
    doc: Mapping[str, Any], path: Path, queue_names: set[str]
) -> tuple[tuple[RoutingRule, ...], RuleTarget]:
    """The rules, in order (first match wins), and the default target."""
    unknown = set(doc) - {"rule", "default"}
    if unknown:
        raise ConfigError(f"{path}: {sorted(unknown)[0]}", "unknown key")
    if "default" not in doc:
        raise ConfigError(f"{path}: default", "a [default] table naming a queue is required")
    default = _target(
        _Entry(doc["default"], f"{path}: default", {"queue", "priority", "skills"}), queue_names
    )
    rules = []
    for i, item in enumerate(doc.get("rule", [])):
        e = _Entry(item, f"{path}: rule[{i}]", _RULE_KEYS)
        match = item.get("match", {})
        m = _Entry(match, f"{path}: rule[{i}].match", set(MATCH_KEYS))
        conditions: dict[str, tuple[str, ...] | bool] = {}
        for key in MATCH_KEYS:
            if key == "open_complaint":
                value = m.get(key, bool)
                if value is not None:
                    conditions[key] = value
            elif key in match:
                raw = match[key]
                conditions[key] = (raw,) if isinstance(raw, str) else m.strings(key, ())
        rules.append(
            RoutingRule(
                name=e.get("name", str, f"rule {i}"),
                conditions=conditions,
                target=_target(e, queue_names),
            )
        )
    return tuple(rules), default
