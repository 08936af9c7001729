"""structlog set-up: readable on a terminal, JSON lines otherwise; never customer content.

A processor drops fields that could carry what a customer said or how to reach them
(message bodies, phone numbers, emails) and masks anything shaped like a phone number in the
remaining text, so a careless log call cannot leak them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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


def redact(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in _FORBIDDEN_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str) and key != "timestamp":
            event_dict[key] = _PHONE.sub("[phone]", event_dict[key])
    return event_dict


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing (it may be swapped, as test
    runners and daemonisers do), never to a stream that was closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=numeric)
    # aiohttp's access log would print full request lines; our own request logging is enough.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
