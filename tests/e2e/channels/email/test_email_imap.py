"""End to end: email read from a real IMAP server (Dovecot, tests/e2e/dovecot.py) by the real
ImapMailbox and ImapPoller, into a running hub (docs/email.md).

Emails go into the mailbox over IMAP APPEND, as a delivery agent or a mail client would put
them there; flags are read back over a second IMAP session. Each test has a folder of its own.
What the poller sent the server is read from its recorded wire (tests/e2e/imap_support.py).
The size limit's own tests are in test_email_imap_limits.py.
"""

from __future__ import annotations

import asyncio
import imaplib
import ssl
import uuid
from typing import Any

import asyncpg
import pytest
import structlog

from channels.email.channel import Outcome
from channels.email.message import EmailDelivery
from contactcenter.settings.hub import HubSettings
from tests.e2e.channels.email.test_email_channel import (
    MAX_MESSAGE_BYTES,
    OURS,
    bodies,
    email,
    until,
)
from tests.e2e.dovecot import (
    HOST,
    Dovecot,
    dovecot_fixture,  # noqa: F401  (the `dovecot` fixture)
    require_dovecot,
)
from tests.e2e.imap_support import (
    REFUSED,
    SEEN,
    MailboxHub,
    polled_fixture,  # noqa: F401  (the `polled` fixture)
    start_mailbox_hub,
    unpolled_fixture,  # noqa: F401  (the `unpolled` fixture)
)

require_dovecot()


async def test_a_new_email_in_the_mailbox_opens_a_contact_and_is_then_marked_seen(
    polled: MailboxHub,
) -> None:
    msg = email("Appended to the mailbox, read by the poller.", sender="imap@customer.test")
    uid = await polled.append(msg)
    row = await polled.stored(msg)
    assert row["entry"] == OURS  # no envelope over IMAP: the To header says which address
    (contact,) = await polled.query("SELECT * FROM contacts WHERE id = $1", row["contact_id"])
    assert contact["channel"] == "email"
    conn = await asyncpg.connect(polled.database_url)
    try:
        assert await bodies(conn, contact["id"]) == [
            "Subject: My invoice\n\nAppended to the mailbox, read by the poller."
        ]
    finally:
        await conn.close()
    assert await polled.flags_become({uid: SEEN}) == {uid: SEEN}


async def test_replies_in_the_mailbox_thread_by_in_reply_to_and_by_references(
    polled: MailboxHub,
) -> None:
    first = email("My parcel has not arrived yet.", sender="thread@customer.test")
    await polled.append(first)
    contact_id = (await polled.stored(first))["contact_id"]
    second = email("Any news?", sender="thread@customer.test", In_Reply_To=first["Message-ID"])
    third = email(
        "Still waiting.",
        sender="thread@customer.test",
        References=f"<unknown@elsewhere.test> {first['Message-ID']}",
    )
    for msg in (second, third):
        await polled.append(msg)
        assert (await polled.stored(msg))["contact_id"] == contact_id
    rows = await polled.query(
        "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at", contact_id
    )
    assert [r["body"] for r in rows][1:] == ["Any news?", "Still waiting."]


async def test_what_the_poller_refuses_is_flagged_for_a_person_and_never_stored(
    polled: MailboxHub,
) -> None:
    malformed = (
        b"From: broken@customer.test\r\nTo: support@hub.test\r\nSubject: parts\r\n"
        b"Message-ID: <malformed-imap@customer.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=NEVERSEEN\r\n\r\nno parts at all\r\n"
    )
    big = email("Too large for us.", message_id="<big-imap@customer.test>")
    big.add_attachment(b"\0" * MAX_MESSAGE_BYTES, maintype="application", subtype="zip")
    no_from = b"To: support@hub.test\r\nMessage-ID: <nofrom-imap@x.test>\r\n\r\nwho am I\r\n"
    # A delivery report about an email we never sent: read and marked seen, nothing stored.
    report = bounce_about("<never-ours@hub.test>")
    after = email("Sent after the bad ones: the poll goes on.", sender="after@customer.test")
    with structlog.testing.capture_logs() as logs:
        uids = [await polled.append(m) for m in (malformed, big, no_from, report, after)]
        await polled.stored(after)
        wanted = dict(zip(uids, [REFUSED, REFUSED, REFUSED, SEEN, SEEN], strict=True))
        assert await polled.flags_become(wanted) == wanted
    refusals = [e for e in logs if e["event"] == "email_refused" and e.get("source") == "imap"]
    assert sorted(e["why"] for e in refusals) == [
        "email.malformed",
        "email.no_sender",
        "email.too_large",
    ]
    # The large one was refused by its size alone, as the server counts it (the bytes as
    # stored: APPEND sends CRLF line ends): the hub's own poller got the hub's limit.
    big_uid, big_size = uids[1], len(big.as_bytes().replace(b"\n", b"\r\n"))
    (too_large,) = [e for e in refusals if e["why"] == "email.too_large"]
    assert too_large["size_bytes"] == big_size > MAX_MESSAGE_BYTES
    assert any(big_uid in asked for asked in polled.wire.sizes_asked())
    # Its body was never asked for, and nothing near its size came over the wire; the
    # others' bodies were fetched once each.
    fetched = polled.wire.bodies_fetched()
    assert big_uid not in fetched
    assert sorted(fetched) == sorted(uids[:1] + uids[2:])
    assert polled.wire.literals and max(polled.wire.literals) < MAX_MESSAGE_BYTES
    said = repr(refusals)
    assert "customer.test" not in said and "My invoice" not in said
    ids = ["<malformed-imap@customer.test>", "<big-imap@customer.test>", "<nofrom-imap@x.test>"]
    assert not await polled.query(
        "SELECT 1 FROM email_messages WHERE rfc_message_id = ANY($1::text[])", ids
    )
    assert not await polled.query(
        "SELECT 1 FROM identities WHERE kind = 'email' AND value = 'broken@customer.test'"
    )


def bounce_about(message_id: str) -> bytes:
    """A delivery status notification (RFC 3464) about the email `message_id`."""
    return (
        "From: MAILER-DAEMON@customer.test\r\nTo: support@hub.test\r\n"
        f"Subject: Undelivered Mail\r\nMessage-ID: <{uuid.uuid4().hex}@mx>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type="delivery-status";'
        ' boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        "Final-Recipient: rfc822; dana@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n"
        "\r\n--B--\r\n"
    ).encode()


async def test_the_same_message_appended_twice_is_stored_once(polled: MailboxHub) -> None:
    msg = email("Delivered twice into the mailbox.", sender="twice-imap@customer.test")
    uids = [await polled.append(msg), await polled.append(msg)]
    wanted = {uid: SEEN for uid in uids}
    assert await polled.flags_become(wanted) == wanted
    rows = await polled.query(
        "SELECT contact_id FROM email_messages WHERE rfc_message_id = $1", msg["Message-ID"]
    )
    assert len(rows) == 1
    messages = await polled.query(
        "SELECT body FROM messages WHERE contact_id = $1", rows[0]["contact_id"]
    )
    assert len(messages) == 1


async def test_a_poller_cut_off_after_storing_does_not_store_the_email_twice(
    unpolled: MailboxHub,
) -> None:
    msg = email("Stored, then the session drops.", sender="cut@customer.test")
    uid = await unpolled.append(msg)
    with pytest.raises(imaplib.IMAP4.abort):
        await unpolled.cut_after_storing().poll_once()
    await unpolled.stored(msg)
    assert await unpolled.flags_become({uid: set()}) == {uid: set()}  # not marked: read again

    assert await unpolled.poller().poll_once() == 1
    assert await unpolled.flags_become({uid: SEEN}) == {uid: SEEN}
    rows = await unpolled.query(
        "SELECT e.contact_id, c.customer_id FROM email_messages e"
        " JOIN contacts c ON c.id = e.contact_id WHERE e.rfc_message_id = $1",
        msg["Message-ID"],
    )
    assert len(rows) == 1
    contacts = await unpolled.query(
        "SELECT id FROM contacts WHERE customer_id = $1", rows[0]["customer_id"]
    )
    assert len(contacts) == 1
    messages = await unpolled.query(
        "SELECT body FROM messages WHERE contact_id = $1", rows[0]["contact_id"]
    )
    assert len(messages) == 1


async def test_an_email_that_fails_to_store_stays_unseen_and_holds_up_nothing(
    unpolled: MailboxHub,
) -> None:
    stuck = email("This one fails to store, once.", sender="stuck@customer.test")
    after = email("This one comes after it.", sender="after-stuck@customer.test")
    stuck_uid, after_uid = await unpolled.append(stuck), await unpolled.append(after)
    failing = {stuck["Message-ID"]}

    async def deliver(delivery: EmailDelivery) -> Outcome:
        if any(mid.encode() in delivery.content for mid in failing):
            raise ConnectionResetError("storage away for this one")
        return await unpolled.channel.intake.deliver(delivery)

    poller = unpolled.poller(deliver)
    assert await poller.poll_once() == 1
    await unpolled.stored(after)
    wanted = {stuck_uid: set(), after_uid: SEEN}
    assert await unpolled.flags_become(wanted) == wanted
    failing.clear()
    assert await poller.poll_once() == 1
    await unpolled.stored(stuck)
    assert await unpolled.flags_become({stuck_uid: SEEN, after_uid: SEEN})


async def test_a_wrong_password_is_logged_clearly_and_the_poller_keeps_trying(
    settings: HubSettings, redis: Any, dovecot: Dovecot
) -> None:
    # A user of its own: Dovecot slows down logins of a user who failed (auth penalty).
    user = f"u{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(dovecot.set_password, user, "the-right-one")
    folder = await asyncio.to_thread(dovecot.new_folder, user)
    with structlog.testing.capture_logs() as logs:
        hub, runner = await start_mailbox_hub(
            settings, dovecot, folder, poll=True, username=user, password="an-old-one"
        )
        try:
            msg = email("Waiting for the password to be fixed.", sender="late@customer.test")
            uid = await hub.append(msg, user)

            async def refusals() -> list[dict[str, Any]]:
                return [e for e in logs if e["event"] == "email_imap_login_refused"]

            (first, *_) = await until(refusals)
            assert first["log_level"] == "error" and first["code"] == "AUTHENTICATIONFAILED"
            assert (first["host"], first["port"]) == (HOST, dovecot.port)
            # The mailbox's owner changes the password to the one the hub has: it gets in.
            await asyncio.to_thread(dovecot.set_password, user, "an-old-one")
            await hub.stored(msg, timeout_s=30)
            assert await hub.flags_become({uid: SEEN}, user, timeout_s=30) == {uid: SEEN}
        finally:
            await runner.cleanup()
    said = repr(logs)
    assert user not in said and "an-old-one" not in said and "the-right-one" not in said


async def test_an_attachment_comes_through_the_mailbox_whole(polled: MailboxHub) -> None:
    msg = email("The invoice is attached.", sender="attach@customer.test")
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 40
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="facture été.pdf")
    await polled.append(msg)
    row = await polled.stored(msg)
    (attachment,) = await polled.query(
        "SELECT * FROM email_attachments WHERE email_id = $1", row["id"]
    )
    assert attachment["content"] == pdf and attachment["size_bytes"] == len(pdf)
    assert (attachment["filename"], attachment["content_type"]) == (
        "facture été.pdf",
        "application/pdf",
    )


async def test_with_after_delete_a_stored_email_leaves_the_mailbox(unpolled: MailboxHub) -> None:
    msg = email("Stored, then deleted from the mailbox.", sender="delete@customer.test")
    await unpolled.append(msg)
    poller = unpolled.poller(after="delete")
    assert await poller.poll_once() == 1
    await unpolled.stored(msg)
    assert await unpolled.flags_become({}) == {}


async def test_the_poller_reads_over_starttls_and_imaps_from_a_trusted_server_only(
    unpolled: MailboxHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot = unpolled.dovecot
    if dovecot.ca_file is None:
        pytest.skip("no openssl command to make the server's certificate")
    wanted: dict[int, set[str]] = {}
    for security, port in (("starttls", dovecot.port), ("ssl", dovecot.ssl_port)):
        msg = email(f"Read over {security}.", sender=f"{security}@customer.test")
        uid = await unpolled.append(msg)
        poller = unpolled.poller(security=security, port=port)
        # The hub checks the server's certificate against the trusted CAs (the system's,
        # or SSL_CERT_FILE's): one signed by an unknown CA is refused before login.
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.dir / "nothing-trusted.pem"))
        with pytest.raises(ssl.SSLCertVerificationError):
            await poller.poll_once()
        monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))
        assert await poller.poll_once() == 1
        await unpolled.stored(msg)
        wanted[uid] = SEEN
        assert await unpolled.flags_become(wanted) == wanted
