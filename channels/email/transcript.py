"""A web chat's transcript by email, at the customer's request (docs/widget.md).

`render_transcript` is pure: the conversation in, a plain-text email out, every line stamped
with its time in the customer's time zone. `send_transcript` hands it to the outbound SMTP
relay of the email channel (`channels.email.settings.RelaySettings`). It is sent at once,
not through the email channel's outbox: the customer is waiting for the answer, and a relay
that is down is told to them as `transcript.failed` rather than retried behind their back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.headerregistry import Address as MailAddress
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from channels.email.settings import RELAY_ERRORS, RelaySettings, send_via_relay
from contactcenter.core.errors import InvalidInput, ServiceUnavailable


class TranscriptUnavailable(ServiceUnavailable):
    """The hub sends no email (the email channel is off): no transcript either."""

    error_id = "transcript.unavailable"


class TranscriptNoAddress(InvalidInput):
    """Neither the request nor the pre-chat form gave an address to send it to."""

    error_id = "transcript.no_address"


class UnknownTimeZone(InvalidInput):
    error_id = "transcript.unknown_time_zone"


class TranscriptFailed(ServiceUnavailable):
    """The relay did not take the email; nothing was sent."""

    error_id = "transcript.failed"


@dataclass(frozen=True)
class Line:
    """One message: who wrote it ("customer", "agent", "system"), the agent's name, what."""

    sender: str
    name: str
    body: str
    at_ms: int


@dataclass(frozen=True)
class TranscriptEmail:
    to: str
    customer_name: str
    from_address: str
    from_name: str
    rfc_message_id: str  # <...@domain>, made by the caller (rendering draws nothing random)
    sent_at_ms: int
    lines: Sequence[Line]
    zone: tzinfo = UTC


def time_zone(name: str | None) -> tzinfo:
    """The zone an IANA name (such as "Europe/Paris") names; UTC for None."""
    if name is None or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r}", time_zone=name) from None


def _who(line: Line, from_name: str) -> str:
    if line.sender == "customer":
        return "You"
    if line.sender == "agent":
        return line.name or from_name or "Agent"
    return from_name or "Support"


def transcript_text(mail: TranscriptEmail) -> str:
    """The body: a greeting, then one entry per message ("[14:05] You: ..."), a message's
    later lines indented under its first."""
    first = mail.lines[0].at_ms if mail.lines else mail.sent_at_ms
    day = datetime.fromtimestamp(first / 1000, mail.zone)
    out = [
        f"Hello {mail.customer_name}," if mail.customer_name else "Hello,",
        "",
        f"Here is the transcript of your conversation with {mail.from_name or 'us'}"
        f" on {day.day} {day:%B %Y}.",
        "",
    ]
    for line in mail.lines:
        at = datetime.fromtimestamp(line.at_ms / 1000, mail.zone)
        body = line.body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        out.append(f"[{at:%H:%M}] {_who(line, mail.from_name)}: {body[0]}")
        out.extend(f"    {rest}" for rest in body[1:])
    if not mail.lines:
        out.append("(no messages)")
    zone_name = getattr(mail.zone, "key", None) or "UTC"
    out += ["", f"Times are in {zone_name}.", "", "Thank you for contacting us."]
    return "\n".join(out) + "\n"


def render_transcript(mail: TranscriptEmail) -> EmailMessage:
    """The email: From us, To the customer, plain text (what customers wrote is never
    rendered as HTML), marked as automatic so that no auto-responder answers it."""
    msg = EmailMessage()
    try:
        msg["From"] = MailAddress(display_name=mail.from_name, addr_spec=mail.from_address)
        msg["To"] = MailAddress(addr_spec=mail.to)
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"not an email address: {exc}", field="email") from None
    msg["Subject"] = f"Your conversation with {mail.from_name or 'us'}"
    msg["Date"] = format_datetime(datetime.fromtimestamp(mail.sent_at_ms / 1000, UTC))
    msg["Message-ID"] = mail.rfc_message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 section 5: not a reply, do not answer
    msg.set_content(transcript_text(mail))
    return msg


async def send_transcript(message: EmailMessage, sender: str, relay: RelaySettings) -> None:
    """Hand the email to the relay; `TranscriptFailed` when it does not take it."""
    try:
        await send_via_relay(relay, message, sender, str(message["To"].addresses[0].addr_spec))
    except RELAY_ERRORS as exc:
        raise TranscriptFailed("the transcript could not be sent; try again later") from exc
