"""The web chat widget's settings (docs/widget.md): which sites may embed it, how fast a
visitor may write, how long a message may be, its topics and its identity secret.

`load_widget_settings` reads `config/widget.toml` and `CC_WIDGET_*` variables (a pure function
of a folder and an environment mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contactcenter.core.config_files import known_keys, read_toml, refuse_unknown
from contactcenter.core.errors import ConfigError
from contactcenter.web.origins import origin_problem

# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetSettings:
    """`config/widget.toml`; every key is commented there."""

    allowed_origins: tuple[str, ...] = ()
    title: str = "Chat with us"
    topics: tuple[tuple[str, str], ...] = ()  # (id, label), in the file's order
    max_message_chars: int = 4000
    transcripts_per_contact: int = 3
    trust_forwarded_for: bool = False
    messages_per_visitor_per_min: int = 20
    messages_per_ip_per_min: int = 60
    connections_per_ip_per_min: int = 30
    live_frames_per_s: float = 2.0
    # The secret the embedding site signs its users' ids with (docs/widget.md, identity
    # verification); from the environment only (CC_WIDGET_IDENTITY_SECRET). Empty: no
    # visitor can be verified, every identity typed in the widget is a claim.
    identity_secret: str = field(default="", repr=False)

    def topic_ids(self) -> frozenset[str]:
        return frozenset(topic_id for topic_id, _label in self.topics)

    def public(self) -> dict[str, Any]:
        """What the widget itself is told (GET /widget/config.json)."""
        return {
            "title": self.title,
            "topics": [{"id": i, "label": label} for i, label in self.topics],
            "max_message_chars": self.max_message_chars,
        }


def _origins(value: Any) -> tuple[str, ...]:
    return tuple(value.split(",")) if isinstance(value, str) else tuple(value)


# (section, key, environment variable or "", type, attribute)
_KEYS: tuple[tuple[str, str, str, type, str], ...] = (
    ("widget", "allowed_origins", "CC_WIDGET_ALLOWED_ORIGINS", list, "allowed_origins"),
    ("widget", "title", "CC_WIDGET_TITLE", str, "title"),
    ("widget", "max_message_chars", "CC_WIDGET_MAX_MESSAGE_CHARS", int, "max_message_chars"),
    ("widget", "transcripts_per_contact", "", int, "transcripts_per_contact"),
    ("widget", "trust_forwarded_for", "CC_WIDGET_TRUST_FORWARDED_FOR", bool, "trust_forwarded_for"),
    (
        "limits",
        "messages_per_visitor_per_min",
        "CC_WIDGET_MESSAGES_PER_VISITOR_PER_MIN",
        int,
        "messages_per_visitor_per_min",
    ),
    (
        "limits",
        "messages_per_ip_per_min",
        "CC_WIDGET_MESSAGES_PER_IP_PER_MIN",
        int,
        "messages_per_ip_per_min",
    ),
    (
        "limits",
        "connections_per_ip_per_min",
        "CC_WIDGET_CONNECTIONS_PER_IP_PER_MIN",
        int,
        "connections_per_ip_per_min",
    ),
    ("limits", "live_frames_per_s", "CC_WIDGET_LIVE_FRAMES_PER_S", float, "live_frames_per_s"),
)
MIN_SECRET_CHARS = 16  # an identity secret shorter than this is refused at start
_MAX_TEXT = 4000  # the protocol's own bound on a message (agent_console/protocol.py)


def _cast(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value if isinstance(value, bool) else text in ("1", "true", "yes", "on")
        raise ConfigError(where, f"expected true or false, got {value!r}")
    if kind is list:
        items = _origins(value) if isinstance(value, (str, list)) else None
        if items is None or not all(isinstance(v, str) for v in items):
            raise ConfigError(where, "expected a list of origins")
        return tuple(v.strip() for v in items if v.strip())
    if isinstance(value, bool) or (kind is str and not isinstance(value, str)):
        raise ConfigError(where, f"expected {kind.__name__}, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(where, f"expected {kind.__name__}, got {value!r}") from None
    if kind in (int, float) and number <= 0:
        raise ConfigError(where, "must be greater than 0")
    return number


def _topics(doc: dict[str, Any], path: Path) -> tuple[tuple[str, str], ...]:
    body = doc.get("topics", {})
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: [topics]", "expected a table of id = label")
    out = []
    for topic_id, label in body.items():
        if not _valid_topic_id(topic_id) or not isinstance(label, str) or not label.strip():
            raise ConfigError(
                f"{path}: topics.{topic_id}",
                "expected id = label: a lower-case id (a-z, 0-9, - and _) and a non-empty label",
            )
        out.append((topic_id, label.strip()))
    return tuple(out)


def _valid_topic_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def load_widget_settings(config_dir: Path, env: Mapping[str, str]) -> WidgetSettings:
    """The widget settings from `config_dir / "widget.toml"` (optional) and `env`, which
    wins. Every problem raises `ConfigError` naming the file and key, or the variable."""
    path = config_dir / "widget.toml"
    doc = read_toml(path)
    refuse_unknown(doc, {"topics": set(), **known_keys(_KEYS)}, path, open_sections=["topics"])
    values: dict[str, Any] = {}
    for section, key, env_name, kind, attr in _KEYS:
        if env_name and env_name in env:
            values[attr] = _cast(env[env_name], kind, f"environment {env_name}")
        elif key in doc.get(section, {}):
            values[attr] = _cast(doc[section][key], kind, f"{path}: {section}.{key}")
    for origin in values.get("allowed_origins", ()):
        problem = origin_problem(origin)
        if problem:
            raise ConfigError(f"{path}: widget.allowed_origins", f"{origin!r}: {problem}")
    if values.get("max_message_chars", 1) > _MAX_TEXT:
        raise ConfigError(f"{path}: widget.max_message_chars", f"at most {_MAX_TEXT}")
    secret = env.get("CC_WIDGET_IDENTITY_SECRET", "")
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            "environment CC_WIDGET_IDENTITY_SECRET", f"at least {MIN_SECRET_CHARS} characters"
        )
    return WidgetSettings(**values, topics=_topics(doc, path), identity_secret=secret)
