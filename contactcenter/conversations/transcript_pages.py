"""A contact's transcript a page at a time: the latest messages, or those before a given one.

What a console is sent of a transcript (docs/protocol.md, "Long transcripts"): a snapshot, an
offer and an assignment carry the latest page of each contact; the console asks for earlier
pages as its user scrolls back. A page holds at most `limit` messages and, past its first
(newest) message, at most `max_chars` characters of bodies, so that neither a long chat nor a
few long emails make a frame without bound.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from contactcenter.crm.store import StoredMessage, dt_to_ms
from contactcenter.settings.hub import HubSettings

# The newest messages first (before the cursor $3, $4 when given), each with its rank and the
# characters of bodies up to it; one more row than a page holds, so that whether earlier
# messages remain is known. Read backwards along the index on (contact_id, created_at).
_PAGE = """
SELECT m.id, m.sender, m.agent_id, m.body, m.created_at, m.client_msg_id,
       m.delivery_status, m.delivery_error,
       row_number() OVER w AS n, sum(length(m.body)) OVER w AS chars
FROM messages m
WHERE m.contact_id = $1 AND ($3::timestamptz IS NULL OR (m.created_at, m.id) < ($3, $4))
WINDOW w AS (ORDER BY m.created_at DESC, m.id DESC)
ORDER BY m.created_at DESC, m.id DESC
LIMIT $2 + 1
"""
_CURSOR = "SELECT created_at, id FROM messages WHERE id = $1 AND contact_id = $2"


@dataclass(frozen=True)
class TranscriptPage:
    messages: list[StoredMessage]  # oldest first
    more: bool  # earlier messages remain


class UnknownCursor(LookupError):
    """The cursor is not a message of the contact."""


async def transcript_page(
    pool: asyncpg.Pool,
    contact_id: str,
    *,
    limit: int,
    max_chars: int,
    before: str | None = None,
) -> TranscriptPage:
    """The latest `limit` messages of `contact_id` (fewer when their bodies pass
    `max_chars`; always one when there is one), or those just before message `before`.
    Raises UnknownCursor when `before` is not one of the contact's messages."""
    contact = uuid.UUID(contact_id)
    cursor_at, cursor_id = None, None
    if before is not None:
        cursor = await pool.fetchrow(_CURSOR, uuid.UUID(before), contact)
        if cursor is None:
            raise UnknownCursor(before)
        cursor_at, cursor_id = cursor["created_at"], cursor["id"]
    rows = await pool.fetch(_PAGE, contact, limit, cursor_at, cursor_id)
    # Contiguous: once the budget is passed, it is passed for every older row too.
    page = [r for r in rows if r["n"] <= limit and (r["n"] == 1 or r["chars"] <= max_chars)]
    messages = [
        StoredMessage(
            message_id=str(r["id"]),
            contact_id=contact_id,
            sender=r["sender"],
            agent_id=str(r["agent_id"]) if r["agent_id"] else None,
            body=r["body"],
            at_ms=dt_to_ms(r["created_at"]),
            client_msg_id=r["client_msg_id"],
            created=False,
            delivery_status=r["delivery_status"],
            delivery_error=r["delivery_error"],
        )
        for r in reversed(page)
    ]
    return TranscriptPage(messages, more=len(rows) > len(page))


async def latest_page(pool: asyncpg.Pool, contact_id: str, settings: HubSettings) -> TranscriptPage:
    """The page of `contact_id`'s latest messages that consoles are sent."""
    return await transcript_page(
        pool,
        contact_id,
        limit=settings.transcript_page_messages,
        max_chars=settings.transcript_page_chars,
    )


async def no_page() -> TranscriptPage:
    return TranscriptPage([], more=False)
