"""Earlier messages of a contact a console shows: `GET /api/contacts/{contact_id}/messages`.

A console's snapshot, offers and assignments carry the latest page of each transcript
(docs/protocol.md, "Long transcripts"); a contact with more says `more_messages`, and the
console reads the pages before it here as its user scrolls back. Only for the caller's own
contacts (offered, in conversation or in wrap-up), as the console itself.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from contactcenter.conversations.appkeys import SERVICE
from contactcenter.conversations.transcript_pages import UnknownCursor, transcript_page
from contactcenter.core.errors import ContactNotAssigned, InvalidInput
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.schemas import Strict

MAX_PAGE_MESSAGES = 200


class UnknownMessage(InvalidInput):
    """The page's cursor is not one of the contact's messages."""

    error_id = "messages.unknown_message"


class MessagesQuery(Strict):
    before: uuid.UUID | None = Field(
        None, description="a message of the contact: the page ends just before it"
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE_MESSAGES)


class PageMessage(Strict):
    message_id: str
    sender: Literal["customer", "agent", "system"]
    body: str
    at_ms: int
    client_msg_id: str | None
    delivery_status: str | None = None
    delivery_error: str | None = None


class MessagePage(Strict):
    contact_id: str
    messages: list[PageMessage] = Field(description="oldest first")
    more: bool = Field(description="earlier messages remain")


async def list_messages(call: Call) -> Any:
    service = call.request.app[SERVICE]
    contact_id = call.path("contact_id")
    query = call.query_as(MessagesQuery)
    held = await service.routing.agent_contact_ids(call.agent.agent_id)
    if contact_id not in held:
        raise ContactNotAssigned("not one of your contacts", contact_id=contact_id)
    try:
        page = await transcript_page(
            service.crm.pool,
            contact_id,
            limit=query.limit,
            max_chars=service.settings.transcript_page_chars,
            before=None if query.before is None else str(query.before),
        )
    except UnknownCursor:
        raise UnknownMessage(
            "before is not a message of this contact", before=str(query.before)
        ) from None
    return {
        "contact_id": contact_id,
        "messages": [m.wire() for m in page.messages],
        "more": page.more,
    }


MESSAGE_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/contacts/{contact_id}/messages", "list_contact_messages",
              "A page of a transcript the caller's console shows: the latest messages, or"
              " those before one; at most `limit`, fewer when their bodies are long",
              "agent", "consoles", answer=list_messages, query=MessagesQuery,
              response=MessagePage, errors=(409,)),
)  # fmt: skip
