"""The checks every way of changing an account shares (contactcenter/agents/validation.py)."""

from __future__ import annotations

import pytest

from contactcenter.agents.validation import (
    LevelOutOfRange,
    NoCapacity,
    UnknownSkill,
    check_capacity,
    check_skills,
    password_problem,
)
from routing.model import DEFAULT_CAPACITY

KNOWN = frozenset({"support", "billing"})


def test_a_capacity_that_closes_one_channel_keeps_the_others() -> None:
    assert check_capacity({"voice": 0}, base=DEFAULT_CAPACITY) == {"voice": 0}


def test_a_capacity_closing_every_channel_is_refused_naming_the_field() -> None:
    with pytest.raises(NoCapacity) as refused:
        check_capacity({ch: 0 for ch in DEFAULT_CAPACITY}, base=DEFAULT_CAPACITY)
    assert refused.value.details["field"] == "capacity"


def test_a_skill_no_queue_names_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownSkill) as refused:
        check_skills({"suport": 50}, KNOWN)
    assert refused.value.details["field"] == "skills.suport"
    assert refused.value.details["known"] == ["billing", "support"]


@pytest.mark.parametrize("level", [-1, 101, True, 50.0])
def test_a_level_is_a_whole_number_from_0_to_100(level: object) -> None:
    with pytest.raises(LevelOutOfRange):
        check_skills({"support": level}, KNOWN)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1", "at least 10 characters"),
        ("password123", "too common"),
        ("alice-is-great", "must not contain the login"),
        ("aaaaaaaaaaab", "too few different characters"),
        ("correct horse battery", None),
    ],
)
def test_password_strength(password: str, problem: str | None) -> None:
    assert password_problem(password, "alice") == problem
