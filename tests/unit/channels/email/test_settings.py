"""Email settings: defaults, then config/email.toml, then CC_EMAIL_*; errors name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email.settings import EmailSettings, load_email_settings
from tests.unit.config_files import CONFIG, config_error, copy_shipped, edit_file


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path, "email.toml")


def edit(config_dir: Path, old: str, new: str) -> None:
    edit_file(config_dir / "email.toml", old, new)


def error_of(config_dir: Path, env: dict[str, str] | None = None) -> str:
    return config_error(load_email_settings, config_dir, env)


def test_shipped_file_keeps_email_off_with_documented_defaults() -> None:
    s = load_email_settings(CONFIG, {})
    assert not s.enabled
    assert (s.smtp_server.port, s.relay.port, s.imap.enabled) == (2525, 25, False)
    assert s.max_message_bytes == 10 * 1024 * 1024 and s.id_domain == "example.com"


def test_without_a_file_the_defaults_apply(tmp_path: Path) -> None:
    assert load_email_settings(tmp_path, {}) == EmailSettings()


def test_environment_wins_and_passwords_come_only_from_it(config_dir: Path) -> None:
    s = load_email_settings(
        config_dir,
        {
            "CC_EMAIL_ENABLED": "yes",
            "CC_EMAIL_SMTP_PORT": "2626",
            "CC_EMAIL_RELAY_PASSWORD": "s3cret",
            "CC_EMAIL_FROM_ADDRESS": "help@shop.test",
        },
    )
    assert s.enabled and s.smtp_server.port == 2626 and s.relay.password == "s3cret"
    assert s.from_address == "help@shop.test" and "s3cret" not in repr(s)
    edit(
        config_dir,
        'username = ""\n# Seconds a send',
        'username = ""\npassword = "x"\n# Seconds a send',
    )
    assert "relay.password" in error_of(config_dir)


def test_problems_name_the_file_and_key_or_variable(config_dir: Path) -> None:
    assert "CC_EMAIL_SMTP_PORT" in error_of(config_dir, {"CC_EMAIL_SMTP_PORT": "many"})
    edit(config_dir, 'security = "none"', 'security = "tls"')
    assert "relay.security" in error_of(config_dir)


def test_enabled_needs_our_address(config_dir: Path) -> None:
    edit(config_dir, 'from_address = "support@example.com"', 'from_address = ""')
    assert "email.from_address" in error_of(config_dir, {"CC_EMAIL_ENABLED": "true"})


def test_recipients_we_accept_are_kept_in_lower_case(config_dir: Path) -> None:
    edit(config_dir, "accept_recipients = []", 'accept_recipients = ["Support@Shop.test"]')
    assert load_email_settings(config_dir, {}).accept_recipients == ("support@shop.test",)
