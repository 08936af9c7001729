"""The email adapter, pure: bytes in, `InboundEmail` out; an agent's reply in, a threaded
`EmailMessage` out. No server, no loop."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from channels.base import ChannelAdapter, DeliveryUpdate, InvalidDelivery, OutboundMessage
from channels.email.message import (
    MAX_REPLY_REFERENCES,
    EmailAdapter,
    EmailDelivery,
    InboundEmail,
    MalformedMessage,
    MissingSender,
    OutboundEmail,
    message_ids,
    our_message_id,
    parse_delivery_status,
    parse_email,
    read_delivery,
    render_reply,
    reply_references,
    reply_subject,
)
from channels.email.outbox import retry_delay_s
from channels.email.text import conversation_text, html_to_text, strip_quoted


def mail(text: str = "Hello", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Dana Customer <Dana@Customer.test>")
    msg["To"] = "support@hub.test"
    msg["Subject"] = headers.pop("Subject", "Order 42")
    msg["Message-ID"] = headers.pop("Message_ID", "<m1@customer.test>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


def parse(msg: EmailMessage | bytes, *recipients: str) -> InboundEmail:
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    return parse_email(EmailDelivery(raw, recipients))


# --- parsing -----------------------------------------------------------------------------------


def test_an_email_gives_its_sender_subject_id_thread_and_words() -> None:
    e = parse(
        mail(
            "Where is my order?\n",
            In_Reply_To="<ours-1@hub.test>",
            References="<root@customer.test> junk (comment) <ours-1@hub.test>",
        ),
        "Support@Hub.test",
    )
    assert (e.channel, e.external_id) == ("email", "<m1@customer.test>")
    assert (e.sender.kind, e.sender.value, e.sender_name) == (
        "email",
        "Dana@Customer.test",
        "Dana Customer",
    )
    assert (e.subject, e.text, e.entry) == ("Order 42", "Where is my order?", "support@hub.test")
    assert e.in_reply_to == ("<ours-1@hub.test>",)
    assert e.references == ("<root@customer.test>", "<ours-1@hub.test>")
    assert e.thread_ids == ("<ours-1@hub.test>", "<root@customer.test>")  # nearest first
    assert e.reply_to == "Dana@Customer.test" and e.attachments == ()


def test_reply_to_says_where_an_answer_goes() -> None:
    e = parse(mail(Reply_To="Billing Team <billing@customer.test>"))
    assert e.reply_to == "billing@customer.test" and e.sender.value == "Dana@Customer.test"


def test_without_an_envelope_the_entry_comes_from_the_headers() -> None:
    assert parse(mail()).entry == "support@hub.test"
    assert parse(mail(Delivered_To="Sales@Hub.test")).entry == "sales@hub.test"


def test_plain_text_is_preferred_and_html_alone_becomes_text() -> None:
    both = mail("plain words")
    both.add_alternative("<p>html <b>words</b></p>", subtype="html")
    assert parse(both).text == "plain words"
    html = mail()
    html.set_content(
        "<html><head><style>p{}</style></head><body><p>Hello&nbsp;there,</p><div>my"
        " <i>order</i></div><script>x()</script><blockquote>old words</blockquote></body></html>",
        subtype="html",
    )
    assert parse(html).text == "Hello there,\nmy order"


def test_an_email_without_message_id_gets_one_made_of_its_bytes() -> None:
    msg = mail()
    del msg["Message-ID"]
    first, again = parse(msg), parse(msg)
    assert first.external_id == again.external_id and first.external_id.endswith("@hub>")
    msg.set_content("other words")
    assert parse(msg).external_id != first.external_id


def test_attachments_are_every_part_but_the_body() -> None:
    msg = mail("see attached")
    msg.add_alternative("<p>see attached</p>", subtype="html")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="../../etc/x.pdf")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png")  # no name
    msg.add_attachment(mail("the forwarded one"))  # message/rfc822
    e = parse(msg)
    assert e.text == "see attached"
    assert [(a.filename, a.content_type) for a in e.attachments] == [
        ("x.pdf", "application/pdf"),
        ("attachment-2.png", "image/png"),
        ("forwarded.eml", "message/rfc822"),
    ]
    assert e.attachments[0].content == b"%PDF" and e.attachments[0].size_bytes == 4
    assert b"the forwarded one" in e.attachments[2].content


def test_undecodable_bytes_and_nul_are_made_safe_to_store() -> None:
    raw = (
        b"From: Jos\xe9 <jose@customer.test>\r\nSubject: caf\xe9\r\nMessage-ID: <x@y>\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\nna\xefve\0 words\r\n"
    )
    e = parse(raw)
    for value in (e.sender_name, e.subject, e.text):
        value.encode("utf-8")  # no lone surrogates left
        assert "\0" not in value
    assert e.text == "na\ufffdve words"


def test_no_from_is_refused_with_550() -> None:
    msg = mail()
    del msg["From"]
    with pytest.raises(MissingSender) as refused:
        parse(msg)
    assert refused.value.smtp_reply == "550 5.1.7 Message has no valid From address"
    assert refused.value.details["missing"] == ["From"]
    with pytest.raises(MissingSender):
        parse(mail(From="not an address"))


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.test\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
        b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\nno parts\r\n",
        b"this is not an email at all\r\n",
        b"From: a@b.test\r\nnot a header line\r\n\r\nbody\r\n",
    ],
)
def test_broken_mime_is_refused_with_554(raw: bytes) -> None:
    with pytest.raises(MalformedMessage) as refused:
        parse(raw)
    assert refused.value.smtp_reply.startswith("554 5.6.0 Malformed MIME: ")


def test_a_missing_closing_boundary_is_tolerated() -> None:
    raw = (
        b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nstill readable\r\n"
    )
    assert parse(raw).text == "still readable"


def test_message_ids_keeps_only_angle_bracket_tokens() -> None:
    assert message_ids(" <a@b> , junk <c@d>(x) <>") == ("<a@b>", "<c@d>")
    assert message_ids(None) == ()


# --- words: html, quotes, the conversation message ---------------------------------------------


def test_quoted_history_below_a_reply_is_left_out() -> None:
    gmail = (
        "Thanks, that works.\n\nOn Mon, 3 Nov 2026 at 10:00, Support <s@h.test> wrote:\n"
        "> old\n>\n> older\n"
    )
    assert strip_quoted(gmail) == "Thanks, that works."
    wrapped = "Merci !\n\nLe lun. 3 nov. 2026 à 10:00, Support <s@h.test>\na écrit :\n> ancien\n"
    assert strip_quoted(wrapped) == "Merci !"
    assert strip_quoted("Yes\n> old\n") == "Yes"


def test_answers_between_quotes_and_quotes_alone_are_kept() -> None:
    inline = "> Which order?\n42\n> And when?\nYesterday"
    assert strip_quoted(inline) == inline
    assert strip_quoted("> only a quote") == "> only a quote"


def test_html_block_quotes_are_quoted_like_plain_text() -> None:
    text = html_to_text("<div>New words</div><blockquote><p>old</p><p>older</p></blockquote>")
    assert text == "New words\n> old\n> older"
    assert strip_quoted(text) == "New words"


def test_the_conversation_message_carries_subject_words_and_attachments() -> None:
    text = conversation_text(
        "Please see the file.",
        subject="Invoice 7",
        attachments=[("inv.pdf", "application/pdf", 12_345, "/api/email/attachments/1")],
        max_chars=1000,
    )
    assert text == (
        "Subject: Invoice 7\n\nPlease see the file.\n\n"
        "[attachment: inv.pdf, application/pdf, 12 KB] /api/email/attachments/1"
    )
    long = conversation_text("x" * 50, subject=None, attachments=[], max_chars=10)
    assert long.startswith("x" * 10 + "\n[") and "whole email is kept" in long
    assert conversation_text("", subject=None, attachments=[], max_chars=10) == "(empty email)"


# --- rendering ---------------------------------------------------------------------------------


def reply(**changes: object) -> OutboundEmail:
    fields: dict[str, object] = {
        "channel": "email",
        "message_id": "9f1c",
        "to": "dana@customer.test",
        "sender": "support@hub.test",
        "text": "It ships today.",
        "sender_name": "Hub Support",
        "subject": "Order 42",
        "rfc_message_id": our_message_id("9f1c", "hub.test"),
        "in_reply_to": "<m1@customer.test>",
        "references": ("<root@customer.test>", "<m1@customer.test>"),
        "at_ms": 1_700_000_000_000,
    }
    fields.update(changes)
    return OutboundEmail(**fields)  # type: ignore[arg-type]


def test_a_reply_is_threaded_under_the_customers_email() -> None:
    msg = render_reply(reply())
    assert msg["From"] == "Hub Support <support@hub.test>"
    assert msg["To"] == "dana@customer.test"
    assert msg["Subject"] == "Re: Order 42"
    assert msg["Message-ID"] == "<9f1c@hub.test>"
    assert msg["In-Reply-To"] == "<m1@customer.test>"
    assert msg["References"] == "<root@customer.test> <m1@customer.test>"
    assert msg["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert msg.get_content() == "It ships today.\n"


def test_our_reply_parsed_back_threads_to_what_it_answered() -> None:
    raw = render_reply(reply()).as_bytes()
    back = parse_email(EmailDelivery(raw))
    assert back.external_id == "<9f1c@hub.test>"
    assert back.thread_ids == ("<m1@customer.test>", "<root@customer.test>")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 42", "Re: Order 42"),
        ("Re: Order 42", "Re: Order 42"),
        ("RE:Order", "RE:Order"),
        ("Aw: Bestellung", "Aw: Bestellung"),
        ("Re[2]: x", "Re[2]: x"),
        ("", "Re: your message"),
        ("Refund  please", "Re: Refund please"),
    ],
)
def test_reply_subject_adds_re_once(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_reply_references_follow_rfc_5322() -> None:
    assert reply_references("<p>", ("<a>", "<b>"), ("<b>",)) == ("<a>", "<b>", "<p>")
    assert reply_references("<p>", (), ("<b>",)) == ("<b>", "<p>")  # single In-Reply-To
    assert reply_references("<p>", (), ("<b>", "<c>")) == ("<p>",)  # ambiguous: not used
    long = tuple(f"<{i}>" for i in range(50))
    trimmed = reply_references("<p>", long, ())
    assert len(trimmed) == MAX_REPLY_REFERENCES
    assert trimmed[0] == "<0>" and trimmed[-2:] == ("<49>", "<p>")  # the root and the latest


def test_a_plain_outbound_message_renders_too() -> None:
    plain = OutboundMessage("email", "m2", "dana@customer.test", "support@hub.test", "Hi")
    msg = EmailAdapter().render(plain)
    assert msg["Subject"] == "Re: your message" and msg["To"] == "dana@customer.test"


def test_a_bad_recipient_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidDelivery):
        render_reply(reply(to="not an address"))


# --- delivery status notifications and the adapter ---------------------------------------------

DSN = (
    b"From: MAILER-DAEMON@mx.test\r\nTo: support@hub.test\r\nMessage-ID: <dsn@mx.test>\r\n"
    b'Content-Type: multipart/report; report-type="delivery-status"; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n"
    b"Final-Recipient: rfc822; dana@customer.test\r\nAction: failed\r\n"
    b"Status: 5.1.1 (no such user)\r\n\r\n"
    b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <9f1c@hub.test>\r\n\r\n--B--\r\n"
)


def test_a_bounce_names_our_email_and_why() -> None:
    assert parse_delivery_status(DSN) == DeliveryUpdate("<9f1c@hub.test>", "failed", "5.1.1")
    assert read_delivery(EmailDelivery(DSN)) == DeliveryUpdate("<9f1c@hub.test>", "failed", "5.1.1")
    with pytest.raises(InvalidDelivery):
        parse_delivery_status(mail().as_bytes())


def test_an_ordinary_email_reads_as_an_email() -> None:
    assert isinstance(read_delivery(EmailDelivery(mail().as_bytes())), InboundEmail)


def test_the_adapter_is_a_channel_adapter() -> None:
    adapter: ChannelAdapter[EmailDelivery, EmailMessage] = EmailAdapter()
    assert adapter.channels == ("email",)
    assert adapter.parse(EmailDelivery(mail().as_bytes())).external_id == "<m1@customer.test>"
    assert adapter.parse_status(EmailDelivery(DSN)).status == "failed"


def test_retries_wait_longer_each_time_up_to_a_limit() -> None:
    assert [retry_delay_s(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
