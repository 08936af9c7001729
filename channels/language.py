"""Language and intent of a text contact's words (docs/language.md).

`TextClassifier.classify(text)` gives the language (an ISO 639-1 code, or None when the text
is too short or too ambiguous to tell) and the intent tags the keyword rules of
`config/intents.toml` find in it. Routing rules match both (`language`, `intent`), so what
this returns for a contact's first words feeds its `routing.rules.ContactAttributes`.

Language detection is lingua's (lingua-language-detector), built once per process for the
configured languages only: building it for every language it knows takes seconds and more
than a gigabyte. Building holds the GIL for up to a second, so it is done once, at start.
Intent tagging is pure: words and phrases matched on whole words, accents and case ignored.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import tomllib
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from aiohttp import web

from contactcenter.core.errors import ConfigError
from contactcenter.settings.appkeys import SETTINGS

log = structlog.get_logger("channels.language")

_WORD = re.compile(r"\w+")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_ISO_639_1 = re.compile(r"^[a-z]{2}$")
ACCURACIES = ("high", "low")


@dataclass(frozen=True)
class IntentRule:
    """Tag `name` when the text holds any of `words` (a word, a phrase of words in a row,
    or a word ending in `*` for every word it begins); only for texts in `languages` when
    given (and for texts whose language is unknown)."""

    name: str
    words: tuple[str, ...]
    languages: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LanguageSettings:
    enabled: bool = True
    languages: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl")
    accuracy: str = "high"
    preload: bool = True
    minimum_relative_distance: float = 0.05
    min_words: int = 3
    max_chars: int = 1000
    intents: tuple[IntentRule, ...] = field(default=())


class TextFacts(NamedTuple):
    """What a text says about its contact: its language (None: not told) and intent tags.
    A plain pair, so that code outside `channels` can take it as `tuple[str | None,
    frozenset[str]]` without importing this module."""

    language: str | None
    intents: frozenset[str]


# --- intents: pure ---------------------------------------------------------------------------


def fold(text: str) -> str:
    """`text` without accents, in case-folded form: "Réclamation" and "reclamation" match."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class _Pattern:
    tokens: tuple[str, ...]
    prefix: bool  # the last token matches every word it begins


class IntentMatcher:
    """The intent rules compiled for matching: a first-word index, so that a text is read
    once whatever the number of rules."""

    def __init__(self, rules: Iterable[IntentRule]) -> None:
        self.rules = tuple(rules)
        self._exact: dict[str, list[tuple[_Pattern, IntentRule]]] = {}
        self._prefixed: list[tuple[_Pattern, IntentRule]] = []
        for rule in self.rules:
            for word in rule.words:
                prefix = word.endswith("*")
                tokens = tuple(words_of(word.removesuffix("*")))
                if not tokens:
                    continue
                pattern = _Pattern(tokens, prefix)
                if prefix and len(tokens) == 1:
                    self._prefixed.append((pattern, rule))
                else:
                    self._exact.setdefault(tokens[0], []).append((pattern, rule))
        # One regex over every prefix: most words begin none of them, and are told so at once.
        stems = sorted({p.tokens[0] for p, _ in self._prefixed}, key=len, reverse=True)
        self._any_prefix = re.compile("|".join(map(re.escape, stems))) if stems else None

    def tags(self, text: str, language: str | None) -> frozenset[str]:
        """The intents whose rules match `text`, a text in `language` (None: unknown, and
        then language-specific rules apply too)."""
        tokens = words_of(text)
        found: set[str] = set()

        def applies(rule: IntentRule) -> bool:
            if rule.name in found:
                return False
            return not rule.languages or language is None or language in rule.languages

        for i, token in enumerate(tokens):
            for pattern, rule in self._exact.get(token, ()):
                if applies(rule) and _matches_at(pattern, tokens, i):
                    found.add(rule.name)
            if self._any_prefix is None or not self._any_prefix.match(token):
                continue
            for pattern, rule in self._prefixed:
                if applies(rule) and token.startswith(pattern.tokens[0]):
                    found.add(rule.name)
        return frozenset(found)


def _matches_at(pattern: _Pattern, tokens: list[str], i: int) -> bool:
    n = len(pattern.tokens)
    if i + n > len(tokens):
        return False
    for k, want in enumerate(pattern.tokens):
        got = tokens[i + k]
        last = k == n - 1
        if not (got == want or (last and pattern.prefix and got.startswith(want))):
            return False
    return True


def tag_intents(text: str, rules: Iterable[IntentRule], language: str | None) -> frozenset[str]:
    """The intents of `rules` that `text` (in `language`) matches; see `IntentMatcher`."""
    return IntentMatcher(rules).tags(text, language)


# --- language: lingua, built once ------------------------------------------------------------


class TextClassifier:
    """Language and intents of texts; holds the lingua detector built for `settings`."""

    def __init__(self, settings: LanguageSettings, detector: Any | None) -> None:
        self.settings = settings
        self._detector = detector
        self._matcher = IntentMatcher(settings.intents)

    @classmethod
    def build(cls, settings: LanguageSettings) -> TextClassifier:
        """Build the detector (up to a second with the models preloaded; blocking)."""
        if not settings.enabled:
            return cls(settings, None)
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(IsoCode639_1.from_str(code) for code in settings.languages)
        )
        if settings.minimum_relative_distance > 0:
            builder = builder.with_minimum_relative_distance(settings.minimum_relative_distance)
        if settings.accuracy == "low":
            builder = builder.with_low_accuracy_mode()
        if settings.preload:
            builder = builder.with_preloaded_language_models()
        return cls(settings, builder.build())

    def detect_language(self, text: str) -> str | None:
        """The ISO 639-1 code of `text`'s language; None when detection is off, the text has
        fewer than `min_words` words, or no language stands out clearly enough."""
        if self._detector is None:
            return None
        sample = text[: self.settings.max_chars]
        if len(words_of(sample)) < self.settings.min_words:
            return None
        found = self._detector.detect_language_of(sample)
        return None if found is None else str(found.iso_code_639_1.name.lower())

    def classify(self, text: str) -> TextFacts:
        language = self.detect_language(text)
        return TextFacts(language, self._matcher.tags(text[: self.settings.max_chars], language))


# --- settings: config/intents.toml -----------------------------------------------------------

_LANGUAGE_KEYS = {
    "enabled",
    "languages",
    "accuracy",
    "preload",
    "minimum_relative_distance",
    "min_words",
    "max_chars",
}
_INTENT_KEYS = {"name", "words", "languages"}


def _codes(value: Any, where: str, at_least: int) -> tuple[str, ...]:
    from lingua import IsoCode639_1

    if not isinstance(value, list) or len(value) < at_least:
        raise ConfigError(where, f"expected a list of at least {at_least} ISO 639-1 codes")
    for code in value:
        if not isinstance(code, str) or not _ISO_639_1.match(code):
            raise ConfigError(where, f"{code!r} is not an ISO 639-1 code such as 'en'")
        try:
            IsoCode639_1.from_str(code)
        except ValueError:
            raise ConfigError(where, f"lingua does not know the language {code!r}") from None
    return tuple(value)


def _typed(table: Mapping[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}", f"expected {kind.__name__}, got {value!r}")
    return value


def _intents(entries: Any, path: Path) -> tuple[IntentRule, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: intent", "expected [[intent]] tables")
    rules = []
    for i, entry in enumerate(entries):
        where = f"{path}: intent[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "expected a table")
        unknown = sorted(set(entry) - _INTENT_KEYS)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}.name", "required: lower-case letters, digits, - or _")
        words = entry.get("words")
        if not isinstance(words, list) or not words:
            raise ConfigError(f"{where}.words", "expected a non-empty list of words or phrases")
        for w in words:
            if not isinstance(w, str) or not words_of(w.removesuffix("*")) or "*" in w[:-1]:
                raise ConfigError(f"{where}.words", f"{w!r}: a word or phrase, `*` only at the end")
        languages = entry.get("languages", [])
        if languages:
            _codes(languages, f"{where}.languages", 1)
        rules.append(IntentRule(name, tuple(words), frozenset(languages)))
    return tuple(rules)


def load_language_settings(config_dir: Path, env: Mapping[str, str]) -> LanguageSettings:
    """Settings from `config_dir / "intents.toml"` (built-in defaults and no intent rules
    without it); CC_LANGUAGE_ENABLED wins over `language.enabled`. Problems raise
    `ConfigError` naming file and key."""
    path = config_dir / "intents.toml"
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        doc = {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"language", "intent"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}", "unknown section")
    table = doc.get("language", {})
    where = f"{path}: language"
    if not isinstance(table, dict):
        raise ConfigError(where, "expected a table")
    bad = sorted(set(table) - _LANGUAGE_KEYS)
    if bad:
        raise ConfigError(f"{where}.{bad[0]}", "unknown key")
    d = LanguageSettings()
    enabled = _typed(table, "enabled", bool, where, d.enabled)
    if "CC_LANGUAGE_ENABLED" in env:
        text = env["CC_LANGUAGE_ENABLED"].strip().lower()
        if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError("environment CC_LANGUAGE_ENABLED", "expected true or false")
        enabled = text in ("1", "true", "yes", "on")
    accuracy = _typed(table, "accuracy", str, where, d.accuracy)
    if accuracy not in ACCURACIES:
        raise ConfigError(f"{where}.accuracy", "expected 'high' or 'low'")
    distance = _typed(table, "minimum_relative_distance", float, where, d.minimum_relative_distance)
    if not 0.0 <= distance <= 0.99:
        raise ConfigError(f"{where}.minimum_relative_distance", "expected 0.0 .. 0.99")
    min_words = _typed(table, "min_words", int, where, d.min_words)
    max_chars = _typed(table, "max_chars", int, where, d.max_chars)
    if min_words < 0 or max_chars < 1:
        key = "min_words" if min_words < 0 else "max_chars"
        raise ConfigError(f"{where}.{key}", "out of range")
    languages = d.languages
    if "languages" in table:
        languages = _codes(table["languages"], f"{where}.languages", 2)
    return LanguageSettings(
        enabled=enabled,
        languages=languages,
        accuracy=accuracy,
        preload=_typed(table, "preload", bool, where, d.preload),
        minimum_relative_distance=distance,
        min_words=min_words,
        max_chars=max_chars,
        intents=_intents(doc.get("intent", []), path),
    )


# --- the hub: one classifier per process -----------------------------------------------------

TEXT_CLASSIFIER = web.AppKey("text_classifier", TextClassifier)
LANGUAGE_SETTINGS = web.AppKey("language_settings", LanguageSettings)
_WIRED = web.AppKey("language_wired", bool)


def setup_language(app: web.Application, settings: LanguageSettings | None = None) -> None:
    """Build the classifier when `app` starts and keep it as `app[TEXT_CLASSIFIER]`.
    Without `settings`, they are read from the hub's config folder and the environment.
    Calling it again only replaces the settings (tests pass their own)."""
    if settings is not None:
        app[LANGUAGE_SETTINGS] = settings
    if app.get(_WIRED):
        return
    app[_WIRED] = True

    async def build(app: web.Application) -> AsyncIterator[None]:
        chosen = app.get(LANGUAGE_SETTINGS) or load_language_settings(
            app[SETTINGS].config_dir, dict(os.environ)
        )
        started = time.perf_counter()
        # lingua holds the GIL while it builds, so the thread does not free the loop; it
        # keeps the build off the loop's own stack, and it happens once, before serving.
        app[TEXT_CLASSIFIER] = await asyncio.to_thread(TextClassifier.build, chosen)
        log.info(
            "language_detection_ready" if chosen.enabled else "language_detection_off",
            languages=list(chosen.languages) if chosen.enabled else [],
            accuracy=chosen.accuracy,
            intent_rules=len(chosen.intents),
            build_ms=round((time.perf_counter() - started) * 1000),
        )
        yield

    app.cleanup_ctx.append(build)
