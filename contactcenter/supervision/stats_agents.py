"""The per-agent side of the live statistics fold (docs/supervisor.md): each agent's state,
what they hold, what they did today; and, per queue, how many of its eligible agents are in
each activity, kept as counters that move when one agent's activity changes. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contactcenter.measures.definitions import QueueTally
from routing.model import AgentView, QueuePolicy

AVAILABLE = "available"
BUSY = "busy"
WRAPUP = "wrapup"
AWAY = "away"  # counted per reason as "away:<reason>"


def activity(state: str, reason: str, talking: int, wrapping: int) -> str | None:
    """What an agent is doing, for the queue counts: None when offline (not staffed); busy
    with a conversation in hand; in wrap-up with only wrap-ups in hand; else away (by
    reason) or available. A pending offer changes nothing: it lasts seconds."""
    if state == "offline":
        return None
    if talking > 0:
        return BUSY
    if wrapping > 0:
        return WRAPUP
    if state == AWAY:
        return f"{AWAY}:{reason}"
    return AVAILABLE


@dataclass
class AgentLine:
    """One agent as the statistics know them."""

    agent_id: str
    state: str = "offline"
    reason: str = ""
    state_since_ms: int = 0
    last_login_ms: int | None = None
    last_logout_ms: int | None = None
    capacity: dict[str, int] = field(default_factory=dict)
    in_hand: dict[str, int] = field(default_factory=dict)  # per channel: talking + wrap-up
    talking: int = 0
    wrapping: int = 0
    queues: frozenset[str] = frozenset()  # queues whose base eligibility they meet
    counted_as: str | None = None  # their activity as the queue counters hold it
    day_start_ms: int = 0
    handled: QueueTally = field(default_factory=lambda: QueueTally(0))
    missed_offers: int = 0

    def today(self, day_start_ms: int) -> None:
        """Start today's sums afresh once the day changed (lazily, on the next touch)."""
        if self.day_start_ms != day_start_ms:
            self.day_start_ms = day_start_ms
            self.handled = QueueTally(0)
            self.missed_offers = 0


def eligible_queues(
    agent_id: str,
    skills: Mapping[str, int],
    languages: Iterable[str],
    policies: Mapping[str, QueuePolicy],
) -> frozenset[str]:
    """The queues whose base eligibility (escalation steps aside) the agent meets: work in the
    number of queues, done when a profile changes, never per contact."""
    facts = AgentView(agent_id, "offline", dict(skills), languages=frozenset(languages)).facts
    out = set()
    for name, policy in policies.items():
        try:
            expr = policy.base_eligibility
        except ValueError:
            continue
        if expr.matches(facts):
            out.add(name)
    return frozenset(out)


class AgentCounts:
    """Per queue: how many of its eligible agents are in each activity."""

    def __init__(self) -> None:
        self.by_queue: dict[str, dict[str, int]] = {}

    def move(self, queues: Iterable[str], old: str | None, new: str | None) -> None:
        for queue in queues:
            counts = self.by_queue.setdefault(queue, {})
            if old is not None:
                left = counts.get(old, 0) - 1
                if left > 0:
                    counts[old] = left
                else:
                    counts.pop(old, None)
            if new is not None:
                counts[new] = counts.get(new, 0) + 1

    def of(self, queue: str) -> dict[str, int]:
        """`staffed`, `available`, `busy`, `wrapup` and `away:<reason>` for each reason."""
        counts = self.by_queue.get(queue, {})
        out = {AVAILABLE: 0, BUSY: 0, WRAPUP: 0, **counts}
        out["staffed"] = sum(counts.values())
        return out


@dataclass(frozen=True)
class AgentFigures:
    """One agent at one moment."""

    agent_id: str
    state: str
    reason: str
    activity: str | None
    time_in_state_ms: int
    last_state_change_ms: int
    last_login_ms: int | None
    in_hand: dict[str, int]
    capacity: dict[str, int]
    handled_today: int
    average_handle_time_ms: float | None
    missed_offers_today: int


def read_agent(line: AgentLine, now_ms: int, day_start_ms: int) -> AgentFigures:
    today = line.day_start_ms == day_start_ms
    return AgentFigures(
        agent_id=line.agent_id,
        state=line.state,
        reason=line.reason,
        activity=line.counted_as,
        time_in_state_ms=max(0, now_ms - line.state_since_ms),
        last_state_change_ms=line.state_since_ms,
        last_login_ms=line.last_login_ms,
        in_hand={k: v for k, v in line.in_hand.items() if v},
        capacity=dict(line.capacity),
        handled_today=line.handled.handled if today else 0,
        average_handle_time_ms=line.handled.average_handle_time_ms if today else None,
        missed_offers_today=line.missed_offers if today else 0,
    )
