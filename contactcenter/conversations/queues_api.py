"""Queues as a resource for supervisors and admins: `GET /api/queues` and
`GET /api/queues/{name}` (docs/admin.md, "Queues").

Each queue comes with its configuration as the hub runs it now (config/queues.toml, reloaded
live; read-only here: the files stay the source of truth) and its live state read from the
routing store: contacts waiting and being offered, the oldest wait, and the agents who could
take its contacts, of whom how many are logged in and how many available with room.

A supervisor sees the queues of the teams they supervise, an admin every queue
(contactcenter/agents/scope.py); any other queue is as unknown as one that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field

from contactcenter.agents.scope import scope_of
from contactcenter.conversations.appkeys import SERVICE
from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import NotFound
from contactcenter.settings.routing import QueueSettings
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.schemas import Strict
from routing.hours import WEEKDAYS, BusinessHours, is_open
from routing.model import AgentView
from routing.state import RoutingState

# Waiting contacts read per queue to find the oldest wait: the whole queue up to this many
# (one script call reads them, and Redis serves nobody else meanwhile).
MAX_READ_PER_QUEUE = 10_000
_UNANSWERED = ("queued", "offered")


class QueueNotFound(NotFound):
    """No queue of that name, or none the caller may see (the same answer on purpose)."""

    error_id = "queues.not_found"


# --- answers ---------------------------------------------------------------------------------


class EscalationOut(Strict):
    after_s: float
    eligibility: str | None
    any_language: bool
    overflow: list[str]


class HoursOut(Strict):
    timezone: str
    weekly: dict[str, list[str]] = Field(description='weekday (mon..sun): ["09:00-18:00", ...]')
    holidays: list[str] = Field(description="ISO dates, closed all day")
    when_closed: Literal["refuse", "queue"]
    closed_message: str


class QueueConfigOut(Strict):
    """The queue's settings as config/queues.toml gives them (docs/routing.md)."""

    channels: list[str]
    skill: str | None
    eligibility: str | None
    strategy: str
    priority: int
    aging_s: float | None
    weight: float
    sticky_s: float
    broadcast_n: int
    offer_timeout_s: float
    max_misses: int
    dispositions: list[str]
    disposition_required: bool
    wrapup_s: float | None
    max_wrapup_s: float
    max_length: int
    on_agent_lost: str
    service_level_s: dict[str, float] = Field(description="target answer time per channel")
    max_wait_s: float | None
    overflow_queue: str | None
    escalation: list[EscalationOut]
    hours: HoursOut | None = Field(description="null: always open")


class AgentCounts(Strict):
    eligible: int = Field(description="agents whose skills and languages the queue admits")
    logged_in: int = Field(description="of those, not offline")
    available: int = Field(description="of those, available with room on a queue's channel")


class QueueLiveOut(Strict):
    at_ms: int = Field(description="when the live state was read")
    open: bool = Field(description="within business hours (always, without hours)")
    waiting: int = Field(description="contacts in the queue, not offered to anyone")
    offered: int = Field(description="contacts being offered to an agent now")
    oldest_wait_s: float | None = Field(
        description="the longest an unanswered contact (waiting or offered) has waited since"
        " it arrived; null when there is none"
    )
    agents: AgentCounts


class QueueOut(Strict):
    name: str
    config: QueueConfigOut
    live: QueueLiveOut


class QueueList(Strict):
    queues: list[QueueOut] = Field(description="in configuration order")


# --- configuration and live state, as the wire shows them ------------------------------------


def _minutes(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def hours_wire(hours: BusinessHours, q: QueueSettings) -> dict[str, Any]:
    return {
        "timezone": hours.timezone,
        "weekly": {
            WEEKDAYS[day]: [f"{_minutes(lo)}-{_minutes(hi)}" for lo, hi in ranges]
            for day, ranges in sorted(hours.weekly.items())
        },
        "holidays": sorted(d.isoformat() for d in hours.holidays),
        "when_closed": q.when_closed,
        "closed_message": q.closed_message,
    }


def config_wire(q: QueueSettings) -> dict[str, Any]:
    """What an operator reads of a queue's settings (the routing core's policy is made of
    the same values)."""
    return {
        "channels": list(q.channels),
        "skill": q.skill,
        "eligibility": q.eligibility,
        "strategy": q.strategy,
        "priority": q.priority,
        "aging_s": q.aging_s,
        "weight": q.weight,
        "sticky_s": q.sticky_s,
        "broadcast_n": q.broadcast_n,
        "offer_timeout_s": q.offer_timeout_s,
        "max_misses": q.max_misses,
        "dispositions": list(q.dispositions),
        "disposition_required": q.disposition_required,
        "wrapup_s": q.wrapup_s,
        "max_wrapup_s": q.max_wrapup_s,
        "max_length": q.max_length,
        "on_agent_lost": q.on_agent_lost,
        "service_level_s": dict(q.service_level_s),
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
        "hours": None if q.hours is None else hours_wire(q.hours, q),
    }


def agent_counts(q: QueueSettings, agents: list[AgentView]) -> dict[str, int]:
    """Agents the queue's own eligibility admits (its skill or expression, before any
    escalation step widens it); of those, who is logged in and who could take a contact
    of one of its channels now."""
    rule = q.policy().base_eligibility
    eligible = [a for a in agents if rule.matches(a.facts)]
    return {
        "eligible": len(eligible),
        "logged_in": sum(1 for a in eligible if a.state != "offline"),
        "available": sum(1 for a in eligible if any(a.room(ch) > 0 for ch in q.channels)),
    }


def live_wire(q: QueueSettings, state: RoutingState, waiting: int, now_ms: int) -> dict[str, Any]:
    """The queue's live state from one read of the routing store (pure)."""
    unanswered = [
        c for c in state.contacts.values() if c.queue == q.name and c.state in _UNANSWERED
    ]
    oldest = min((c.enqueued_at_ms for c in unanswered), default=None)
    return {
        "at_ms": now_ms,
        "open": q.hours is None or is_open(q.hours, now_ms),
        "waiting": waiting,
        "offered": sum(1 for c in unanswered if c.state == "offered"),
        "oldest_wait_s": None if oldest is None else max(0, now_ms - oldest) / 1000,
        "agents": agent_counts(q, list(state.agents.values())),
    }


# --- handlers --------------------------------------------------------------------------------


async def _visible(call: Call) -> list[QueueSettings]:
    """The configured queues (as reloaded) the caller may see, in configuration order."""
    queues = call.request.app[SERVICE].settings.queues
    scope = await scope_of(call.request.app[POOL], call.agent)
    return [q for q in queues if scope.sees_queue(q.name)]


async def _answer(call: Call, shown: list[QueueSettings]) -> list[dict[str, Any]]:
    if not shown:
        return []
    service = call.request.app[SERVICE]
    routing = service.routing
    # Every configured queue is read, as the routing worker reads them, so that the
    # snapshot's memo of parsed contacts stays one the worker's next pass can reuse.
    names = [q.name for q in service.settings.queues]
    lengths = dict(zip(names, await asyncio.gather(*map(routing.queue_length, names)), strict=True))
    head = min(max(max(lengths.values(), default=0), 1), MAX_READ_PER_QUEUE)
    state = await routing.snapshot(names, head=head)
    now_ms = service.clock()
    return [
        {
            "name": q.name,
            "config": config_wire(q),
            "live": live_wire(q, state, lengths.get(q.name, 0), now_ms),
        }
        for q in shown
    ]


async def list_queues(call: Call) -> Any:
    return {"queues": await _answer(call, await _visible(call))}


async def get_queue(call: Call) -> Any:
    name = call.path("name")
    found = [q for q in await _visible(call) if q.name == name]
    if not found:
        raise QueueNotFound("no such queue", name=name)
    return (await _answer(call, found))[0]


QUEUE_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/queues", "list_queues", "The queues the caller supervises, with"
              " their configuration and live state", "supervisor", "queues",
              answer=list_queues, response=QueueList),
    Operation("GET", "/api/queues/{name}", "get_queue", "One queue, with its configuration"
              " and live state", "supervisor", "queues", answer=get_queue, response=QueueOut,
              errors=(404,)),
)  # fmt: skip
