"""Agents' replies out by email (docs/email.md): from the event stream to an outbox, from the
outbox to the SMTP relay.

`EmailSender` is the handler of the `email-out` consumer group: an agent's `MessageSent` on an
email contact becomes one outbox row, rendered once and keyed by the message id, so however
often the event is delivered the reply is queued once. `run` sends what is due, one row at a
time, each locked (`FOR UPDATE SKIP LOCKED`) for the length of its send, so two hub processes
never send the same reply at once. A send that fails for now is retried with a growing delay;
one the relay refuses for good (5xx) is marked failed at once.

A process that dies during an SMTP transaction leaves its row queued, and it is sent again:
the relay may then have taken it twice. The copy carries the same Message-ID (derived from
the message id), which is how mail systems recognise a duplicate; no sender can do better
than at-least-once over SMTP.
"""

from __future__ import annotations

import asyncio
from email import policy
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import structlog

from channels.base import InvalidDelivery
from channels.email.message import (
    OutboundEmail,
    our_message_id,
    render_reply,
    reply_references,
)
from channels.email.settings import RELAY_ERRORS, EmailSettings, send_via_relay
from channels.email.store import EmailStore, OutboxItem, ReplyChannel, ThreadParent
from contactcenter.core.events import Event, MessageSent

log = structlog.get_logger("channels.email")


def retry_delay_s(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds before attempt `attempts + 1`: `base_s`, then doubling, at most `max_s`."""
    return float(min(base_s * 2 ** max(attempts - 1, 0), max_s))


def _permanent(exc: Exception) -> bool:
    """A refusal for good (RFC 5321 §4.2.1: 5yz replies are permanent)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(e.code >= 500 for e in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500


def _error_text(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


class EmailSender:
    def __init__(self, settings: EmailSettings, store: EmailStore) -> None:
        self.settings = settings
        self.store = store
        self.wake = asyncio.Event()
        self.sent = 0

    async def __call__(self, event: Event) -> None:
        """Queue the reply an agent's message on an email contact becomes."""
        if not isinstance(event, MessageSent) or event.sender != "agent":
            return
        if await self.queue(event.contact_id, event.message_id, event.body, event.at_ms):
            self.wake.set()

    async def queue(self, contact_id: str, message_id: str, text: str, at_ms: int) -> bool:
        kind, parent = await self.store.reply_target(contact_id)
        if kind is ReplyChannel.NOT_EMAIL:
            return False
        if parent is None:
            log.warning("email_reply_without_thread", contact_id=contact_id, message_id=message_id)
            return False
        s = self.settings
        rfc_id = our_message_id(message_id, s.id_domain)
        references = reply_references(
            parent.rfc_message_id, parent.reference_ids, parent.in_reply_to
        )
        try:
            message = self._render(message_id, text, at_ms, parent, rfc_id, references)
            raw = message.as_bytes(policy=policy.SMTP)
        except (InvalidDelivery, ValueError, UnicodeError):
            # An address the parser took but a reply cannot carry: skipping it is the only way
            # not to stall every later reply behind it (the event would come back forever).
            log.error("email_reply_unsendable", contact_id=contact_id, message_id=message_id)
            return False
        queued = await self.store.queue_reply(
            contact_id=contact_id,
            message_id=message_id,
            rfc_message_id=rfc_id,
            from_address=s.from_address,
            parent=parent,
            subject=str(message["Subject"]),
            references=references,
            raw=raw,
        )
        if queued:
            log.info("email_reply_queued", contact_id=contact_id, message_id=message_id)
        return queued

    def _render(
        self,
        message_id: str,
        text: str,
        at_ms: int,
        parent: ThreadParent,
        rfc_id: str,
        references: tuple[str, ...],
    ) -> EmailMessage:
        s = self.settings
        return render_reply(
            OutboundEmail(
                channel="email",
                message_id=message_id,
                to=parent.reply_address,
                sender=s.from_address,
                text=text,
                sender_name=s.from_name,
                subject=parent.subject,
                rfc_message_id=rfc_id,
                in_reply_to=parent.rfc_message_id,
                references=references,
                at_ms=at_ms,
            )
        )

    async def run(self) -> None:
        """Send what is due, then wait for a new reply or the next poll; forever."""
        poll_s = self.settings.relay.poll_interval_s
        while True:
            try:
                while await self.send_next():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL away: try again at the next poll
                log.warning("email_outbox_failed", error=type(exc).__name__)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), poll_s)
            except TimeoutError:
                pass

    async def send_next(self) -> bool:
        """Send the next reply due, if any; False when none is."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            item = await self.store.next_due(conn)
            if item is None:
                return False
            await self._send(conn, item)
            return True

    async def _send(self, conn: asyncpg.Connection, item: OutboxItem) -> None:
        try:
            await send_via_relay(self.settings.relay, item.raw, item.from_address, item.to_address)
        except RELAY_ERRORS as exc:
            await self._failed(conn, item, exc)
            return
        await self.store.mark_sent(conn, item)
        self.sent += 1
        log.info("email_reply_sent", email_id=str(item.email_id), attempts=item.attempts + 1)

    async def _failed(self, conn: asyncpg.Connection, item: OutboxItem, exc: Exception) -> None:
        relay = self.settings.relay
        error = _error_text(exc)
        if _permanent(exc) or item.attempts + 1 >= relay.max_attempts:
            await self.store.mark_failed(conn, item, error)
            log.error("email_reply_failed", email_id=str(item.email_id), error=error)
            return
        delay_s = retry_delay_s(item.attempts + 1, relay.retry_base_s, relay.retry_max_s)
        await self.store.retry_later(conn, item, error, delay_s)
        log.warning("email_reply_retry", email_id=str(item.email_id), error=error, in_s=delay_s)
