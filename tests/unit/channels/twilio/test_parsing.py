"""Twilio messaging webhooks parsed, replies rendered, statuses ordered: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from channels.base import (
    Address,
    ChannelAdapter,
    InboundMessage,
    InvalidDelivery,
    MediaLink,
    OutboundMessage,
)
from channels.twilio.messaging_adapter import (
    EMPTY_TWIML,
    STATUS_RANK,
    TwilioMessagingAdapter,
    continues_conversation,
    replaceable_by,
    sender_key,
)
from tests.support.fake_twilio import FakeTwilio

# Typed as the channel interface: mypy checks that the Twilio adapter implements it.
ADAPTER: ChannelAdapter[Mapping[str, str], dict[str, Any]] = TwilioMessagingAdapter(
    "https://hub.example.com/", default_region="US"
)
FAKE = FakeTwilio()
SID = "SM" + "0123456789abcdef" * 2


def sms(**changes: str | None) -> dict[str, str]:
    form = FAKE.incoming("+14155550123", "+14155550199", "Where is my order?", sid=SID)
    for key, value in changes.items():
        if value is None:
            form.pop(key)
        else:
            form[key] = value
    return form


def refused(form: dict[str, str]) -> InvalidDelivery:
    with pytest.raises(InvalidDelivery) as caught:
        ADAPTER.parse(form)
    return caught.value


def test_an_sms_is_parsed_into_an_inbound_message() -> None:
    assert ADAPTER.parse(sms()) == InboundMessage(
        channel="sms",
        external_id=SID,
        sender=Address("phone", "+14155550123"),
        entry="+14155550199",
        text="Where is my order?",
    )


def test_a_whatsapp_message_keeps_its_addresses_and_the_profile_name() -> None:
    form = FAKE.incoming(
        "whatsapp:+33612345678", "whatsapp:+14155238886", "Bonjour", profile_name="Zoé"
    )
    message = ADAPTER.parse(form)
    assert message.channel == "whatsapp"
    assert message.sender == Address("whatsapp", "whatsapp:+33612345678")
    assert message.entry == "whatsapp:+14155238886"
    assert message.sender_name == "Zoé"


def test_media_are_kept_as_links_in_order() -> None:
    media = [("https://api.twilio.com/m/1", "image/png"), ("https://api.twilio.com/m/2", "")]
    message = ADAPTER.parse(FAKE.incoming("+14155550123", "+14155550199", "", media=media))
    assert message.media == (
        MediaLink("https://api.twilio.com/m/1", "image/png"),
        MediaLink("https://api.twilio.com/m/2", ""),
    )
    assert message.display_text() == (
        "[image/png] https://api.twilio.com/m/1\n[attachment] https://api.twilio.com/m/2"
    )


@pytest.mark.parametrize("field", ["MessageSid", "From", "To"])
def test_a_missing_field_is_named(field: str) -> None:
    error = refused(sms(**{field: None}))
    assert error.error_id == "channel.invalid_delivery" and error.http_status == 400
    assert error.details == {"missing": [field], "invalid": []}


@pytest.mark.parametrize(
    ("changes", "invalid"),
    [
        ({"MessageSid": "SM123"}, "MessageSid"),
        ({"MessageSid": "CA" + "0" * 32}, "MessageSid"),  # a call, not a message
        ({"NumMedia": "eleven"}, "NumMedia"),
        ({"NumMedia": "11"}, "NumMedia"),
        ({"From": "not a number"}, "From"),
        ({"From": "whatsapp:+14155550123"}, "To"),  # one side WhatsApp, the other SMS
        ({"Body": "x" * 4001}, "Body"),
    ],
)
def test_a_wrong_field_is_named(changes: dict[str, str], invalid: str) -> None:
    assert invalid in refused(sms(**changes)).details["invalid"]


def test_announced_media_must_be_given_as_urls() -> None:
    error = refused(sms(NumMedia="2", MediaUrl0="https://x.example/1", MediaUrl1="ftp://x"))
    assert error.details["missing"] == ["MediaUrl1"]


def test_an_empty_body_without_media_still_shows_something() -> None:
    assert ADAPTER.parse(sms(Body="")).display_text() == "(empty message)"


def test_a_message_survives_the_inbox_as_json() -> None:
    media = [("https://api.twilio.com/m/1", "image/png")]
    message = ADAPTER.parse(FAKE.incoming("+14155550123", "+14155550199", "hi", media=media))
    assert InboundMessage.from_json(message.as_json()) == message


def test_one_customer_has_one_sender_key_per_channel() -> None:
    a, b = ADAPTER.parse(sms()), ADAPTER.parse(sms(MessageSid="SM" + "f" * 32, Body="again"))
    assert sender_key(a) == sender_key(b) == "phone:+14155550123"


def test_status_callbacks_are_parsed() -> None:
    update = ADAPTER.parse_status(
        {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert (update.external_id, update.status, update.error_code) == (SID, "undelivered", "30003")
    assert ADAPTER.parse_status({"MessageSid": SID, "MessageStatus": "sent"}).error_code is None


@pytest.mark.parametrize(
    ("form", "field"),
    [({"MessageSid": SID}, "MessageStatus"), ({"MessageStatus": "sent"}, "MessageSid")],
)
def test_status_callbacks_without_a_field_are_refused(form: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidDelivery) as caught:
        ADAPTER.parse_status(form)
    assert caught.value.details["missing"] == [field]


def test_a_reply_renders_to_the_libraries_create_arguments() -> None:
    out = OutboundMessage("sms", "m-1", "+14155550123", "+14155550199", "On its way")
    assert ADAPTER.render(out) == {
        "to": "+14155550123",
        "from_": "+14155550199",
        "body": "On its way",
        "status_callback": "https://hub.example.com/twilio/messaging/status?message_id=m-1",
    }


def test_statuses_only_move_forward() -> None:
    assert "queued" in replaceable_by("sent")
    assert "submitting" in replaceable_by("queued")
    assert "delivered" not in replaceable_by("sent")
    assert "delivered" in replaceable_by("read")
    assert "failed" not in replaceable_by("delivered")
    assert replaceable_by("teleported") == []
    assert all(status not in replaceable_by(status) for status in STATUS_RANK)


@pytest.mark.parametrize(
    ("last_ms", "now_ms", "continues"),
    [(1_000, 1_000 + 3_600_000, True), (1_000, 1_001 + 3_600_000, False), (None, 5, False)],
)
def test_a_conversation_continues_within_the_window_after_its_last_message(
    last_ms: int | None, now_ms: int, continues: bool
) -> None:
    assert continues_conversation(last_ms, now_ms, window_ms=3_600_000) is continues


def test_the_webhook_answer_is_empty_twiml() -> None:
    assert EMPTY_TWIML.endswith("<Response />")
