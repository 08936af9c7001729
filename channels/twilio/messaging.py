"""SMS and WhatsApp through Twilio Programmable Messaging (docs/channels.md).

In: `POST /twilio/messaging` (Twilio's incoming-message webhook). The handler checks the
signature, parses the form (pure: `channels.twilio.messaging_adapter`), records the delivery once
on its MessageSid in the durable inbox (`webhook_receipts`) and answers at once with empty
TwiML. Intake workers, in whichever hub processes run workers (the commit's NOTIFY wakes
them), then take each message: the customer's open conversation on that
channel continues if its last message is within the conversation window, else a new contact
starts (the stale one is ended).

Out: a consumer-group member on the event stream sends each agent message of an SMS or
WhatsApp contact through the REST API, once per message id, and records Twilio's sid; the
delivery status callbacks (`POST /twilio/messaging/status`) move its status forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from multidict import MultiDictProxy
from redis.exceptions import RedisError
from twilio.base.exceptions import TwilioRestException

from channels.base import DeliveryUpdate, InboundMessage, InvalidDelivery, OutboundMessage
from channels.twilio.common import (
    TWILIO,
    TwilioSettings,
    close_twilio_client,
    twilio_client,
    twilio_webhook,
)
from channels.twilio.messaging_adapter import (
    EMPTY_TWIML,
    STATUS_PATH,
    TwilioMessagingAdapter,
    continues_conversation,
    replaceable_by,
    sender_key,
)
from channels.twilio.messaging_store import Endpoint, MessagingStore, Receipt, WebhookReceipts
from contactcenter.conversations.appkeys import ROUTING, SERVICE
from contactcenter.conversations.service import ConversationService
from contactcenter.core import events as ev
from contactcenter.core.appkeys import POOL, REDIS
from contactcenter.core.errors import ConversationClosed, QueueClosed, QueueFull
from contactcenter.core.eventbus import EventGroupConsumer
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.identity import normalise
from contactcenter.settings.appkeys import SETTINGS
from routing.rules import ContactAttributes

log = structlog.get_logger("channels.twilio.messaging")

KIND = "twilio.message"  # webhook_receipts.kind of incoming messages
CONSUMER_GROUP = "twilio-messaging"

# --- the running channel -------------------------------------------------------------------


@dataclass
class MessagingChannel:
    settings: TwilioSettings
    adapter: TwilioMessagingAdapter
    receipts: WebhookReceipts
    store: MessagingStore
    customers: CustomerStore
    service: ConversationService
    client: Any  # twilio.rest.Client on the async HTTP client
    arrivals: asyncio.Queue[None]  # a token per message announced (WebhookReceipts.listen)

    async def status_changed(self, found: tuple[str, str] | None, update: DeliveryUpdate) -> None:
        """Tell the consoles a message's delivery status moved (stored already: a lost event
        only leaves the console a step behind until it reloads the conversation)."""
        if found is None:
            return
        contact_id, message_id = found
        event = ev.MessageStatusChanged(
            at_ms=self.service.clock(),
            contact_id=contact_id,
            message_id=message_id,
            status=update.status,
            error_code=update.error_code,
        )
        try:
            await self.service.bus.publish(event)
        except (RedisError, OSError) as exc:
            log.warning("twilio_status_not_published", message_id=message_id, error=str(exc))

    def arrived(self) -> None:
        """Wake one intake worker: a message was recorded, here or in another process."""
        with contextlib.suppress(asyncio.QueueFull):
            self.arrivals.put_nowait(None)

    async def intake(self) -> None:
        """Take pending messages, one after another, until cancelled."""
        while True:
            try:
                receipt = await self.receipts.claim(KIND, self.settings.intake_lease_s)
                if receipt is not None:
                    await self._take_receipt(receipt)
                    continue
            except Exception as exc:  # PostgreSQL away: try again shortly
                log.warning("twilio_intake_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrivals.get(), timeout=1.0)

    async def _take_receipt(self, receipt: Receipt) -> None:
        try:
            await self.take(InboundMessage.from_json(receipt.payload))
        except Exception as exc:
            if receipt.attempts >= self.settings.max_intake_attempts:
                log.error("twilio_message_dropped", sid=receipt.sid, error=str(exc))
                await self.receipts.finish(KIND, receipt.sid, "failed")
            else:
                log.warning("twilio_message_retried", sid=receipt.sid, error=str(exc))
                delay_s = min(2.0**receipt.attempts, 60.0)
                await self.receipts.retry_later(KIND, receipt.sid, delay_s)

    async def take(self, message: InboundMessage) -> None:
        """Store one incoming message in its conversation. Idempotent on its sid (the
        message's client_msg_id), since a lease that ran out lets it be taken again."""
        service, sid = self.service, message.external_id
        value = normalise(message.sender.kind, message.sender.value, self.settings.default_region)
        found = await self.customers.resolve(
            message.sender.kind, value, display_name=message.sender_name or value
        )
        customer_id, text = found.customer_id, message.display_text()
        contact_id: str | None = None
        opened = await service.open_contact(customer_id, message.channel)
        if opened is not None:
            last_ms = await self.store.last_message_ms(opened[0])
            window_ms = self.settings.conversation_window_ms
            if continues_conversation(last_ms, service.clock(), window_ms):
                try:
                    await service.customer_message(opened[0], text, sid)
                    contact_id = opened[0]
                except ConversationClosed:  # ended meanwhile: a new contact, then
                    pass
            else:
                await service.customer_leave(opened[0])
                log.info("twilio_conversation_window_passed", contact_id=opened[0])
        if contact_id is None:
            name = await self.store.display_name(customer_id)
            facts = ContactAttributes(channel=message.channel, entry=message.entry)
            try:
                contact_id = await service.start_contact(
                    customer_id, name, message.channel, text, sid, facts, identity_proof="twilio"
                )
            except (QueueClosed, QueueFull) as exc:
                await self.receipts.finish(KIND, sid, "refused")
                log.info("twilio_message_refused", sid=sid, why=exc.error_id)
                await self.notify(message, exc.message)
                return
        message_id = await self.store.record_inbound(
            contact_id,
            sid,
            message.media,
            Endpoint(message.channel, message.sender.value, message.entry),
        )
        await self.receipts.finish(
            KIND, sid, "stored", contact_id=contact_id, message_id=message_id
        )
        log.info("twilio_message_stored", sid=sid, contact_id=contact_id, media=len(message.media))

    async def notify(self, message: InboundMessage, text: str) -> None:
        """Tell a customer the hub could not take their message (closed, full): best effort,
        not a message of any conversation."""
        try:
            await self.client.messages.create_async(
                to=message.sender.value, from_=message.entry, body=text
            )
        except Exception as exc:
            log.warning("twilio_notice_failed", sid=message.external_id, error=str(exc))


class SendLater(Exception):
    """Twilio could not be reached and nothing was sent: the event is handled again."""


class TwilioSender:
    """Consumer-group member: each agent message of an SMS or WhatsApp contact goes out once.

    The message is claimed in PostgreSQL before the request, so no delivery of the event (at
    least once) sends it twice. A request that surely sent nothing (no connection, 429, 503)
    releases the claim and is retried, up to `max_send_attempts`; any other failure marks the
    message failed: a send that may have happened is never repeated."""

    def __init__(self, channel: MessagingChannel) -> None:
        self.channel = channel
        self.attempts: dict[str, int] = {}

    async def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, ev.MessageSent) or event.sender != "agent":
            return
        store = self.channel.store
        endpoint = await store.endpoint(event.contact_id)
        if endpoint is None or endpoint.channel not in TwilioMessagingAdapter.channels:
            return
        if not await store.claim_send(event.message_id):
            return  # sent already, or being sent
        numbers = self.channel.settings.channel_numbers(endpoint.channel)
        ours = endpoint.local or (_address(endpoint.channel, numbers[0]) if numbers else "")
        out = OutboundMessage(endpoint.channel, event.message_id, endpoint.remote, ours, event.body)
        try:
            sent = await self.channel.client.messages.create_async(
                **self.channel.adapter.render(out)
            )
        except TwilioRestException as exc:
            if exc.status in (429, 503):
                return await self._later(event.message_id, f"http {exc.status}")
            await store.send_failed(event.message_id, str(exc.code or exc.status))
            log.warning("twilio_send_refused", message_id=event.message_id, code=exc.code)
            return
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was sent
            return await self._later(event.message_id, str(exc))
        except Exception as exc:  # a timeout or a broken answer: it may have gone out
            await store.send_failed(event.message_id, "unknown")
            log.error("twilio_send_uncertain", message_id=event.message_id, error=str(exc))
            return
        self.attempts.pop(event.message_id, None)
        status = str(sent.status or "queued")
        update = DeliveryUpdate(str(sent.sid), status)
        await self.channel.status_changed(
            await store.record_status(update, event.message_id, replaceable_by(status)), update
        )
        log.info("twilio_message_sent", message_id=event.message_id, sid=sent.sid)

    async def _later(self, message_id: str, why: str) -> None:
        tries = self.attempts[message_id] = self.attempts.get(message_id, 0) + 1
        if tries >= self.channel.settings.max_send_attempts:
            self.attempts.pop(message_id, None)
            await self.channel.store.send_failed(message_id, "unreachable")
            log.error("twilio_send_gave_up", message_id=message_id, attempts=tries, error=why)
            return
        await self.channel.store.release_send(message_id)
        raise SendLater(f"Twilio unreachable ({why}); message {message_id} will be retried")


def _address(channel: str, number: str) -> str:
    return f"whatsapp:{number}" if channel == "whatsapp" else number


# --- webhooks (thin) -----------------------------------------------------------------------

MESSAGING = web.AppKey("twilio_messaging", MessagingChannel)


def _twiml(text: str = EMPTY_TWIML) -> web.Response:
    return web.Response(text=text, content_type="text/xml")


async def inbound_message(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    channel = request.app[MESSAGING]
    message = channel.adapter.parse(form)
    # Recorded, the message is announced to the intake workers of every process.
    if not await channel.receipts.record(
        KIND, message.external_id, message.as_json(), sender_key(message)
    ):
        log.info("twilio_message_duplicate", sid=message.external_id)
    return _twiml()


async def message_status(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    channel = request.app[MESSAGING]
    update = channel.adapter.parse_status(form)
    message_id = request.query.get("message_id")
    if message_id is not None:
        try:
            message_id = str(uuid.UUID(message_id))
        except ValueError:
            raise InvalidDelivery(
                "message_id is not a message id", invalid=["message_id"]
            ) from None
    found = await channel.store.record_status(update, message_id, replaceable_by(update.status))
    if found is not None:
        log.info("twilio_message_status", sid=update.external_id, status=update.status)
        await channel.status_changed(found, update)
    return web.Response(status=204)


# --- wiring --------------------------------------------------------------------------------


def setup_twilio_messaging(app: web.Application, twilio: TwilioSettings) -> None:
    """Add the messaging webhooks and, once storage is up, the intake workers and the
    outbound sender. Call after `contactcenter.app.init` built the app (its storage context
    must start first). With no Twilio account configured the webhooks answer 503, nothing
    runs, and the start-up log says so."""
    app[TWILIO] = twilio
    app.router.add_post("/twilio/messaging", twilio_webhook(inbound_message))
    app.router.add_post(STATUS_PATH, twilio_webhook(message_status))
    app.cleanup_ctx.append(_messaging_tasks)


async def _messaging_tasks(app: web.Application) -> AsyncIterator[None]:
    twilio = app[TWILIO]
    if not twilio.enabled:
        log.info("twilio_channels_off", reason="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN unset")
        yield
        return
    settings, pool = app[SETTINGS], app[POOL]
    channel = MessagingChannel(
        settings=twilio,
        adapter=TwilioMessagingAdapter(settings.public_url, twilio.default_region),
        receipts=WebhookReceipts(pool),
        store=MessagingStore(pool),
        customers=CustomerStore(pool, default_region=twilio.default_region),
        service=app[SERVICE],
        client=twilio_client(twilio),
        arrivals=asyncio.Queue(maxsize=10_000),
    )
    app[MESSAGING] = channel
    if not settings.runs_workers:  # the webhooks only: intake and sending run in workers
        log.info("twilio_channels_on", intake="in worker processes")
        try:
            yield
        finally:
            await close_twilio_client(channel.client)
        return
    sender = EventGroupConsumer(
        app[REDIS],
        app[ROUTING].keys.events,
        CONSUMER_GROUP,
        TwilioSender(channel),
        claim_idle_ms=settings.claim_idle_ms,
    )
    tasks = [
        asyncio.create_task(channel.intake(), name=f"twilio-intake-{i}")
        for i in range(twilio.intake_workers)
    ]
    assert settings.database_url
    listening = channel.receipts.listen(settings.database_url, KIND, channel.arrived)
    tasks.append(asyncio.create_task(listening, name="twilio-intake-wakeup"))
    tasks.append(asyncio.create_task(sender.run(), name="twilio-sender"))
    tasks.append(asyncio.create_task(_prune(channel), name="twilio-receipts-prune"))
    log.info(
        "twilio_channels_on",
        sms_numbers=len(twilio.channel_numbers("sms")),
        whatsapp_numbers=len(twilio.channel_numbers("whatsapp")),
        api_base="custom" if twilio.api_base else "twilio",
    )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_twilio_client(channel.client)


async def _prune(channel: MessagingChannel) -> None:
    while True:
        try:
            gone = await channel.receipts.prune(channel.settings.receipt_retention_days)
            if gone:
                log.info("twilio_receipts_pruned", receipts=gone)
        except Exception as exc:
            log.warning("twilio_receipts_prune_failed", error=str(exc))
        await asyncio.sleep(3600)
