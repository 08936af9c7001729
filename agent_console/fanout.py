"""Who hears about an event, and what they are told: a pure mapping from events to frames.

`deliveries(event)` lists, for one event, the audiences (an agent's consoles, a contact's
customer chat, every supervisor) and the frame each gets. Some frames need data from the
stores (the customer behind an offer, a transcript, an agent's name); they are marked with
`enrich`, and the connection hub fills them in before sending.

CRM events (`contactcenter.crm.events`) name a customer, not a contact: they go, as a
`customer_changed` frame, to the agents holding a contact of that customer and to every
supervisor. `CustomerIndex` is what tells the hub which customer each contact belongs to.

Typing and read signals are not events (they are never stored): `live_signal` makes one and
`live_deliveries` says who hears of it, the other side of its conversation only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contactcenter.core import events as ev
from contactcenter.crm import events as ce

Audience = Literal["agent", "contact", "supervisors"]
Enrich = Literal["offer", "assigned", "agent_joined", "customer"]


@dataclass(frozen=True)
class Delivery:
    audience: Audience
    audience_id: str
    frame: dict[str, Any]
    enrich: Enrich | None = None
    # The agent's set of contacts changes with this delivery: +contact_id or -contact_id.
    holds: str | None = None
    releases: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # For supervisors' event log: the agents and queues the event concerns. A supervisor
    # whose scope is their teams sees it when it names one of theirs (None: everyone sees it).
    concerns: tuple[frozenset[str], frozenset[str]] | None = None


def deliveries(event: ev.Event, holders: frozenset[str] = frozenset()) -> list[Delivery]:
    """The frames `event` causes. `holders` are the agents known to hold its contact (for
    events, such as a customer's message, that do not name the agent)."""
    out: list[Delivery] = [
        Delivery(
            "supervisors", "", {"type": "event", "event": _public(event)}, concerns=_concerns(event)
        )
    ]
    match event:
        case ev.ContactOffered():
            out.append(
                Delivery(
                    "agent",
                    event.agent_id,
                    {"type": "offer", "deadline_ms": event.deadline_ms, "reason": event.reason},
                    enrich="offer",
                    holds=event.contact_id,
                    extra={"contact_id": event.contact_id},
                )
            )
        case ev.ContactBroadcast():
            for agent_id in event.agent_ids:
                out.append(
                    Delivery(
                        "agent",
                        agent_id,
                        {"type": "offer", "deadline_ms": event.deadline_ms, "reason": event.reason},
                        enrich="offer",
                        holds=event.contact_id,
                        extra={"contact_id": event.contact_id},
                    )
                )
        case ev.BroadcastEnded():
            for agent_id in event.released:
                out.append(
                    Delivery(
                        "agent",
                        agent_id,
                        {
                            "type": "offer_withdrawn",
                            "contact_id": event.contact_id,
                            "why": event.why,
                        },
                        releases=event.contact_id,
                    )
                )
            if event.why == "abandoned":
                out.append(
                    Delivery(
                        "contact",
                        event.contact_id,
                        {"type": "ended", "contact_id": event.contact_id, "ended_by": "customer"},
                    )
                )
        case ev.OfferAccepted():
            for agent_id in event.released:
                out.append(
                    Delivery(
                        "agent",
                        agent_id,
                        {"type": "offer_withdrawn", "contact_id": event.contact_id, "why": "taken"},
                        releases=event.contact_id,
                    )
                )
            out.append(
                Delivery(
                    "agent",
                    event.agent_id,
                    {"type": "assigned"},
                    enrich="assigned",
                    extra={"contact_id": event.contact_id},
                )
            )
            out.append(
                Delivery(
                    "contact",
                    event.contact_id,
                    {"type": "agent_joined", "contact_id": event.contact_id},
                    enrich="agent_joined",
                    extra={"agent_id": event.agent_id},
                )
            )
        case ev.OfferRejected() | ev.OfferExpired() | ev.OfferWithdrawn():
            why = {
                ev.OfferExpired: "expired",
                ev.OfferRejected: "rejected",
                ev.OfferWithdrawn: "withdrawn",
            }[type(event)]
            out.append(
                Delivery(
                    "agent",
                    event.agent_id,
                    {"type": "offer_withdrawn", "contact_id": event.contact_id, "why": why},
                    releases=event.contact_id,
                )
            )
        case ev.ContactAbandoned():
            if event.agent_id:
                out.append(
                    Delivery(
                        "agent",
                        event.agent_id,
                        {
                            "type": "offer_withdrawn",
                            "contact_id": event.contact_id,
                            "why": "abandoned",
                        },
                        releases=event.contact_id,
                    )
                )
            out.append(
                Delivery(
                    "contact",
                    event.contact_id,
                    {"type": "ended", "contact_id": event.contact_id, "ended_by": "customer"},
                )
            )
        case ev.MessageSent():
            frame = {
                "type": "message",
                "contact_id": event.contact_id,
                "message": {
                    "message_id": event.message_id,
                    "sender": event.sender,
                    "body": event.body,
                    "at_ms": event.at_ms,
                    "client_msg_id": event.client_msg_id,
                },
            }
            for agent_id in sorted(holders | ({event.agent_id} if event.agent_id else set())):
                out.append(Delivery("agent", agent_id, frame))
            out.append(Delivery("contact", event.contact_id, frame))
        case ev.MessageStatusChanged():
            status: dict[str, Any] = {
                "type": "message_status",
                "contact_id": event.contact_id,
                "message_id": event.message_id,
                "status": event.status,
                "error_code": event.error_code,
            }
            for agent_id in sorted(holders):
                out.append(Delivery("agent", agent_id, status))
        case ev.ConversationEnded():
            frame = {
                "type": "conversation_ended",
                "contact_id": event.contact_id,
                "ended_by": event.ended_by,
            }
            out.append(Delivery("agent", event.agent_id, frame))
            out.append(
                Delivery(
                    "contact",
                    event.contact_id,
                    {"type": "ended", "contact_id": event.contact_id, "ended_by": event.ended_by},
                )
            )
        case ev.WrapUpCompleted():
            out.append(
                Delivery(
                    "agent",
                    event.agent_id,
                    {"type": "wrapup_done", "contact_id": event.contact_id},
                    releases=event.contact_id,
                )
            )
        case ev.ContactTransferred():
            out.append(
                Delivery(
                    "agent",
                    event.from_agent_id,
                    {
                        "type": "transferred",
                        "contact_id": event.contact_id,
                        "to_queue": event.to_queue,
                        "to_agent_id": event.to_agent_id,
                    },
                    releases=event.contact_id,
                )
            )
            out.append(
                Delivery(
                    "contact",
                    event.contact_id,
                    {"type": "transferring", "contact_id": event.contact_id},
                )
            )
        case ev.AgentStateChanged():
            out.append(
                Delivery(
                    "agent",
                    event.agent_id,
                    {"type": "state", "state": event.state, "reason": event.reason},
                )
            )
        case (
            ev.AgentNextStateScheduled() | ev.AgentNextStateApplied() | ev.AgentNextStateCancelled()
        ):
            out.append(Delivery("agent", event.agent_id, _next_state_frame(event)))
        case (
            ce.CustomerUpdated()
            | ce.CustomerNoteAdded()
            | ce.CustomerNoteDeleted()
            | ce.CustomerTagsChanged()
            | ce.CaseOpened()
            | ce.CaseUpdated()
            | ce.CustomersMerged()
            | ce.CustomersUnmerged()
        ):
            out.extend(_customer_changed(event, holders))
        case _:
            pass
    return out


def _next_state_frame(
    event: ev.AgentNextStateScheduled | ev.AgentNextStateApplied | ev.AgentNextStateCancelled,
) -> dict[str, Any]:
    """The agent's next state as it stands after `event`: `state` null when none waits,
    `why` saying what happened ("scheduled", "applied", "cancelled", "state-chosen")."""
    if isinstance(event, ev.AgentNextStateScheduled):
        return {
            "type": "next_state",
            "state": event.state,
            "reason": event.reason,
            "why": "scheduled",
        }
    why = "applied" if isinstance(event, ev.AgentNextStateApplied) else event.why
    return {"type": "next_state", "state": None, "reason": None, "why": why}


CrmEvent = (
    ce.CustomerUpdated
    | ce.CustomerNoteAdded
    | ce.CustomerNoteDeleted
    | ce.CustomerTagsChanged
    | ce.CaseOpened
    | ce.CaseUpdated
    | ce.CustomersMerged
    | ce.CustomersUnmerged
)
_ENVELOPE = frozenset(("event_id", "at_ms", "type", "customer_id", "agent_id"))


def _customer_changed(event: CrmEvent, holders: frozenset[str]) -> list[Delivery]:
    """One `customer_changed` frame, the same object for every audience (the hub sends it
    once per connection, and enriches it once), to the holders and to supervisors."""
    body = ev.event_as_json(event)
    frame = {
        "type": "customer_changed",
        "kind": event.type,
        "customer_id": event.customer_id,
        "event_id": event.event_id,
        "at_ms": event.at_ms,
        "agent_id": event.agent_id,
        "data": {k: v for k, v in body.items() if k not in _ENVELOPE},
    }
    extra = {"customer_id": event.customer_id}
    out = [Delivery("agent", a, frame, enrich="customer", extra=extra) for a in sorted(holders)]
    out.append(Delivery("supervisors", "", frame, enrich="customer", extra=extra))
    return out


def crm_customers(event: ev.Event) -> tuple[str, ...]:
    """The customers a CRM event concerns: its customer, and for a merge or an unmerge the
    merged one too. Empty for any other event."""
    match event:
        case ce.CustomersMerged() | ce.CustomersUnmerged():
            return (event.customer_id, event.merged_id)
        case (
            ce.CustomerUpdated()
            | ce.CustomerNoteAdded()
            | ce.CustomerNoteDeleted()
            | ce.CustomerTagsChanged()
            | ce.CaseOpened()
            | ce.CaseUpdated()
        ):
            return (event.customer_id,)
        case _:
            return ()


_AGENT_FIELDS = ("agent_id", "from_agent_id", "to_agent_id")
_QUEUE_FIELDS = ("queue", "from_queue", "to_queue")


def _concerns(event: ev.Event) -> tuple[frozenset[str], frozenset[str]]:
    """The agents and queues an event names (an event naming neither, a message say, is for
    supervisors who see everything)."""
    agents = {getattr(event, f) for f in _AGENT_FIELDS if getattr(event, f, None)}
    queues = {getattr(event, f) for f in _QUEUE_FIELDS if getattr(event, f, None)}
    return frozenset(agents), frozenset(queues)


def _public(event: ev.Event) -> dict[str, Any]:
    """The event for supervisors' eyes: everything but message bodies."""
    body = ev.event_as_json(event)
    if "body" in body:
        body["body"] = None
    return body
