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


def test_json_logs_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "auto")
    structlog.get_logger("t").info("hub_started", port=8080)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line == {**line, "event": "hub_started", "port": 8080, "level": "info"}
