"""Business hours in the queue's time zone, holidays closed, the next opening found."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from routing.hours import BusinessHours, is_open, next_opening_ms, parse_range

# Weekdays 09:00-12:30 and 13:30-18:00 in Paris; Saturday mornings; closed on Christmas.
PARIS = BusinessHours(
    "Europe/Paris",
    {d: ((540, 750), (810, 1080)) for d in range(5)} | {5: ((540, 720),)},
    frozenset({date(2026, 12, 25)}),
)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("utc", "open_"),
    [
        ((2026, 11, 23, 8, 0), True),  # Monday 09:00 Paris (UTC+1)
        ((2026, 11, 23, 7, 59), False),  # 08:59
        ((2026, 11, 23, 11, 45), False),  # lunch, 12:45
        ((2026, 11, 23, 16, 59), True),  # 17:59
        ((2026, 11, 23, 17, 0), False),  # 18:00: the end is excluded
        ((2026, 11, 28, 9, 0), True),  # Saturday 10:00
        ((2026, 11, 29, 9, 0), False),  # Sunday
        ((2026, 12, 25, 10, 0), False),  # Christmas, a Friday
        ((2026, 7, 6, 7, 30), True),  # summer time: 09:30 Paris is 07:30 UTC
    ],
)
def test_open_is_read_in_the_queues_time_zone(utc: tuple[int, ...], open_: bool) -> None:
    assert is_open(PARIS, ms(*utc)) is open_


def test_the_next_opening_skips_lunch_nights_weekends_and_holidays() -> None:
    assert next_opening_ms(PARIS, ms(2026, 11, 23, 11, 45)) == ms(2026, 11, 23, 12, 30)
    assert next_opening_ms(PARIS, ms(2026, 11, 28, 12, 0)) == ms(2026, 11, 30, 8, 0)
    assert next_opening_ms(PARIS, ms(2026, 12, 24, 18, 0)) == ms(2026, 12, 26, 8, 0)
    now = ms(2026, 11, 23, 10, 0)
    assert next_opening_ms(PARIS, now) == now


def test_a_queue_that_never_opens_has_no_next_opening() -> None:
    assert next_opening_ms(BusinessHours("UTC"), ms(2026, 1, 1, 0, 0)) is None


@pytest.mark.parametrize("bad", ["9-17", "17:00-09:00", "09:00-24:30", "09:61-10:00", "x"])
def test_bad_ranges_say_what_is_wrong(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_range(bad)
