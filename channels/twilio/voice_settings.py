"""The voice channel's settings: `[voice]` of `config/twilio.toml` (docs/channels.md).

The IVR menu (`[[voice.menu]]`: a key or spoken words pick a language and an intent), what
callers hear per language (`[voice.prompts.<language>]`), hold music, the voicemail's length,
what happens after the maximum wait, and the softphone's (its token's lifetime, the SDK the
console loads). Read by a pure function; every problem raises `ConfigError` naming the file
and key, or the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from contactcenter.core.errors import ConfigError

MAX_WAIT_ACTIONS = ("voicemail", "overflow")
# https://www.twilio.com/docs/voice/twiml/gather#numdigits: one key per choice, any of these.
MENU_KEYS = "0123456789*#"
_LANGUAGE = re.compile(r"^[a-z]{2}$")  # ISO 639-1, as routing and agents' languages are
_SAY_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")  # BCP 47, as <Say language>
_INTENT = re.compile(r"^[a-z0-9_-]{1,64}$")  # as config/intents.toml names them
_APP_SID = re.compile(r"^AP[0-9a-fA-F]{32}$")  # a TwiML App's sid
# The Twilio Voice JavaScript SDK the console's softphone loads: the browser bundle of npm's
# @twilio/voice-sdk (its dist/twilio.min.js defines the global `Twilio.Device`), pinned.
SOFTPHONE_SDK_URL = "https://cdn.jsdelivr.net/npm/@twilio/voice-sdk@2.18.5/dist/twilio.min.js"


@dataclass(frozen=True)
class VoicePrompts:
    """What callers hear in one language. `say_language` is the BCP 47 tag Twilio speaks
    (<Say language>) and recognises speech in (<Gather language>); `voice` an optional
    text-to-speech voice (for instance "Polly.Joanna"). `position` may name {position},
    `estimate` {minutes}."""

    say_language: str = "en-US"
    voice: str | None = None
    welcome: str = "Thank you for calling."
    retry: str = "Sorry, I did not get that."
    connecting: str = "Connecting you to an agent."
    position: str = "You are number {position} in line."
    estimate: str = "Your estimated wait is about {minutes} minutes."
    transferring: str = "Please hold while we transfer your call."
    busy: str = "All our agents are busy right now."
    voicemail: str = "Please leave a message after the tone, and we will call you back."
    goodbye: str = "Thank you for calling. Goodbye."


@dataclass(frozen=True)
class MenuChoice:
    """One IVR choice: pressing `key` or saying one of `speech` (words or phrases, matched
    as whole words, case and accents aside) gives the call `language` and/or `intent`."""

    key: str
    prompt: str
    speech: tuple[str, ...] = ()
    language: str | None = None
    intent: str | None = None


@dataclass(frozen=True)
class VoiceSettings:
    default_language: str = "en"
    prompts: Mapping[str, VoicePrompts] = field(default_factory=lambda: {"en": VoicePrompts()})
    menu: tuple[MenuChoice, ...] = ()
    menu_timeout_s: int = 5
    menu_attempts: int = 2
    hold_music_url: str | None = None
    voicemail_max_length_s: int = 120
    max_wait_s: float | None = None
    max_wait_action: str = "voicemail"
    overflow_queue: str | None = None
    outgoing_application_sid: str | None = None
    token_ttl_s: int = 3600
    softphone_sdk_url: str = SOFTPHONE_SDK_URL

    def prompts_for(self, language: str | None) -> VoicePrompts:
        """The prompts of `language`, or of the default language when it has none."""
        found = self.prompts.get(language or "")
        return found if found is not None else self.prompts[self.default_language]

    def spoken_language(self, language: str | None) -> str:
        """`language` if it has prompts, else the default: the `lang` a call's URLs carry."""
        if language is not None and language in self.prompts:
            return language
        return self.default_language


def _whole(low: int, top: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= top
        return None if ok else f"expected a whole number within {low}..{top}"

    return check


def _url(v: Any) -> str | None:
    ok = isinstance(v, str) and v.startswith(("https://", "http://"))
    return None if ok else "expected an http(s) URL"


def _script_url(v: Any) -> str | None:
    """An http(s) URL, or a path on the hub itself (a copy of the SDK served with it)."""
    ok = isinstance(v, str) and (
        v.startswith(("https://", "http://")) or (v.startswith("/") and not v.startswith("//"))
    )
    return None if ok else "expected an http(s) URL or a path starting with /"


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and regex.match(v) else f"expected {what}"

    return check


def _positive_seconds(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v > 0
    return None if ok else "expected seconds greater than 0"


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"expected one of {', '.join(allowed)}"


# key: (check, cast of an environment value); environment: CC_TWILIO_VOICE_<KEY>.
_SCALARS: dict[str, tuple[Callable[[Any], str | None], Callable[[str], Any]]] = {
    "default_language": (_pattern(_LANGUAGE, "an ISO 639-1 code such as en"), str),
    "menu_timeout_s": (_whole(1, 60), int),
    "menu_attempts": (_whole(1, 5), int),
    "hold_music_url": (_url, str),
    # https://www.twilio.com/docs/voice/twiml/record#maxlength: more than 1 second.
    "voicemail_max_length_s": (_whole(2, 3600), int),
    "max_wait_s": (_positive_seconds, float),
    "max_wait_action": (_one_of(MAX_WAIT_ACTIONS), str),
    "overflow_queue": (lambda v: None if isinstance(v, str) and v else "expected a queue", str),
    "outgoing_application_sid": (_pattern(_APP_SID, "a TwiML App sid, AP and 32 hex"), str),
    # https://www.twilio.com/docs/iam/access-tokens: a token lives at most 24 hours.
    "token_ttl_s": (_whole(60, 86_400), int),
    "softphone_sdk_url": (_script_url, str),
}


def _scalar(key: str, doc: Mapping[str, Any], where: str, env: Mapping[str, str]) -> Any:
    check, cast = _SCALARS[key]
    env_name = f"CC_TWILIO_VOICE_{key.upper()}"
    if env_name in env:
        where = f"environment {env_name}"
        try:
            value = cast(env[env_name])
        except ValueError:
            raise ConfigError(where, f"cannot read {env[env_name]!r}") from None
    else:
        value = doc[key]
        where = f"{where}.{key}"
    problem = check(value)
    if problem:
        raise ConfigError(where, str(problem))
    return float(value) if cast is float else value


def _prompts(table: Any, where: str) -> VoicePrompts:
    if not isinstance(table, dict):
        raise ConfigError(where, "expected a table of prompts")
    known = {f.name for f in fields(VoicePrompts)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}", "unknown key")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{key}", "expected a non-empty string")
    if "say_language" in table and not _SAY_LANGUAGE.match(table["say_language"]):
        raise ConfigError(f"{where}.say_language", "expected a BCP 47 tag such as en-US")
    prompts = VoicePrompts(**table)
    for key, names in (("position", {"position": 1}), ("estimate", {"minutes": 1})):
        try:
            getattr(prompts, key).format(**names)
        except (KeyError, IndexError, ValueError):
            raise ConfigError(f"{where}.{key}", f"may only name {{{next(iter(names))}}}") from None
    return prompts


def _choice(table: Any, where: str) -> MenuChoice:
    if not isinstance(table, dict):
        raise ConfigError(where, "expected a [[voice.menu]] table")
    for key in set(table) - {"key", "prompt", "speech", "language", "intent"}:
        raise ConfigError(f"{where}.{key}", "unknown key")
    key = table.get("key")
    if not isinstance(key, str) or len(key) != 1 or key not in MENU_KEYS:
        raise ConfigError(f"{where}.key", f"expected one of {' '.join(MENU_KEYS)}")
    prompt = table.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where}.prompt", "required: what the caller hears for this choice")
    speech = table.get("speech", [])
    if not isinstance(speech, list) or not all(isinstance(s, str) and s.strip() for s in speech):
        raise ConfigError(f"{where}.speech", "expected a list of words or phrases")
    language, intent = table.get("language"), table.get("intent")
    if language is not None and not (isinstance(language, str) and _LANGUAGE.match(language)):
        raise ConfigError(f"{where}.language", "expected an ISO 639-1 code such as fr")
    if intent is not None and not (isinstance(intent, str) and _INTENT.match(intent)):
        raise ConfigError(f"{where}.intent", "expected a tag such as billing")
    if language is None and intent is None:
        raise ConfigError(where, "a choice sets a language, an intent or both")
    return MenuChoice(key, prompt, tuple(s.strip() for s in speech), language, intent)


def load_voice_settings(doc: Any, where: str, env: Mapping[str, str]) -> VoiceSettings:
    """`[voice]` (`doc`, found at `where`) with the environment winning for its scalar keys.
    Pure: a function of its inputs."""
    if not isinstance(doc, dict):
        raise ConfigError(where, "expected a table")
    for key in set(doc) - set(_SCALARS) - {"prompts", "menu"}:
        raise ConfigError(f"{where}.{key}", "unknown key")
    values = {
        key: _scalar(key, doc, where, env)
        for key in _SCALARS
        if key in doc or f"CC_TWILIO_VOICE_{key.upper()}" in env
    }
    raw_prompts = doc.get("prompts", {"en": {}})
    if not isinstance(raw_prompts, dict) or not raw_prompts:
        raise ConfigError(f"{where}.prompts", "expected [voice.prompts.<language>] tables")
    prompts = {}
    for language, table in raw_prompts.items():
        if not _LANGUAGE.match(language):
            raise ConfigError(f"{where}.prompts.{language}", "expected an ISO 639-1 code")
        prompts[language] = _prompts(table, f"{where}.prompts.{language}")
    raw_menu = doc.get("menu", [])
    if not isinstance(raw_menu, list):
        raise ConfigError(f"{where}.menu", "expected [[voice.menu]] tables")
    menu = tuple(_choice(t, f"{where}.menu[{i}]") for i, t in enumerate(raw_menu))
    keys = [c.key for c in menu]
    for i, choice in enumerate(menu):
        if choice.key in keys[:i]:
            raise ConfigError(f"{where}.menu[{i}].key", f"key {choice.key} is taken")
    settings = VoiceSettings(prompts=prompts, menu=menu, **values)
    if settings.default_language not in prompts:
        raise ConfigError(f"{where}.default_language", "needs its [voice.prompts.<language>]")
    if settings.max_wait_action == "overflow" and not (
        settings.overflow_queue and settings.max_wait_s
    ):
        raise ConfigError(f"{where}.overflow_queue", "overflow needs max_wait_s and a queue")
    return settings
