"""The console protocol codec: frames in, typed commands or stable errors out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_console import protocol as p
from contactcenter.core.errors import MalformedFrame, UnknownFrameType


def test_agent_commands_parse_to_their_types() -> None:
    assert p.parse_agent_frame('{"type":"set_state","state":"available"}') == p.SetState(
        type="set_state", state="available"
    )
    cmd = p.parse_agent_frame('{"type":"send","contact_id":"c1","text":"hi","ref":"r1"}')
    assert isinstance(cmd, p.Send) and cmd.text == "hi" and cmd.ref == "r1"
    cmd = p.parse_agent_frame('{"type":"wrapup","contact_id":"c1","disposition":null}')
    assert isinstance(cmd, p.WrapUp) and cmd.disposition is None and cmd.notes == ""


@pytest.mark.parametrize("text", ["not json", "[1,2]", '"str"', "{}", '{"type": 3}'])
def test_non_object_or_untyped_frames_are_malformed(text: str) -> None:
    with pytest.raises(MalformedFrame) as info:
        p.parse_agent_frame(text)
    assert info.value.error_id == "frame.malformed"


def test_unknown_type_has_its_own_error_id_and_keeps_the_ref() -> None:
    with pytest.raises(UnknownFrameType) as info:
        p.parse_agent_frame('{"type":"launch_rockets","ref":"r9"}')
    frame = p.error_frame(info.value)
    assert frame["error_id"] == "frame.unknown_type" and frame["ref"] == "r9"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "set_state", "state": "sleeping"},
        {"type": "send", "contact_id": "c1", "text": ""},
        {"type": "send", "contact_id": "c1", "text": "x" * 4001},
        {"type": "accept"},
        {"type": "accept", "contact_id": "c1", "extra": 1},
        {"type": "reprioritize", "contact_id": "c1", "priority": True},
    ],
)
def test_invalid_fields_name_the_field(frame: dict[str, object]) -> None:
    with pytest.raises(MalformedFrame) as info:
        p.parse_agent_frame(json.dumps(frame))
    assert info.value.details["errors"], "the error lists which field is wrong"


def test_chat_frames_are_separate_from_agent_frames() -> None:
    assert isinstance(p.parse_chat_frame('{"type":"hello","name":"Dana"}'), p.Hello)
    with pytest.raises(UnknownFrameType):
        p.parse_chat_frame('{"type":"accept","contact_id":"c1"}')
    with pytest.raises(MalformedFrame):
        p.parse_chat_frame('{"type":"hello","name":""}')


def test_sequencer_numbers_frames_from_one_without_gaps() -> None:
    seq = p.Sequencer()
    frames = [json.loads(seq.encode({"type": "pong"})) for _ in range(3)]
    assert [f["seq"] for f in frames] == [1, 2, 3]
    assert all(f["type"] == "pong" for f in frames)


@pytest.mark.parametrize("parse", [p.parse_agent_frame, p.parse_chat_frame])
def test_a_frame_nested_too_deeply_is_malformed_not_a_crash(parse: Any) -> None:
    for text in ("[" * 20_000, '{"type":"ping","x":' + "[" * 20_000 + "]" * 20_000 + "}"):
        with pytest.raises(MalformedFrame) as info:
            parse(text)
        assert info.value.error_id == "frame.malformed"


@pytest.mark.parametrize(
    "text",
    ['{"ref":"r7"}', '{"ref":"r7","type":5}', '{"ref":"r7","type":"ping","x":"\\u0000"}'],
)
def test_a_frame_refused_before_its_type_is_known_still_echoes_its_ref(text: str) -> None:
    with pytest.raises(MalformedFrame) as info:
        p.parse_agent_frame(text)
    assert p.error_frame(info.value)["ref"] == "r7"


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "wrapup", "contact_id": "c1", "notes": "done\x00"}, "notes"),
        ({"type": "send", "contact_id": "c1", "text": "hi", "client_msg_id": "\ud800"},
         "client_msg_id"),
        ({"type": "transfer", "contact_id": "c1", "to_agent": "al\x00ice"}, "to_agent"),
        ({"type": "accept", "contact_id": "c\x00"}, "contact_id"),
        ({"type": "ping", "ref": "r\x00"}, "ref"),
    ],
)  # fmt: skip
def test_text_no_store_can_hold_is_refused_naming_the_field(
    frame: dict[str, object], field: str
) -> None:
    with pytest.raises(MalformedFrame) as info:
        p.parse_agent_frame(json.dumps(frame))
    assert [e["field"] for e in info.value.details["errors"]] == [field]


def test_nul_in_a_chat_frame_is_refused_too() -> None:
    with pytest.raises(MalformedFrame) as info:
        p.parse_chat_frame('{"type":"hello","name":"Dana","visitor_id":"v\\u0000v-1234"}')
    assert info.value.details["errors"][0]["field"] == "visitor_id"
