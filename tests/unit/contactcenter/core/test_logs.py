"""Logs never carry what a customer said or how to reach them."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from contactcenter.core.logs import configure_logging


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


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:18110",
        "peer 203.0.113.45 port 5060",
        "from 10.0.0.1 200 OK",
        "listening on 192.168.100.200:8080/console",
    ],
)
def test_ip_addresses_are_not_taken_for_phone_numbers(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info("hub_started", url=value)
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["url"] == value


def test_a_number_beside_an_ip_address_is_still_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info("sms_failed", note="10.0.0.1 said +33 6 12 34 56 78 is off")
    note = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["note"]
    assert note == "10.0.0.1 said [phone] is off"


def test_flags_named_like_contact_fields_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "customer_matched", email=True, phone=False, body=None, text="hello", token=12345
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["email"] is True and line["phone"] is False and line["body"] is None
    assert line["text"] == line["token"] == "[redacted]"


def test_emails_and_url_passwords_in_text_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "noted",
        note="write to ada.lovelace+cc@example.co.uk today",
        url="redis://:s3cret-Pw@127.0.0.1:16379/0",
        dsn="postgresql://contactcenter:s3cret-Pw@127.0.0.1:15432/contactcenter",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["note"] == "write to [email] today"
    assert line["url"] == "redis://:[redacted]@127.0.0.1:16379/0"
    assert line["dsn"] == "postgresql://contactcenter:[redacted]@127.0.0.1:15432/contactcenter"


def test_nested_values_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "webhook_rejected",
        form={"phone": "+33612345678", "reasons": ["From +1 415 555 0100 unknown"], "ok": True},
    )
    form = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["form"]
    assert form == {"phone": "[redacted]", "reasons": ["From [phone] unknown"], "ok": True}


def test_exception_text_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        raise ValueError('duplicate key: Key (phone)=(+33 6 12 34 56 78), "ada@example.com"')
    except ValueError:
        structlog.get_logger("t").exception("identity_not_saved")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "ValueError" in line["exception"] and "[phone]" in line["exception"]
    assert "56 78" not in line["exception"] and "ada@" not in line["exception"]


def test_standard_library_records_are_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        raise RuntimeError("Failing row contains (+33612345678, hello)")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request from 10.0.0.7")
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert line["event"] == "Error handling request from 10.0.0.7" and line["level"] == "error"
    assert "[phone]" in line["exception"] and "33612345678" not in err
