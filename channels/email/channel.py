"""The email channel in the hub (docs/email.md): emails in through a built-in SMTP server or an
IMAP mailbox, threaded to their contact; agents' replies out through an SMTP relay.

An inbound email is stored in PostgreSQL before its sender hears "250": if the hub dies
first, the sender's mail server tries again, and the same Message-ID is stored only once.
Bad input (no From, too large, broken MIME) gets a 5xx reply naming the problem and changes
nothing. `setup_email(app)` wires it into the hub; email is off unless configured.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import asyncpg
import structlog
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.base import DeliveryUpdate
from channels.email.imap import ImapPoller
from channels.email.message import (
    EmailDelivery,
    EmailRejected,
    InboundEmail,
    MessageTooLarge,
    MissingSender,
    read_delivery,
)
from channels.email.outbox import EmailSender
from channels.email.settings import EmailSettings, load_email_settings
from channels.email.store import EmailStore, attachment_id
from channels.email.text import conversation_text
from channels.language import TEXT_CLASSIFIER, TextClassifier
from contactcenter.conversations.appkeys import ROUTING, SERVICE
from contactcenter.conversations.service import ConversationService
from contactcenter.core.appkeys import POOL, REDIS
from contactcenter.core.errors import (
    ConversationClosed,
    InvalidInput,
    NotFound,
    QueueClosed,
    QueueFull,
)
from contactcenter.core.eventbus import EventGroupConsumer
from contactcenter.crm.customers import CustomerStore
from contactcenter.settings.appkeys import SETTINGS
from contactcenter.web.openapi import Call, Operation
from routing.rules import ContactAttributes

log = structlog.get_logger("channels.email")

ATTACHMENT_ROUTE = "/api/email/attachments/{attachment_id}"


class Outcome(enum.Enum):
    STORED = "250 2.0.0 Stored"
    DUPLICATE = "250 2.0.0 Already stored"  # same Message-ID: stored once, still acknowledged
    STATUS = "250 2.0.0 Delivery status noted"


class EmailIntake:
    """From a delivered email to a stored conversation message on the right contact."""

    def __init__(
        self,
        settings: EmailSettings,
        store: EmailStore,
        service: ConversationService,
        customers: CustomerStore,
        classifier: Callable[[], TextClassifier | None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.service = service
        self.customers = customers
        self.classifier = classifier
        self._room = asyncio.Semaphore(settings.max_concurrent_deliveries)

    async def deliver(self, delivery: EmailDelivery) -> Outcome:
        """Store `delivery`; returns once it is durable. Raises `EmailRejected` for bad input
        (nothing stored), anything else for a failure worth retrying."""
        if len(delivery.content) > self.settings.max_message_bytes:
            raise MessageTooLarge(
                f"Message larger than {self.settings.max_message_bytes} bytes", invalid=["size"]
            )
        email = read_delivery(delivery)
        if isinstance(email, DeliveryUpdate):
            bounced = await self.store.record_bounce(
                email.external_id, email.status, email.error_code
            )
            log.info("email_delivery_status", status=email.status, matched=bounced)
            return Outcome.STATUS
        if await self.store.exists(self.store.pool, email.external_id):
            return Outcome.DUPLICATE
        try:
            found = await self.customers.resolve(
                "email", email.sender.value, display_name=email.sender_name
            )
        except InvalidInput:
            raise MissingSender("From is not a usable email address", invalid=["From"]) from None
        async with self._room, self.store.pool.acquire() as conn, conn.transaction():
            await self.store.lock(conn, email.external_id)
            if await self.store.exists(conn, email.external_id):
                return Outcome.DUPLICATE
            contact_id, new = await self._converse(conn, email, found.customer_id)
            message_id = await self.store.message_of(conn, contact_id, email.external_id)
            await self.store.insert_inbound(conn, email, delivery.content, contact_id, message_id)
        log.info(
            "email_stored",
            contact_id=contact_id,
            new_contact=new,
            attachments=len(email.attachments),
            size_bytes=len(delivery.content),
        )
        return Outcome.STORED

    async def _converse(
        self, conn: asyncpg.Connection, email: InboundEmail, customer_id: str
    ) -> tuple[str, bool]:
        """The contact the email goes to, its words stored there: the contact of its thread
        while that one is open, else a new one (or the one a failed try already opened)."""
        thread = await self.store.thread_contact(conn, email.thread_ids)
        if thread is not None:
            try:
                await self.service.customer_message(
                    thread, self._text(email, first=False), email.external_id
                )
                return thread, False
            except ConversationClosed:
                pass  # the customer wrote back after it ended: a new contact
        started = await self.store.contact_started_by(conn, email.external_id, customer_id)
        if started is not None:
            # A try that died midway may have stored the contact but not queued it yet.
            await self.service.open_contact(customer_id, "email")
            return started, False
        facts = self._facts(email)
        contact_id = await self.service.start_contact(
            customer_id,
            email.sender_name,
            "email",
            self._text(email, first=True),
            email.external_id,
            attributes=facts,
        )
        return contact_id, True

    def _facts(self, email: InboundEmail) -> ContactAttributes:
        classifier = self.classifier()
        words = f"{email.subject}\n{email.text}"
        facts = classifier.classify(words) if classifier is not None else None
        return ContactAttributes(
            channel="email",
            entry=email.entry or None,
            language=facts.language if facts else None,
            intents=facts.intents if facts else frozenset(),
        )

    def _text(self, email: InboundEmail, *, first: bool) -> str:
        links = [
            (a.filename, a.content_type, a.size_bytes, ATTACHMENT_ROUTE.format(
                attachment_id=attachment_id(email.external_id, i)
            ))
            for i, a in enumerate(email.attachments, start=1)
        ]  # fmt: skip
        return conversation_text(
            email.text,
            subject=email.subject if first else None,
            attachments=links,
            max_chars=self.settings.max_text_chars,
        )


class SmtpHandler:
    """aiosmtpd's handler: RCPT checks the address is ours; DATA stores, then answers."""

    def __init__(self, intake: EmailIntake, settings: EmailSettings) -> None:
        self.intake = intake
        self.accept = frozenset(settings.accept_recipients)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.accept and address.lower() not in self.accept:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        delivery = EmailDelivery(content, tuple(envelope.rcpt_tos))
        try:
            # Shielded: a client hanging up mid-store must not cut a delivery in half.
            outcome = await asyncio.shield(self.intake.deliver(delivery))
        except EmailRejected as exc:
            log.info("email_refused", why=exc.error_id, size_bytes=len(content))
            return exc.smtp_reply
        except (QueueClosed, QueueFull) as exc:
            # RFC 5321 §4.2.1: 4yz is "try again later"; the sender's server keeps the email.
            log.info("email_deferred", why=exc.error_id)
            return f"451 4.3.2 {' '.join(exc.message.split())}"
        except Exception as exc:  # storage away: the sender retries, nothing is lost
            log.error("email_store_failed", error=type(exc).__name__)
            return "451 4.3.0 Could not store the message now; try again later"
        return outcome.value


class EmailChannel:
    """Everything email in one hub process: the SMTP server, the IMAP poller, the sender."""

    def __init__(self, settings: EmailSettings, app: web.Application) -> None:
        self.settings = settings
        pool = app[POOL]
        self.store = EmailStore(pool)
        self.intake = EmailIntake(
            settings,
            self.store,
            app[SERVICE],
            CustomerStore(pool),
            lambda: app.get(TEXT_CLASSIFIER),
        )
        self.sender = EmailSender(settings, self.store)
        self.consumer = EventGroupConsumer(
            app[REDIS],
            app[ROUTING].keys.events,
            "email-out",
            self.sender,
            claim_idle_ms=app[SETTINGS].claim_idle_ms,
        )
        self.smtp_port: int | None = None
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, serves_clients: bool = True, runs_workers: bool = True) -> None:
        """Start what the process's role asks for: the SMTP server takes mail in (like a
        webhook, on processes serving clients); the outbox sender and the IMAP poller are
        background work."""
        # aiosmtpd logs every command line, addresses included, at INFO; we never log them.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        smtp = self.settings.smtp_server
        if smtp.enabled and serves_clients:
            handler = SmtpHandler(self.intake, self.settings)
            loop = asyncio.get_running_loop()

            def session() -> SMTP:
                protocol = SMTP(
                    handler,
                    data_size_limit=self.settings.max_message_bytes,
                    enable_SMTPUTF8=True,
                    hostname=smtp.hostname,
                    ident="contactcenter",
                    timeout=smtp.timeout_s,
                    loop=loop,
                )
                self._sessions.add(protocol)
                return protocol

            # In the hub's own loop (not aiosmtpd's Controller thread), so that the handler
            # awaits the same pool and services as everything else.
            self._server = await loop.create_server(session, smtp.host, smtp.port)
            self.smtp_port = self._server.sockets[0].getsockname()[1]
        if not runs_workers:
            return
        self._tasks.append(asyncio.create_task(self.consumer.run(), name="email-consumer"))
        self._tasks.append(asyncio.create_task(self.sender.run(), name="email-sender"))
        if self.settings.imap.enabled:
            poller = ImapPoller(
                self.settings.imap,
                self.intake.deliver,
                max_message_bytes=self.settings.max_message_bytes,
            )
            self._tasks.append(asyncio.create_task(poller.run(), name="email-imap"))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for protocol in list(self._sessions):
                if protocol.transport is not None:
                    protocol.transport.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                log.error("background_task_failed", task=task.get_name(), error=str(exc))


EMAIL_CHANNEL = web.AppKey("email_channel", EmailChannel)
EMAIL_SETTINGS = web.AppKey("email_settings", EmailSettings)
_WIRED = web.AppKey("email_wired", bool)


def setup_email(app: web.Application, settings: EmailSettings | None = None) -> None:
    """Run the email channel with `app` (call before it starts, after `init`): without
    `settings`, they are read from the hub's config folder (email.toml) and environment.
    Calling it again only replaces the settings (tests pass their own)."""
    if settings is not None:
        app[EMAIL_SETTINGS] = settings
    if app.get(_WIRED):
        return
    app[_WIRED] = True

    async def run(app: web.Application) -> AsyncIterator[None]:
        chosen = app.get(EMAIL_SETTINGS) or load_email_settings(
            app[SETTINGS].config_dir, dict(os.environ)
        )
        if not chosen.enabled:
            log.info("email_off", why="email.enabled is false (config/email.toml)")
            yield
            return
        channel = app[EMAIL_CHANNEL] = EmailChannel(chosen, app)
        role = app[SETTINGS]
        await channel.start(serves_clients=role.serves_clients, runs_workers=role.runs_workers)
        log.info(
            "email_on",
            smtp_port=channel.smtp_port,
            imap=chosen.imap.enabled,
            relay_port=chosen.relay.port,
            max_message_bytes=chosen.max_message_bytes,
        )
        try:
            yield
        finally:
            await channel.stop()

    app.cleanup_ctx.append(run)


async def get_email_attachment(call: Call) -> web.StreamResponse:
    """One attachment's bytes, to a logged-in agent; always as a download, so that nothing a
    customer sent runs in the console's origin."""
    channel = call.request.app.get(EMAIL_CHANNEL)
    try:
        wanted = uuid.UUID(call.path("attachment_id"))
    except ValueError:
        raise AttachmentNotFound("no such attachment") from None
    found = await channel.store.attachment(wanted) if channel else None
    if found is None:
        raise AttachmentNotFound("no such attachment", attachment_id=str(wanted))
    # RFC 6266: an ASCII fallback name, and the real one percent-encoded as UTF-8.
    plain = "".join(c if c.isascii() and c not in '"\\' else "_" for c in found.filename)
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(found.filename)}"
    return web.Response(
        body=found.content,
        content_type=found.content_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


class AttachmentNotFound(NotFound):
    error_id = "email.attachment_not_found"


# The email channel's REST operations: served and described with the others' (the lead
# passes them to contactcenter.crm.api.customers.setup_crm_api).
EMAIL_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        ATTACHMENT_ROUTE,
        "get_email_attachment",
        "An email attachment's bytes, as a download",
        "agent",
        "email",
        answer=get_email_attachment,
        errors=(404,),
        content_type="application/octet-stream",
    ),
)
