"""What a web chat customer tells us about a contact beyond its messages (docs/widget.md):
their satisfaction rating (CSAT) once it is over, how far each side has read, and the
transcript they may ask for by email.

Every read and write is scoped to the customer asking: a contact of another customer is as
unknown as one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.store import dt_to_ms, ms_to_dt

OPEN_STATES = frozenset(("queued", "offered", "assigned"))
Reader = Literal["customer", "agent"]
_READ_COLUMN: dict[str, str] = {
    "customer": "customer_read_message_id",
    "agent": "agent_read_message_id",
}


class ContactNotFound(NotFound):
    error_id = "contact.not_found"


class CsatTooEarly(Conflict):
    """The conversation is still going on: a rating comes after its end."""

    error_id = "csat.too_early"


class CsatAlreadyGiven(Conflict):
    error_id = "csat.already_given"


class UnknownMessage(InvalidInput):
    """A read mark names a message that is not one of the conversation's."""

    error_id = "read.unknown_message"


def conversation_over(live_state: str | None, recorded_state: str) -> bool:
    """Whether a contact's conversation has ended. Redis's live state wins when there is one:
    the PostgreSQL row follows the event stream, a moment behind."""
    return (live_state or recorded_state) not in OPEN_STATES


@dataclass(frozen=True)
class TranscriptLine:
    sender: str  # "customer", "agent" or "system"
    name: str  # the agent's display name; "" for the customer
    body: str
    at_ms: int


@dataclass(frozen=True)
class OwnedContact:
    contact_id: str
    state: str
    customer_name: str


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# The customer's own contacts, those of customers merged into them included.
_OWNED = (
    "SELECT c.id, c.state, cu.display_name FROM contacts c"
    " JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1"
    " AND (c.customer_id = $2 OR cu.merged_into = $2)"
)


class WidgetStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def owned(self, contact_id: str, customer_id: str) -> OwnedContact:
        """The contact if it is `customer_id`'s; `ContactNotFound` otherwise."""
        wanted, customer = _uuid(contact_id), _uuid(customer_id)
        row = None
        if wanted is not None and customer is not None:
            row = await self.pool.fetchrow(_OWNED, wanted, customer)
        if row is None:
            raise ContactNotFound("no such conversation", contact_id=contact_id)
        return OwnedContact(str(row["id"]), row["state"], row["display_name"])

    async def give_csat(
        self,
        contact_id: str,
        customer_id: str,
        rating: int,
        comment: str,
        at_ms: int,
        live_state: str | None,
    ) -> None:
        """Store the customer's rating of a contact that is over, once. Refused with
        `CsatTooEarly` while it goes on and `CsatAlreadyGiven` the second time."""
        contact = await self.owned(contact_id, customer_id)
        if not conversation_over(live_state, contact.state):
            raise CsatTooEarly("rate the conversation once it has ended", contact_id=contact_id)
        stored = await self.pool.fetchval(
            "UPDATE contacts SET csat_rating = $2, csat_comment = $3, csat_at = $4"
            " WHERE id = $1 AND csat_rating IS NULL RETURNING id",
            uuid.UUID(contact.contact_id),
            rating,
            comment.strip() or None,
            ms_to_dt(at_ms),
        )
        if stored is None:
            raise CsatAlreadyGiven("this conversation was rated already", contact_id=contact_id)

    async def mark_read(self, contact_id: str, reader: Reader, message_id: str) -> bool:
        """Record that `reader` has read the conversation up to `message_id`; False when they
        had already read as far (marks only move on). `UnknownMessage` when it is not one of
        the contact's messages."""
        column = _READ_COLUMN[reader]
        contact, message = _uuid(contact_id), _uuid(message_id)
        if contact is None or message is None:
            raise UnknownMessage("no such message in this conversation", message_id=message_id)
        moved = await self.pool.fetchval(
            f"UPDATE contacts c SET {column} = m.id"
            " FROM messages m WHERE c.id = $1 AND m.id = $2 AND m.contact_id = $1"
            f" AND (c.{column} IS NULL OR (m.created_at, m.id) >"
            f" (SELECT p.created_at, p.id FROM messages p WHERE p.id = c.{column}))"
            " RETURNING c.id",
            contact,
            message,
        )
        if moved is not None:
            return True
        known = await self.pool.fetchval(
            "SELECT 1 FROM messages WHERE id = $2 AND contact_id = $1", contact, message
        )
        if known is None:
            raise UnknownMessage("no such message in this conversation", message_id=message_id)
        return False

    async def read_marks(self, contact_id: str) -> dict[str, str | None]:
        """How far each side has read: {"customer": message id or None, "agent": ...}."""
        row = await self.pool.fetchrow(
            "SELECT customer_read_message_id, agent_read_message_id FROM contacts WHERE id = $1",
            uuid.UUID(contact_id),
        )
        if row is None:
            return {"customer": None, "agent": None}
        return {
            side: str(row[column]) if row[column] else None for side, column in _READ_COLUMN.items()
        }

    async def transcript(
        self, contact_id: str, customer_id: str
    ) -> tuple[OwnedContact, list[TranscriptLine]]:
        """The customer's contact and its messages in order, with the agents' names."""
        contact = await self.owned(contact_id, customer_id)
        rows = await self.pool.fetch(
            "SELECT m.sender, m.body, m.created_at, coalesce(a.display_name, '') AS name"
            " FROM messages m LEFT JOIN agents a ON a.id = m.agent_id"
            " WHERE m.contact_id = $1 ORDER BY m.created_at, m.id",
            uuid.UUID(contact.contact_id),
        )
        return contact, [
            TranscriptLine(r["sender"], r["name"], r["body"], dt_to_ms(r["created_at"]))
            for r in rows
        ]
