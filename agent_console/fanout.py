"""Who hears about an event, and what they are told: a pure mapping from events to frames.

`deliveries(event)` lists, for one event, the audiences (an agent's consoles, a contact's
customer chat, every supervisor) and the frame each gets. Some frames need data from the
stores (the customer behind an offer, a transcript, an agent's name); they are marked with
`enrich`, and the connection hub fills them in before sending.

CRM events (`contactcenter.crm_events`) name a customer, not a contact: they go, as a
`customer_changed` frame, to the agents holding a contact of that customer and to every
supervisor. `CustomerIndex` is what tells the hub which customer each contact belongs to.

Typing and read signals are not events (they are never stored): `live_signal` makes one and
`live_deliveries` says who hears of it, the other side of its conversation only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from contactcenter import crm_events as ce
from contactcenter import events as ev

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


def customer_holders(
    customer_ids: Iterable[str], index: CustomerIndex, holdings: Mapping[str, set[str]]
) -> frozenset[str]:
    """The agents in `holdings` (agent -> contacts held) holding a contact of any of
    `customer_ids`, by what `index` knows."""
    contacts: set[str] = set()
    for customer_id in customer_ids:
        contacts |= index.contacts_of(customer_id)
    if not contacts:
        return frozenset()
    return frozenset(a for a, held in holdings.items() if not contacts.isdisjoint(held))


class CustomerIndex:
    """Which customer each live contact belongs to, as far as this process has heard, and
    which customers were merged into which.

    Filled from `ContactArrived` and from the contact objects of `offer`, `assigned` and
    `snapshot` frames; a contact is forgotten when it is over (`WrapUpCompleted`,
    `ContactAbandoned`, an abandoned broadcast). A contact handed back to its queue (a
    rejected or expired offer, a transfer) is kept: it will be offered again. Both maps are
    bounded: past `max_contacts` (or `max_merges`) the entry learnt longest ago goes, so a
    missed end costs memory only up to the bound. A merge makes the merged customer's
    contacts the survivor's; undoing it gives back the contacts learnt under the merged id.
    """

    def __init__(self, *, max_contacts: int = 50_000, max_merges: int = 10_000) -> None:
        self.max_contacts = max_contacts
        self.max_merges = max_merges
        self._customer: OrderedDict[str, str] = OrderedDict()  # contact -> customer as learnt
        self._contacts: dict[str, set[str]] = {}  # customer as learnt -> contacts
        self._merged_into: OrderedDict[str, str] = OrderedDict()  # merged -> survivor
        self._merged: dict[str, set[str]] = {}  # survivor -> customers merged into it

    def __len__(self) -> int:
        return len(self._customer)

    def learn(self, contact_id: str, customer_id: str) -> None:
        if self._customer.get(contact_id) == customer_id:
            self._customer.move_to_end(contact_id)
            return
        self.forget(contact_id)
        self._customer[contact_id] = customer_id
        self._contacts.setdefault(customer_id, set()).add(contact_id)
        while len(self._customer) > self.max_contacts:
            self.forget(next(iter(self._customer)))

    def forget(self, contact_id: str) -> None:
        customer_id = self._customer.pop(contact_id, None)
        if customer_id is None:
            return
        contacts = self._contacts.get(customer_id)
        if contacts is not None:
            contacts.discard(contact_id)
            if not contacts:
                del self._contacts[customer_id]

    def merge(self, survivor_id: str, merged_id: str) -> None:
        if survivor_id == merged_id or self._survivor(survivor_id) == merged_id:
            return  # a loop would make every lookup spin: trust the newer event less
        self.unmerge(merged_id)
        self._merged_into[merged_id] = survivor_id
        self._merged.setdefault(survivor_id, set()).add(merged_id)
        while len(self._merged_into) > self.max_merges:
            self.unmerge(next(iter(self._merged_into)))

    def unmerge(self, merged_id: str) -> None:
        survivor_id = self._merged_into.pop(merged_id, None)
        if survivor_id is None:
            return
        merged = self._merged.get(survivor_id)
        if merged is not None:
            merged.discard(merged_id)
            if not merged:
                del self._merged[survivor_id]

    def _survivor(self, customer_id: str) -> str:
        seen = {customer_id}
        while (nxt := self._merged_into.get(customer_id)) is not None and nxt not in seen:
            seen.add(nxt)
            customer_id = nxt
        return customer_id

    def customer_of(self, contact_id: str) -> str | None:
        """The customer `contact_id` belongs to now (merges followed), None if unknown."""
        customer_id = self._customer.get(contact_id)
        return None if customer_id is None else self._survivor(customer_id)

    def contacts_of(self, customer_id: str) -> set[str]:
        """The known contacts of `customer_id` and of every customer merged into it."""
        out: set[str] = set()
        todo, seen = [customer_id], {customer_id}
        while todo:
            current = todo.pop()
            out |= self._contacts.get(current, set())
            for merged in self._merged.get(current, ()):
                if merged not in seen:
                    seen.add(merged)
                    todo.append(merged)
        return out

    def apply(self, event: ev.Event) -> None:
        """Follow one event of the stream."""
        match event:
            case ev.ContactArrived():
                self.learn(event.contact_id, event.customer_id)
            case ev.WrapUpCompleted() | ev.ContactAbandoned():
                self.forget(event.contact_id)
            case ev.BroadcastEnded() if event.why == "abandoned":
                self.forget(event.contact_id)
            case ce.CustomersMerged():
                self.merge(event.customer_id, event.merged_id)
            case ce.CustomersUnmerged():
                self.unmerge(event.merged_id)
            case _:
                pass

    def learn_frame(self, frame: Mapping[str, Any]) -> None:
        """Learn from the contact objects of an `offer`, `assigned` or `snapshot` frame."""
        kind = frame.get("type")
        if kind in ("offer", "assigned"):
            self._learn_contact(frame.get("contact"))
        elif kind == "snapshot":
            for contact in frame.get("contacts") or ():
                self._learn_contact(contact)

    def _learn_contact(self, contact: Any) -> None:
        if not isinstance(contact, Mapping):
            return
        customer = contact.get("customer")
        contact_id = contact.get("contact_id")
        if isinstance(customer, Mapping) and isinstance(contact_id, str):
            customer_id = customer.get("customer_id")
            if isinstance(customer_id, str) and customer_id:
                self.learn(contact_id, customer_id)


LiveKind = Literal["typing", "read"]
Side = Literal["customer", "agent"]


def live_signal(
    kind: LiveKind,
    contact_id: str,
    sender: Side,
    at_ms: int,
    *,
    active: bool = False,
    message_id: str | None = None,
) -> dict[str, Any]:
    """An ephemeral signal as it crosses hub processes (agent_console.limits.LiveChannel):
    someone started or stopped typing (`active`), or has read up to `message_id`."""
    signal: dict[str, Any] = {"kind": kind, "contact_id": contact_id, "sender": sender}
    signal["at_ms"] = at_ms
    if kind == "typing":
        signal["active"] = active
    else:
        signal["message_id"] = message_id
    return signal


def live_deliveries(signal: Mapping[str, Any], holders: frozenset[str]) -> list[Delivery]:
    """The frames a typing or read signal causes: a customer's go to the agents holding the
    contact (`holders`), an agent's to the contact's customer chats. Nobody hears their own;
    supervisors hear none. A signal that is not one (another version's) causes nothing."""
    kind, contact_id, sender = signal.get("kind"), signal.get("contact_id"), signal.get("sender")
    if not isinstance(contact_id, str) or not contact_id or sender not in ("customer", "agent"):
        return []
    if kind == "typing":
        frame = {
            "type": "typing",
            "contact_id": contact_id,
            "sender": sender,
            "active": signal.get("active") is True,
        }
    elif kind == "read" and isinstance(signal.get("message_id"), str):
        frame = {
            "type": "read",
            "contact_id": contact_id,
            "reader": sender,
            "message_id": signal["message_id"],
            "at_ms": signal.get("at_ms"),
        }
    else:
        return []
    if sender == "agent":
        return [Delivery("contact", contact_id, frame)]
    return [Delivery("agent", agent_id, frame) for agent_id in sorted(holders)]


def _public(event: ev.Event) -> dict[str, Any]:
    """The event for supervisors' eyes: everything but message bodies."""
    body = ev.event_as_json(event)
    if "body" in body:
        body["body"] = None
    return body
