"""The web chat widget's edge (docs/widget.md): which sites may embed it, how fast a visitor
may write, how long a message may be, and the channel its typing and read signals cross hub
processes on.

`load_widget_settings` reads `config/widget.toml` and `CC_WIDGET_*` variables (a pure
function of a folder and an environment mapping); `origin_allowed` is a pure check of a
websocket's Origin header; `RateLimiter` counts in Redis, so that a limit holds however many
hub processes a visitor's connections land on; `LiveChannel` carries the ephemeral signals.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from contactcenter.config_files import known_keys, read_toml, refuse_unknown
from contactcenter.errors import ConfigError, Forbidden, HubError, InvalidInput
from contactcenter.eventbus import tail_stream
from contactcenter.redisconn import RedisClient

log = structlog.get_logger("agent_console.limits")


class RateLimited(HubError):
    """Too many frames of one kind in a window; `details.retry_after_s` says when to retry.
    Nothing of the refused frame was stored or relayed."""

    error_id = "chat.rate_limited"
    http_status = 429


class OriginForbidden(Forbidden):
    """The page opening the chat is not on a site allowed to embed the widget."""

    error_id = "chat.origin_forbidden"


class MessageTooLong(InvalidInput):
    error_id = "chat.message_too_long"


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


# --- origins ----------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin as a browser sends it (RFC 6454 section 6.1), or
    None when it is not one (a path, credentials, `null`)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_problem(entry: str) -> str | None:
    """Why `entry` is not a valid `allowed_origins` entry, or None. Valid: `*`, an origin
    (`https://shop.example`, `http://127.0.0.1:8000`) or one whose host starts with `*.`
    (`https://*.shop.example`: its subdomains, not itself)."""
    if entry == "*":
        return None
    if _split_origin(entry.replace("://*.", "://wildcard.", 1)) is None:
        return "expected *, scheme://host[:port] or scheme://*.domain[:port], with no path"
    return None


def origin_allowed(origin: str | None, own_hosts: Sequence[str], allowed: Sequence[str]) -> bool:
    """Whether a websocket opened with this Origin header may speak to the chat.

    No Origin: not a browser (a browser always sends one on a websocket, RFC 6455 section
    4.1, item 8), and whatever it claims could not be checked anyway. `own_hosts` (host or
    host:port, compared without the scheme, because a TLS proxy in front of the hub changes
    it) are the hub's own pages, always allowed."""
    if origin is None:
        return True
    found = _split_origin(origin)
    if found is None:
        return False
    scheme, host, port = found
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if netloc in {h.lower() for h in own_hosts} or f"{host}:{port}" in own_hosts:
        return True
    for entry in allowed:
        if entry == "*":
            return True
        wildcard = "://*." in entry
        want = _split_origin(entry.replace("://*.", "://wildcard.", 1))
        if want is None or want[0] != scheme or want[2] != port:
            continue
        if wildcard and host.endswith("." + want[1].removeprefix("wildcard.")):
            return True
        if not wildcard and want[1] == host:
            return True
    return False


def client_ip(peer: str | None, forwarded_for: str | None, trust_forwarded_for: bool) -> str:
    """The address a visitor's limits are counted on: the socket's peer, or, behind a proxy
    the operator trusts, the last address in X-Forwarded-For (the one that proxy added; any
    before it the client could have written itself)."""
    if trust_forwarded_for and forwarded_for:
        last = forwarded_for.split(",")[-1].strip()
        if last:
            return last
    return peer or "unknown"


# --- Redis keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetKeys:
    """The widget's Redis keys. Built here rather than in routing/keys.py, which holds
    routing's own; they share its prefix `cc:{domain}`, so they live in the domain's hash
    slot like every other key of the hub (and are deleted with a test's domain)."""

    domain: str

    @property
    def prefix(self) -> str:
        return f"cc:{{{self.domain}}}"

    def limit(self, what: str, who: str, window: int) -> str:
        """Counter of `what` (messages, connections...) by `who` in fixed window `window`.
        `who` is hashed: visitor ids and addresses are not kept in Redis as they are."""
        digest = hashlib.sha256(who.encode()).hexdigest()[:20]
        return f"{self.prefix}:limit:{what}:{digest}:{window}"

    @property
    def live(self) -> str:
        """The stream of ephemeral signals (typing, read marks): capped, never stored."""
        return f"{self.prefix}:live"


# --- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """At most `count` hits of `what` by `who` per `window_ms`."""

    what: str
    who: str
    count: int
    window_ms: int


class RateLimiter:
    """Fixed-window counters in Redis: each hit increments the window's key, which expires
    with its window. Cheap (one round trip for any number of limits) and shared by every hub
    process; a burst across a window's edge may reach twice the limit, which is enough to
    stop a flood."""

    def __init__(self, redis: RedisClient, keys: WidgetKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def hit(self, limits: Sequence[Limit], now_ms: int) -> None:
        """Count one hit against each of `limits`; raise `RateLimited` naming the first one
        exceeded and when its window ends."""
        if not limits:
            return
        pipe = self.redis.pipeline(transaction=False)
        for limit in limits:
            key = self.keys.limit(limit.what, limit.who, now_ms // limit.window_ms)
            pipe.incr(key)
            pipe.pexpire(key, limit.window_ms * 2)
        replies = await pipe.execute()
        for limit, count in zip(limits, replies[::2], strict=True):
            if int(count) > limit.count:
                ends_ms = (now_ms // limit.window_ms + 1) * limit.window_ms
                raise RateLimited(
                    "too many at once; try again shortly",
                    limit=limit.what,
                    retry_after_s=max(1, math.ceil((ends_ms - now_ms) / 1000)),
                )


@dataclass
class FrameThrottle:
    """Frames per second of one connection (typing and read marks): a token bucket kept in
    the connection itself, since a connection lives on one process."""

    per_s: float
    clock_ms: Callable[[], int]
    tokens: float = field(default=-1.0)
    last_ms: int = 0

    def allow(self) -> None:
        now_ms = self.clock_ms()
        burst = max(1.0, self.per_s * 2)
        if self.tokens < 0:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now_ms - self.last_ms) / 1000 * self.per_s)
        self.last_ms = now_ms
        if self.tokens < 1:
            raise RateLimited(
                "too many typing or read frames",
                limit="live_frames",
                retry_after_s=max(1, math.ceil((1 - self.tokens) / self.per_s)),
            )
        self.tokens -= 1


# --- the live channel -------------------------------------------------------------------------


class LiveChannel:
    """Typing and read signals between hub processes.

    A capped stream of its own (`WidgetKeys.live`), tailed by every process like the event
    stream: not the event stream, whose every entry the history writer stores; not Redis
    pub/sub, which the asyncio Redis Cluster client does not offer. A signal missed (a process
    restarting) costs a typing dot or a read mark that the next one sets right."""

    def __init__(self, redis: RedisClient, keys: WidgetKeys, *, maxlen: int = 2000) -> None:
        self.redis = redis
        self.stream = keys.live
        self.maxlen = maxlen

    async def publish(self, signal: Mapping[str, Any]) -> None:
        fields: dict[Any, Any] = {"s": json.dumps(signal, separators=(",", ":"))}
        await self.redis.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)

    async def tail(self, *, block_ms: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every signal published from now on, forever."""
        async for _entry_id, fields in tail_stream(self.redis, self.stream, block_ms):
            try:
                signal = json.loads(fields["s"])
            except (KeyError, ValueError):
                continue
            if isinstance(signal, dict):
                yield signal
