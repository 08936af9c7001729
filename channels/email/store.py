"""Emails in PostgreSQL (migration 0011): each email in or out, its thread, its attachments,
and the outbox replies are sent from (docs/email.md).

Attachments are stored as bytea beside the email, not as files: PostgreSQL is the system of
record every hub process shares, and `email.max_message_bytes` bounds their size.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from channels.email.message import InboundEmail

# Ids derived from the Message-ID, so that storing the same email again makes the same rows.
_NAMESPACE = uuid.UUID("5d0f8f3e-6a55-4c55-9d2b-8f0f3c4e11a7")


def email_row_id(rfc_message_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, rfc_message_id)


def attachment_id(rfc_message_id: str, position: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{rfc_message_id}/{position}")


@dataclass(frozen=True)
class ThreadParent:
    """The latest email a customer sent on a contact: what our reply answers."""

    rfc_message_id: str
    reply_address: str
    subject: str
    in_reply_to: tuple[str, ...]
    reference_ids: tuple[str, ...]


@dataclass(frozen=True)
class OutboxItem:
    email_id: uuid.UUID
    rfc_message_id: str
    from_address: str
    to_address: str
    raw: bytes
    attempts: int


@dataclass(frozen=True)
class StoredAttachment:
    filename: str
    content_type: str
    content: bytes


class ReplyChannel(enum.Enum):
    EMAIL = "email"  # an email contact with a customer email to answer
    NOT_EMAIL = "not email"
    NO_THREAD = "no email to answer"


class EmailStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- inbound -------------------------------------------------------------------------------

    async def exists(self, db: asyncpg.Pool | asyncpg.Connection, rfc_message_id: str) -> bool:
        found = await db.fetchval(
            "SELECT true FROM email_messages WHERE rfc_message_id = $1", rfc_message_id
        )
        return bool(found)

    async def lock(self, conn: asyncpg.Connection, rfc_message_id: str) -> None:
        """Take turns with any other delivery of the same email until the transaction ends."""
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))", rfc_message_id)

    async def thread_contact(self, conn: asyncpg.Connection, ids: Sequence[str]) -> str | None:
        """The contact of the newest stored email among `ids` (an email's In-Reply-To and
        References): the contact its thread continues."""
        if not ids:
            return None
        found = await conn.fetchval(
            "SELECT contact_id FROM email_messages WHERE rfc_message_id = ANY($1::text[])"
            " ORDER BY created_at DESC LIMIT 1",
            list(ids),
        )
        return None if found is None else str(found)

    async def contact_started_by(
        self, conn: asyncpg.Connection, rfc_message_id: str, customer_id: str
    ) -> str | None:
        """A contact this email already opened, by a delivery that died before its email row
        was stored (the first message carries the Message-ID as its client id)."""
        found = await conn.fetchval(
            "SELECT m.contact_id FROM messages m JOIN contacts c ON c.id = m.contact_id"
            " WHERE m.client_msg_id = $1 AND m.sender = 'customer' AND c.channel = 'email'"
            " AND c.customer_id = $2 AND c.state <> 'refused' LIMIT 1",
            rfc_message_id,
            uuid.UUID(customer_id),
        )
        return None if found is None else str(found)

    async def message_of(
        self, conn: asyncpg.Connection, contact_id: str, rfc_message_id: str
    ) -> uuid.UUID | None:
        found = await conn.fetchval(
            "SELECT id FROM messages WHERE contact_id = $1 AND sender = 'customer'"
            " AND client_msg_id = $2",
            uuid.UUID(contact_id),
            rfc_message_id,
        )
        return None if found is None else uuid.UUID(str(found))

    async def insert_inbound(
        self,
        conn: asyncpg.Connection,
        email: InboundEmail,
        raw: bytes,
        contact_id: str,
        message_id: uuid.UUID | None,
    ) -> None:
        row_id = email_row_id(email.external_id)
        await conn.execute(
            "INSERT INTO email_messages (id, rfc_message_id, direction, contact_id, message_id,"
            " from_address, reply_address, entry, subject, in_reply_to, reference_ids, raw,"
            " state) VALUES ($1, $2, 'in', $3, $4, $5, $6, $7, $8, $9, $10, $11, 'received')",
            row_id,
            email.external_id,
            uuid.UUID(contact_id),
            message_id,
            email.sender.value,
            email.reply_to,
            email.entry,
            email.subject,
            list(email.in_reply_to),
            list(email.references),
            raw,
        )
        await conn.executemany(
            "INSERT INTO email_attachments (id, email_id, position, filename, content_type,"
            " size_bytes, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    attachment_id(email.external_id, i),
                    row_id,
                    i,
                    a.filename,
                    a.content_type,
                    a.size_bytes,
                    a.sha256,
                    a.content,
                )
                for i, a in enumerate(email.attachments, start=1)
            ],
        )

    async def attachment(self, attachment: uuid.UUID) -> StoredAttachment | None:
        row = await self.pool.fetchrow(
            "SELECT filename, content_type, content FROM email_attachments WHERE id = $1",
            attachment,
        )
        return None if row is None else StoredAttachment(*row)

    async def record_bounce(self, rfc_message_id: str, status: str, code: str | None) -> bool:
        """A delivery status notification about our email: a failure marks it failed."""
        if status != "failed":
            return False
        done = await self.pool.fetchval(
            "UPDATE email_messages SET state = 'failed', last_error = $2"
            " WHERE rfc_message_id = $1 AND direction = 'out' RETURNING true",
            rfc_message_id,
            f"bounced: {code or 'no status code'}",
        )
        return bool(done)

    # --- outbound ------------------------------------------------------------------------------

    async def reply_target(self, contact_id: str) -> tuple[ReplyChannel, ThreadParent | None]:
        """Whether `contact_id` is an email contact, and the customer's latest email on it."""
        row = await self.pool.fetchrow(
            "SELECT c.channel, p.* FROM contacts c LEFT JOIN LATERAL ("
            " SELECT rfc_message_id, reply_address, subject, in_reply_to, reference_ids"
            " FROM email_messages e WHERE e.contact_id = c.id AND e.direction = 'in'"
            " ORDER BY e.created_at DESC LIMIT 1) p ON true WHERE c.id = $1",
            uuid.UUID(contact_id),
        )
        if row is None or row["channel"] != "email":
            return ReplyChannel.NOT_EMAIL, None
        if row["rfc_message_id"] is None:
            return ReplyChannel.NO_THREAD, None
        return ReplyChannel.EMAIL, ThreadParent(
            row["rfc_message_id"],
            row["reply_address"],
            row["subject"],
            tuple(row["in_reply_to"]),
            tuple(row["reference_ids"]),
        )

    async def queue_reply(
        self,
        *,
        contact_id: str,
        message_id: str,
        rfc_message_id: str,
        from_address: str,
        parent: ThreadParent,
        subject: str,
        references: Sequence[str],
        raw: bytes,
    ) -> bool:
        """Put a reply in the outbox, once per message: False if it was there already."""
        done = await self.pool.fetchval(
            "INSERT INTO email_messages (id, rfc_message_id, direction, contact_id, message_id,"
            " from_address, reply_address, subject, in_reply_to, reference_ids, raw, state,"
            " next_attempt_at) VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, $9, $10,"
            " 'queued', now()) ON CONFLICT DO NOTHING RETURNING true",
            email_row_id(rfc_message_id),
            rfc_message_id,
            uuid.UUID(contact_id),
            uuid.UUID(message_id),
            from_address,
            parent.reply_address,
            subject,
            [parent.rfc_message_id],
            list(references),
            raw,
        )
        return bool(done)

    async def next_due(self, conn: asyncpg.Connection) -> OutboxItem | None:
        """The next reply due, locked for this transaction: another process skips it."""
        row = await conn.fetchrow(
            "SELECT id, rfc_message_id, from_address, reply_address, raw, attempts"
            " FROM email_messages WHERE state = 'queued' AND next_attempt_at <= now()"
            " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        return None if row is None else OutboxItem(*row)

    async def mark_sent(self, conn: asyncpg.Connection, item: OutboxItem) -> None:
        await conn.execute(
            "UPDATE email_messages SET state = 'sent', sent_at = now(), attempts = attempts + 1,"
            " next_attempt_at = NULL, last_error = NULL WHERE id = $1",
            item.email_id,
        )

    async def mark_failed(self, conn: asyncpg.Connection, item: OutboxItem, error: str) -> None:
        await conn.execute(
            "UPDATE email_messages SET state = 'failed', attempts = attempts + 1,"
            " next_attempt_at = NULL, last_error = $2 WHERE id = $1",
            item.email_id,
            error,
        )

    async def retry_later(
        self, conn: asyncpg.Connection, item: OutboxItem, error: str, delay_s: float
    ) -> None:
        await conn.execute(
            "UPDATE email_messages SET attempts = attempts + 1, last_error = $2,"
            " next_attempt_at = now() + $3::interval WHERE id = $1",
            item.email_id,
            error,
            timedelta(seconds=delay_s),
        )
