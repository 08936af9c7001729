"""The routing core: a pure model of who waits and who can take work, and the decisions on it.

Nothing here performs I/O or reads the clock. The state is built either by folding events
(`RoutingState.apply`) or from a snapshot of the live store; `decide` takes the state and the
current time and returns the commands to carry out. The store's Lua scripts then make each
command atomic and may refuse it (the world moved on); the worker simply decides again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from contactcenter import events as ev

# Queue ordering packs (priority, arrival) into one sorted-set score: higher priority first,
# then oldest. 2**42 ms reaches the year 2109, and 11 bits of priority keep the score within
# the 53 bits a double holds exactly.
MAX_PRIORITY = 2047
_ARRIVAL_SPAN = 2**42


def queue_score(priority: int, enqueued_at_ms: int) -> int:
    """Sorted-set score of a waiting contact: smaller is served first."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be within 0..{MAX_PRIORITY}")
    return (MAX_PRIORITY - priority) * _ARRIVAL_SPAN + enqueued_at_ms


@dataclass(frozen=True)
class QueuePolicy:
    """What routing needs to know of a queue."""

    name: str
    skill: str
    offer_timeout_ms: int


@dataclass(frozen=True)
class AgentView:
    """An agent as routing sees it. `last_offer_ms` is when work last reached the agent
    (an offer, or going available), the measure of how long they have been idle."""

    agent_id: str
    state: str
    skills: Mapping[str, int]
    capacity: int
    load: int = 0
    last_offer_ms: int = 0
    # When a console of this agent was last known to be connected (epoch ms); 0 if unknown.
    console_seen_ms: int = 0

    @property
    def has_room(self) -> bool:
        return self.state == "available" and self.load < self.capacity


@dataclass(frozen=True)
class ContactView:
    """A contact as routing sees it; `state` is queued, offered, assigned or wrapup."""

    contact_id: str
    queue: str
    skill: str
    priority: int
    enqueued_at_ms: int
    state: str = "queued"
    agent_id: str | None = None
    deadline_ms: int | None = None
    declined_by: frozenset[str] = frozenset()

    @property
    def order(self) -> tuple[int, int, str]:
        return (-self.priority, self.enqueued_at_ms, self.contact_id)


@dataclass(frozen=True)
class OfferContact:
    """Command: offer `contact_id` to `agent_id` until `deadline_ms`; `reason` explains why."""

    contact_id: str
    agent_id: str
    queue: str
    deadline_ms: int
    reason: Mapping[str, object]


@dataclass(frozen=True)
class ExpireOffer:
    """Command: take back an unanswered offer; the contact keeps its place in the queue."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True)
class SetAgentOffline:
    """Command: the agent has had no console for the grace period; set them offline."""

    agent_id: str
    skills: Mapping[str, int]
    capacity: int


@dataclass(frozen=True)
class Liveness:
    """How routing treats agents whose consoles went silent: after `console_timeout_ms`
    without a sign of a console they get no new offers; after `offline_after_ms` they are set
    offline."""

    console_timeout_ms: int
    offline_after_ms: int


Decision = OfferContact | ExpireOffer | SetAgentOffline


@dataclass
class RoutingState:
    """Agents and live contacts of one routing domain. Closed contacts are dropped."""

    agents: dict[str, AgentView] = field(default_factory=dict)
    contacts: dict[str, ContactView] = field(default_factory=dict)

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the state; events that do not concern routing are ignored."""
        match event:
            case ev.AgentStateChanged():
                old = self.agents.get(event.agent_id)
                load = old.load if old else 0
                last = old.last_offer_ms if old else 0
                if event.state == "available" and (old is None or old.state != "available"):
                    last = event.at_ms
                self.agents[event.agent_id] = AgentView(
                    event.agent_id, event.state, dict(event.skills), event.capacity, load, last
                )
            case ev.ContactQueued():
                self.contacts[event.contact_id] = ContactView(
                    event.contact_id,
                    event.queue,
                    event.skill,
                    event.priority,
                    event.enqueued_at_ms,
                )
            case ev.ContactOffered():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(
                    c, state="offered", agent_id=event.agent_id, deadline_ms=event.deadline_ms
                )
                self._add_load(event.agent_id, +1, offered_at_ms=event.at_ms)
            case ev.OfferAccepted():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, state="assigned", deadline_ms=None)
            case ev.OfferRejected() | ev.OfferExpired():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(
                    c,
                    state="queued",
                    agent_id=None,
                    deadline_ms=None,
                    declined_by=c.declined_by | {event.agent_id},
                )
                self._add_load(event.agent_id, -1)
            case ev.ConversationEnded():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, state="wrapup")
            case ev.WrapUpCompleted():
                self.contacts.pop(event.contact_id, None)
                self._add_load(event.agent_id, -1)
            case ev.ContactAbandoned():
                gone = self.contacts.pop(event.contact_id, None)
                if gone is not None and gone.state == "offered" and gone.agent_id is not None:
                    self._add_load(gone.agent_id, -1)
            case _:
                pass

    def _add_load(self, agent_id: str, delta: int, offered_at_ms: int | None = None) -> None:
        a = self.agents.get(agent_id)
        if a is None:
            return
        last = a.last_offer_ms if offered_at_ms is None else offered_at_ms
        self.agents[agent_id] = replace(a, load=max(0, a.load + delta), last_offer_ms=last)


def _idle_order(agent: AgentView) -> tuple[int, int, str]:
    # Longest idle: an agent with nothing on hand goes before one with work, then the one
    # whose last offer is oldest; the id makes ties deterministic.
    return (agent.load, agent.last_offer_ms, agent.agent_id)


def _eligible(agents: Iterable[AgentView], contact: ContactView) -> list[AgentView]:
    return [a for a in agents if a.has_room and contact.skill in a.skills]


def _silent_agents(
    agents: dict[str, AgentView], liveness: Liveness, now_ms: int
) -> list[SetAgentOffline]:
    """Take agents without a live console out of this pass; those silent past the grace
    period are to be set offline."""
    offline: list[SetAgentOffline] = []
    for a in list(agents.values()):
        if a.state == "offline":
            continue
        silent_ms = now_ms - a.console_seen_ms
        if silent_ms > liveness.offline_after_ms:
            offline.append(SetAgentOffline(a.agent_id, a.skills, a.capacity))
        if silent_ms > liveness.console_timeout_ms:
            agents[a.agent_id] = replace(a, state="unreachable")
    return offline


def decide(
    state: RoutingState,
    queues: Mapping[str, QueuePolicy],
    now_ms: int,
    liveness: Liveness | None = None,
) -> list[Decision]:
    """The commands that bring `state` up to date at `now_ms`.

    Expired offers are taken back first (their contacts keep their place). Then waiting
    contacts, highest priority and oldest first across all queues, are each offered to the
    longest-idle eligible agent with room. An agent who already let this contact's offer go
    is passed over while anyone else is eligible, and asked again only when no one else is.
    With `liveness`, agents whose consoles have gone silent are offered nothing, and set
    offline once silent past the grace period.
    """
    decisions: list[Decision] = []
    agents = dict(state.agents)
    if liveness is not None:
        decisions.extend(_silent_agents(agents, liveness, now_ms))
    waiting: list[ContactView] = []
    for c in state.contacts.values():
        if c.state == "offered" and c.deadline_ms is not None and c.deadline_ms <= now_ms:
            assert c.agent_id is not None
            decisions.append(ExpireOffer(c.contact_id, c.agent_id, c.queue))
            a = agents.get(c.agent_id)
            if a is not None:
                agents[a.agent_id] = replace(a, load=max(0, a.load - 1))
            waiting.append(replace(c, declined_by=c.declined_by | {c.agent_id}))
        elif c.state == "queued":
            waiting.append(c)
    for contact in sorted(waiting, key=lambda c: c.order):
        policy = queues.get(contact.queue)
        if policy is None:
            continue
        eligible = _eligible(agents.values(), contact)
        fresh = [a for a in eligible if a.agent_id not in contact.declined_by]
        candidates = fresh or eligible
        if not candidates:
            continue
        chosen = min(candidates, key=_idle_order)
        decisions.append(
            OfferContact(
                contact.contact_id,
                chosen.agent_id,
                contact.queue,
                now_ms + policy.offer_timeout_ms,
                {
                    "strategy": "longest-idle",
                    "eligible": len(eligible),
                    "passed_over": sorted(contact.declined_by & {a.agent_id for a in eligible}),
                    "load": chosen.load,
                    "idle_ms": max(0, now_ms - chosen.last_offer_ms),
                },
            )
        )
        agents[chosen.agent_id] = replace(chosen, load=chosen.load + 1, last_offer_ms=now_ms)
    return decisions
