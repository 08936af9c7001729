"""structlog set-up: readable on a terminal, JSON lines otherwise; never customer content.

A processor drops fields that could carry what a customer said or how to reach them
(message bodies, phone numbers, emails) and masks anything shaped like a phone number or an
email address in the remaining text, exception texts included, and the password of a URL, so
a careless log call cannot leak them. Records of the standard library's `logging` (aiohttp's,
asyncio's) go through the same processor.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

_FORBIDDEN_KEYS = frozenset(
    {
        "body",
        "text",
        "message_body",
        "phone",
        "phone_number",
        "email",
        "from_number",
        "to_number",
        "password",
        "token",
    }
)
# A run of digits with phone punctuation, standing alone: not part of a longer word or a
# hyphenated id such as a UUID, whose all-digit groups would otherwise look like a number.
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ().-]{7,}\d(?![\w-])")
# A dotted IPv4 address (four groups of up to three digits) is no phone number; the text
# around it is still searched.
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
# An address whose domain ends in letters, so that user@127.0.0.1 of a URL is not one.
_EMAIL = re.compile(r"[\w.+-]+@(?:[\w-]+\.)+[A-Za-z]{2,}\b")
_URL_PASSWORD = re.compile(r"(\w://[^/\s:@]*):[^/\s@]*@")
_MAX_DEPTH = 5


def mask_text(text: str) -> str:
    """`text` with URL passwords, email addresses and phone-shaped numbers masked."""
    text = _URL_PASSWORD.sub(r"\1:[redacted]@", text)
    text = _EMAIL.sub("[email]", text)
    # split() with a group puts each IPv4 address at an odd index
    parts = _IPV4.split(text)
    return "".join(part if i % 2 else _PHONE.sub("[phone]", part) for i, part in enumerate(parts))


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {key: _clean_field(key, item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item, depth + 1) for item in value]
    return value


def _clean_field(key: Any, value: Any, depth: int = 0) -> Any:
    # A flag such as email=True says whether there is one, not what it is.
    if key in _FORBIDDEN_KEYS and not isinstance(value, bool) and value is not None:
        return "[redacted]"
    return _clean(value, depth)


def redact(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "timestamp" and not key.startswith("_"):
            event_dict[key] = _clean_field(key, event_dict[key])
    return event_dict


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing (it may be swapped, as test
    runners and daemonisers do), never to a stream that was closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's records, rendered like ours and redacted alike."""


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    # Exceptions are rendered to text before redaction, so that their text is masked too.
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    handler = _RedactingHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RedactingHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # aiohttp's access log would print full request lines; our own request logging is enough.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
