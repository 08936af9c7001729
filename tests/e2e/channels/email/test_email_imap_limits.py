"""End to end: the IMAP poller's size limit against a real IMAP server (Dovecot,
tests/e2e/dovecot.py), with the real ImapMailbox and ImapPoller (docs/email.md).

The poller asks every unseen email's size first (`UID FETCH <uids> (RFC822.SIZE)`) and never
fetches the body of one over `email.max_message_bytes`: it flags it as refused and goes on.
What it sent the server and the bodies it received are read from its recorded wire
(tests/e2e/imap_support.py); the server is Dovecot itself.
"""

from __future__ import annotations

import imaplib

import pytest
import structlog

from channels.email.channel import Outcome
from channels.email.imap import MAX_RUNS_PER_COMMAND, uid_sets
from channels.email.message import EmailDelivery
from tests.e2e.channels.email.test_email_channel import MAX_MESSAGE_BYTES, OURS, email
from tests.e2e.dovecot import (
    dovecot_fixture,  # noqa: F401  (the `dovecot` fixture)
    require_dovecot,
)
from tests.e2e.imap_support import (
    REFUSED,
    SEEN,
    MailboxHub,
    uids_in,
    unpolled_fixture,  # noqa: F401  (the `unpolled` fixture)
)

require_dovecot()


def sized(size: int, message_id: str) -> bytes:
    """A plain-text email of exactly `size` bytes, CRLF line ends (as the server stores it)."""
    head = (
        f"From: sized@customer.test\r\nTo: {OURS}\r\nSubject: Sized\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"sized " * 12 + b"\r\n"  # 74 bytes
    room = size - len(head)
    lines, rest = divmod(room, len(line))
    body = line * lines + (b"\r\n" * (rest // 2)) + (b" " if rest % 2 else b"")
    content = head + body
    assert len(content) == size
    return content


async def test_oversize_emails_among_others_are_refused_unread_and_hold_up_none(
    unpolled: MailboxHub,
) -> None:
    small = [email(f"Normal email {i}.", sender=f"normal{i}@customer.test") for i in range(3)]
    big = [email(f"Large {i}.", sender=f"large{i}@customer.test") for i in range(2)]
    big[0].add_attachment(b"\0" * MAX_MESSAGE_BYTES, maintype="application", subtype="zip")
    big[1].add_attachment(b"\1" * 3 * MAX_MESSAGE_BYTES, maintype="application", subtype="zip")
    uids = [await unpolled.append(m) for m in (small[0], big[0])]
    # One already read by a person, between them: not unseen, so neither sized nor fetched.
    read = await unpolled.append(
        email("Read already.", sender="read@customer.test"), flags="\\Seen"
    )
    uids += [await unpolled.append(m) for m in (small[1], big[1], small[2])]
    delivered: list[bytes] = []

    async def deliver(delivery: EmailDelivery) -> Outcome:
        delivered.append(delivery.content)
        return await unpolled.channel.intake.deliver(delivery)

    wire = unpolled.wire
    with structlog.testing.capture_logs() as logs:
        # One poll handles all five: the large ones hold up none of the others.
        assert await unpolled.poller(deliver).poll_once() == 5
    small_uids, big_uids = uids[0::2], uids[1::2]
    assert wire.sizes_asked() == [set(uids)]  # one command, exactly the unseen UIDs
    assert read not in wire.bodies_fetched()
    first_body = next(i for i, c in enumerate(wire.commands) if "BODY.PEEK" in c)
    assert "RFC822.SIZE" in " ".join(wire.commands[:first_body])  # sizes before any body
    assert wire.bodies_fetched() == small_uids
    assert max(wire.literals) < MAX_MESSAGE_BYTES  # no large body came over the wire
    assert len(delivered) == 3 and all(b"Normal email" in c for c in delivered)
    stores = wire.uid_commands("STORE")
    assert [(sorted(u), items) for u, items in stores] == [
        ([uid], "+FLAGS (\\Seen \\Flagged)" if uid in big_uids else "+FLAGS (\\Seen)")
        for uid in uids
    ]
    wanted = {uid: REFUSED if uid in big_uids else SEEN for uid in uids} | {read: SEEN}
    assert await unpolled.flags_become(wanted) == wanted
    for msg in small:
        await unpolled.stored(msg)
    big_ids = [m["Message-ID"] for m in big]
    assert not await unpolled.query(
        "SELECT 1 FROM email_messages WHERE rfc_message_id = ANY($1::text[])", big_ids
    )
    refusals = [e for e in logs if e["event"] == "email_refused"]
    assert [(e["why"], e["source"]) for e in refusals] == [("email.too_large", "imap")] * 2
    assert [e["size_bytes"] for e in refusals] == [
        len(m.as_bytes().replace(b"\n", b"\r\n")) for m in big
    ]
    said = repr([e for e in logs if e["event"].startswith("email_")])
    assert "customer.test" not in said and "Large" not in said and "My invoice" not in said
    (polled,) = [e for e in logs if e["event"] == "email_imap_polled"]
    assert (polled["handled"], polled["failed"]) == (5, 0)

    # Nothing is unseen now: the next poll asks nothing of any email.
    sent = len(wire.commands)
    assert await unpolled.poller(deliver).poll_once() == 0
    assert not [c for c in wire.commands[sent:] if c.startswith(("UID FETCH", "UID STORE"))]


async def test_the_limit_is_the_intakes_to_the_byte(unpolled: MailboxHub) -> None:
    at_limit = sized(MAX_MESSAGE_BYTES, "<at-limit@customer.test>")
    over = sized(MAX_MESSAGE_BYTES + 1, "<one-over@customer.test>")
    at_uid, over_uid = await unpolled.append(at_limit), await unpolled.append(over)
    assert await unpolled.poller().poll_once() == 2
    wire = unpolled.wire
    # The server's count is the intake's (the bytes BODY[] returns): the one at the limit is
    # fetched whole and stored, the one a byte over is never fetched.
    assert wire.bodies_fetched() == [at_uid]
    assert wire.literals == [MAX_MESSAGE_BYTES]
    wanted = {at_uid: SEEN, over_uid: REFUSED}
    assert await unpolled.flags_become(wanted) == wanted
    rows = await unpolled.query(
        "SELECT rfc_message_id FROM email_messages WHERE rfc_message_id = ANY($1::text[])",
        ["<at-limit@customer.test>", "<one-over@customer.test>"],
    )
    assert [r["rfc_message_id"] for r in rows] == ["<at-limit@customer.test>"]


async def test_a_poll_cut_among_oversize_mail_stores_nothing_twice_and_never_fetches_it(
    unpolled: MailboxHub,
) -> None:
    big = email("Too large.", sender="cut-large@customer.test")
    big.add_attachment(b"\0" * MAX_MESSAGE_BYTES, maintype="application", subtype="zip")
    first = email("Stored, then the session drops.", sender="cut-first@customer.test")
    second = email("After the cut.", sender="cut-second@customer.test")
    big_uid, first_uid, second_uid = [await unpolled.append(m) for m in (big, first, second)]
    with pytest.raises(imaplib.IMAP4.abort):
        await unpolled.cut_after_storing().poll_once()
    await unpolled.stored(first)
    # Refused before the cut; the stored one not marked yet, so read again next time.
    wanted = {big_uid: REFUSED, first_uid: set(), second_uid: set()}
    assert await unpolled.flags_become(wanted) == wanted

    assert await unpolled.poller().poll_once() == 2
    wanted = {big_uid: REFUSED, first_uid: SEEN, second_uid: SEEN}
    assert await unpolled.flags_become(wanted) == wanted
    wire = unpolled.wire
    assert wire.sizes_asked() == [{big_uid, first_uid, second_uid}, {first_uid, second_uid}]
    assert wire.bodies_fetched() == [first_uid, first_uid, second_uid]
    for msg in (first, second):
        rows = await unpolled.query(
            "SELECT contact_id FROM email_messages WHERE rfc_message_id = $1", msg["Message-ID"]
        )
        assert len(rows) == 1
        messages = await unpolled.query(
            "SELECT 1 FROM messages WHERE contact_id = $1", rows[0]["contact_id"]
        )
        assert len(messages) == 1
    assert not await unpolled.query(
        "SELECT 1 FROM email_messages WHERE rfc_message_id = $1", big["Message-ID"]
    )


def test_uid_sets_name_exactly_the_uids_in_commands_of_bounded_length() -> None:
    assert uid_sets([b"7", b"3", b"4", b"5", b"9", b"10"]) == ["3:5,7,9:10"]
    assert uid_sets([]) == []
    scattered = [str(n).encode() for n in range(1, 4 * MAX_RUNS_PER_COMMAND, 2)]
    sets = uid_sets(scattered)
    assert len(sets) == 2 and all(s.count(",") < MAX_RUNS_PER_COMMAND for s in sets)
    assert set().union(*map(uids_in, sets)) == {int(u) for u in scattered}
    assert max(len(s) for s in sets) < 8192
