"""The measures against values computed by hand (docs/measures.md gives the formulas)."""

from __future__ import annotations

import pytest

from contactcenter.measures.definitions import QueueTally, occupancy, utilisation

S = 1000  # milliseconds in a second


def _day() -> QueueTally:
    """A queue with a 20 s target and 5 s short abandons, and ten contacts:
    answered after 5, 10, 20, 30 and 60 s; abandoned after 2 and 4 s (short), 15 s and 40 s;
    one still waiting (it counts nowhere until it leaves the queue)."""
    t = QueueTally(target_ms=20 * S, short_abandon_ms=5 * S)
    for wait_s in (5, 10, 20, 30, 60):
        t.add_answered(wait_s * S)
    for wait_s in (2, 4, 15, 40):
        t.add_abandoned(wait_s * S)
    return t


def test_service_level_is_answered_in_target_over_answered_and_long_abandons() -> None:
    # In target: 5, 10 and 20 s (the target itself counts) = 3. Answered 5, abandoned after
    # the short threshold 2 (15 s, 40 s): 3 / (5 + 2) = 0.428571...
    assert _day().service_level == pytest.approx(3 / 7)


def test_short_abandons_count_in_neither_the_service_level_nor_the_abandon_rate() -> None:
    t = _day()
    assert (t.short_abandoned, t.abandoned) == (2, 2)
    assert t.abandon_rate == pytest.approx(2 / 7)


def test_average_speed_of_answer_and_abandon_time() -> None:
    t = _day()
    assert t.average_speed_of_answer_ms == (5 + 10 + 20 + 30 + 60) * S / 5  # 25 s
    assert t.average_abandon_time_ms == (15 + 40) * S / 2  # 27.5 s, short ones left out
    assert t.longest_wait_ms == 60 * S


def test_average_handle_time_is_talk_plus_wrap_up() -> None:
    t = QueueTally(target_ms=20 * S)
    t.add_handled(talk_ms=120 * S, wrapup_ms=30 * S)
    t.add_handled(talk_ms=300 * S, wrapup_ms=0)
    assert t.average_handle_time_ms == (150 + 300) * S / 2  # 225 s


def test_nothing_to_measure_is_none_not_zero() -> None:
    t = QueueTally(target_ms=20 * S)
    t.add_abandoned(1 * S)  # a short abandon only
    assert (t.service_level, t.abandon_rate, t.average_speed_of_answer_ms) == (None, None, None)
    assert t.average_handle_time_ms is None


def test_tallies_of_two_periods_add_up_to_the_tally_of_both() -> None:
    morning, afternoon = QueueTally(target_ms=20 * S), QueueTally(target_ms=20 * S)
    morning.add_answered(10 * S)
    afternoon.add_answered(30 * S)
    afternoon.add_abandoned(25 * S)
    both = morning.merge(afternoon)
    assert (both.answered, both.abandoned, both.longest_wait_ms) == (2, 1, 30 * S)
    assert both.service_level == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        morning.merge(QueueTally(target_ms=60 * S))


def test_occupancy_and_utilisation() -> None:
    # 45 min with at least one contact, 15 min available with none, 30 min away (not counted)
    assert occupancy(handling_ms=45 * 60 * S, idle_ms=15 * 60 * S) == pytest.approx(0.75)
    assert occupancy(0, 0) is None
    # one chat held for an hour with a capacity of 3
    assert utilisation(load_ms=3600 * S, capacity_ms=3 * 3600 * S) == pytest.approx(1 / 3)
