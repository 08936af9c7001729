"""The one interface every channel adapter implements (docs/channels.md).

An adapter is the pure part of a channel: it parses what the channel delivers into small
frozen dataclasses (`InboundMessage`, `DeliveryUpdate`) and renders what goes out
(`OutboundMessage`) into the channel's wire form. Parsing and rendering never await and never
touch a socket or a store, so they are tested with plain values; the thin handlers and
clients around them (webhooks, REST clients, mailboxes, websockets) do the I/O.

A malformed delivery is refused with `InvalidDelivery`, whose `details.missing` and
`details.invalid` name the fields, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from contactcenter.core.errors import InvalidInput

RawIn = TypeVar("RawIn", contravariant=True)
RawOut = TypeVar("RawOut", covariant=True)


class InvalidDelivery(InvalidInput):
    """What a channel delivered lacks a field or has one we cannot read."""

    error_id = "channel.invalid_delivery"

    def __init__(
        self, message: str, *, missing: Sequence[str] = (), invalid: Sequence[str] = ()
    ) -> None:
        super().__init__(message, missing=list(missing), invalid=list(invalid))


@dataclass(frozen=True)
class Address:
    """Where a customer is reached on a channel.

    `kind` is the CRM identity kind the address resolves through ("phone", "whatsapp",
    "email", "visitor"); `value` is the address exactly as the channel writes it (for
    instance `whatsapp:+14155550123`), which is what a reply must be sent to.
    """

    kind: str
    value: str


@dataclass(frozen=True)
class MediaLink:
    """An attachment kept as a link to where the channel stores it; never downloaded."""

    url: str
    content_type: str


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message as a channel delivered it, before it is stored.

    `external_id` is the channel's own id of the message (a Twilio MessageSid, an email
    Message-ID): deliveries are idempotent on it. `entry` is our address the customer wrote
    to (the number, mailbox or widget), which routing rules may match on.
    """

    channel: str
    external_id: str
    sender: Address
    entry: str
    text: str
    sender_name: str = ""
    media: tuple[MediaLink, ...] = ()

    def display_text(self) -> str:
        """The text an agent reads: what the customer wrote, then one line per attachment,
        so that a picture sent without words still shows up in the conversation."""
        lines = [self.text] if self.text else []
        lines += [f"[{m.content_type or 'attachment'}] {m.url}" for m in self.media]
        return "\n".join(lines) if lines else "(empty message)"

    def as_json(self) -> dict[str, Any]:
        """A plain JSON object, to keep the message in an inbox until it is handled."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundMessage:
        return cls(
            **{
                **data,
                "sender": Address(**data["sender"]),
                "media": tuple(MediaLink(**m) for m in data.get("media", ())),
            }
        )


@dataclass(frozen=True)
class OutboundMessage:
    """An agent's message to go out on a channel: `message_id` is the hub's id of the stored
    message (sends are idempotent on it), `to` the customer's address as the channel writes
    it, `sender` ours."""

    channel: str
    message_id: str
    to: str
    sender: str
    text: str


@dataclass(frozen=True)
class DeliveryUpdate:
    """The channel's news of an outbound message: its new `status` and, for a failure, the
    channel's error code."""

    external_id: str
    status: str
    error_code: str | None = None


class ChannelAdapter(Protocol[RawIn, RawOut]):
    """Parse what a channel delivers; render what goes out. Pure: no I/O, no clock."""

    channels: tuple[str, ...]  # the channel names (contacts' `channel`) this adapter serves

    def parse(self, raw: RawIn) -> InboundMessage:
        """The message in `raw`; raises `InvalidDelivery` naming what is missing or wrong."""
        ...

    def parse_status(self, raw: RawIn) -> DeliveryUpdate:
        """The delivery news in `raw`; raises `InvalidDelivery` like `parse`."""
        ...

    def render(self, message: OutboundMessage) -> RawOut:
        """What the outbound client hands the channel to send `message`."""
        ...
