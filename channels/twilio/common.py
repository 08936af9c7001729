"""What every Twilio channel shares: settings, the webhook signature check, and the outbound
REST client (docs/channels.md).

Voice and messaging both build on these pieces:

- `load_twilio_settings(config_dir, env)`: `config/twilio.toml`, then the environment; the
  account and its secrets come from the environment only. Without them the channels are off.
- `twilio_webhook(handler)`: wraps a handler so it only runs for a request Twilio signed
  (X-Twilio-Signature over the public URL and the form parameters); anything else is refused
  with 403 and changes nothing. NULs in what a person wrote are dropped, anywhere else
  refused with 400 (`storable_form`).
- `form_invalid(exc)`: a webhook form's validation errors as `InvalidDelivery` (400).
- `twilio_client(settings)`: the library's REST client on its async HTTP client.

What the channels keep in PostgreSQL (`WebhookReceipts`, `MessagingStore`) is
`channels.twilio.messaging_store`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from channels.base import InvalidDelivery
from channels.twilio.voice_settings import VoiceSettings, load_voice_settings
from contactcenter.core.config_files import read_toml, refuse_unknown
from contactcenter.core.errors import ConfigError, Forbidden, ServiceUnavailable
from contactcenter.core.storable import NUL, text_problem
from contactcenter.crm.identity import InvalidIdentity, normalise_phone
from contactcenter.settings.appkeys import SETTINGS

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
    # An API key for the agents' softphone tokens (voice); both or neither.
    api_key_sid: str | None = None
    api_key_secret: str | None = field(default=None, repr=False)
    voice: VoiceSettings = field(default_factory=VoiceSettings)

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def conversation_window_ms(self) -> int:
        return int(self.conversation_window_h * 3_600_000)

    @property
    def softphone_enabled(self) -> bool:
        """Whether agents can be given browser softphone tokens (an API key is set)."""
        return self.enabled and bool(self.api_key_sid and self.api_key_secret)

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
    doc = read_toml(path)
    # [voice] has its own reader (twilio_voice_settings.py), which checks its keys.
    refuse_unknown(doc, {**_SECTIONS, "voice": set()}, path, open_sections=["voice"])

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
    key_sid, key_secret = env.get("TWILIO_API_KEY_SID") or None, env.get("TWILIO_API_KEY_SECRET")
    if bool(key_sid) != bool(key_secret):
        missing = "TWILIO_API_KEY_SECRET" if key_sid else "TWILIO_API_KEY_SID"
        raise ConfigError(f"environment {missing}", "must be set with the other API key variable")
    api_base = env.get("TWILIO_API_BASE") or None
    if api_base and not api_base.startswith(("http://", "https://")):
        raise ConfigError("environment TWILIO_API_BASE", "expected an http(s) URL")
    return TwilioSettings(
        account_sid=sid,
        auth_token=token,
        api_base=api_base.rstrip("/") if api_base else None,
        numbers=numbers,
        default_region=region,
        api_key_sid=key_sid,
        api_key_secret=key_secret or None,
        voice=load_voice_settings(doc.get("voice", {}), f"{path}: voice", env),
        **values,
    )


TWILIO = web.AppKey("twilio", TwilioSettings)


def form_invalid(exc: ValidationError) -> InvalidDelivery:
    """A webhook form's validation errors, as the 400 naming the missing and invalid fields."""
    missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
    invalid = [str(e["loc"][0]) for e in exc.errors() if e["type"] != "missing"]
    return InvalidDelivery(
        "the webhook lacks fields or has wrong ones", missing=missing, invalid=invalid
    )


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
    return storable_form(params)


# What a person wrote or said, as Twilio passes it on: an SMS or WhatsApp message's Body and
# the sender's ProfileName (https://www.twilio.com/docs/messaging/guides/webhook-request), a
# call's CallerName and SpeechResult (https://www.twilio.com/docs/voice/twiml#request-parameters).
PEOPLES_TEXT = frozenset({"Body", "ProfileName", "CallerName", "SpeechResult"})


def storable_form(params: MultiDict[str]) -> MultiDict[str]:
    """A signed webhook's form with what no store can hold dealt with
    (contactcenter/core/storable.py).

    In what a person wrote (`PEOPLES_TEXT`), NUL characters are dropped: they carry nothing a
    reader could see, and refusing the request would lose the customer's message, since
    Twilio does not send a webhook again after a 4xx (it logs error 11200). Anywhere else (a
    sid, a number, a URL) they cannot come from Twilio at all: `InvalidDelivery` (400) naming
    the fields, and nothing is stored."""
    cleaned: MultiDict[str] = MultiDict()
    invalid: list[str] = []
    for key, value in params.items():
        if key in PEOPLES_TEXT:
            value = value.replace(NUL, "")
        if text_problem(key) or text_problem(value):
            invalid.append(key)
        cleaned.add(key, value)
    if invalid:
        raise InvalidDelivery("the webhook has fields that cannot be stored", invalid=invalid)
    return cleaned


TwilioHandler = Callable[[web.Request, MultiDictProxy[str]], Awaitable[web.StreamResponse]]


def twilio_webhook(
    handler: TwilioHandler,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`handler(request, form)` behind the signature check."""

    async def checked(request: web.Request) -> web.StreamResponse:
        return await handler(request, MultiDictProxy(await verified_form(request)))

    return checked


# --- the outbound REST client --------------------------------------------------------------


def twilio_client(settings: TwilioSettings) -> Any:
    """The twilio library's REST client on its async HTTP client (call inside the event loop;
    close with `close_twilio_client`). With `api_base` set, requests go there instead of
    https://api.twilio.com (tests/support/fake_twilio.py in tests)."""
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
