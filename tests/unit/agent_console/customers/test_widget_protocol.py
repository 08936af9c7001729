"""The web chat widget's pure parts: its frames, its settings and origin checks, the frames a
typing or read signal becomes, the frame throttle, and the transcript email."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent_console import protocol as p
from agent_console.customers.live_frames import live_deliveries, live_signal
from agent_console.customers.settings import load_widget_settings
from agent_console.keys import WidgetKeys
from agent_console.rate_limits import FrameThrottle, RateLimited
from channels.email.transcript import (
    Line,
    TranscriptEmail,
    UnknownTimeZone,
    render_transcript,
    time_zone,
)
from contactcenter.core.errors import ConfigError, MalformedFrame, UnknownFrameType
from contactcenter.web.origins import client_ip, origin_allowed

ROOT = Path(__file__).resolve().parents[4]


def chat(frame: dict[str, Any]) -> p.ChatCommand:
    return p.parse_chat_frame(json.dumps(frame))


def refused_fields(parse: Any, frame: dict[str, Any]) -> list[str]:
    with pytest.raises(MalformedFrame) as info:
        parse(json.dumps(frame))
    return [e["field"] for e in info.value.details["errors"]]


# --- frames ---------------------------------------------------------------------------------


def test_the_widget_frames_parse_to_their_types() -> None:
    assert chat({"type": "typing", "active": True}) == p.CustomerTyping(type="typing", active=True)
    assert isinstance(chat({"type": "read", "message_id": "m1"}), p.CustomerRead)
    csat = chat({"type": "csat", "contact_id": "c1", "rating": 4, "comment": "Quick", "ref": "r"})
    assert isinstance(csat, p.Csat) and (csat.rating, csat.comment, csat.ref) == (4, "Quick", "r")
    assert chat({"type": "csat", "contact_id": "c1", "rating": 1}) == p.Csat(
        type="csat", contact_id="c1", rating=1, comment=""
    )
    request = chat({"type": "transcript_request", "time_zone": "Europe/Paris"})
    assert isinstance(request, p.TranscriptRequest)
    assert (request.contact_id, request.email, request.time_zone) == (None, None, "Europe/Paris")
    hello = chat({"type": "hello", "name": "Dana", "email": "d@x.test", "topic": "billing"})
    assert isinstance(hello, p.Hello) and hello.topic == "billing"


def test_agents_send_typing_and_read_for_one_contact() -> None:
    typing = p.parse_agent_frame('{"type":"typing","contact_id":"c1","active":false}')
    assert typing == p.AgentTyping(type="typing", contact_id="c1", active=False)
    read = p.parse_agent_frame('{"type":"read","contact_id":"c1","message_id":"m9"}')
    assert read == p.AgentRead(type="read", contact_id="c1", message_id="m9")
    assert refused_fields(p.parse_agent_frame, {"type": "typing", "active": True}) == ["contact_id"]


@pytest.mark.parametrize("rating", [0, 6, -1, 4.5, "4", True, None])
def test_a_rating_is_a_whole_number_from_1_to_5(rating: Any) -> None:
    frame = {"type": "csat", "contact_id": "c1", "rating": rating}
    assert refused_fields(p.parse_chat_frame, frame) == ["rating"]


def test_a_rating_comment_has_at_most_1000_characters() -> None:
    ok = chat({"type": "csat", "contact_id": "c1", "rating": 5, "comment": "y" * 1000})
    assert isinstance(ok, p.Csat)
    frame = {"type": "csat", "contact_id": "c1", "rating": 5, "comment": "y" * 1001}
    assert refused_fields(p.parse_chat_frame, frame) == ["comment"]


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "typing"}, "active"),
        ({"type": "typing", "active": "yes"}, "active"),
        ({"type": "typing", "active": 1}, "active"),
        ({"type": "read"}, "message_id"),
        ({"type": "read", "message_id": ""}, "message_id"),
        ({"type": "csat", "rating": 3}, "contact_id"),
        ({"type": "message", "text": "   \n "}, "text"),
        ({"type": "message", "text": "nul \u0000 inside"}, "text"),
        ({"type": "message", "text": "bell \u0007"}, "text"),
        ({"type": "hello", "name": "Dana\nBcc: x"}, "name"),
        ({"type": "hello", "name": "Dana", "topic": "no spaces"}, "topic"),
        ({"type": "transcript_request", "email": "a@b.test\r\nBcc: c@d.test"}, "email"),
        ({"type": "transcript_request", "time_zone": "x" * 65}, "time_zone"),
        ({"type": "transcript_request", "extra": 1}, "extra"),
    ],
)
def test_bad_widget_frames_name_the_field(frame: dict[str, Any], field: str) -> None:
    assert refused_fields(p.parse_chat_frame, frame) == [field]


def test_messages_keep_line_breaks_and_tabs() -> None:
    cmd = chat({"type": "message", "text": "line one\n\tline two\r\n"})
    assert isinstance(cmd, p.CustomerMessage) and cmd.text == "line one\n\tline two\r\n"


def test_csat_and_transcripts_are_not_agent_frames() -> None:
    with pytest.raises(UnknownFrameType):
        p.parse_agent_frame('{"type":"csat","contact_id":"c1","rating":3}')


# --- settings and origins ---------------------------------------------------------------------


def test_the_shipped_widget_toml_loads() -> None:
    settings = load_widget_settings(ROOT / "config", {})
    assert settings.allowed_origins == ()
    assert settings.topic_ids() >= {"billing", "other"}
    assert settings.public()["topics"][0] == {"id": "billing", "label": "Billing and invoices"}


def test_the_environment_wins_and_origins_are_checked(tmp_path: Path) -> None:
    env = {"CC_WIDGET_ALLOWED_ORIGINS": "https://shop.test, https://*.brand.test"}
    settings = load_widget_settings(tmp_path, env)  # no file: defaults, then the environment
    assert settings.allowed_origins == ("https://shop.test", "https://*.brand.test")
    with pytest.raises(ConfigError) as info:
        load_widget_settings(tmp_path, {"CC_WIDGET_ALLOWED_ORIGINS": "https://shop.test/path"})
    assert "allowed_origins" in str(info.value)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[widget]\nmax_message_chars = 5000\n", "widget.max_message_chars"),
        ("[widget]\ncolour = 'red'\n", "widget.colour"),
        ("[limits]\nmessages_per_visitor_per_min = 0\n", "limits.messages_per_visitor_per_min"),
        ("[topics]\n'Bad Id' = 'x'\n", "topics.Bad Id"),
        ("[surprise]\n", "[surprise]"),
    ],
)
def test_a_bad_widget_toml_names_the_key(tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / "widget.toml").write_text(body)
    with pytest.raises(ConfigError) as info:
        load_widget_settings(tmp_path, {})
    assert where in str(info.value)


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        (None, [], True),  # not a browser: nothing to check
        ("http://hub.test:8080", [], True),  # the hub's own page
        ("https://hub.test", [], True),  # the public URL's host, whatever the scheme
        ("https://shop.test", ["https://shop.test"], True),
        ("https://SHOP.test:443", ["https://shop.test"], True),
        ("http://shop.test", ["https://shop.test"], False),
        ("https://shop.test:8443", ["https://shop.test"], False),
        ("https://evil.test", ["https://shop.test"], False),
        ("https://a.brand.test", ["https://*.brand.test"], True),
        ("https://brand.test", ["https://*.brand.test"], False),
        ("https://notbrand.test", ["https://*.brand.test"], False),
        ("https://anything.test", ["*"], True),
        ("null", ["https://shop.test"], False),
        ("file://", ["*"], False),
    ],
)
def test_origins(origin: str | None, allowed: list[str], expected: bool) -> None:
    own = ["hub.test:8080", "hub.test"]
    assert origin_allowed(origin, own, allowed) is expected


def test_the_client_address_is_the_peer_unless_the_proxy_is_trusted() -> None:
    assert client_ip("10.0.0.1", "1.2.3.4, 5.6.7.8", False) == "10.0.0.1"
    assert client_ip("10.0.0.1", "1.2.3.4, 5.6.7.8", True) == "5.6.7.8"
    assert client_ip("10.0.0.1", None, True) == "10.0.0.1"


def test_limit_keys_share_the_domain_slot_and_hide_who() -> None:
    key = WidgetKeys("main").limit("messages-ip", "203.0.113.9", 42)
    assert key.startswith("cc:{main}:limit:messages-ip:") and key.endswith(":42")
    assert "203.0.113.9" not in key
    assert WidgetKeys("main").live == "cc:{main}:live"


# --- throttle ---------------------------------------------------------------------------------


def test_the_throttle_allows_a_burst_then_refuses_until_tokens_come_back() -> None:
    now = [0]
    throttle = FrameThrottle(2.0, lambda: now[0])
    for _ in range(4):  # a burst of twice the rate
        throttle.allow()
    with pytest.raises(RateLimited) as info:
        throttle.allow()
    assert info.value.details == {"limit": "live_frames", "retry_after_s": 1}
    now[0] = 500  # half a second: one token back
    throttle.allow()
    with pytest.raises(RateLimited):
        throttle.allow()


# --- live signals -------------------------------------------------------------------------


def test_a_customers_typing_goes_to_the_agents_holding_the_contact() -> None:
    signal = live_signal("typing", "c1", "customer", 1000, active=True)
    out = live_deliveries(signal, frozenset({"a2", "a1"}))
    assert [(d.audience, d.audience_id) for d in out] == [("agent", "a1"), ("agent", "a2")]
    assert out[0].frame == {
        "type": "typing",
        "contact_id": "c1",
        "sender": "customer",
        "active": True,
    }


def test_an_agents_read_mark_goes_to_the_customer_only() -> None:
    signal = live_signal("read", "c1", "agent", 1000, message_id="m5")
    out = live_deliveries(signal, frozenset({"a1"}))
    assert [(d.audience, d.audience_id) for d in out] == [("contact", "c1")]
    assert out[0].frame == {
        "type": "read",
        "contact_id": "c1",
        "reader": "agent",
        "message_id": "m5",
        "at_ms": 1000,
    }


@pytest.mark.parametrize(
    "signal",
    [
        {},
        {"kind": "typing", "contact_id": "c1", "sender": "supervisor"},
        {"kind": "read", "contact_id": "c1", "sender": "agent"},
        {"kind": "wave", "contact_id": "c1", "sender": "agent"},
        {"kind": "typing", "contact_id": 7, "sender": "agent"},
    ],
)
def test_a_signal_that_is_not_one_causes_nothing(signal: dict[str, Any]) -> None:
    assert live_deliveries(signal, frozenset({"a1"})) == []


# --- transcript email ---------------------------------------------------------------------------


def _at(hour: int, minute: int) -> int:
    return int(datetime(2026, 3, 12, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_the_transcript_email_lists_each_message_in_the_customers_time_zone() -> None:
    mail = TranscriptEmail(
        to="dana@customer.test",
        customer_name="Dana",
        from_address="support@hub.test",
        from_name="Hub Support",
        rfc_message_id="<t1@hub.test>",
        sent_at_ms=_at(14, 30),
        lines=[
            Line("customer", "", "Where is <b>my</b> parcel?\nOrder 4711", _at(14, 5)),
            Line("agent", "Alice", "On its way.", _at(14, 6)),
        ],
        zone=time_zone("Europe/Paris"),
    )
    msg = render_transcript(mail)
    assert msg["To"] == "dana@customer.test"
    assert msg["From"] == "Hub Support <support@hub.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert "Hello Dana," in body and "12 March 2026" in body
    assert "[15:05] You: Where is <b>my</b> parcel?\n    Order 4711\n" in body
    assert "[15:06] Alice: On its way.\n" in body
    assert "Times are in Europe/Paris." in body


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(UnknownTimeZone):
        time_zone("Mars/Olympus_Mons")
    assert time_zone(None) is UTC
