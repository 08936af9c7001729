"""Email as the hub reads and writes it: the pure adapter of the email channel (docs/email.md).

`EmailAdapter` implements `channels.base.ChannelAdapter[EmailDelivery, EmailMessage]`:
`parse` turns the bytes of a delivered message (and its envelope recipients) into an
`InboundEmail`, `parse_status` reads a delivery status notification (a bounce, RFC 3464), and
`render` makes the agent's reply, threaded under the customer's message (RFC 5322 §3.6.4).
Nothing here awaits, reads the clock or touches a store. Input that cannot be an email the hub
can answer raises an `EmailRejected` carrying the SMTP reply that says why.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, policy
from email.headerregistry import Address as MailAddress
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses

from channels.base import Address, DeliveryUpdate, InboundMessage, InvalidDelivery, OutboundMessage
from channels.email.text import clean, html_to_text, safe_filename, strip_quoted

CHANNEL = "email"
MAX_THREAD_IDS = 100  # ids kept from a References header: enough to thread, bounded to store
MAX_REPLY_REFERENCES = 20  # ids our replies carry in References (the root and the latest)
_MSG_ID = re.compile(r"<[^<>\s]{1,900}>")
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|r|rif|ref)\s*(\[\d+\])?\s*:", re.IGNORECASE)
# Defects of the message's structure that leave no trustworthy body or parts to read.
_STRUCTURE_DEFECTS = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.MissingHeaderBodySeparatorDefect,
    errors.FirstHeaderLineIsContinuationDefect,
)


class EmailRejected(InvalidDelivery):
    """An email refused as it arrived; `smtp_reply` is what the SMTP client is told: a 5xx
    code, an enhanced status code (RFC 3463) and the reason."""

    error_id = "email.rejected"
    smtp_code = 554
    smtp_status = "5.6.0"

    @property
    def smtp_reply(self) -> str:
        reason = " ".join(self.message.split())  # one line: the SMTP reply cannot span more
        return f"{self.smtp_code} {self.smtp_status} {reason}"


class MissingSender(EmailRejected):
    """No usable From address: there is nobody to answer (RFC 5322 §3.6.2 requires one)."""

    error_id = "email.no_sender"
    smtp_code = 550
    smtp_status = "5.1.7"  # RFC 3463: bad sender's mailbox address syntax


class MalformedMessage(EmailRejected):
    """The MIME structure cannot be read (no or missing boundary, no header/body split)."""

    error_id = "email.malformed"
    smtp_code = 554
    smtp_status = "5.6.0"  # RFC 3463: other or undefined media error


class MessageTooLarge(EmailRejected):
    """Larger than the configured limit (the SMTP server refuses it before reading it)."""

    error_id = "email.too_large"
    smtp_code = 552
    smtp_status = "5.3.4"  # RFC 3463: message too big for system


@dataclass(frozen=True)
class EmailDelivery:
    """What an SMTP session or a mailbox delivered: the message's bytes and the envelope
    recipients (RCPT TO: our addresses it was sent to, when known)."""

    content: bytes
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)

    @property
    def size_bytes(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class InboundEmail(InboundMessage):
    """A customer's email: `external_id` is its Message-ID (angle brackets kept), `text` the
    new words of its body (text/plain preferred, else the HTML as text; quoted history
    removed), `reply_to` where an answer goes (Reply-To, else From)."""

    subject: str = ""
    reply_to: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Ids of earlier messages this one answers, nearest first: In-Reply-To, then
        References from its end (RFC 5322 §3.6.4 puts the parent last)."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)


@dataclass(frozen=True)
class OutboundEmail(OutboundMessage):
    """An agent's reply as an email: `to`/`sender` are addresses; `rfc_message_id` is ours
    (stable per `message_id`, so a resend is recognisably the same message); `in_reply_to`,
    `references` and `subject` come from the message answered; `at_ms` dates it."""

    sender_name: str = ""
    subject: str = ""
    rfc_message_id: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    at_ms: int = 0


# --- small pure helpers ----------------------------------------------------------------------


def message_ids(value: object) -> tuple[str, ...]:
    """The `<id>` tokens of a Message-ID, In-Reply-To or References header; anything else
    there (comments, junk some mailers add) is ignored."""
    return tuple(_MSG_ID.findall(clean(str(value or ""))))[-MAX_THREAD_IDS:]


def our_message_id(message_id: str, domain: str) -> str:
    """The Message-ID of the email carrying the hub's message `message_id`."""
    return f"<{message_id}@{domain}>"


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject or 'your message'}"


def reply_references(
    parent_id: str, parent_references: Sequence[str], parent_in_reply_to: Sequence[str]
) -> tuple[str, ...]:
    """References of a reply (RFC 5322 §3.6.4): the parent's References, else its single
    In-Reply-To, then the parent's Message-ID; trimmed to the first and the latest ids."""
    chain = list(parent_references)
    if not chain and len(parent_in_reply_to) == 1:
        chain = list(parent_in_reply_to)
    chain.append(parent_id)
    if len(chain) > MAX_REPLY_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REPLY_REFERENCES - 1) :]]
    return tuple(chain)


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, ValueError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = clean(content if isinstance(content, str) else "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _attachments(msg: Message, body: Message | None) -> tuple[Attachment, ...]:
    """Every part that is not the body or one of its text alternatives: files, images,
    forwarded messages (kept whole, as .eml)."""
    found: list[Attachment] = []

    def visit(part: Message) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload(0)
            try:
                content = inner.as_bytes() if isinstance(inner, Message) else b""
            except (LookupError, UnicodeError, ValueError):
                content = b""
            name = safe_filename(part.get_filename() or "forwarded.eml", len(found) + 1, ctype)
            found.append(Attachment(name, ctype, content))
            return
        if part.is_multipart():
            for sub in _parts(part):
                visit(sub)
            return
        if part is body:
            return
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if disposition == "attachment" or filename or part.get_content_maintype() != "text":
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            found.append(Attachment(safe_filename(filename, len(found) + 1, ctype), ctype, content))

    visit(msg)
    return tuple(found)


def _parts(msg: Message) -> list[Message]:
    """The sub-messages of a multipart (or message/*) part."""
    payload = msg.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _first_address(msg: Message, name: str) -> tuple[str, str] | None:
    """The first usable address of header `name` (addr-spec, display name), or None."""
    header = msg.get(name)
    if header is None:
        return None
    found = getattr(header, "addresses", None)
    pairs = (
        [(clean(a.addr_spec), clean(a.display_name)) for a in found]
        if found is not None  # an address header (From, To, Reply-To...)
        else [(clean(spec), clean(n)) for n, spec in getaddresses([str(header)])]
    )
    for spec, display_name in pairs:
        local, at, domain = spec.rpartition("@")
        if at and local and domain:
            return spec, display_name
    return None


# --- parsing ---------------------------------------------------------------------------------


def read_message(content: bytes) -> EmailMessage:
    """The parsed message; `MalformedMessage` when its MIME structure is broken."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(content)
    except (errors.MessageError, ValueError, IndexError, LookupError) as exc:
        raise MalformedMessage(f"Malformed message: {exc}", invalid=["message"]) from None
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        for defect in part.defects:
            if isinstance(defect, _STRUCTURE_DEFECTS):
                # Named after the defect class, e.g. "StartBoundaryNotFoundDefect".
                raise MalformedMessage(
                    f"Malformed MIME: {type(defect).__name__}", invalid=["Content-Type"]
                )
    return msg


def parse_email(delivery: EmailDelivery) -> InboundEmail:
    """The email `delivery` holds; `MalformedMessage` or `MissingSender` if unusable."""
    return _inbound(read_message(delivery.content), delivery)


def read_delivery(delivery: EmailDelivery) -> InboundEmail | DeliveryUpdate:
    """What `delivery` is: news of one of our emails (a delivery status notification), or
    an email from a customer. Parsed once; raises like `parse_email`."""
    msg = read_message(delivery.content)
    if _is_delivery_status(msg):
        try:
            return _delivery_status(msg)
        except InvalidDelivery:
            pass  # a report we cannot tie to one of ours: read it as an email
    return _inbound(msg, delivery)


def _inbound(msg: EmailMessage, delivery: EmailDelivery) -> InboundEmail:
    try:
        sender = _first_address(msg, "From")
        reply_to = _first_address(msg, "Reply-To")
        to = _first_address(msg, "Delivered-To") or _first_address(msg, "To")
        subject = " ".join(clean(str(msg.get("Subject", ""))).split())[:998]
        own_id = message_ids(msg.get("Message-ID"))
        in_reply_to = message_ids(msg.get("In-Reply-To"))
        references = message_ids(msg.get("References"))
        body = msg.get_body(preferencelist=("plain", "html"))
    except (errors.MessageError, ValueError, IndexError, LookupError) as exc:
        raise MalformedMessage(f"Malformed header: {exc}", invalid=["headers"]) from None
    if sender is None:
        raise MissingSender("Message has no valid From address", missing=["From"])
    text = ""
    if body is not None:
        text = _text_of(body)
        if body.get_content_subtype() == "html":
            text = html_to_text(text)
    # RFC 5322 §3.6.4: every message SHOULD carry a Message-ID. One without gets an id made
    # from its bytes, so that the same message delivered twice is still stored once.
    external_id = own_id[0] if own_id else f"<{hashlib.sha256(delivery.content).hexdigest()}@hub>"
    # Our address it came to: the envelope's recipient (SMTP), else what the headers say
    # (a mailbox read over IMAP has no envelope).
    entry = delivery.recipients[0] if delivery.recipients else (to[0] if to else "")
    return InboundEmail(
        channel=CHANNEL,
        external_id=external_id,
        sender=Address("email", sender[0]),
        entry=entry.lower(),
        text=strip_quoted(text),
        sender_name=sender[1],
        subject=subject,
        reply_to=(reply_to or sender)[0],
        in_reply_to=in_reply_to,
        references=references,
        attachments=_attachments(msg, body),
    )


def _is_delivery_status(msg: EmailMessage) -> bool:
    return msg.get_content_type() == "multipart/report" and (
        str(msg.get_param("report-type", "")).lower() == "delivery-status"
    )


def parse_delivery_status(content: bytes) -> DeliveryUpdate:
    """A delivery status notification (RFC 3464: multipart/report; report-type=
    delivery-status) about one of our emails: its Message-ID, the Action of its first
    recipient ("failed", "delayed", "delivered"...) and the Status code ("5.1.1")."""
    msg = read_message(content)
    if not _is_delivery_status(msg):
        raise InvalidDelivery("not a delivery status notification", invalid=["Content-Type"])
    return _delivery_status(msg)


def _delivery_status(msg: EmailMessage) -> DeliveryUpdate:
    action = status = original = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in _parts(part)[1:]:  # RFC 3464 §2.1: the per-message block comes first
                action = action or block.get("Action")
                status = status or block.get("Status")
        elif ctype == "text/rfc822-headers":
            original = read_message(_text_of(part).encode("utf-8", "replace")).get("Message-ID")
        elif ctype == "message/rfc822" and _parts(part):
            original = _parts(part)[0].get("Message-ID")
    ids = message_ids(original)
    if not ids or not action:
        missing = [k for k, v in (("Message-ID", ids), ("Action", action)) if not v]
        raise InvalidDelivery("delivery status without the original's id", missing=missing)
    code = str(status).split()[0] if status else None
    return DeliveryUpdate(ids[0], str(action).strip().lower(), code)


# --- rendering -------------------------------------------------------------------------------


def render_reply(message: OutboundMessage) -> EmailMessage:
    """The email carrying an agent's message: From us, To the customer, and, for an
    `OutboundEmail`, Subject "Re: ...", our Message-ID, In-Reply-To and References."""
    extra = message if isinstance(message, OutboundEmail) else OutboundEmail(**vars(message))
    msg = EmailMessage()
    try:
        msg["From"] = MailAddress(display_name=extra.sender_name, addr_spec=extra.sender)
        msg["To"] = MailAddress(addr_spec=extra.to)
    except (errors.MessageError, ValueError, IndexError) as exc:
        raise InvalidDelivery(f"not an email address: {exc}", invalid=["to"]) from None
    msg["Subject"] = reply_subject(extra.subject)
    msg["Date"] = format_datetime(datetime.fromtimestamp(extra.at_ms / 1000, UTC))
    if extra.rfc_message_id:
        msg["Message-ID"] = extra.rfc_message_id
    if extra.in_reply_to:
        msg["In-Reply-To"] = extra.in_reply_to
    if extra.references:
        msg["References"] = " ".join(extra.references)
    msg.set_content(extra.text)
    return msg


class EmailAdapter:
    """The email channel's `ChannelAdapter`: bytes in, `EmailMessage` out."""

    channels: tuple[str, ...] = (CHANNEL,)

    def parse(self, raw: EmailDelivery) -> InboundEmail:
        return parse_email(raw)

    def parse_status(self, raw: EmailDelivery) -> DeliveryUpdate:
        return parse_delivery_status(raw.content)

    def render(self, message: OutboundMessage) -> EmailMessage:
        return render_reply(message)
