"""The operator's midnight, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

from contactcenter.supervision.stats import day_start_ms


def ms(year: int, month: int, day: int, hour: int) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def test_a_spring_day_in_paris_lasts_23_hours() -> None:
    # 31 March 2024: clocks go from 02:00 to 03:00. Midnight is 23:00 UTC the day before
    # (CET, +1); the next midnight is 22:00 UTC (CEST, +2).
    start = day_start_ms(ms(2024, 3, 31, 10), "Europe/Paris")
    assert start == ms(2024, 3, 30, 23)
    assert day_start_ms(ms(2024, 4, 1, 10), "Europe/Paris") - start == 23 * 3_600_000


def test_an_autumn_day_in_paris_lasts_25_hours() -> None:
    start = day_start_ms(ms(2024, 10, 27, 10), "Europe/Paris")
    assert start == ms(2024, 10, 26, 22)
    assert day_start_ms(ms(2024, 10, 28, 10), "Europe/Paris") - start == 25 * 3_600_000


def test_the_last_millisecond_of_a_day_belongs_to_it() -> None:
    start = day_start_ms(ms(2024, 5, 6, 12), "Asia/Shanghai")  # midnight is 16:00 UTC
    assert start == ms(2024, 5, 5, 16)
    assert day_start_ms(start + 86_400_000 - 1, "Asia/Shanghai") == start
    assert day_start_ms(start + 86_400_000, "Asia/Shanghai") == start + 86_400_000
