"""Business hours: whether a queue is open at a given time, and when it opens next.

Pure: the time comes in as epoch milliseconds and is read in the queue's time zone (IANA
names, e.g. "Europe/Paris", so daylight saving is handled). Opening ranges are per weekday,
in minutes since midnight local time; a holiday is closed all day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    # weekday (0 = Monday) -> ranges of (start, end) minutes since local midnight, end excluded
    weekly: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()


def parse_range(text: str) -> tuple[int, int]:
    """'09:00-17:30' -> (540, 1050); ValueError with a plain message otherwise."""
    try:
        start, end = (part.strip() for part in text.split("-"))
        s_h, s_m = (int(x) for x in start.split(":"))
        e_h, e_m = (int(x) for x in end.split(":"))
    except ValueError:
        raise ValueError(f"{text!r} is not a range like '09:00-17:30'") from None
    lo, hi = s_h * 60 + s_m, e_h * 60 + e_m
    if not (0 <= s_m < 60 and 0 <= e_m < 60 and 0 <= lo < hi <= 24 * 60):
        raise ValueError(f"{text!r} must run forward within one day (00:00 to 24:00)")
    return lo, hi


def _local(hours: BusinessHours, at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(hours.timezone))


def is_open(hours: BusinessHours, at_ms: int) -> bool:
    local = _local(hours, at_ms)
    if local.date() in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return any(lo <= minute < hi for lo, hi in hours.weekly.get(local.weekday(), ()))


def next_opening_ms(hours: BusinessHours, at_ms: int, horizon_days: int = 14) -> int | None:
    """When the queue next opens after `at_ms` (now if open), or None within the horizon."""
    if is_open(hours, at_ms):
        return at_ms
    local = _local(hours, at_ms)
    zone = ZoneInfo(hours.timezone)
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        if day in hours.holidays:
            continue
        for lo, _hi in sorted(hours.weekly.get(day.weekday(), ())):
            opening = datetime(day.year, day.month, day.day, lo // 60, lo % 60, tzinfo=zone)
            opening_ms = int(opening.timestamp() * 1000)
            if opening_ms > at_ms:
                return opening_ms
    return None
