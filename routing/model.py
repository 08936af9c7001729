"""What routing decides on: agents, waiting contacts and queue policies; and its commands.

Plain frozen values, no I/O. The store builds them from Redis, the tests from events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from routing.expr import AgentFacts, Expr, HasSkill

CHANNELS = ("voice", "chat", "sms", "whatsapp", "email")
DEFAULT_CAPACITY: Mapping[str, int] = {"voice": 1, "chat": 3, "sms": 5, "whatsapp": 5, "email": 5}
STRATEGIES = (
    "longest-idle",
    "least-occupied",
    "most-skilled",
    "round-robin",
    "sticky",
    "broadcast",
)
ON_AGENT_LOST = ("requeue-front", "requeue", "keep")

# Queue ordering packs (priority, arrival) into one sorted-set score: smaller is served first.
# Without aging, priority is strict: 2**42 ms reaches the year 2109, and 11 bits of priority
# keep the score within the 53 bits a double holds exactly. With aging, a contact gains one
# priority point per `aging_ms` waited, which orders exactly like `arrival - priority * aging_ms`
# (the current time is common to all), so the score stays static.
MAX_PRIORITY = 2047
_ARRIVAL_SPAN = 2**42


def queue_score(priority: int, enqueued_at_ms: int, aging_ms: int | None = None) -> int:
    """Sorted-set score of a waiting contact in its queue: smaller is served first."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be within 0..{MAX_PRIORITY}")
    if aging_ms:
        return enqueued_at_ms - priority * aging_ms
    return (MAX_PRIORITY - priority) * _ARRIVAL_SPAN + enqueued_at_ms


@dataclass(frozen=True)
class EscalationStep:
    """From `after_ms` of waiting on: another eligibility expression, any language, and agents
    of the `overflow` queues may take the contact too. Steps add up in order."""

    after_ms: int
    eligibility: Expr | None = None
    any_language: bool = False
    overflow: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuePolicy:
    """What routing needs to know of a queue.

    `skill` is the plain form of eligibility ("has this skill"); `eligibility`, when given,
    replaces it. `aging_ms` is the wait worth one priority point (None: strict priority);
    `weight` scales the queue's priority against other queues an agent serves; `sticky_ms`
    is how long a contact waits for its preferred agent under the sticky strategy.
    """

    name: str
    skill: str | None
    offer_timeout_ms: int
    eligibility: Expr | None = None
    strategy: str = "longest-idle"
    aging_ms: int | None = None
    weight: float = 1.0
    sticky_ms: int = 0
    escalation: tuple[EscalationStep, ...] = ()
    max_misses: int = 3
    wrapup_ms: int | None = None
    # The longest a wrap-up may last when the queue sets no `wrapup_ms`: then it is closed
    # without a disposition, so that no one keeps capacity tied up forever (docs/routing.md).
    max_wrapup_ms: int = 900_000
    on_agent_lost: str = "requeue-front"  # or "requeue", or "keep"
    broadcast_n: int = 3  # agents offered a contact at once under the broadcast strategy
    max_wait_ms: int | None = None
    overflow_queue: str | None = None  # where a contact goes after max_wait_ms

    @property
    def base_eligibility(self) -> Expr:
        if self.eligibility is not None:
            return self.eligibility
        if self.skill is None:
            raise ValueError(f"queue {self.name} has neither skill nor eligibility")
        return HasSkill(self.skill)

    def step_at(self, waited_ms: int) -> int:
        """Escalation step reached after `waited_ms` (0: none yet)."""
        step = 0
        for i, s in enumerate(self.escalation, start=1):
            if waited_ms >= s.after_ms:
                step = i
        return step


@dataclass(frozen=True)
class AgentView:
    """An agent as routing sees it.

    `capacity` and `load` are per channel (load counts offers, conversations and wrap-ups).
    `idle_since_ms` is when the agent last had nothing on hand (or went available);
    `last_offer_ms` when work last reached them; `console_seen_ms` when a console of theirs
    was last known to be connected (0: unknown); `console_left_ms` when their last console on
    some hub process closed (a later `console_seen_ms` says another one is still there);
    `reason` goes with `state` (an away reason, or "no-console" once routing set them
    offline for want of a console). `next_state`, when not empty, is the state the agent
    asked for once their contacts are over (docs/states.md): nothing new is offered to them.
    """

    agent_id: str
    state: str
    skills: Mapping[str, int]
    capacity: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    load: Mapping[str, int] = field(default_factory=dict)
    last_offer_ms: int = 0
    idle_since_ms: int = 0
    console_seen_ms: int = 0
    console_left_ms: int = 0
    reason: str = ""
    languages: frozenset[str] = frozenset()
    voice_blocks_chat: bool = True
    misses: int = 0
    next_state: str = ""

    @property
    def total_load(self) -> int:
        return sum(self.load.values())

    @property
    def facts(self) -> AgentFacts:
        return AgentFacts(self.skills, self.languages)

    def room(self, channel: str) -> int:
        """How many more contacts of `channel` the agent can take now."""
        if self.state != "available" or self.next_state:
            return 0
        if channel != "voice" and self.voice_blocks_chat and self.load.get("voice", 0) > 0:
            return 0
        return max(0, self.capacity.get(channel, 0) - self.load.get(channel, 0))

    def with_load(self, channel: str, delta: int) -> AgentView:
        load = dict(self.load)
        load[channel] = max(0, load.get(channel, 0) + delta)
        return replace(self, load=load)


@dataclass(frozen=True)
class ContactView:
    """A contact as routing sees it; `state` is queued, offered, assigned or wrapup."""

    contact_id: str
    queue: str
    priority: int
    enqueued_at_ms: int
    channel: str = "chat"
    state: str = "queued"
    agent_id: str | None = None
    deadline_ms: int | None = None
    declined_by: frozenset[str] = frozenset()
    required_skills: frozenset[str] = frozenset()
    language: str | None = None
    preferred_agent_id: str | None = None
    escalation_step: int = 0
    ended_at_ms: int | None = None
    # Under the broadcast strategy: the agents offered the contact at once (agent_id is None).
    offered_to: frozenset[str] = frozenset()
    # When a customer's live page (web chat) was last known to follow the contact; 0 for
    # channels without one (a phone call, an SMS thread, an email), which are never ghosts.
    customer_seen_ms: int = 0


@dataclass(frozen=True)
class OfferContact:
    """Command: offer `contact_id` to `agent_id` until `deadline_ms`; `reason` explains why."""

    contact_id: str
    agent_id: str
    queue: str
    deadline_ms: int
    reason: Mapping[str, object]
    channel: str = "chat"


@dataclass(frozen=True)
class BroadcastContact:
    """Command: offer `contact_id` to all of `agent_ids` until `deadline_ms`; the first to
    accept wins and the others' offers are withdrawn."""

    contact_id: str
    agent_ids: tuple[str, ...]
    queue: str
    deadline_ms: int
    reason: Mapping[str, object]
    channel: str = "chat"


@dataclass(frozen=True)
class ExpireOffer:
    """Command: take back an unanswered offer; the contact keeps its place in the queue."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True)
class EscalateContact:
    """Command: record that the contact reached escalation `step` of its queue."""

    contact_id: str
    queue: str
    step: int


@dataclass(frozen=True)
class OverflowContact:
    """Command: the contact waited its queue's maximum; move it to the overflow queue,
    keeping its arrival time."""

    contact_id: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True)
class CompleteWrapUp:
    """Command: the queue's wrap-up time is over; close the contact without a disposition."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True)
class SetAgentOffline:
    """Command: the agent has had no console for the grace period; set them offline and give
    back the work they hold (their queue's `on_agent_lost`), whatever state they were in."""

    agent_id: str


@dataclass(frozen=True)
class AbandonContact:
    """Command: the customer of a waiting contact left (no live page of theirs for the grace
    period): the contact is abandoned with `reason`, and an offer of it withdrawn."""

    contact_id: str
    queue: str
    reason: str = "customer-left"


@dataclass(frozen=True)
class Liveness:
    """How routing treats agents whose consoles went silent: after `console_timeout_ms`
    without a sign of a console they get no new offers; after `offline_after_ms` they are set
    offline."""

    console_timeout_ms: int
    offline_after_ms: int
    # A waiting web chat whose customer's page has been gone this long is abandoned (None:
    # never). Silence is counted from `since_ms` at the earliest (when this process started),
    # so that customers get the grace period to reconnect after an outage of every hub.
    customer_grace_ms: int | None = None
    since_ms: int = 0


Decision = (
    OfferContact
    | BroadcastContact
    | ExpireOffer
    | EscalateContact
    | OverflowContact
    | CompleteWrapUp
    | SetAgentOffline
    | AbandonContact
)
