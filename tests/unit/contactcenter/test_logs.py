"""Logs never carry what a customer said or how to reach them."""

from __future__ import annotations

import json

import pytest
import structlog

from contactcenter.logs import configure_logging


def test_bodies_phones_and_secrets_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "message_received",
        body="my card is 4111",
        phone="+33 6 12 34 56 78",
        password="hunter2",
        note="call me at +1 (415) 555-0100 please",
        contact_id="c-1",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["body"] == line["phone"] == line["password"] == "[redacted]"
    assert "555" not in line["note"] and "[phone]" in line["note"]
    assert line["contact_id"] == "c-1" and line["event"] == "message_received"


@pytest.mark.parametrize(
    "value",
    [
        "77b2101b-3512-4567-a8af-dc9756352a50",  # all-digit groups in the middle
        "12345678-1234-5abc-9def-123456789012",
        "SMf2994fe563d2ba2ad62e11421f72de69",
        "2026-11-22T16:40:45",
    ],
)
def test_ids_and_times_are_not_taken_for_phone_numbers(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info("contact_queued", contact_id=value)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["contact_id"] == value


@pytest.mark.parametrize(
    "text", ["+14155550100", "tel:+1 415 555 0100.", "(415) 555-0100", "at 0612345678, or"]
)
def test_phone_numbers_in_text_are_masked(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info("callback_asked", note=text)
    note = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["note"]
    assert "[phone]" in note and "555" not in note and "345" not in note


def test_json_logs_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "auto")
    structlog.get_logger("t").info("hub_started", port=8080)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line == {**line, "event": "hub_started", "port": 8080, "level": "info"}
