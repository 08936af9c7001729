"""`GET /api/config/routing` (docs/admin.md, "The admin page"): the queues and routing rules
the hub runs with, read-only (config/queues.toml and config/routing.toml stay the source of
truth and reload live), and check-config's verdict on them (contactcenter/settings/checks.py).

The configuration names no agent and no customer, and the rules route every contact: every
supervisor reads all of it, as admins do. Live state per queue is another resource's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import Field

from contactcenter.settings import checks
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.routing import QueueSettings
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.schemas import Strict
from routing.hours import WEEKDAYS, BusinessHours
from routing.rules import RoutingRule, RuleTarget


@dataclass(frozen=True)
class LiveRouting:
    """Where the running configuration is read: the settings in use now (they change on a
    reload), and when they were loaded (None: not known in this process)."""

    settings: Callable[[], HubSettings]
    loaded_at_ms: Callable[[], int | None]


LIVE_ROUTING = web.AppKey("live_routing", LiveRouting)


# --- the answer --------------------------------------------------------------------------------


class HoursOut(Strict):
    timezone: str = Field(description="IANA time zone the hours are read in")
    weekly: dict[str, list[str]] = Field(description="weekday (mon..sun): ranges like 09:00-17:30")
    holidays: list[str] = Field(description="closed all day (ISO dates)")
    when_closed: str = Field(description="refuse, or queue (wait for the opening)")
    closed_message: str


class EscalationOut(Strict):
    after_s: float
    eligibility: str | None
    any_language: bool
    overflow: list[str]


class QueueConfig(Strict):
    name: str
    channels: list[str]
    skill: str | None
    eligibility: str | None = Field(description="an expression over skills and levels")
    strategy: str
    priority: int
    aging_s: float | None = Field(description="priority +1 per this many seconds waited")
    offer_timeout_s: float
    max_misses: int
    wrapup_s: float | None = Field(description="None: until the agent ends it")
    dispositions: list[str]
    disposition_required: bool
    service_level_s: dict[str, float] = Field(description="target answer time per channel")
    max_length: int = Field(description="0: no limit")
    max_wait_s: float | None
    overflow_queue: str | None
    escalation: list[EscalationOut]
    hours: HoursOut | None = Field(description="None: always open")
    described: list[str] = Field(description="as check-config prints it")


class TargetOut(Strict):
    queue: str
    priority: int | None = Field(description="None: the queue's own")
    skills: list[str] = Field(description="required besides the queue's eligibility")


class RuleConfig(Strict):
    name: str
    conditions: dict[str, list[str] | bool] = Field(
        description="all must hold; a list accepts any of its values"
    )
    target: TargetOut


class ConfigCheck(Strict):
    status: str = Field(
        description="valid: loaded and valid; changed: the files hold valid changes not in"
        " use yet; invalid: the files have an error (the hub runs what it loaded before)"
    )
    summary: str
    config_dir: str
    loaded_at_ms: int | None = Field(description="when the configuration in use was loaded")
    problem: str | None = Field(description="the files' error, naming the file and key")
    warnings: list[str]


class RoutingConfig(Strict):
    queues: list[QueueConfig]
    rules: list[RuleConfig] = Field(description="in order: the first that matches wins")
    default_route: TargetOut | None = Field(description="where contacts no rule claims go")
    check: ConfigCheck


def _hours(hours: BusinessHours | None, q: QueueSettings) -> dict[str, Any] | None:
    if hours is None:
        return None
    weekly = {
        WEEKDAYS[day]: [
            f"{lo // 60:02d}:{lo % 60:02d}-{hi // 60:02d}:{hi % 60:02d}" for lo, hi in r
        ]
        for day, r in sorted(hours.weekly.items())
    }
    return {
        "timezone": hours.timezone,
        "weekly": weekly,
        "holidays": sorted(d.isoformat() for d in hours.holidays),
        "when_closed": q.when_closed,
        "closed_message": q.closed_message,
    }


def queue_config(q: QueueSettings) -> dict[str, Any]:
    return {
        "name": q.name,
        "channels": list(q.channels),
        "skill": q.skill,
        "eligibility": q.eligibility,
        "strategy": q.strategy,
        "priority": q.priority,
        "aging_s": q.aging_s,
        "offer_timeout_s": q.offer_timeout_s,
        "max_misses": q.max_misses,
        "wrapup_s": q.wrapup_s,
        "dispositions": list(q.dispositions),
        "disposition_required": q.disposition_required,
        "service_level_s": dict(q.service_level_s),
        "max_length": q.max_length,
        "max_wait_s": q.max_wait_s,
        "overflow_queue": q.overflow_queue,
        "escalation": [
            {
                "after_s": s.after_s,
                "eligibility": s.eligibility,
                "any_language": s.any_language,
                "overflow": list(s.overflow),
            }
            for s in q.escalation
        ],
        "hours": _hours(q.hours, q),
        "described": checks.describe_queue(q),
    }


def target(t: RuleTarget) -> dict[str, Any]:
    return {"queue": t.queue, "priority": t.priority, "skills": list(t.skills)}


def rule_config(rule: RoutingRule) -> dict[str, Any]:
    conditions = {
        key: value if isinstance(value, bool) else list(value)
        for key, value in rule.conditions.items()
    }
    return {"name": rule.name, "conditions": conditions, "target": target(rule.target)}


def routing_config(live: HubSettings, verdict: checks.Verdict) -> dict[str, Any]:
    """The answer for the running settings `live` and check-config's `verdict`."""
    return {
        "queues": [queue_config(q) for q in live.queues],
        "rules": [rule_config(r) for r in live.rules],
        "default_route": None if live.default_route is None else target(live.default_route),
        "check": {
            "status": verdict.status,
            "summary": verdict.summary,
            "config_dir": verdict.config_dir,
            "loaded_at_ms": verdict.loaded_at_ms,
            "problem": verdict.problem,
            "warnings": list(verdict.warnings),
        },
    }


async def get_routing_config(call: Call) -> Any:
    source = call.request.app[LIVE_ROUTING]
    live = source.settings()
    on_disk = await asyncio.to_thread(checks.read_routing, live.config_dir)
    return routing_config(live, checks.verdict(live, source.loaded_at_ms(), on_disk))


ROUTING_CONFIG_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/config/routing", "routing_config", "The queues and routing rules"
              " the hub runs with (read-only: config/queues.toml and config/routing.toml),"
              " with check-config's verdict on the files", "supervisor", "config",
              answer=get_routing_config, response=RoutingConfig),
)  # fmt: skip


def setup_routing_config(app: web.Application, live: LiveRouting) -> None:
    """Where `GET /api/config/routing` reads the running configuration (its operation is
    served with the others, ROUTING_CONFIG_OPERATIONS)."""
    app[LIVE_ROUTING] = live
