"""Hub settings: built-in defaults, then `config/*.toml`, then `CC_*` environment variables.

`load_hub_settings` reads the hub's own (server, storage, routing, console, login, CRM); each
channel's package loads its own, and contactcenter/site_settings.py puts them together. Both
are functions of their inputs (a folder and an environment mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from contactcenter.core.config_files import known_keys, read_toml, refuse_unknown
from contactcenter.core.errors import ConfigError
from contactcenter.crm.settings import CrmSettings, load_crm_settings
from contactcenter.settings.reasons import DEFAULT_REASONS, ReasonCatalogue, load_reasons
from contactcenter.settings.routing import (
    QueueSettings,
    parse_queues,
    parse_rules,
    queue_policies,
)
from routing.model import QueuePolicy
from routing.rules import RoutingRule, RuleTarget

T = TypeVar("T")


@dataclass(frozen=True)
class HubSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    role: str = "all"  # ROLES: what this process runs
    header_timeout_s: float = 15.0
    data_dir: Path = Path(".data")
    embedded_redis_port: int = 16379
    embedded_postgres_port: int = 15432
    db_pool_size: int = 10
    db_statement_timeout_s: float = 10.0
    redis_max_connections: int = 50
    redis_pool_timeout_s: float = 5.0
    redis_url: str | None = None
    database_url: str | None = None
    routing_domain: str = "main"
    routing_tick_ms: int = 250
    stream_maxlen: int = 100_000
    claim_idle_ms: int = 30_000
    max_frame_bytes: int = 65_536
    outbound_queue_size: int = 256
    max_outbound_bytes: int = 1_048_576
    transcript_page_messages: int = 50
    transcript_page_chars: int = 65_536
    session_ttl_h: float = 12.0
    console_heartbeat_s: float = 2.0
    offline_after_s: float = 60.0
    customer_grace_s: float = 90.0
    position_interval_s: float = 10.0
    chat_capacity: int = 3
    # An agent's `send` frames, counted across their consoles and hub processes.
    agent_messages_per_window: int = 30
    agent_message_window_s: float = 10.0
    # Login attempts (contactcenter/web/login_limits.py): free failures, then a doubling wait.
    login_free_failures_per_account: int = 5
    login_free_failures_per_address: int = 50
    login_first_delay_s: float = 1.0
    login_max_delay_s: float = 300.0
    login_forget_after_s: float = 900.0
    log_level: str = "info"
    log_format: str = "auto"
    demo_seed: bool = True
    demo_password: str | None = field(default=None, repr=False)
    config_dir: Path = Path("config")
    queues: tuple[QueueSettings, ...] = ()
    rules: tuple[RoutingRule, ...] = ()
    default_route: RuleTarget | None = None
    # Away reasons (config/reasons.toml, docs/states.md), reloaded live with the queues.
    reasons: ReasonCatalogue = DEFAULT_REASONS
    crm: CrmSettings = field(default_factory=CrmSettings)

    @cached_property
    def policies(self) -> dict[str, QueuePolicy]:
        """The queues as routing sees them, derived once per settings (a reload makes new
        settings, and so new policies)."""
        return queue_policies(self.queues)

    @cached_property
    def channels_served(self) -> dict[str, tuple[str, ...]]:
        """Each queue's channels, for routing rules (derived once per settings)."""
        return {q.name: q.channels for q in self.queues}

    @property
    def serves_clients(self) -> bool:
        """Consoles, customers' chats and webhooks are served here, with what feeds them."""
        return self.role != "worker"

    @property
    def runs_workers(self) -> bool:
        """Routing, the history writer, intake and the outbound senders run here."""
        return self.role != "web"

    def queue(self, name: str) -> QueueSettings:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def with_overrides(self, **changes: Any) -> HubSettings:
        return replace(self, **changes)


# (section, key in file, attribute, environment variable, cast)
_FILE_KEYS: tuple[tuple[str, str, str, str, Callable[[Any], Any]], ...] = (
    ("server", "host", "host", "CC_HOST", str),
    ("server", "port", "port", "CC_PORT", int),
    ("server", "public_url", "public_url", "CC_PUBLIC_URL", str),
    ("server", "role", "role", "CC_ROLE", str),
    ("server", "header_timeout_s", "header_timeout_s", "CC_HEADER_TIMEOUT_S", float),
    ("storage", "data_dir", "data_dir", "CC_DATA_DIR", Path),
    ("storage", "embedded_redis_port", "embedded_redis_port", "CC_EMBEDDED_REDIS_PORT", int),
    (
        "storage",
        "embedded_postgres_port",
        "embedded_postgres_port",
        "CC_EMBEDDED_POSTGRES_PORT",
        int,
    ),
    ("storage", "db_pool_size", "db_pool_size", "CC_DB_POOL_SIZE", int),
    (
        "storage",
        "db_statement_timeout_s",
        "db_statement_timeout_s",
        "CC_DB_STATEMENT_TIMEOUT_S",
        float,
    ),
    (
        "storage",
        "redis_max_connections",
        "redis_max_connections",
        "CC_REDIS_MAX_CONNECTIONS",
        int,
    ),
    ("storage", "redis_pool_timeout_s", "redis_pool_timeout_s", "CC_REDIS_POOL_TIMEOUT_S", float),
    ("routing", "domain", "routing_domain", "CC_ROUTING_DOMAIN", str),
    ("routing", "tick_ms", "routing_tick_ms", "CC_ROUTING_TICK_MS", int),
    ("events", "stream_maxlen", "stream_maxlen", "CC_EVENTS_MAXLEN", int),
    ("events", "claim_idle_ms", "claim_idle_ms", "CC_EVENTS_CLAIM_IDLE_MS", int),
    ("console", "max_frame_bytes", "max_frame_bytes", "CC_MAX_FRAME_BYTES", int),
    ("console", "outbound_queue_size", "outbound_queue_size", "CC_OUTBOUND_QUEUE_SIZE", int),
    ("console", "max_outbound_bytes", "max_outbound_bytes", "CC_MAX_OUTBOUND_BYTES", int),
    (
        "console",
        "transcript_page_messages",
        "transcript_page_messages",
        "CC_TRANSCRIPT_PAGE_MESSAGES",
        int,
    ),
    ("console", "transcript_page_chars", "transcript_page_chars", "CC_TRANSCRIPT_PAGE_CHARS", int),
    ("console", "session_ttl_h", "session_ttl_h", "CC_SESSION_TTL_H", float),
    ("console", "heartbeat_s", "console_heartbeat_s", "CC_CONSOLE_HEARTBEAT_S", float),
    ("console", "offline_after_s", "offline_after_s", "CC_OFFLINE_AFTER_S", float),
    ("console", "customer_grace_s", "customer_grace_s", "CC_CUSTOMER_GRACE_S", float),
    ("console", "position_interval_s", "position_interval_s", "CC_POSITION_INTERVAL_S", float),
    ("agents", "chat_capacity", "chat_capacity", "CC_CHAT_CAPACITY", int),
    (
        "agents",
        "messages_per_window",
        "agent_messages_per_window",
        "CC_AGENT_MESSAGES_PER_WINDOW",
        int,
    ),
    ("agents", "message_window_s", "agent_message_window_s", "CC_AGENT_MESSAGE_WINDOW_S", float),
    (
        "login",
        "free_failures_per_account",
        "login_free_failures_per_account",
        "CC_LOGIN_FREE_FAILURES_PER_ACCOUNT",
        int,
    ),
    (
        "login",
        "free_failures_per_address",
        "login_free_failures_per_address",
        "CC_LOGIN_FREE_FAILURES_PER_ADDRESS",
        int,
    ),
    ("login", "first_delay_s", "login_first_delay_s", "CC_LOGIN_FIRST_DELAY_S", float),
    ("login", "max_delay_s", "login_max_delay_s", "CC_LOGIN_MAX_DELAY_S", float),
    ("login", "forget_after_s", "login_forget_after_s", "CC_LOGIN_FORGET_AFTER_S", float),
    ("logging", "level", "log_level", "CC_LOG_LEVEL", str),
    ("logging", "format", "log_format", "CC_LOG_FORMAT", str),
    ("demo", "seed", "demo_seed", "CC_DEMO_SEED", bool),
)

_LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_FORMATS = ("auto", "json", "console")
# What one process runs (docs/architecture.md, "Process roles"): everything; the clients'
# side (HTTP, websockets, webhooks, SMTP, the pushes to consoles); or the background work
# (routing, history, intake of stored webhooks, outbound senders).
ROLES = ("all", "web", "worker")


def _cast(value: Any, cast: Callable[[Any], Any], where: str) -> Any:
    if cast is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(where, f"expected true or false, got {value!r}")
    if cast is int and isinstance(value, bool):
        raise ConfigError(where, f"expected a whole number, got {value!r}")
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise ConfigError(where, f"expected {cast.__name__}, got {value!r}") from None


def _hub_values(doc: dict[str, Any], path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    refuse_unknown(doc, known_keys(_FILE_KEYS), path)
    values: dict[str, Any] = {}
    for section, key, attr, env_name, cast in _FILE_KEYS:
        if env_name in env:
            values[attr] = _cast(env[env_name], cast, f"environment {env_name}")
        elif key in doc.get(section, {}):
            values[attr] = _cast(doc[section][key], cast, f"{path}: {section}.{key}")
    return values


# Limits and bounds that must be greater than 0 (section.key, attribute): a zero would refuse
# every console, every request, every Redis command, every login.
_POSITIVE = (
    ("server.header_timeout_s", "header_timeout_s"),
    ("storage.redis_max_connections", "redis_max_connections"),
    ("storage.redis_pool_timeout_s", "redis_pool_timeout_s"),
    ("console.max_outbound_bytes", "max_outbound_bytes"),
    ("console.transcript_page_messages", "transcript_page_messages"),
    ("console.transcript_page_chars", "transcript_page_chars"),
    ("agents.messages_per_window", "agent_messages_per_window"),
    ("agents.message_window_s", "agent_message_window_s"),
    ("login.free_failures_per_account", "login_free_failures_per_account"),
    ("login.free_failures_per_address", "login_free_failures_per_address"),
    ("login.first_delay_s", "login_first_delay_s"),
    ("login.max_delay_s", "login_max_delay_s"),
    ("login.forget_after_s", "login_forget_after_s"),
)


def _check_limits(values: dict[str, Any]) -> None:
    for where, attr in _POSITIVE:
        if attr in values and values[attr] <= 0:
            raise ConfigError(where, f"must be greater than 0, got {values[attr]!r}")
    first = values.get("login_first_delay_s", HubSettings.login_first_delay_s)
    if values.get("login_max_delay_s", HubSettings.login_max_delay_s) < first:
        raise ConfigError("login.max_delay_s", "must be at least login.first_delay_s")


# The files reloaded live (contactcenter/settings/reload.py).
ROUTING_FILES = ("queues.toml", "routing.toml", "reasons.toml")


def load_routing(
    config_dir: Path,
) -> tuple[tuple[QueueSettings, ...], tuple[RoutingRule, ...], RuleTarget]:
    """Queues and routing rules alone: the part of the configuration reloaded live."""
    queues_path = config_dir / "queues.toml"
    queues = parse_queues(read_toml(queues_path, required=True), queues_path)
    rules_path = config_dir / "routing.toml"
    rules, default_route = parse_rules(
        read_toml(rules_path, required=True), rules_path, {q.name for q in queues}
    )
    return queues, rules, default_route


def load_hub_settings(config_dir: Path, env: Mapping[str, str]) -> HubSettings:
    """Build the hub's own settings (not its channels': contactcenter/site_settings.py)
    from `config_dir` (hub.toml, queues.toml, routing.toml, reasons.toml) and `env`.

    Environment variables win over the files. Every problem raises `ConfigError` naming the
    file and key (or the variable) and what is wrong.
    """
    hub_path = config_dir / "hub.toml"
    values = _hub_values(read_toml(hub_path, required=True), hub_path, env)
    queues, rules, default_route = load_routing(config_dir)
    if values.get("log_level", "info") not in _LOG_LEVELS:
        raise ConfigError("logging.level", f"must be one of {', '.join(_LOG_LEVELS)}")
    if values.get("log_format", "auto") not in _LOG_FORMATS:
        raise ConfigError("logging.format", f"must be one of {', '.join(_LOG_FORMATS)}")
    if values.get("role", "all") not in ROLES:
        raise ConfigError("server.role", f"must be one of {', '.join(ROLES)}")
    _check_limits(values)
    domain = values.get("routing_domain", "main")
    if not domain or any(c in domain for c in "{}: "):
        raise ConfigError("routing.domain", "must be non-empty, without braces, colons or spaces")
    return HubSettings(
        **values,
        crm=load_crm_settings(config_dir, env),
        redis_url=env.get("REDIS_URL") or None,
        database_url=env.get("DATABASE_URL") or None,
        demo_password=env.get("CC_DEMO_PASSWORD") or None,
        config_dir=config_dir,
        queues=queues,
        rules=rules,
        default_route=default_route,
        reasons=load_reasons(config_dir),
    )
