"""What `contactcenter check-config` says of the queues and routing rules, for the command and
for `GET /api/config/routing` alike: the configuration described a line at a time, its
warnings, and the verdict on the routing files as they are now beside what the hub runs.

The files are checked in full when they are loaded (at start, and by every live reload,
contactcenter/settings/reload.py): settings that run are valid. What may differ is the
folder: files changed since, with a mistake (the reload refused them and the hub carries on
with what it had) or not taken up yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contactcenter.core.errors import ConfigError
from contactcenter.settings.hub import HubSettings, load_routing
from contactcenter.settings.routing import QueueSettings
from routing.model import CHANNELS
from routing.rules import RoutingRule, RuleTarget

Status = Literal["valid", "changed", "invalid"]


def describe_queue(q: QueueSettings) -> list[str]:
    """A queue as check-config prints it: its first line, then details indented by two."""
    who = f"eligibility {q.eligibility}" if q.eligibility else f"skill {q.skill}"
    lines = [f"queue {q.name}: {who}; channels {', '.join(q.channels)}; strategy {q.strategy}"]
    aging = f", +1 per {q.aging_s:g} s waited" if q.aging_s else ""
    lines.append(
        f"  priority {q.priority}{aging}; offer timeout {q.offer_timeout_s:g} s;"
        f" {q.max_misses} misses to away; wrap-up "
        + (f"{q.wrapup_s:g} s" if q.wrapup_s is not None else "until the agent ends it")
    )
    for i, step in enumerate(q.escalation, start=1):
        parts = [f"eligibility {step.eligibility}"] if step.eligibility else []
        parts += ["any language"] if step.any_language else []
        parts += [f"overflow to {', '.join(step.overflow)}"] if step.overflow else []
        lines.append(
            f"  escalation {i} after {step.after_s:g} s: {'; '.join(parts) or 'no change'}"
        )
    if q.max_wait_s:
        lines.append(f"  after {q.max_wait_s:g} s: to {q.overflow_queue}")
    if q.hours is not None:
        lines.append(f"  business hours in {q.hours.timezone}; when closed: {q.when_closed}")
    return lines


def describe_routing(settings: HubSettings) -> list[str]:
    """Every queue, rule and the default, as check-config prints them."""
    lines = [line for q in settings.queues for line in describe_queue(q)]
    for rule in settings.rules:
        lines.append(f"rule {rule.name!r}: {dict(rule.conditions)} -> queue {rule.target.queue}")
    if settings.default_route is not None:
        lines.append(f"default -> queue {settings.default_route.queue}")
    reasons = [
        f"{r.code} {r.label!r} ({'productive' if r.productive else 'not productive'})"
        for r in settings.reasons.reasons
    ]
    lines.append(f"away reasons: {', '.join(reasons) or 'none (away without a reason only)'}")
    return lines


def routing_warnings(settings: HubSettings) -> list[str]:
    """What is valid but probably not meant: a channel no queue serves."""
    served = {ch for q in settings.queues for ch in q.channels}
    return [
        f"no queue serves {channel}; its contacts go to the default queue"
        for channel in sorted(set(CHANNELS) - served)
    ]


Routing = tuple[tuple[QueueSettings, ...], tuple[RoutingRule, ...], RuleTarget | None]


@dataclass(frozen=True)
class Verdict:
    """check-config's verdict on the routing files, beside what the hub runs."""

    status: Status
    summary: str
    config_dir: str
    loaded_at_ms: int | None
    problem: str | None
    warnings: tuple[str, ...]


def verdict(live: HubSettings, loaded_at_ms: int | None, on_disk: Routing | ConfigError) -> Verdict:
    """The verdict for the running settings `live` and the routing files read now
    (`on_disk`: what they hold, or their first problem). Pure."""
    problem = None
    if isinstance(on_disk, ConfigError):
        status: Status = "invalid"
        problem = on_disk.message
        summary = (
            "the routing files have an error, so they were not loaded: the hub carries on"
            " with the configuration it loaded before"
        )
    elif on_disk != (live.queues, live.rules, live.default_route):
        status = "changed"
        summary = (
            "loaded and valid; the files have valid changes not in use yet (a reload takes"
            " them up, unless it would remove a queue still holding contacts)"
        )
    else:
        status = "valid"
        summary = "loaded and valid"
    return Verdict(
        status=status,
        summary=summary,
        config_dir=str(live.config_dir),
        loaded_at_ms=loaded_at_ms,
        problem=problem,
        warnings=tuple(routing_warnings(live)),
    )


def read_routing(config_dir: Path) -> Routing | ConfigError:
    """The routing files as check-config loads them now, or their first problem."""
    try:
        return load_routing(config_dir)
    except ConfigError as exc:
        return exc
