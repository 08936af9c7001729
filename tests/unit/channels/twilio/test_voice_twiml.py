"""Twilio voice, the pure part: webhook forms parsed, IVR choices matched, TwiML rendered.
No I/O, no event loop."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from channels.base import InvalidDelivery
from channels.twilio.voice_settings import MenuChoice, VoicePrompts, VoiceSettings
from channels.twilio.voice_twiml import (
    IncomingCall,
    Recording,
    VoiceTwiml,
    choose,
    client_identity,
    parse_call,
    parse_gather,
    parse_recording,
    parse_status,
    parse_wait,
    query_attempt,
    query_contact_id,
    wait_minutes,
)
from tests.support.fake_twilio import FakeTwilio

FAKE = FakeTwilio()
AGENT = "6f1c2a9e-0000-4000-8000-00000000a1b2"
CONTACT = "0b7f6a7e-1111-4222-8333-444455556666"
MENU = (
    MenuChoice("1", "For billing, press 1.", ("billing", "credit card"), None, "billing"),
    MenuChoice("3", "Pour le français, appuyez sur 3.", ("français",), "fr", None),
)
SETTINGS = VoiceSettings(
    prompts={"en": VoicePrompts(), "fr": VoicePrompts(say_language="fr-FR", voice="Polly.Lea")},
    menu=MENU,
    hold_music_url="https://music.example/hold.mp3",
    voicemail_max_length_s=90,
)
TWIML = VoiceTwiml(SETTINGS, "https://hub.example/cc/")


def verbs(twiml: str) -> list[tuple[str, dict[str, str], str]]:
    """The verbs of a TwiML document in order: (tag, attributes, text)."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return [(v.tag, dict(v.attrib), (v.text or "").strip()) for v in root]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- parsing -------------------------------------------------------------------------------


def test_an_incoming_call_is_parsed() -> None:
    form = FAKE.incoming_call("+14155550123", "+14155550199")
    assert parse_call(form) == IncomingCall(form["CallSid"], "+14155550123", "+14155550199")


def test_a_withheld_number_is_still_a_call() -> None:
    form = FAKE.incoming_call("anonymous", "+14155550199")
    assert parse_call(form).caller == "anonymous"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"CallSid": "SM" + "0" * 32}, "CallSid"), ({"To": ""}, "To"), ({"CallSid": None}, "CallSid")],
)
def test_a_bad_call_form_names_the_field(change: dict[str, Any], field: str) -> None:
    form = FAKE.incoming_call("+14155550123", "+14155550199")
    for key, value in change.items():
        if value is None:
            del form[key]
        else:
            form[key] = value
    with pytest.raises(InvalidDelivery) as caught:
        parse_call(form)
    assert field in caught.value.details["missing"] + caught.value.details["invalid"]


def test_gather_wait_status_and_recording_forms_are_parsed() -> None:
    call = FAKE.incoming_call("+14155550123", "+14155550199")
    sid = call["CallSid"]
    assert parse_gather(FAKE.call_form(call, Digits="3")).digits == "3"
    assert parse_gather(FAKE.call_form(call, SpeechResult="Billing.")).speech == "Billing."
    assert parse_wait(FAKE.call_form(call, QueueTime=42)) == (sid, 42)
    assert parse_status(FAKE.hang_up(call)) == (sid, "completed")
    recording = FAKE.call_form(
        call,
        RecordingSid="RE" + "a" * 32,
        RecordingUrl="https://api.twilio.com/rec/RE1",
        RecordingDuration=17,
    )
    assert parse_recording(recording) == Recording(
        sid, "RE" + "a" * 32, "https://api.twilio.com/rec/RE1", 17
    )
    with pytest.raises(InvalidDelivery):
        parse_gather(FAKE.call_form(call, Digits="1; DROP"))
    with pytest.raises(InvalidDelivery):
        parse_wait(FAKE.call_form(call, QueueTime=-1))


def test_our_query_parameters_are_checked() -> None:
    assert query_contact_id({"contact_id": CONTACT.upper()}) == CONTACT
    assert query_attempt({}) == 1 and query_attempt({"attempt": "2"}) == 2
    for bad in ({}, {"contact_id": "nope"}):
        with pytest.raises(InvalidDelivery):
            query_contact_id(bad)
    with pytest.raises(InvalidDelivery):
        query_attempt({"attempt": "-1"})


# --- the IVR -------------------------------------------------------------------------------


def test_a_key_picks_its_choice_and_an_unknown_key_none() -> None:
    assert choose(MENU, "3", "") == MENU[1]
    assert choose(MENU, "9", "billing") is None  # keys win over words


def test_words_pick_a_choice_whole_words_accents_and_case_aside() -> None:
    assert choose(MENU, "", "It's about my CREDIT CARD please") == MENU[0]
    assert choose(MENU, "", "Francais s'il vous plait") == MENU[1]
    assert choose(MENU, "", "billings") is None
    assert choose(MENU, "", "") is None


def test_the_menu_gathers_one_key_or_speech_and_posts_even_when_empty() -> None:
    [(tag, attrs, _)] = verbs(TWIML.menu())
    assert tag == "Gather"
    assert attrs["input"] == "dtmf speech" and attrs["numDigits"] == "1"
    assert attrs["actionOnEmptyResult"] == "true" and attrs["language"] == "en-US"
    assert attrs["action"] == "https://hub.example/cc/twilio/voice/gather?attempt=1"
    assert attrs["hints"] == "billing, credit card, français"
    said = ET.fromstring(TWIML.menu())[0]
    assert [(s.text, s.get("language")) for s in said] == [
        ("Thank you for calling.", "en-US"),
        ("For billing, press 1.", "en-US"),
        ("Pour le français, appuyez sur 3.", "fr-FR"),  # in its own language
    ]
    retry = ET.fromstring(TWIML.menu(2))[0]
    assert retry[0].text == "Sorry, I did not get that."
    assert query(retry.get("action", ""))["attempt"] == "2"


# --- the queue and the hold loop -----------------------------------------------------------


def test_enqueue_waits_with_a_wait_url_then_falls_to_voicemail() -> None:
    found = verbs(TWIML.enqueue(CONTACT, "support", "fr"))
    assert [v[0] for v in found] == ["Enqueue", "Say", "Record", "Say", "Hangup"]
    _, attrs, queue = found[0]
    assert queue == "support" and attrs["waitUrlMethod"] == "POST"
    assert attrs["waitUrl"].startswith("https://hub.example/cc/twilio/voice/wait?")
    assert query(attrs["waitUrl"]) == {"contact_id": CONTACT, "lang": "fr"}
    record = found[2][1]
    assert record["maxLength"] == "90" and record["playBeep"] == "true"
    assert record["action"] == "https://hub.example/cc/twilio/voice/voicemail?lang=fr"
    assert found[1][1] == {"language": "fr-FR", "voice": "Polly.Lea"}


def test_a_language_without_prompts_is_spoken_in_the_default() -> None:
    attrs = verbs(TWIML.enqueue(CONTACT, "support", "de"))[0][1]
    assert query(attrs["waitUrl"])["lang"] == "en"


def test_the_hold_loop_tells_position_and_wait_then_plays_music() -> None:
    assert verbs(TWIML.hold("en", 3, 150)) == [
        ("Say", {"language": "en-US"}, "You are number 3 in line."),
        ("Say", {"language": "en-US"}, "Your estimated wait is about 3 minutes."),
        ("Play", {}, "https://music.example/hold.mp3"),
    ]
    assert [v[0] for v in verbs(TWIML.hold("en", None, None))] == ["Play"]
    silent = VoiceTwiml(VoiceSettings(), "https://hub.example")
    assert verbs(silent.hold("en", 1, None))[-1][:2] == ("Pause", {"length": "20"})


def test_estimated_minutes_round_up_and_never_say_zero() -> None:
    assert [wait_minutes(s) for s in (0, 59, 60, 61, 600)] == [1, 1, 1, 2, 10]


def test_leaving_the_queue_and_refusals_end_in_voicemail() -> None:
    assert verbs(TWIML.leave()) == [("Leave", {}, "")]
    closed = verbs(TWIML.refused("We are closed; we open at 9:00.", None))
    assert closed[0] == ("Say", {"language": "en-US"}, "We are closed; we open at 9:00.")
    assert [v[0] for v in closed[1:]] == ["Say", "Record", "Say", "Hangup"]


# --- agents --------------------------------------------------------------------------------


def test_the_bridge_dials_the_agents_softphone_or_phone() -> None:
    identity = client_identity(AGENT)
    assert identity == "agent_" + AGENT.replace("-", "")
    softphone = ET.fromstring(TWIML.bridge("client", AGENT, "en", CONTACT))
    assert softphone[0].text == "Connecting you to an agent."
    assert [n.tag for n in softphone[1]] == ["Client"]
    phone = ET.fromstring(TWIML.bridge("+33612345678", AGENT, "fr", CONTACT))
    assert [(n.tag, n.text) for n in phone[1]] == [("Number", "+33612345678")]
    assert phone[0].get("language") == "fr-FR"


def test_the_softphone_call_names_the_agent_and_carries_its_contact() -> None:
    client = ET.fromstring(TWIML.bridge("client", AGENT, None, CONTACT))[1][0]
    assert (client.text or "").strip() == ""  # the identity is a noun beside the parameter
    assert [(n.tag, n.text, dict(n.attrib)) for n in client] == [
        ("Identity", client_identity(AGENT), {}),
        ("Parameter", None, {"name": "contact_id", "value": CONTACT}),
    ]
    # Twilio's limits on a custom parameter: a name of 32 bytes, a value of 128 at most.
    parameter = client[1]
    assert len(parameter.attrib["name"].encode()) <= 32
    assert len(parameter.attrib["value"].encode()) <= 128


def test_a_bridge_to_a_phone_carries_no_custom_parameter() -> None:
    phone = ET.fromstring(TWIML.bridge("+33612345678", AGENT, None, CONTACT))
    assert [child.tag for child in phone[1][0]] == []


def test_a_transfer_to_a_queue_says_so_and_enqueues_again() -> None:
    found = verbs(TWIML.requeue(CONTACT, "billing", None))
    assert found[0][2] == "Please hold while we transfer your call."
    assert found[1][0] == "Enqueue" and found[1][2] == "billing"
