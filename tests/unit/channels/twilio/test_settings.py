"""Twilio settings: the shipped file, then the environment; loud errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.twilio.common import TwilioSettings, load_twilio_settings
from contactcenter.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]
CREDENTIALS = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "secret"}


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "twilio.toml").write_text(text)
    return tmp_path


def test_the_shipped_file_loads_and_without_credentials_the_channels_are_off() -> None:
    settings = load_twilio_settings(ROOT / "config", {})
    assert not settings.enabled
    assert settings.conversation_window_h == 24
    # The file states the defaults, but for its example of a voice menu and prompts.
    assert settings == TwilioSettings(numbers=settings.numbers, voice=settings.voice)
    assert [c.key for c in settings.voice.menu] == ["1", "2", "3"]
    assert not settings.softphone_enabled


def test_no_file_at_all_gives_the_defaults(tmp_path: Path) -> None:
    assert load_twilio_settings(tmp_path, {}) == TwilioSettings()


def test_credentials_and_api_base_come_from_the_environment(tmp_path: Path) -> None:
    env = {**CREDENTIALS, "TWILIO_API_BASE": "http://127.0.0.1:8099/"}
    settings = load_twilio_settings(tmp_path, env)
    assert settings.enabled and settings.api_base == "http://127.0.0.1:8099"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_one_credential_without_the_other_is_an_error(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in CREDENTIALS.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        load_twilio_settings(tmp_path, env)
    assert missing in str(caught.value)


def test_numbers_are_normalised_and_the_environment_wins(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        '[numbers]\nsms = ["(415) 555-0199"]\nwhatsapp = ["whatsapp:+14155238886"]\n'
        '[twilio]\ndefault_region = "us"\n[messaging]\nconversation_window_h = 48\n',
    )
    settings = load_twilio_settings(folder, {"CC_TWILIO_SMS_NUMBERS": "+33612345678, +14155550100"})
    assert settings.channel_numbers("sms") == ("+33612345678", "+14155550100")
    assert settings.channel_numbers("whatsapp") == ("+14155238886",)
    assert settings.default_region == "US"
    assert settings.conversation_window_ms == 48 * 3_600_000


@pytest.mark.parametrize(
    ("text", "env", "where"),
    [
        ('[numbers]\nsms = ["12"]\n', {}, "numbers.sms"),
        ("[numbers]\nfax = []\n", {}, "numbers.fax"),
        ("[pager]\n", {}, "[pager]"),
        ("[messaging]\nintake_workers = 0\n", {}, "messaging.intake_workers"),
        ("", {"CC_TWILIO_CONVERSATION_WINDOW_H": "soon"}, "CC_TWILIO_CONVERSATION_WINDOW_H"),
        ('[twilio]\ndefault_region = "USA"\n', {}, "default_region"),
        ("", {"TWILIO_API_BASE": "127.0.0.1:8099"}, "TWILIO_API_BASE"),
        ("[messaging\n", {}, "twilio.toml"),
    ],
)
def test_a_bad_setting_names_where_it_is(
    tmp_path: Path, text: str, env: dict[str, str], where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_twilio_settings(write(tmp_path, text), env)
    assert where in str(caught.value)
