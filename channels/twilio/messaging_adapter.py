"""SMS and WhatsApp through Twilio, the pure part: incoming-message webhooks and status
callbacks parsed, replies rendered as the Messages API's arguments, delivery statuses ordered
(docs/channels.md). No I/O and no clock: tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twilio.twiml.messaging_response import MessagingResponse

from channels.base import (
    Address,
    DeliveryUpdate,
    InboundMessage,
    InvalidDelivery,
    MediaLink,
    OutboundMessage,
)
from channels.twilio.common import form_invalid
from contactcenter.crm.identity import InvalidIdentity, normalise

STATUS_PATH = "/twilio/messaging/status"
EMPTY_TWIML = str(MessagingResponse())  # "nothing to reply"; Twilio wants TwiML or an empty 200

# https://www.twilio.com/docs/messaging/guides/webhook-request: MessageSid is 34 characters,
# "SM" (or "MM" for MMS) and 32 hex digits.
_SID = r"^(SM|MM)[0-9a-fA-F]{32}$"
_MAX_MEDIA = 10  # Twilio delivers at most 10 media per message


class _MessageForm(BaseModel):
    """The fields of Twilio's incoming-message webhook that the hub reads."""

    model_config = ConfigDict(extra="ignore")
    MessageSid: str = Field(pattern=_SID)
    From: str = Field(min_length=1, max_length=80)
    To: str = Field(min_length=1, max_length=80)
    Body: str = Field(default="", max_length=4000)
    NumMedia: int = Field(default=0, ge=0, le=_MAX_MEDIA)
    ProfileName: str = Field(default="", max_length=200)  # WhatsApp only


class _StatusForm(BaseModel):
    """Twilio's message status callback (docs: "Outbound Message Status in Status Callbacks")."""

    model_config = ConfigDict(extra="ignore")
    MessageSid: str = Field(pattern=_SID)
    MessageStatus: str = Field(pattern=r"^[a-z_]{1,32}$")
    ErrorCode: str | None = Field(default=None, max_length=16)


# Each status may replace only those ranked below it, so callbacks arriving out of order never
# move a message backwards. "submitting" is ours: a send in flight, before Twilio answered.
STATUS_RANK: Mapping[str, int] = {
    "submitting": 0, "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "delivered": 5, "undelivered": 5, "failed": 5, "canceled": 5, "partially_delivered": 5,
    "read": 6, "receiving": 0, "received": 1,
}  # fmt: skip


def replaceable_by(status: str) -> list[str]:
    """The statuses `status` may replace; none for a status we do not know."""
    rank = STATUS_RANK.get(status)
    return [] if rank is None else [s for s, r in STATUS_RANK.items() if r < rank]


def continues_conversation(last_message_ms: int | None, now_ms: int, window_ms: int) -> bool:
    """Whether a new message continues an open conversation whose last message was at
    `last_message_ms`: within the window after it (WhatsApp's customer service window is
    24 h after the customer's last message, hence the default)."""
    return last_message_ms is not None and now_ms - last_message_ms <= window_ms


class TwilioMessagingAdapter:
    """Twilio's messaging webhooks and Messages API, as `channels.base.ChannelAdapter`."""

    channels: tuple[str, ...] = ("sms", "whatsapp")

    def __init__(self, public_url: str, default_region: str | None = None) -> None:
        self.public_url = public_url.rstrip("/")
        self.default_region = default_region

    def parse(self, raw: Mapping[str, str]) -> InboundMessage:
        try:
            form = _MessageForm.model_validate(dict(raw))
        except ValidationError as exc:
            raise form_invalid(exc) from None
        # WhatsApp addresses are "whatsapp:+E164" on both sides; SMS ones plain E.164.
        whatsapp = form.From.startswith("whatsapp:")
        if whatsapp != form.To.startswith("whatsapp:"):
            raise InvalidDelivery("From and To are on different channels", invalid=["To"])
        kind = "whatsapp" if whatsapp else "phone"
        try:
            normalise(kind, form.From, self.default_region)
        except InvalidIdentity:
            raise InvalidDelivery("From is not a phone number", invalid=["From"]) from None
        media, missing = [], []
        for i in range(form.NumMedia):
            url = raw.get(f"MediaUrl{i}", "")
            if not url.startswith(("https://", "http://")):
                missing.append(f"MediaUrl{i}")
            media.append(MediaLink(url, raw.get(f"MediaContentType{i}", "")))
        if missing:
            raise InvalidDelivery("media announced but not given", missing=missing)
        return InboundMessage(
            channel="whatsapp" if whatsapp else "sms",
            external_id=form.MessageSid,
            sender=Address(kind, form.From),
            entry=form.To,
            text=form.Body,
            sender_name=form.ProfileName,
            media=tuple(media),
        )

    def parse_status(self, raw: Mapping[str, str]) -> DeliveryUpdate:
        try:
            form = _StatusForm.model_validate(dict(raw))
        except ValidationError as exc:
            raise form_invalid(exc) from None
        return DeliveryUpdate(form.MessageSid, form.MessageStatus, form.ErrorCode or None)

    def render(self, message: OutboundMessage) -> dict[str, Any]:
        """Arguments of the library's `messages.create_async`: To, From, Body, and a status
        callback that names our message, so that a callback arriving before Twilio's answer
        still finds it."""
        return {
            "to": message.to,
            "from_": message.sender,
            "body": message.text,
            "status_callback": f"{self.public_url}{STATUS_PATH}?message_id={message.message_id}",
        }


def sender_key(message: InboundMessage) -> str:
    """Messages with one key are taken in order, one at a time: one customer's."""
    return f"{message.sender.kind}:{message.sender.value}"
