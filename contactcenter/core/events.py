"""Events: facts in the past tense, one stream, one codec.

Every state change of a contact or an agent is an event on the hub's Redis stream. Routing
events are appended by the same Lua script that makes the change, so a change and its event
are one atomic step; the others are appended by the code that made the change after it is
durable in PostgreSQL. Consumers (consoles, the history writer, metrics) are idempotent on
`event_id`, because delivery is at least once.

Stream entries hold four fields: `id` (the event id), `type` (the class name), `at_ms` and
`data` (the remaining fields as JSON).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: a unique id and when it happened (epoch milliseconds)."""

    event_id: str = field(default_factory=new_event_id)
    at_ms: int
    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event.registry[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class ContactArrived(Event):
    """A customer started a contact on a channel; it is identified and about to be queued."""

    contact_id: str
    customer_id: str
    channel: str
    queue: str
    customer_name: str


@dataclass(frozen=True, kw_only=True)
class ContactQueued(Event):
    """The contact waits in `queue`; `enqueued_at_ms` fixes its place."""

    contact_id: str
    queue: str
    channel: str
    priority: int
    enqueued_at_ms: int
    required_skills: list[str] = field(default_factory=list)
    language: str | None = None
    preferred_agent_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContactOffered(Event):
    """An agent was offered the contact until `deadline_ms` (a lease); `reason` says why them."""

    contact_id: str
    agent_id: str
    queue: str
    deadline_ms: int
    reason: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ContactBroadcast(Event):
    """The contact was offered to all of `agent_ids` at once until `deadline_ms`; the first
    to accept wins (the broadcast strategy)."""

    contact_id: str
    agent_ids: list[str]
    queue: str
    deadline_ms: int
    reason: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class BroadcastEnded(Event):
    """Nobody accepted a broadcast offer in time (`why` "expired"; the contact is back in its
    queue) or the customer left (`why` "abandoned"); every agent in `released` is free of it."""

    contact_id: str
    queue: str
    released: list[str]
    why: str


@dataclass(frozen=True, kw_only=True)
class OfferAccepted(Event):
    """The agent took the contact; for a broadcast offer, `released` lost the race."""

    contact_id: str
    agent_id: str
    queue: str
    released: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OfferRejected(Event):
    """The agent declined; the contact is back in its queue at its old place."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, kw_only=True)
class OfferExpired(Event):
    """The lease ran out unanswered; the contact is back in its queue at its old place."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, kw_only=True)
class OfferWithdrawn(Event):
    """The hub took the offer back because its agent went offline; not the agent's miss.
    The contact is back in its queue at its old place."""

    contact_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, kw_only=True)
class MessageSent(Event):
    """A message of a conversation, stored in PostgreSQL before this event was appended."""

    contact_id: str
    message_id: str
    sender: str  # "customer" or "agent"
    agent_id: str | None
    body: str
    client_msg_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageStatusChanged(Event):
    """A channel reported news of a message it carries (Twilio's delivery status: queued,
    sent, delivered, undelivered, failed, read), moving it forward only."""

    contact_id: str
    message_id: str
    status: str
    error_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContactAbandoned(Event):
    """The customer left before an agent accepted; a pending offer (to `agent_id`) is void.
    `reason` "customer-left": their page went away without a word and did not come back
    within the grace period (None: they said so, or their call ended)."""

    contact_id: str
    queue: str
    agent_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationEnded(Event):
    """The conversation is over; the agent is now in wrap-up for it."""

    contact_id: str
    agent_id: str
    queue: str
    ended_by: str  # "agent" or "customer"


@dataclass(frozen=True, kw_only=True)
class WrapUpCompleted(Event):
    """The agent finished the contact's wrap-up; the capacity it held is free."""

    contact_id: str
    agent_id: str
    queue: str
    disposition: str | None
    notes: str


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(Event):
    """The agent's presence changed; `reason` says why when the hub changed it, or is the
    away reason code the agent chose (config/reasons.toml). `productive` says whether time
    in this state counts as productive (docs/states.md); None when the hub set it."""

    agent_id: str
    state: str  # "offline", "available" or "away"
    reason: str | None = None
    productive: bool | None = None


@dataclass(frozen=True, kw_only=True)
class AgentNextStateScheduled(Event):
    """The agent asked for `state` ("away" with `reason`, or "offline") to take effect once
    the contacts they hold are over; meanwhile routing offers them nothing new."""

    agent_id: str
    state: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentNextStateApplied(Event):
    """The agent's last contact closed and their next state took effect (the
    `AgentStateChanged` appended just before it carries the change itself)."""

    agent_id: str
    state: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentNextStateCancelled(Event):
    """The agent's next state will not happen: they took it back (`why` "cancelled"), or a
    state was set at once meanwhile (`why` "state-chosen")."""

    agent_id: str
    why: str


@dataclass(frozen=True, kw_only=True)
class AgentProfileChanged(Event):
    """What routing knows of an agent changed: skills and levels, capacity per channel,
    languages, and whether a voice call blocks new text contacts."""

    agent_id: str
    skills: dict[str, int]
    capacity: dict[str, int]
    languages: list[str]
    voice_blocks_chat: bool = True


@dataclass(frozen=True, kw_only=True)
class ContactTransferred(Event):
    """An agent handed the contact on: to a queue (where it waits again, its arrival time
    kept), or to a named agent (who is offered it; should they not take it, it goes back to
    its queue)."""

    contact_id: str
    from_agent_id: str
    from_queue: str
    to_queue: str
    to_agent_id: str | None = None
    reason: str | None = None  # "agent-offline" when the hub moved it


@dataclass(frozen=True, kw_only=True)
class ContactReprioritized(Event):
    """A supervisor (or a rule) changed a waiting contact's priority."""

    contact_id: str
    queue: str
    priority: int


@dataclass(frozen=True, kw_only=True)
class ContactRestored(Event):
    """Redis lost a contact an agent holds; it was rebuilt from the record as it stood."""

    contact_id: str
    queue: str
    channel: str
    agent_id: str
    state: str  # "assigned" or "wrapup"
    priority: int
    enqueued_at_ms: int


@dataclass(frozen=True, kw_only=True)
class ContactOverflowed(Event):
    """The contact waited its queue's maximum and moved to the overflow queue, its arrival
    time kept."""

    contact_id: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True, kw_only=True)
class ContactEscalated(Event):
    """The contact waited long enough to reach escalation `step` of its queue."""

    contact_id: str
    queue: str
    step: int


@dataclass(frozen=True, kw_only=True)
class LoginThrottled(Event):
    """Failed logins made an account (`scope` "account": `agent_id`, `username`) or a client
    address (`scope` "address": `address`) wait `retry_after_s` before its next attempt;
    `failures` counts them since the last success. Never carries a password."""

    scope: str
    failures: int
    retry_after_s: int
    agent_id: str | None = None
    username: str | None = None
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionEnded(Event):
    """The login session whose token hashes to `token_hash` (SHA-256, as stored) ended
    (`why`: "logout"); every hub process closes that session's consoles. The hash is not a
    credential: a session is proven with the token itself."""

    agent_id: str
    token_hash: str
    why: str = "logout"


@dataclass(frozen=True, kw_only=True)
class AgentAccountChanged(Event):
    """An administrator changed an agent's account (docs/admin.md): `change` is "created",
    "updated", "deactivated", "reactivated" or "password_set"; `fields` names what an update
    changed. The values are in the audit log, not here; routing learns a new profile from the
    AgentProfileChanged that follows."""

    agent_id: str
    change: str
    by_agent_id: str | None = None
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TeamChanged(Event):
    """An administrator created, renamed or deleted a team, or changed its members,
    supervisors or queues (`change` says which)."""

    team_id: str
    change: str
    by_agent_id: str | None = None


_DATA_FIELDS: dict[type[Event], frozenset[str]] = {}


def _data_fields(cls: type[Event]) -> frozenset[str]:
    """The fields of an event class carried in the stream entry's `data`."""
    names = _DATA_FIELDS.get(cls)
    if names is None:
        names = _DATA_FIELDS[cls] = frozenset(f.name for f in fields(cls)) - {"event_id", "at_ms"}
    return names


def encode_event(event: Event) -> dict[str, str]:
    """The stream fields of `event`."""
    # Event fields hold JSON values (str, int, lists, dicts), never nested dataclasses, so
    # reading them is enough: asdict's deep copy was a tenth of a routing pass's time.
    data = {name: getattr(event, name) for name in _data_fields(type(event))}
    return {
        "id": event.event_id,
        "type": event.type,
        "at_ms": str(event.at_ms),
        "data": json.dumps(data, separators=(",", ":"), sort_keys=True),
    }


class UnknownEvent(ValueError):
    pass


def decode_event(entry: dict[str, str]) -> Event:
    """The event held by the stream fields `entry`; `UnknownEvent` for a type we do not know."""
    cls = Event.registry.get(entry.get("type", ""))
    if cls is None:
        raise UnknownEvent(entry.get("type"))
    data = json.loads(entry["data"])
    names = _data_fields(cls)
    return cls(
        event_id=entry["id"],
        at_ms=int(entry["at_ms"]),
        **{k: v for k, v in data.items() if k in names},
    )


def event_as_json(event: Event) -> dict[str, Any]:
    """The event as a plain JSON object, for consoles and the history table."""
    body = {name: getattr(event, name) for name in _data_fields(type(event))}
    body.update(event_id=event.event_id, at_ms=event.at_ms, type=event.type)
    return body
