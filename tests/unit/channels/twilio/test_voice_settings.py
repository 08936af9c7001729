"""Voice settings: `[voice]` of twilio.toml, then the environment; loud errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.twilio.common import load_twilio_settings
from channels.twilio.voice_settings import (
    SOFTPHONE_SDK_URL,
    MenuChoice,
    VoicePrompts,
    VoiceSettings,
)
from contactcenter.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[4]


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> VoiceSettings:
    (tmp_path / "twilio.toml").write_text(text)
    return load_twilio_settings(tmp_path, env or {}).voice


def test_the_shipped_menu_picks_intents_and_french() -> None:
    voice = load_twilio_settings(ROOT / "config", {}).voice
    assert voice.menu[0] == MenuChoice(
        "1",
        "For billing, press 1 or say billing.",
        ("billing", "invoice", "payment", "refund"),
        None,
        "billing",
    )
    assert voice.menu[2].language == "fr"
    assert voice.prompts_for("fr").say_language == "fr-FR"
    assert voice.prompts_for("de") == voice.prompts["en"]  # no German prompts: the default
    assert (voice.max_wait_s, voice.max_wait_action) == (600.0, "voicemail")


def test_without_a_voice_table_the_defaults_apply(tmp_path: Path) -> None:
    assert load(tmp_path, "") == VoiceSettings()
    assert VoiceSettings().prompts == {"en": VoicePrompts()}


def test_prompts_left_out_keep_their_english_default(tmp_path: Path) -> None:
    voice = load(tmp_path, '[voice.prompts.en]\nwelcome = "Hi."\n')
    assert voice.prompts["en"] == VoicePrompts(welcome="Hi.")


def test_the_environment_wins_for_scalar_keys(tmp_path: Path) -> None:
    env = {"CC_TWILIO_VOICE_MAX_WAIT_S": "90", "CC_TWILIO_VOICE_MENU_ATTEMPTS": "3"}
    voice = load(tmp_path, "[voice]\nmax_wait_s = 600\n", env)
    assert (voice.max_wait_s, voice.menu_attempts) == (90.0, 3)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[voice]\ncolour = 1\n", "voice.colour"),
        ("[voice]\nmenu_attempts = 0\n", "voice.menu_attempts"),
        ("[voice]\nhold_music_url = 'ftp://x'\n", "voice.hold_music_url"),
        ("[voice]\nmax_wait_action = 'hangup'\n", "voice.max_wait_action"),
        ("[voice]\nmax_wait_action = 'overflow'\nmax_wait_s = 60\n", "voice.overflow_queue"),
        ("[voice]\noutgoing_application_sid = 'AB1'\n", "voice.outgoing_application_sid"),
        ("[voice]\nsoftphone_sdk_url = 'twilio.min.js'\n", "voice.softphone_sdk_url"),
        ("[voice]\nsoftphone_sdk_url = '//cdn.example/t.js'\n", "voice.softphone_sdk_url"),
        ("[voice]\nsoftphone_sdk_url = 3\n", "voice.softphone_sdk_url"),
        ("[voice]\nvoicemail_max_length_s = 1\n", "voice.voicemail_max_length_s"),
        ("[voice]\ndefault_language = 'fr'\n", "voice.default_language"),
        ("[voice.prompts.en]\nposition = 'You are {place}'\n", "voice.prompts.en.position"),
        ("[voice.prompts.en]\nsay_language = 'english please'\n", "voice.prompts.en.say_language"),
        ("[voice.prompts.english]\n", "voice.prompts.english"),
        ("[[voice.menu]]\nkey = '12'\nprompt = 'x'\nintent = 'a'\n", "voice.menu[0].key"),
        ("[[voice.menu]]\nkey = '1'\nintent = 'a'\n", "voice.menu[0].prompt"),
        ("[[voice.menu]]\nkey = '1'\nprompt = 'x'\n", "voice.menu[0]"),
        (
            "[[voice.menu]]\nkey = '1'\nprompt = 'x'\nlanguage = 'French'\n",
            "voice.menu[0].language",
        ),
        (
            "[[voice.menu]]\nkey = '1'\nprompt = 'x'\nintent = 'a'\n"
            "[[voice.menu]]\nkey = '1'\nprompt = 'y'\nintent = 'b'\n",
            "voice.menu[1].key",
        ),
    ],
)
def test_a_bad_voice_setting_names_where_it_is(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert where in caught.value.details["where"]


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "", {"CC_TWILIO_VOICE_MAX_WAIT_S": "soon"})
    assert caught.value.details["where"] == "environment CC_TWILIO_VOICE_MAX_WAIT_S"


def test_the_softphone_needs_both_api_key_variables(tmp_path: Path) -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t"}
    assert not load_twilio_settings(tmp_path, env).softphone_enabled
    with_key = {**env, "TWILIO_API_KEY_SID": "SK" + "1" * 32, "TWILIO_API_KEY_SECRET": "s"}
    settings = load_twilio_settings(tmp_path, with_key)
    assert settings.softphone_enabled and "'s'" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load_twilio_settings(tmp_path, {**env, "TWILIO_API_KEY_SID": "SK" + "1" * 32})
    assert "TWILIO_API_KEY_SECRET" in str(caught.value)


def test_the_softphone_sdk_is_the_pinned_browser_bundle_unless_configured(tmp_path: Path) -> None:
    shipped = load_twilio_settings(ROOT / "config", {}).voice.softphone_sdk_url
    assert shipped == SOFTPHONE_SDK_URL == VoiceSettings().softphone_sdk_url
    assert shipped.startswith("https://") and shipped.endswith("/dist/twilio.min.js")
    assert "@twilio/voice-sdk@2." in shipped  # a pinned 2.x version: Twilio.Device v2's API
    own = load(tmp_path, "[voice]\nsoftphone_sdk_url = '/static/vendor/twilio.min.js'\n")
    assert own.softphone_sdk_url == "/static/vendor/twilio.min.js"
    env = {"CC_TWILIO_VOICE_SOFTPHONE_SDK_URL": "http://127.0.0.1:9/twilio.js"}
    assert load(tmp_path, "", env).softphone_sdk_url == "http://127.0.0.1:9/twilio.js"
