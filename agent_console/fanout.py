"""Who hears about an event, and what they are told: a pure mapping from events to frames.

`deliveries(event)` lists, for one event, the audiences (an agent's consoles, a contact's
customer chat, every supervisor) and the frame each gets. Some frames need data from the
stores (the customer behind an offer, a transcript, an agent's name); they are marked with
`enrich`, and the connection hub fills them in before sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contactcenter import events as ev

Audience = Literal["agent", "contact", "supervisors"]
Enrich = Literal["offer", "assigned", "agent_joined"]


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


def deliveries(event: ev.Event, holders: frozenset[str] = frozenset()) -> list[Delivery]:
    """The frames `event` causes. `holders` are the agents known to hold its contact (for
    events, such as a customer's message, that do not name the agent)."""
    out: list[Delivery] = [Delivery("supervisors", "", {"type": "event", "event": _public(event)})]
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
        case _:
            pass
    return out


def _public(event: ev.Event) -> dict[str, Any]:
    """The event for supervisors' eyes: everything but message bodies."""
    body = ev.event_as_json(event)
    if "body" in body:
        body["body"] = None
    return body
