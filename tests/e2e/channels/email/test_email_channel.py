"""End to end: email through a real SMTP session on loopback, into a running hub, and the
agent's reply out to a loopback "sink" SMTP server (docs/email.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.channel import (
    ATTACHMENT_ROUTE,
    EMAIL_CHANNEL,
    EMAIL_OPERATIONS,
    EmailChannel,
    setup_email,
)
from channels.email.imap import ImapPoller
from channels.email.message import EmailDelivery
from channels.email.settings import EmailSettings, ImapSettings, RelaySettings, SmtpServerSettings
from channels.language import load_language_settings, setup_language
from contactcenter.app import init
from contactcenter.core.appkeys import POOL
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.routing import QueueSettings
from contactcenter.web.openapi import add_operations
from routing.rules import RoutingRule, RuleTarget
from tests.conftest import TEST_PASSWORD, LiveHub, free_port
from tests.e2e.clients import AgentClient, login

CONFIG = Path(__file__).resolve().parents[4] / "config"
OURS = "support@hub.test"
MAX_MESSAGE_BYTES = 200_000


@dataclass
class Sink:
    """A loopback SMTP server standing in for the relay: keeps what it is given, and refuses
    recipients at `refused.test` for good."""

    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@refused.test"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = BytesParser(policy=default_policy).parsebytes(envelope.original_content or b"")
        assert isinstance(msg, EmailMessage)
        self.received.append(msg)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


@dataclass
class EmailHub:
    hub: LiveHub
    channel: EmailChannel
    smtp_port: int
    sink: Sink

    async def send(self, msg: EmailMessage) -> str:
        """Deliver `msg` over a real SMTP session; the text of the server's 250 reply."""
        _refused, reply = await aiosmtplib.send(
            msg, hostname="127.0.0.1", port=self.smtp_port, recipients=[OURS], start_tls=False
        )
        return reply

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.hub.settings.database_url)


def email(
    text: str,
    *,
    sender: str = "Dana Customer <dana@customer.test>",
    subject: str = "My invoice",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@customer.test>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """The first truthy value of `check`, polled until `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def start_email_hub(
    settings: HubSettings, email_settings: EmailSettings
) -> tuple[LiveHub, web.AppRunner]:
    """`tests.conftest.start_hub`, with language detection and the email channel set up."""
    app = init(settings)
    # Once as the hub's own wiring does (a no-op if init already did), then with these
    # settings: a second call only replaces the settings.
    setup_language(app)
    setup_email(app)
    setup_language(app, load_language_settings(CONFIG, {}))
    setup_email(app, email_settings)
    if not any(
        r.resource and r.resource.canonical == ATTACHMENT_ROUTE for r in app.router.routes()
    ):
        add_operations(app, EMAIL_OPERATIONS)  # until the hub's API table carries them
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    base = f"http://127.0.0.1:{settings.port}"
    return LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, settings), runner


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    found = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(found, loop=loop), "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


@pytest.fixture
async def email_hub(settings: HubSettings, redis: Any, sink: Sink) -> AsyncIterator[EmailHub]:
    billing = QueueSettings(name="billing", skill="support", channels=("email",))
    support = replace(settings.queues[0], channels=("chat", "email"))
    settings = replace(
        settings,
        queues=(support, *settings.queues[1:], billing),
        rules=(
            RoutingRule(
                "billing emails",
                {"intent": ("billing",), "language": ("en",)},
                RuleTarget("billing"),
            ),
        ),
    )
    email_settings = EmailSettings(
        enabled=True,
        from_address=OURS,
        from_name="Hub Support",
        max_message_bytes=MAX_MESSAGE_BYTES,
        accept_recipients=(OURS,),
        smtp_server=SmtpServerSettings(port=free_port()),
        relay=RelaySettings(port=sink.port, retry_base_s=0.1, max_attempts=2),
    )
    live, runner = await start_email_hub(settings, email_settings)
    channel = live.app[EMAIL_CHANNEL]
    assert channel.smtp_port is not None
    yield EmailHub(live, channel, channel.smtp_port, sink)
    await runner.cleanup()


async def contact_of(conn: asyncpg.Connection, rfc_message_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT c.* FROM email_messages e JOIN contacts c ON c.id = e.contact_id"
        " WHERE e.rfc_message_id = $1",
        rfc_message_id,
    )
    assert row is not None, f"{rfc_message_id} not stored"
    return row


async def bodies(conn: asyncpg.Connection, contact_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at", contact_id
    )
    return [r["body"] for r in rows]


async def test_an_email_opens_a_contact_routed_by_its_language_and_intent(
    email_hub: EmailHub,
) -> None:
    words = "Hello, I was charged twice on my last invoice. Please refund me."
    first = email(words)
    assert await email_hub.send(first) == "2.0.0 Stored"  # only once it is stored
    conn = await email_hub.db()
    try:
        contact = await contact_of(conn, first["Message-ID"])
        assert contact["channel"] == "email" and contact["language"] == "en"
        assert contact["queue"] == "billing"  # the rule on intent "billing" and language "en"
        assert await bodies(conn, contact["id"]) == [f"Subject: My invoice\n\n{words}"]
        who = await conn.fetchrow(
            "SELECT c.display_name FROM identities i JOIN customers c ON c.id = i.customer_id"
            " WHERE i.kind = 'email' AND i.value = 'dana@customer.test'"
        )
        assert who is not None and who["display_name"] == "Dana Customer"
        french = email("Bonjour, où en est ma commande passée il y a deux semaines ?")
        await email_hub.send(french)
        other = await contact_of(conn, french["Message-ID"])
        assert other["language"] == "fr" and other["queue"] == "support"
    finally:
        await conn.close()


async def test_replies_thread_to_the_contact_by_in_reply_to_and_by_references(
    email_hub: EmailHub,
) -> None:
    first = email("My parcel has not arrived yet, can you check?")
    second = email("Any news?", In_Reply_To=first["Message-ID"], subject="Re: My invoice")
    # References alone (some mailers send no In-Reply-To); an unknown id in it is ignored.
    third = email(
        "Still waiting.",
        References=f"{first['Message-ID']} <unknown@elsewhere.test> {second['Message-ID']}",
    )
    for msg in (first, second, third):
        assert await email_hub.send(msg) == "2.0.0 Stored"
    conn = await email_hub.db()
    try:
        contact = await contact_of(conn, first["Message-ID"])
        for msg in (second, third):
            assert (await contact_of(conn, msg["Message-ID"]))["id"] == contact["id"]
        assert await bodies(conn, contact["id"]) == [
            "Subject: My invoice\n\nMy parcel has not arrived yet, can you check?",
            "Any news?",
            "Still waiting.",
        ]
        fresh = email("A new question, a new thread.")
        await email_hub.send(fresh)
        assert (await contact_of(conn, fresh["Message-ID"]))["id"] != contact["id"]
    finally:
        await conn.close()


async def test_an_email_not_stored_is_not_acknowledged_so_the_sender_keeps_it(
    email_hub: EmailHub,
) -> None:
    msg = email("Sent while the database is away.", sender="retry@customer.test")
    await email_hub.hub.app[POOL].close()  # PostgreSQL out of reach for this hub
    with pytest.raises(aiosmtplib.SMTPDataError) as deferred:
        await email_hub.send(msg)
    assert deferred.value.code == 451  # RFC 5321: a transient failure; the sender retries
    await assert_nothing_from(email_hub, "retry@customer.test")


async def test_the_same_message_id_delivered_twice_is_stored_once(email_hub: EmailHub) -> None:
    msg = email("Sent twice by an impatient mail server.", sender="twice@customer.test")
    assert await email_hub.send(msg) == "2.0.0 Stored"
    assert await email_hub.send(msg) == "2.0.0 Already stored"
    conn = await email_hub.db()
    try:
        contact = await contact_of(conn, msg["Message-ID"])
        assert len(await bodies(conn, contact["id"])) == 1
        count = await conn.fetchval(
            "SELECT count(*) FROM contacts WHERE customer_id = $1", contact["customer_id"]
        )
        assert count == 1
    finally:
        await conn.close()


async def test_an_attachment_is_stored_and_served_to_agents_only(email_hub: EmailHub) -> None:
    msg = email("The invoice is attached.")
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 40
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="facture été.pdf")
    assert await email_hub.send(msg) == "2.0.0 Stored"
    conn = await email_hub.db()
    try:
        row = await conn.fetchrow(
            "SELECT a.* FROM email_attachments a JOIN email_messages e ON e.id = a.email_id"
            " WHERE e.rfc_message_id = $1",
            msg["Message-ID"],
        )
        assert row is not None and row["content"] == pdf and row["size_bytes"] == len(pdf)
        assert (row["filename"], row["content_type"]) == ("facture été.pdf", "application/pdf")
        (body,) = await bodies(conn, (await contact_of(conn, msg["Message-ID"]))["id"])
        link = f"/api/email/attachments/{row['id']}"
        assert body.endswith(f"[attachment: facture été.pdf, application/pdf, 10 KB] {link}")
    finally:
        await conn.close()
    base = email_hub.hub.base_url
    token = await login(base, "alice", email_hub.hub.demo_password)
    async with aiohttp.ClientSession() as http:
        async with http.get(base + link) as anonymous:
            assert anonymous.status == 401
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/email/attachments/{uuid.uuid4()}", headers=auth) as none:
            assert none.status == 404
            assert (await none.json())["error_id"] == "email.attachment_not_found"
        async with http.get(base + link, headers=auth) as got:
            assert got.status == 200 and await got.read() == pdf
            assert got.headers["Content-Type"] == "application/pdf"
            assert (
                "filename*=UTF-8''facture%20%C3%A9t%C3%A9.pdf" in got.headers["Content-Disposition"]
            )


async def test_an_agent_reply_goes_out_threaded_once_and_the_answer_threads_back(
    email_hub: EmailHub,
) -> None:
    agent = await AgentClient.connect(email_hub.hub.base_url, "alice", email_hub.hub.demo_password)
    await agent.go_available()
    first = email("My parcel is late, where is it?", References="<root@customer.test>")
    await email_hub.send(first)
    offer = await agent.expect("offer")
    contact_id = offer["contact"]["contact_id"]
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    assert (await agent.command("send", contact_id=contact_id, text="It ships today."))[
        "type"
    ] == "ack"

    sink = email_hub.sink
    assert await until(lambda: asyncio.sleep(0, len(sink.received))), "no reply reached the sink"
    reply = sink.received[0]
    assert reply["To"] == "dana@customer.test"
    assert reply["From"] == f"Hub Support <{OURS}>"
    assert reply["Subject"] == "Re: My invoice"
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert reply["References"].split() == ["<root@customer.test>", first["Message-ID"]]
    assert reply.get_content().strip() == "It ships today."
    assert reply["Message-ID"].endswith("@hub.test>")
    assert sink.envelopes[0] == (OURS, ["dana@customer.test"])

    # At least once in, once out: the stream delivering the agent's message again (a member
    # died before acking) queues nothing new, and nothing is left to send.
    channel = email_hub.channel
    conn = await email_hub.db()
    try:
        sent = await conn.fetchrow(
            "SELECT * FROM email_messages WHERE direction = 'out' AND contact_id = $1",
            uuid.UUID(contact_id),
        )
        assert sent is not None and sent["state"] == "sent" and sent["attempts"] == 1
        assert sent["rfc_message_id"] == reply["Message-ID"]
        assert not await channel.sender.queue(contact_id, str(sent["message_id"]), "again", 0)
        assert not await channel.sender.send_next()
        assert len(sink.received) == 1

        # The customer answers our reply: it threads back to the same contact.
        answer = email("Thanks!", In_Reply_To=reply["Message-ID"])
        await email_hub.send(answer)
        assert str((await contact_of(conn, answer["Message-ID"]))["id"]) == contact_id
        got = await agent.expect("message")
        while got["message"]["body"] != "Thanks!":
            got = await agent.expect("message")

        # A bounce of our reply (RFC 3464) marks it failed; no contact is made of it.
        bounced = await raw_send(email_hub, "", bounce_of(reply))  # null sender: RFC 3464
        assert bounced.message == "2.0.0 Delivery status noted"
        state = await until(
            lambda: conn.fetchval(
                "SELECT last_error FROM email_messages WHERE id = $1 AND state = 'failed'",
                sent["id"],
            )
        )
        assert state == "bounced: 5.1.1"
    finally:
        await conn.close()
        await agent.close()


def bounce_of(original: EmailMessage) -> bytes:
    """A delivery status notification (RFC 3464) saying `original` could not be delivered."""
    return (
        "From: MAILER-DAEMON@customer.test\r\nTo: support@hub.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{uuid.uuid4().hex}@mx>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type="delivery-status";'
        ' boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        "Final-Recipient: rfc822; dana@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nSubject: {original['Subject']}\r\n"
        "\r\n--B--\r\n"
    ).encode()


async def test_a_reply_the_relay_refuses_for_good_is_failed_not_retried(
    email_hub: EmailHub,
) -> None:
    agent = await AgentClient.connect(email_hub.hub.base_url, "alice", email_hub.hub.demo_password)
    await agent.go_available()
    await email_hub.send(email("Where is my order?", sender="gone@refused.test"))
    contact_id = (await agent.expect("offer"))["contact"]["contact_id"]
    await agent.command("accept", contact_id=contact_id)
    await agent.command("send", contact_id=contact_id, text="Looking into it")
    conn = await email_hub.db()
    try:
        row = await until(
            lambda: conn.fetchrow(
                "SELECT * FROM email_messages WHERE direction = 'out' AND contact_id = $1"
                " AND state = 'failed'",
                uuid.UUID(contact_id),
            )
        )
        assert row is not None and row["attempts"] == 1
        assert row["last_error"] == "SMTPRecipientsRefused"
        assert email_hub.sink.received == []
    finally:
        await conn.close()
        await agent.close()


async def test_an_oversize_email_is_refused_with_552_and_nothing_is_stored(
    email_hub: EmailHub,
) -> None:
    big = email("x" * 100 + "\n" + "y" * 998 * 2 + "\n", sender="big@customer.test")
    big.add_attachment(b"\0" * MAX_MESSAGE_BYTES, maintype="application", subtype="zip")
    # aiosmtplib announces the size (RFC 1870 SIZE): the server refuses at MAIL FROM...
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await email_hub.send(big)
    assert refused.value.code == 552
    # ...and a client that does not announce it is refused once the data passes the limit.
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=email_hub.smtp_port) as client:
        await client.mail("big@customer.test")
        await client.rcpt(OURS)
        with pytest.raises(aiosmtplib.SMTPDataError) as too_much:
            await client.data(big.as_bytes())
    assert too_much.value.code == 552
    await assert_nothing_from(email_hub, "big@customer.test")


async def test_malformed_mime_is_refused_with_554_and_nothing_is_stored(
    email_hub: EmailHub,
) -> None:
    raw = (
        b"From: broken@customer.test\r\nTo: support@hub.test\r\nSubject: parts\r\n"
        b"Message-ID: <broken@customer.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=NEVERSEEN\r\n\r\nno parts at all\r\n"
    )
    reply = await raw_send(email_hub, "broken@customer.test", raw)
    assert reply.code == 554 and "Malformed MIME" in reply.message
    await assert_nothing_from(email_hub, "broken@customer.test")


async def test_an_email_without_from_is_refused_with_550(email_hub: EmailHub) -> None:
    raw = b"To: support@hub.test\r\nSubject: who am I\r\nMessage-ID: <nofrom@x.test>\r\n\r\nhi\r\n"
    reply = await raw_send(email_hub, "someone@customer.test", raw)
    assert reply.code == 550 and reply.message.startswith("5.1.7")
    conn = await email_hub.db()
    try:
        assert not await conn.fetchval(
            "SELECT count(*) FROM email_messages WHERE rfc_message_id = '<nofrom@x.test>'"
        )
    finally:
        await conn.close()


async def test_mail_to_an_address_not_ours_is_refused(email_hub: EmailHub) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            email("hello"), hostname="127.0.0.1", port=email_hub.smtp_port, recipients=["x@y.test"]
        )
    assert refused.value.recipients[0].code == 550


async def raw_send(hub: EmailHub, sender: str, raw: bytes) -> aiosmtplib.SMTPResponse:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=hub.smtp_port) as client:
        await client.mail(sender)
        await client.rcpt(OURS)
        try:
            return await client.data(raw)
        except aiosmtplib.SMTPDataError as exc:
            return aiosmtplib.SMTPResponse(exc.code, exc.message)


async def assert_nothing_from(hub: EmailHub, address: str) -> None:
    conn = await hub.db()
    try:
        assert not await conn.fetchval(
            "SELECT count(*) FROM email_messages WHERE from_address = $1", address
        )
        assert not await conn.fetchval(
            "SELECT count(*) FROM identities WHERE kind = 'email' AND value = $1", address
        )
    finally:
        await conn.close()


@dataclass
class FakeMailbox:
    """An IMAP mailbox's state as the poller sees it (the IMAP server is not ours)."""

    messages: dict[bytes, bytes]
    flags: dict[bytes, set[str]] = field(default_factory=dict)

    def unseen(self) -> list[bytes]:
        return [uid for uid in self.messages if "seen" not in self.flags.get(uid, set())]

    def fetch(self, uid: bytes) -> bytes:
        return self.messages[uid]

    def done(self, uid: bytes) -> None:
        self.flags.setdefault(uid, set()).add("seen")

    def refused(self, uid: bytes) -> None:
        self.flags.setdefault(uid, set()).update({"seen", "flagged"})

    def close(self) -> None:
        pass


async def test_imap_polling_stores_then_marks_seen_and_flags_what_it_refuses(
    email_hub: EmailHub,
) -> None:
    good = email("Sent to the mailbox, read by polling.", sender="imap@customer.test")
    box = FakeMailbox({b"1": good.as_bytes(), b"2": b"From: x@y.test\r\nContent-Type: multipart/"
                       b"mixed\r\n\r\nbroken\r\n"})  # fmt: skip
    poller = ImapPoller(
        ImapSettings(enabled=True), email_hub.channel.intake.deliver, lambda _s: box
    )
    assert await poller.poll_once() == 2
    assert box.flags == {b"1": {"seen"}, b"2": {"seen", "flagged"}}
    assert await poller.poll_once() == 0
    conn = await email_hub.db()
    try:
        contact = await contact_of(conn, good["Message-ID"])
        assert contact["channel"] == "email"
    finally:
        await conn.close()
    # Delivered again (flags lost on the server): stored once all the same.
    assert (await email_hub.channel.intake.deliver(EmailDelivery(good.as_bytes()))).name == (
        "DUPLICATE"
    )


async def test_email_is_off_unless_configured(settings: HubSettings, redis: Any) -> None:
    live, runner = await start_email_hub(settings, EmailSettings(enabled=False))
    try:
        assert EMAIL_CHANNEL not in live.app
    finally:
        await runner.cleanup()
