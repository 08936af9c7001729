"""Contacts as a resource for supervisors and admins: `GET /api/contacts` and
`GET /api/contacts/{contact_id}` (docs/admin.md, "Live contacts").

The list reads the record (PostgreSQL), filtered and paged as the CRM's lists are, newest
arrival first. One contact adds its routing history (its events, oldest first), its
disposition and wrap-up notes, where its transcript is read, and routing's live view of it
(Redis), which may be a moment ahead of the record. A supervisor sees the contacts of their
teams' queues and those their teams' agents handled; anything else is as unknown as a
contact that does not exist (contactcenter/agents/scope.py).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from contactcenter.agents.scope import scope_of
from contactcenter.conversations.appkeys import SERVICE
from contactcenter.conversations.contact_records import (
    MAX_HISTORY,
    ContactFilter,
    contact_detail,
    list_contacts,
)
from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import InvalidInput
from contactcenter.crm.cases import ContactNotFound
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.schemas import MAX_EPOCH_MS, PageQuery, Strict

ContactState = Literal["queued", "assigned", "wrapup", "closed", "abandoned"]
Channel = Literal["voice", "chat", "sms", "whatsapp", "email"]


class InvalidContactId(InvalidInput):
    """The path's contact id is not a UUID."""

    error_id = "contact.invalid_id"


class InvalidTimeRange(InvalidInput):
    """`since_ms` comes after `until_ms`."""

    error_id = "contacts.invalid_time_range"


# --- requests --------------------------------------------------------------------------------


def _epoch_ms(description: str) -> Any:
    return Field(None, ge=0, le=MAX_EPOCH_MS, description=description)


class ContactSearch(PageQuery):
    state: ContactState | None = Field(None, description="as the record has it")
    queue: str | None = Field(None, min_length=1, max_length=100)
    agent_id: uuid.UUID | None = Field(None, description="the agent who took it")
    channel: Channel | None = None
    customer_id: uuid.UUID | None = None
    since_ms: int | None = _epoch_ms("arrived at or after (epoch milliseconds)")
    until_ms: int | None = _epoch_ms("arrived before (epoch milliseconds)")


# --- answers ---------------------------------------------------------------------------------


class ContactOut(Strict):
    contact_id: str
    customer_id: str
    customer_name: str
    channel: str
    queue: str
    state: str
    priority: int
    language: str | None
    agent_id: str | None = Field(description="the agent who took it (the last one)")
    agent_name: str | None
    arrived_at_ms: int
    accepted_at_ms: int | None
    ended_at_ms: int | None
    closed_at_ms: int | None
    disposition: str | None


class ContactPage(Strict):
    items: list[ContactOut]
    next: str | int | None


class HistoryEvent(Strict):
    event_id: str
    type: str = Field(description="an event of docs/protocol.md, such as ContactOffered")
    at_ms: int
    data: dict[str, Any] = Field(description="the event's fields (agent_id, queue, reason...)")


class TranscriptLink(Strict):
    url: str = Field(description="where the transcript is read (GET)")
    message_count: int
    last_message_at_ms: int | None


class LiveView(Strict):
    state: str
    queue: str
    agent_id: str | None
    deadline_ms: int | None = Field(description="while offered: when the offer lapses")


class ContactDetail(ContactOut):
    notes: str = Field(description="the agent's wrap-up notes")
    summary: str
    identity_proof: str | None
    csat_rating: int | None
    history: list[HistoryEvent] = Field(
        description=f"routing events, oldest first (at most {MAX_HISTORY}); messages are in"
        " the transcript"
    )
    history_complete: bool = Field(description="false: older events beyond the limit were left")
    transcript: TranscriptLink
    live: LiveView | None = Field(description="routing's live view; null once it let go")


# --- handlers --------------------------------------------------------------------------------


async def search_contacts(call: Call) -> Any:
    q = call.query_as(ContactSearch)
    if q.since_ms is not None and q.until_ms is not None and q.since_ms > q.until_ms:
        raise InvalidTimeRange(
            "since_ms comes after until_ms", field="until_ms", since_ms=q.since_ms,
            until_ms=q.until_ms,
        )  # fmt: skip
    app = call.request.app
    scope = await scope_of(app[POOL], call.agent)
    found = ContactFilter(
        state=q.state, queue=q.queue, agent_id=q.agent_id, channel=q.channel,
        customer_id=q.customer_id, since_ms=q.since_ms, until_ms=q.until_ms,
    )  # fmt: skip
    domain = app[SERVICE].settings.routing_domain
    page = await list_contacts(app[POOL], domain, scope, found, q.window())
    return page.wire(lambda c: c)


async def get_contact(call: Call) -> Any:
    raw = call.path("contact_id")
    try:
        contact_id = uuid.UUID(raw)
    except ValueError:
        raise InvalidContactId("not a contact id (a UUID)", field="contact_id") from None
    app = call.request.app
    service = app[SERVICE]
    scope = await scope_of(app[POOL], call.agent)
    detail = await contact_detail(app[POOL], service.settings.routing_domain, scope, contact_id)
    if detail is None:
        raise ContactNotFound("no such contact", contact_id=str(contact_id))
    live = await service.routing.contact(str(contact_id))
    detail["live"] = None
    if live is not None:
        detail["live"] = {
            "state": live.state,
            "queue": live.queue,
            "agent_id": live.agent_id,
            "deadline_ms": live.deadline_ms if live.state == "offered" else None,
        }
    return detail


CONTACT_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/contacts", "search_contacts", "Contacts the caller supervises,"
              " newest first: by state, queue, agent, channel, customer and arrival time",
              "supervisor", "contacts", answer=search_contacts, query=ContactSearch,
              response=ContactPage),
    Operation("GET", "/api/contacts/{contact_id}", "get_contact", "One contact with its"
              " routing history, disposition, wrap-up notes and transcript link",
              "supervisor", "contacts", answer=get_contact, response=ContactDetail,
              errors=(404,)),
)  # fmt: skip
