"""What every Twilio channel shares: settings, the webhook signature check, idempotency on a
Twilio sid, and the outbound REST client (docs/channels.md).

Voice and messaging both build on these pieces:

- `load_twilio_settings(config_dir, env)`: `config/twilio.toml`, then the environment; the
  account and its secret come from the environment only. Without them the channels are off.
- `twilio_webhook(handler)`: wraps a handler so it only runs for a request Twilio signed
  (X-Twilio-Signature over the public URL and the form parameters); anything else is refused
  with 403 and changes nothing.
- `WebhookReceipts`: a PostgreSQL table keyed by (kind, sid) that records each delivery once,
  and doubles as a durable inbox for work done after the webhook was answered.
- `twilio_client(settings)`: the library's REST client on its async HTTP client.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from channels.base import DeliveryUpdate, MediaLink
from contactcenter.errors import ConfigError, Forbidden, ServiceUnavailable
from contactcenter.identity import InvalidIdentity, normalise_phone

# https://www.twilio.com/docs/usage/webhooks/webhooks-security: the signature header.
SIGNATURE_HEADER = "X-Twilio-Signature"
CHANNEL_NUMBERS = ("sms", "whatsapp", "voice")


@dataclass(frozen=True)
class TwilioSettings:
    """The Twilio account, our numbers per channel, and how the channels behave."""

    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    api_base: str | None = None  # another base URL for the REST API (tests, demos)
    numbers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # E.164, per channel
    conversation_window_h: float = 24.0
    default_region: str | None = None
    intake_workers: int = 2
    intake_lease_s: float = 30.0
    max_intake_attempts: int = 8
    max_send_attempts: int = 5
    receipt_retention_days: float = 7.0
    api_timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def conversation_window_ms(self) -> int:
        return int(self.conversation_window_h * 3_600_000)

    def channel_numbers(self, channel: str) -> tuple[str, ...]:
        return self.numbers.get(channel, ())


def _number_list(value: Any, where: str, *, region: str | None) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(where, "expected a list of phone numbers")
    try:
        return tuple(
            normalise_phone(i.strip().removeprefix("whatsapp:"), region) for i in items if i.strip()
        )
    except InvalidIdentity as exc:
        raise ConfigError(where, exc.message) from None


def _number(value: Any, where: str, *, cast: type[int] | type[float], minimum: float) -> Any:
    try:
        number = cast(value)
        if isinstance(value, bool) or number < minimum:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            where, f"expected {cast.__name__} >= {minimum:g}, got {value!r}"
        ) from None
    return number


# (section, key = TwilioSettings attribute, cast, minimum); environment: CC_TWILIO_<KEY>.
_KEYS: tuple[tuple[str, str, type[int] | type[float], float], ...] = (
    ("messaging", "conversation_window_h", float, 0),
    ("messaging", "intake_workers", int, 1),
    ("messaging", "intake_lease_s", float, 1),
    ("messaging", "max_intake_attempts", int, 1),
    ("messaging", "max_send_attempts", int, 1),
    ("twilio", "receipt_retention_days", float, 1),
    ("twilio", "api_timeout_s", float, 0.1),
)
_SECTIONS = {"numbers": set(CHANNEL_NUMBERS), "twilio": {"default_region"}, "messaging": set()}
for _section, _key, *_ in _KEYS:
    _SECTIONS[_section].add(_key)


def load_twilio_settings(config_dir: Path, env: Mapping[str, str]) -> TwilioSettings:
    """Settings from `config_dir/twilio.toml` (optional) and `env`, which wins. Pure: a
    function of its inputs. Raises `ConfigError` naming the file and key, or the variable."""
    path = config_dir / "twilio.toml"
    try:
        doc = tomllib.loads(path.read_text()) if path.is_file() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    for section, body in doc.items():
        if section not in _SECTIONS or not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}]", "unknown section")
        for key in set(body) - _SECTIONS[section]:
            raise ConfigError(f"{path}: {section}.{key}", "unknown key")

    def setting(section: str, key: str, env_key: str = "") -> tuple[Any, str] | None:
        env_name = f"CC_TWILIO_{(env_key or key).upper()}"
        if env_name in env:
            return env[env_name], f"environment {env_name}"
        if key in doc.get(section, {}):
            return doc[section][key], f"{path}: {section}.{key}"
        return None

    values: dict[str, Any] = {}
    for section, key, cast, minimum in _KEYS:
        if found := setting(section, key):
            values[key] = _number(*found, cast=cast, minimum=minimum)
    region = None
    if found := setting("twilio", "default_region"):
        if not isinstance(found[0], str) or len(found[0]) != 2:
            raise ConfigError(found[1], "expected a two-letter ISO 3166 code such as US")
        region = found[0].upper()
    numbers = {
        channel: _number_list(*found, region=region)
        for channel in CHANNEL_NUMBERS
        if (found := setting("numbers", channel, f"{channel}_numbers"))
    }
    sid, token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
    if bool(sid) != bool(token):
        missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
        raise ConfigError(f"environment {missing}", "must be set with the other Twilio variable")
    api_base = env.get("TWILIO_API_BASE") or None
    if api_base and not api_base.startswith(("http://", "https://")):
        raise ConfigError("environment TWILIO_API_BASE", "expected an http(s) URL")
    return TwilioSettings(
        account_sid=sid,
        auth_token=token,
        api_base=api_base.rstrip("/") if api_base else None,
        numbers=numbers,
        default_region=region,
        **values,
    )


TWILIO = web.AppKey("twilio", TwilioSettings)

# --- webhook signatures --------------------------------------------------------------------


class InvalidSignature(Forbidden):
    """The request does not carry a valid X-Twilio-Signature: not from our Twilio account."""

    error_id = "twilio.signature_invalid"


class ChannelOff(ServiceUnavailable):
    """Twilio calls a hub whose Twilio channels are off (no account configured)."""

    error_id = "twilio.not_configured"


def webhook_url(public_url: str, raw_path: str) -> str:
    """The URL Twilio requested, as it signed it: the hub's public base URL (Twilio reached us
    through it; behind a proxy `request.url` is not it) and the path with its query string."""
    return public_url.rstrip("/") + raw_path


def signature_valid(
    auth_token: str, url: str, params: Mapping[str, str] | MultiDict[str], signature: str
) -> bool:
    """Whether `signature` is Twilio's HMAC-SHA1 of `url` and the POST `params` under the
    account's auth token (checked by the twilio library's RequestValidator)."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


async def verified_form(request: web.Request) -> MultiDict[str]:
    """The form parameters of a Twilio webhook, once its signature holds; `InvalidSignature`
    (403) otherwise, before anything is read into the hub."""
    from contactcenter.app import SETTINGS  # the composition root imports this module

    twilio = request.app[TWILIO]
    if not twilio.enabled or twilio.auth_token is None:
        raise ChannelOff("the Twilio channels are off: no TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    posted = await request.post()
    params: MultiDict[str] = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
    url = webhook_url(request.app[SETTINGS].public_url, request.raw_path)
    if not signature_valid(
        twilio.auth_token, url, params, request.headers.get(SIGNATURE_HEADER, "")
    ):
        raise InvalidSignature("the request is not signed by this Twilio account")
    return params


TwilioHandler = Callable[[web.Request, MultiDictProxy[str]], Awaitable[web.StreamResponse]]


def twilio_webhook(
    handler: TwilioHandler,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`handler(request, form)` behind the signature check."""

    async def checked(request: web.Request) -> web.StreamResponse:
        return await handler(request, MultiDictProxy(await verified_form(request)))

    return checked


# --- idempotency on a sid, and the durable inbox -------------------------------------------


@dataclass(frozen=True)
class Receipt:
    kind: str
    sid: str
    payload: dict[str, Any]
    attempts: int  # this one included


class WebhookReceipts:
    """Each Twilio delivery recorded once, on (kind, sid): a retry of the same MessageSid
    (or CallSid) finds its receipt and does nothing again.

    A receipt may carry a payload to be handled after the webhook is answered: workers in any
    hub process claim pending receipts for a lease, oldest first. Receipts of one
    `sender_key` are claimed one at a time in arrival order, so one customer's messages are
    handled in the order they came; a lease that runs out (its process died) lets another
    worker take the receipt again, so handling must be idempotent on the sid."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(
        self, kind: str, sid: str, payload: Mapping[str, Any] | None, sender_key: str | None
    ) -> bool:
        """Record a delivery; False when this sid was recorded before (a retry)."""
        inserted = await self.pool.fetchval(
            "INSERT INTO webhook_receipts (kind, sid, sender_key, payload)"
            " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING true",
            kind,
            sid,
            sender_key,
            None if payload is None else json.dumps(payload),
        )
        return bool(inserted)

    async def claim(self, kind: str, lease_s: float) -> Receipt | None:
        """The oldest pending receipt no one holds whose sender has nothing older pending,
        held for `lease_s`; None when there is none."""
        row = await self.pool.fetchrow(
            "UPDATE webhook_receipts w SET attempts = w.attempts + 1,"
            " claimed_until = clock_timestamp() + make_interval(secs => $2)"
            " WHERE (w.kind, w.sid) = (SELECT r.kind, r.sid FROM webhook_receipts r"
            "  WHERE r.kind = $1 AND r.handled_at IS NULL"
            "  AND (r.claimed_until IS NULL OR r.claimed_until < clock_timestamp())"
            "  AND NOT EXISTS (SELECT 1 FROM webhook_receipts o WHERE o.kind = r.kind"
            "   AND o.sender_key = r.sender_key AND o.handled_at IS NULL"
            "   AND (o.received_at, o.sid) < (r.received_at, r.sid))"
            "  ORDER BY r.received_at, r.sid LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING w.kind, w.sid, w.payload, w.attempts",
            kind,
            lease_s,
        )
        if row is None:
            return None
        return Receipt(row["kind"], row["sid"], json.loads(row["payload"] or "{}"), row["attempts"])

    async def finish(
        self,
        kind: str,
        sid: str,
        outcome: str,
        *,
        contact_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Mark a receipt handled; its payload (what the customer sent) is dropped, since the
        message itself is stored where it belongs."""
        await self.pool.execute(
            "UPDATE webhook_receipts SET handled_at = clock_timestamp(), payload = NULL,"
            " claimed_until = NULL, outcome = $3, contact_id = $4::uuid, message_id = $5::uuid"
            " WHERE kind = $1 AND sid = $2",
            kind,
            sid,
            outcome,
            contact_id,
            message_id,
        )

    async def retry_later(self, kind: str, sid: str, delay_s: float) -> None:
        await self.pool.execute(
            "UPDATE webhook_receipts SET claimed_until = clock_timestamp()"
            " + make_interval(secs => $3) WHERE kind = $1 AND sid = $2 AND handled_at IS NULL",
            kind,
            sid,
            delay_s,
        )

    async def outcome(self, kind: str, sid: str) -> str | None:
        """'pending' while not handled, else its outcome; None for a sid never recorded."""
        row = await self.pool.fetchrow(
            "SELECT handled_at IS NULL AS pending, outcome FROM webhook_receipts"
            " WHERE kind = $1 AND sid = $2",
            kind,
            sid,
        )
        if row is None:
            return None
        return "pending" if row["pending"] else str(row["outcome"])

    async def prune(self, retention_days: float) -> int:
        """Forget handled receipts older than `retention_days`; returns how many."""
        done = await self.pool.execute(
            "DELETE FROM webhook_receipts WHERE handled_at IS NOT NULL"
            " AND received_at < clock_timestamp() - make_interval(secs => $1)",
            retention_days * 86_400,
        )
        return int(done.split()[-1])


# --- the outbound REST client --------------------------------------------------------------


def twilio_client(settings: TwilioSettings) -> Any:
    """The twilio library's REST client on its async HTTP client (call inside the event loop;
    close with `close_twilio_client`). With `api_base` set, requests go there instead of
    https://api.twilio.com (channels/fake_twilio.py in tests)."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    # The library logs every request and response at INFO, line by line: ours say what
    # matters (ids, outcomes), so its own go to a logger that only passes warnings.
    quiet = logging.getLogger("channels.twilio_http")
    quiet.setLevel(logging.WARNING)
    http_client = AsyncTwilioHttpClient(timeout=settings.api_timeout_s, logger=quiet)
    # An explicit, non-empty environment: the library would otherwise read os.environ for
    # TWILIO_EDGE / TWILIO_REGION and rewrite hostnames, a base URL override included.
    client = Client(
        settings.account_sid,
        settings.auth_token,
        http_client=http_client,
        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
    )
    if settings.api_base:
        client.api.base_url = settings.api_base  # twilio.base.domain.Domain.base_url
    return client


async def close_twilio_client(client: Any) -> None:
    await client.http_client.close()


# --- what the channels keep of a conversation's messages -----------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a contact's replies go: the customer's address (`remote`) and ours (`local`),
    both as Twilio writes them (`whatsapp:+E164` on WhatsApp)."""

    channel: str
    remote: str
    local: str


class MessagingStore:
    """A contact's endpoint, and each message's id at Twilio, delivery status and media
    (migration 0010_channels.sql). Status updates only ever move a message forward."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def endpoint(self, contact_id: str) -> Endpoint | None:
        row = await self.pool.fetchrow(
            "SELECT channel, remote, local FROM contact_endpoints WHERE contact_id = $1::uuid",
            contact_id,
        )
        return None if row is None else Endpoint(row["channel"], row["remote"], row["local"])

    async def display_name(self, customer_id: str) -> str:
        name = await self.pool.fetchval(
            "SELECT display_name FROM customers WHERE id = $1::uuid", customer_id
        )
        return str(name or "")

    async def last_message_ms(self, contact_id: str) -> int | None:
        """When the contact's last message was stored, in epoch ms."""
        value = await self.pool.fetchval(
            "SELECT (extract(epoch FROM max(created_at)) * 1000)::bigint FROM messages"
            " WHERE contact_id = $1::uuid",
            contact_id,
        )
        return None if value is None else int(value)

    async def record_inbound(
        self, contact_id: str, sid: str, media: Sequence[MediaLink], endpoint: Endpoint
    ) -> str | None:
        """Attach Twilio's sid and the media links to the customer message stored with the
        sid as its client message id, and remember where the contact's replies go (the
        latest message's addresses); returns the message id."""
        found = await self.pool.fetchval(
            "WITH endpoint AS (INSERT INTO contact_endpoints (contact_id, channel, remote, local)"
            " VALUES ($1::uuid, $4, $5, $6) ON CONFLICT (contact_id) DO UPDATE"
            " SET remote = excluded.remote, local = excluded.local, updated_at = now()"
            " WHERE (contact_endpoints.remote, contact_endpoints.local)"
            " IS DISTINCT FROM (excluded.remote, excluded.local))"
            " UPDATE messages SET external_id = $2, media = $3::jsonb, delivery_status ="
            " 'received', delivery_updated_at = now() WHERE contact_id = $1::uuid"
            " AND sender = 'customer' AND client_msg_id = $2 RETURNING id",
            contact_id,
            sid,
            json.dumps([{"url": m.url, "content_type": m.content_type} for m in media]),
            endpoint.channel,
            endpoint.remote,
            endpoint.local,
        )
        return None if found is None else str(found)

    async def claim_send(self, message_id: str) -> bool:
        """Take an agent message for sending; False when it was taken before."""
        taken = await self.pool.fetchval(
            "UPDATE messages SET delivery_status = 'submitting', delivery_updated_at = now()"
            " WHERE id = $1::uuid AND sender = 'agent' AND delivery_status IS NULL"
            " RETURNING true",
            message_id,
        )
        return bool(taken)

    async def release_send(self, message_id: str) -> None:
        """Give a claimed message back: nothing was sent, it may be sent again."""
        await self.pool.execute(
            "UPDATE messages SET delivery_status = NULL, delivery_updated_at = now()"
            " WHERE id = $1::uuid AND delivery_status = 'submitting'",
            message_id,
        )

    async def send_failed(self, message_id: str, error: str) -> None:
        await self.pool.execute(
            "UPDATE messages SET delivery_status = 'failed', delivery_error = $2,"
            " delivery_updated_at = now() WHERE id = $1::uuid AND delivery_status = 'submitting'",
            message_id,
            error,
        )

    async def record_status(
        self, update: DeliveryUpdate, message_id: str | None, replaceable: Sequence[str]
    ) -> bool:
        """Apply Twilio's news of a message (found by our id or its sid) when it moves the
        status forward, that is when the current one is in `replaceable`."""
        changed = await self.pool.fetchval(
            "UPDATE messages SET delivery_status = $3, delivery_updated_at = now(),"
            " delivery_error = coalesce($4, delivery_error),"
            " external_id = coalesce(external_id, $2)"
            " WHERE (id = $1::uuid OR external_id = $2)"
            " AND (external_id IS NULL OR external_id = $2)"
            " AND (delivery_status IS NULL OR delivery_status = ANY($5::text[]))"
            " RETURNING true",
            message_id,
            update.external_id,
            update.status,
            update.error_code,
            list(replaceable),
        )
        return bool(changed)
