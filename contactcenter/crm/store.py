"""Contacts and their messages in PostgreSQL (customers and identities:
contactcenter.crm.customers)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


# Integer arithmetic on timedeltas, not float seconds: `at_ms / 1000` loses the last
# millisecond of some instants (and every one near year 9999), so a time would not read back
# as it was given.
def ms_to_dt(at_ms: int) -> datetime:
    return EPOCH + at_ms * MILLISECOND


def dt_to_ms(at: datetime) -> int:
    return (at - EPOCH) // MILLISECOND


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    contact_id: str
    sender: str
    agent_id: str | None
    body: str
    at_ms: int
    client_msg_id: str | None
    created: bool  # False when a retry found the message already stored
    # How far the channel got with it (SMS, WhatsApp: docs/channels.md), when it says.
    delivery_status: str | None = None
    delivery_error: str | None = None

    def wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "message_id": self.message_id,
            "sender": self.sender,
            "body": self.body,
            "at_ms": self.at_ms,
            "client_msg_id": self.client_msg_id,
        }
        if self.delivery_status is not None:
            wire["delivery_status"] = self.delivery_status
            wire["delivery_error"] = self.delivery_error
        return wire


@dataclass(frozen=True)
class ContactRecord:
    contact_id: str
    customer_id: str
    customer_name: str
    channel: str
    queue: str
    state: str
    agent_id: str | None
    identity_proof: str | None = None  # 'site', 'twilio', or None: a claim (migration 0014)


def _message(row: asyncpg.Record, created: bool) -> StoredMessage:
    return StoredMessage(
        message_id=str(row["id"]),
        contact_id=str(row["contact_id"]),
        sender=row["sender"],
        agent_id=str(row["agent_id"]) if row["agent_id"] else None,
        body=row["body"],
        at_ms=dt_to_ms(row["created_at"]),
        client_msg_id=row["client_msg_id"],
        created=created,
    )


_INSERT_CONTACT = (
    "INSERT INTO contacts (id, customer_id, channel, queue, state, arrived_at,"
    " routing_domain, priority, required_skills, language, identity_proof)"
    " VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10)"
)


# The same, remembering the first message's client id ($13 of the statement that uses it):
# a second contact for the same first message of the same customer is not inserted.
_INSERT_CONTACT_ONCE = (
    "INSERT INTO contacts (id, customer_id, channel, queue, state, arrived_at,"
    " routing_domain, priority, required_skills, language, identity_proof, first_client_msg_id)"
    " VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $13)"
    " ON CONFLICT (customer_id, first_client_msg_id) WHERE first_client_msg_id IS NOT NULL"
    " DO NOTHING"
)


def _contact_args(
    contact_id: uuid.UUID,
    customer_id: str,
    channel: str,
    queue: str,
    arrived_at_ms: int,
    routing_domain: str,
    priority: int,
    required_skills: tuple[str, ...],
    language: str | None,
    identity_proof: str | None = None,
) -> list[Any]:
    return [
        contact_id,
        uuid.UUID(customer_id),
        channel,
        queue,
        ms_to_dt(arrived_at_ms),
        routing_domain,
        priority,
        list(required_skills),
        language,
        identity_proof,
    ]


@dataclass(frozen=True)
class CustomerFacts:
    """What routing rules and the sticky strategy need to know of a customer."""

    tier: str | None
    language: str | None
    open_complaint: bool
    preferred_agent_id: str | None  # the account manager, else the last agent who served them


_RECORD_COLUMNS = (
    "c.id, c.customer_id, c.channel, c.queue, c.state, c.agent_id, c.identity_proof,"
    " cu.display_name"
)


def _record(row: asyncpg.Record) -> ContactRecord:
    return ContactRecord(
        contact_id=str(row["id"]),
        customer_id=str(row["customer_id"]),
        customer_name=row["display_name"],
        channel=row["channel"],
        queue=row["queue"],
        state=row["state"],
        agent_id=str(row["agent_id"]) if row["agent_id"] else None,
        identity_proof=row["identity_proof"],
    )


class CrmStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_contact(
        self,
        *,
        customer_id: str,
        channel: str,
        queue: str,
        arrived_at_ms: int,
        routing_domain: str = "main",
        priority: int = 0,
        required_skills: tuple[str, ...] = (),
        language: str | None = None,
    ) -> str:
        contact_id = uuid.uuid4()
        await self.pool.execute(
            _INSERT_CONTACT,
            *_contact_args(
                contact_id, customer_id, channel, queue, arrived_at_ms, routing_domain,
                priority, required_skills, language,
            ),
        )  # fmt: skip
        return str(contact_id)

    async def create_contact_with_message(
        self,
        *,
        customer_id: str,
        channel: str,
        queue: str,
        arrived_at_ms: int,
        text: str,
        client_msg_id: str | None,
        routing_domain: str = "main",
        priority: int = 0,
        required_skills: tuple[str, ...] = (),
        language: str | None = None,
        identity_proof: str | None = None,
    ) -> tuple[str, StoredMessage]:
        """A new contact and the customer's first message, in one statement: both are
        stored or neither. `identity_proof` says how the channel proved who the customer is
        ('site', 'twilio'), None when what they typed is all there is (a claim).

        The same first message sent again (its `client_msg_id` already opened a contact of
        this customer) stores nothing: the contact it opened is returned, with the message
        marked `created=False`."""
        contact_id = uuid.uuid4()
        row = await self.pool.fetchrow(
            f"WITH contact AS ({_INSERT_CONTACT_ONCE} RETURNING id)"
            " INSERT INTO messages (id, contact_id, sender, body, client_msg_id)"
            " SELECT $11, id, 'customer', $12, $13 FROM contact RETURNING *",
            *_contact_args(
                contact_id, customer_id, channel, queue, arrived_at_ms, routing_domain,
                priority, required_skills, language, identity_proof,
            ),
            uuid.uuid4(),
            text,
            client_msg_id,
        )  # fmt: skip
        if row is not None:
            return str(contact_id), _message(row, created=True)
        first = await self.pool.fetchrow(
            "SELECT m.* FROM contacts c JOIN messages m ON m.contact_id = c.id"
            " AND m.sender = 'customer' AND m.client_msg_id = c.first_client_msg_id"
            " WHERE c.customer_id = $1 AND c.first_client_msg_id = $2",
            uuid.UUID(customer_id),
            client_msg_id,
        )
        assert first is not None, "a conflicting first message without its contact"
        return str(first["contact_id"]), _message(first, created=False)

    async def latest_contact(self, customer_id: str, channel: str) -> ContactRecord | None:
        """The customer's newest contact on `channel`, whatever its state."""
        row = await self.pool.fetchrow(
            f"SELECT {_RECORD_COLUMNS} FROM contacts c JOIN customers cu ON cu.id = c.customer_id"
            " WHERE c.customer_id = $1 AND c.channel = $2 ORDER BY c.arrived_at DESC LIMIT 1",
            uuid.UUID(customer_id),
            channel,
        )
        return _record(row) if row else None

    async def customer_facts(self, customer_id: str, default_tier: str | None) -> CustomerFacts:
        """A customer's tier (`default_tier` while they have none), language, whether a
        complaint of theirs is open, and the agent they would be best served by. One query."""
        row = await self.pool.fetchrow(
            "SELECT coalesce(c.tier, c.tier_by_hand) AS tier, c.language,"
            " EXISTS (SELECT 1 FROM cases k WHERE k.customer_id = c.id"
            "  AND k.kind = 'complaint' AND k.status IN ('open', 'pending')) AS open_complaint,"
            " coalesce(c.account_manager, (SELECT x.agent_id FROM contacts x"
            "  WHERE x.customer_id = c.id AND x.agent_id IS NOT NULL"
            "  ORDER BY x.arrived_at DESC LIMIT 1)) AS preferred"
            " FROM customers c WHERE c.id = $1",
            uuid.UUID(customer_id),
        )
        if row is None:
            return CustomerFacts(default_tier, None, False, None)
        return CustomerFacts(
            row["tier"] or default_tier,
            row["language"],
            row["open_complaint"],
            str(row["preferred"]) if row["preferred"] else None,
        )

    async def set_state(self, contact_id: str, state: str) -> None:
        await self.pool.execute(
            "UPDATE contacts SET state = $2 WHERE id = $1", uuid.UUID(contact_id), state
        )

    async def contact(self, contact_id: str) -> ContactRecord | None:
        record, _messages = await self.contact_with_transcript(contact_id, messages=False)
        return record

    async def contact_with_transcript(
        self, contact_id: str, *, messages: bool = True
    ) -> tuple[ContactRecord | None, list[StoredMessage]]:
        """A contact and, with `messages`, its transcript in order: one round trip."""
        row = await self.pool.fetchrow(
            f"SELECT {_RECORD_COLUMNS}, CASE WHEN $2 THEN"
            " (SELECT coalesce(json_agg(json_build_object("
            "'id', m.id, 'sender', m.sender, 'agent_id', m.agent_id, 'body', m.body,"
            " 'at_ms', floor(extract(epoch FROM m.created_at) * 1000)::bigint,"
            " 'client_msg_id', m.client_msg_id, 'delivery_status', m.delivery_status,"
            " 'delivery_error', m.delivery_error) ORDER BY m.created_at, m.id), '[]')"
            " FROM messages m WHERE m.contact_id = c.id) END AS messages"
            " FROM contacts c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1",
            uuid.UUID(contact_id),
            messages,
        )
        if row is None:
            return None, []
        record = _record(row)
        transcript = [
            StoredMessage(
                message_id=m["id"],
                contact_id=record.contact_id,
                sender=m["sender"],
                agent_id=m["agent_id"],
                body=m["body"],
                at_ms=m["at_ms"],
                client_msg_id=m["client_msg_id"],
                created=False,
                delivery_status=m["delivery_status"],
                delivery_error=m["delivery_error"],
            )
            for m in json.loads(row["messages"] or "[]")
        ]
        return record, transcript

    async def latest_open_contact(self, customer_id: str, channel: str) -> ContactRecord | None:
        """The customer's newest contact on `channel` still open (not over, not refused)."""
        row = await self.pool.fetchrow(
            f"SELECT {_RECORD_COLUMNS} FROM contacts c JOIN customers cu ON cu.id = c.customer_id"
            " WHERE c.customer_id = $1 AND c.channel = $2"
            " AND c.state NOT IN ('closed', 'abandoned', 'wrapup', 'refused')"
            " ORDER BY c.arrived_at DESC LIMIT 1",
            uuid.UUID(customer_id),
            channel,
        )
        return _record(row) if row else None

    async def add_message(
        self,
        contact_id: str,
        sender: str,
        body: str,
        *,
        agent_id: str | None = None,
        client_msg_id: str | None = None,
    ) -> StoredMessage:
        """Store a message; a retry with the same `client_msg_id` returns the stored one."""
        row = await self.pool.fetchrow(
            "INSERT INTO messages (id, contact_id, sender, agent_id, body, client_msg_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING *",
            uuid.uuid4(),
            uuid.UUID(contact_id),
            sender,
            uuid.UUID(agent_id) if agent_id else None,
            body,
            client_msg_id,
        )
        if row is not None:
            return _message(row, created=True)
        row = await self.pool.fetchrow(
            "SELECT * FROM messages WHERE contact_id = $1 AND sender = $2 AND client_msg_id = $3",
            uuid.UUID(contact_id),
            sender,
            client_msg_id,
        )
        assert row is not None
        return _message(row, created=False)

    async def average_handle_ms(self, queue: str, last: int = 50) -> int | None:
        """Average time from accept to close of the queue's `last` closed contacts."""
        value = await self.pool.fetchval(
            "SELECT avg(extract(epoch FROM closed_at - accepted_at)) FROM ("
            " SELECT closed_at, accepted_at FROM contacts WHERE queue = $1"
            " AND state = 'closed' AND accepted_at IS NOT NULL"
            " ORDER BY closed_at DESC LIMIT $2) recent",
            queue,
            last,
        )
        return None if value is None else int(float(value) * 1000)

    async def transcript(self, contact_id: str) -> list[StoredMessage]:
        rows = await self.pool.fetch(
            "SELECT * FROM messages WHERE contact_id = $1 ORDER BY created_at, id",
            uuid.UUID(contact_id),
        )
        return [_message(r, created=False) for r in rows]
