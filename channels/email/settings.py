"""Email channel settings (`config/email.toml`): built-in defaults, then the file (optional),
then `CC_EMAIL_*` variables. Passwords come from the environment only.

`load_email_settings` is a pure function of a folder and an environment mapping; every problem
raises `ConfigError` naming the file and key (or the variable) and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

from contactcenter.core.config_files import known_keys, read_toml, refuse_unknown
from contactcenter.core.errors import ConfigError

SECURITY = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpServerSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "localhost"
    timeout_s: float = 300.0


@dataclass(frozen=True)
class ImapSettings:
    enabled: bool = False
    host: str = ""
    port: int = 993
    security: str = "ssl"
    username: str = ""
    password: str = field(default="", repr=False)
    mailbox: str = "INBOX"
    poll_interval_s: float = 60.0
    timeout_s: float = 30.0
    after: str = "seen"  # or "delete"


@dataclass(frozen=True)
class RelaySettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 20.0
    max_attempts: int = 8
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    poll_interval_s: float = 5.0


@dataclass(frozen=True)
class EmailSettings:
    enabled: bool = False
    from_address: str = ""
    from_name: str = ""
    message_id_domain: str = ""
    max_message_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 20_000
    accept_recipients: tuple[str, ...] = ()
    max_concurrent_deliveries: int = 2
    smtp_server: SmtpServerSettings = field(default_factory=SmtpServerSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)

    @property
    def id_domain(self) -> str:
        """The domain of the Message-IDs we make: the configured one, else our address's."""
        return self.message_id_domain or self.from_address.rpartition("@")[2] or "localhost"


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _port(v: Any) -> str | None:
    return None if 0 <= v <= 65535 else "expected a port, 0..65535"


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"expected one of {', '.join(allowed)}"


def _address(v: Any) -> str | None:
    local, at, domain = v.partition("@")
    return None if (not v or (at and local and "." in domain)) else "expected an email address"


_Check = Callable[[Any], str | None] | None
# (section, key, environment variable or "", type, check)
_KEYS: tuple[tuple[str, str, str, type, _Check], ...] = (
    ("email", "enabled", "CC_EMAIL_ENABLED", bool, None),
    ("email", "from_address", "CC_EMAIL_FROM_ADDRESS", str, _address),
    ("email", "from_name", "CC_EMAIL_FROM_NAME", str, None),
    ("email", "message_id_domain", "", str, None),
    ("email", "max_message_bytes", "CC_EMAIL_MAX_MESSAGE_BYTES", int, _positive),
    ("email", "max_text_chars", "", int, _positive),
    ("email", "accept_recipients", "", list, None),
    ("email", "max_concurrent_deliveries", "", int, _positive),
    ("smtp_server", "enabled", "CC_EMAIL_SMTP_ENABLED", bool, None),
    ("smtp_server", "host", "CC_EMAIL_SMTP_HOST", str, None),
    ("smtp_server", "port", "CC_EMAIL_SMTP_PORT", int, _port),
    ("smtp_server", "hostname", "", str, None),
    ("smtp_server", "timeout_s", "", float, _positive),
    ("imap", "enabled", "CC_EMAIL_IMAP_ENABLED", bool, None),
    ("imap", "host", "CC_EMAIL_IMAP_HOST", str, None),
    ("imap", "port", "CC_EMAIL_IMAP_PORT", int, _port),
    ("imap", "security", "", str, _one_of(*SECURITY)),
    ("imap", "username", "CC_EMAIL_IMAP_USERNAME", str, None),
    ("imap", "mailbox", "", str, None),
    ("imap", "poll_interval_s", "", float, _positive),
    ("imap", "timeout_s", "", float, _positive),
    ("imap", "after", "", str, _one_of("seen", "delete")),
    ("relay", "host", "CC_EMAIL_RELAY_HOST", str, None),
    ("relay", "port", "CC_EMAIL_RELAY_PORT", int, _port),
    ("relay", "security", "", str, _one_of(*SECURITY)),
    ("relay", "username", "CC_EMAIL_RELAY_USERNAME", str, None),
    ("relay", "timeout_s", "", float, _positive),
    ("relay", "max_attempts", "", int, _positive),
    ("relay", "retry_base_s", "", float, _positive),
    ("relay", "retry_max_s", "", float, _positive),
    ("relay", "poll_interval_s", "", float, _positive),
)
_SECRETS = {"imap": "CC_EMAIL_IMAP_PASSWORD", "relay": "CC_EMAIL_RELAY_PASSWORD"}


def _cast(value: Any, kind: type, where: str) -> Any:
    if kind is bool and isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return text in ("1", "true", "yes", "on")
        raise ConfigError(where, f"expected true or false, got {value!r}")
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(where, f"expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(where, f"expected {kind.__name__}, got {value!r}")
    if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
        raise ConfigError(where, "expected a list of non-empty strings")
    return value


def load_email_settings(config_dir: Path, env: Mapping[str, str]) -> EmailSettings:
    """The email settings from `config_dir / "email.toml"` and `env` (which wins)."""
    path = config_dir / "email.toml"
    doc = read_toml(path)
    known = known_keys(_KEYS)
    refuse_unknown(doc, known, path)
    values: dict[str, dict[str, Any]] = {s: {} for s in known}
    for section, key, env_name, kind, check in _KEYS:
        if env_name and env_name in env:
            where, raw = f"environment {env_name}", env[env_name]
        elif key in doc.get(section, {}):
            where, raw = f"{path}: {section}.{key}", doc[section][key]
        else:
            continue
        value = _cast(raw, kind, where)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(where, problem)
        values[section][key] = tuple(v.lower() for v in value) if kind is list else value
    for section, env_name in _SECRETS.items():
        if env.get(env_name):
            values[section]["password"] = env[env_name]
    settings = EmailSettings(
        **values["email"],
        smtp_server=replace(SmtpServerSettings(), **values["smtp_server"]),
        imap=replace(ImapSettings(), **values["imap"]),
        relay=replace(RelaySettings(), **values["relay"]),
    )
    if settings.enabled and not settings.from_address:
        raise ConfigError(f"{path}: email.from_address", "required when email is enabled")
    if settings.enabled and settings.imap.enabled and not settings.imap.host:
        raise ConfigError(f"{path}: imap.host", "required when imap is enabled")
    return settings


# What a relay that does not take a message raises: refused, unreachable, too slow.
RELAY_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


async def send_via_relay(
    relay: RelaySettings, message: EmailMessage | bytes, sender: str, recipient: str
) -> None:
    """Hand one message to the outbound relay, as its settings say (TLS, login, timeout);
    one of `RELAY_ERRORS` when it does not take it."""
    await aiosmtplib.send(
        message,
        sender=sender,
        recipients=[recipient],
        hostname=relay.host,
        port=relay.port,
        username=relay.username or None,
        password=relay.password or None,
        use_tls=relay.security == "ssl",
        start_tls=relay.security == "starttls",
        timeout=relay.timeout_s,
    )
