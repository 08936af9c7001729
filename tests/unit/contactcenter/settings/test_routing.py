"""Queue and routing-rule configuration: what loads, and errors that point at the line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contactcenter.core.errors import ConfigError
from contactcenter.site_settings import load_settings
from routing.expr import And, HasSkill, LanguageIn, SkillCompare

CONFIG = Path(__file__).resolve().parents[4] / "config"

TWO_QUEUES = """
[[queue]]
name = "billing"
eligibility = 'billing >= 50 and language in ("fr", "en")'
channels = ["chat", "email"]
strategy = "most-skilled"
priority = 10
aging_s = 30
weight = 2.0
offer_timeout_s = 15
wrapup_s = 60
max_length = 40

[[queue.escalation]]
after_s = 60
eligibility = "billing"

[[queue.escalation]]
after_s = 180
any_language = true
overflow = ["general"]

[[queue]]
name = "general"
skill = "support"
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in ("hub.toml", "queues.toml", "routing.toml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    return tmp_path


def _write(config_dir: Path, queues: str, routing: str | None = None) -> None:
    (config_dir / "queues.toml").write_text(queues)
    if routing is not None:
        (config_dir / "routing.toml").write_text(routing)


def _error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, {})
    return info.value.message


def test_a_full_queue_becomes_its_routing_policy(config_dir: Path) -> None:
    _write(config_dir, TWO_QUEUES, '[default]\nqueue = "general"\n')
    policy = load_settings(config_dir, {}).queue("billing").policy()
    assert policy.eligibility == And((SkillCompare("billing", ">=", 50), LanguageIn(("fr", "en"))))
    assert (policy.strategy, policy.aging_ms, policy.weight) == ("most-skilled", 30_000, 2.0)
    assert (policy.offer_timeout_ms, policy.wrapup_ms) == (15_000, 60_000)
    first, second = policy.escalation
    assert (first.after_ms, first.eligibility) == (60_000, HasSkill("billing"))
    assert (second.any_language, second.overflow) == (True, ("general",))


@pytest.mark.parametrize(
    ("old", "new", "where", "what"),
    [
        ("billing >= 50 and", "billing >= 500 and", "queue[0].eligibility", "column"),
        ('strategy = "most-skilled"', 'strategy = "random"', "queue[0].strategy", "one of"),
        ("priority = 10", "priority = 5000", "queue[0].priority", "0..2047"),
        ("aging_s = 30", "aging_s = -1", "queue[0].aging_s", "greater than 0"),
        ('channels = ["chat", "email"]', 'channels = ["fax"]', "queue[0].channels", "fax"),
        ('overflow = ["general"]', 'overflow = ["nowhere"]', "escalation[1].overflow", "nowhere"),
        ("after_s = 180", "after_s = 30", "escalation[1].after_s", "increasing"),
        ("max_length = 40", "max_lenght = 40", "queue[0].max_lenght", "unknown key"),
    ],
)
def test_a_bad_queue_names_its_file_entry_key_and_problem(
    config_dir: Path, old: str, new: str, where: str, what: str
) -> None:
    assert old in TWO_QUEUES
    _write(config_dir, TWO_QUEUES.replace(old, new), '[default]\nqueue = "general"\n')
    message = _error(config_dir)
    assert "queues.toml" in message and where in message and what in message


def test_a_queue_needs_a_skill_or_an_eligibility(config_dir: Path) -> None:
    _write(config_dir, '[[queue]]\nname = "x"\n', '[default]\nqueue = "x"\n')
    assert "queue[0].skill" in _error(config_dir)


def test_rules_load_in_order_with_their_targets(config_dir: Path) -> None:
    rules = """
[[rule]]
name = "fr"
match = { language = ["fr"], channel = "chat" }
queue = "billing"
priority = 20
skills = ["french"]

[default]
queue = "general"
"""
    _write(config_dir, TWO_QUEUES, rules)
    s = load_settings(config_dir, {})
    (rule,) = s.rules
    assert rule.name == "fr" and rule.conditions == {"language": ("fr",), "channel": ("chat",)}
    assert (rule.target.queue, rule.target.priority, rule.target.skills) == (
        "billing",
        20,
        ("french",),
    )
    assert s.default_route is not None and s.default_route.queue == "general"


@pytest.mark.parametrize(
    ("rules", "where"),
    [
        ('[[rule]]\nqueue = "nowhere"\n[default]\nqueue = "general"\n', "rule[0].queue"),
        (
            '[[rule]]\nqueue = "billing"\nmatch = { colour = "red" }\n'
            '[default]\nqueue = "general"\n',
            "rule[0].match.colour",
        ),
        ('[[rule]]\nqueue = "billing"\n', "default"),
    ],
)
def test_a_bad_rule_names_its_file_and_key(config_dir: Path, rules: str, where: str) -> None:
    _write(config_dir, TWO_QUEUES, rules)
    message = _error(config_dir)
    assert "routing.toml" in message and where in message


HOURS = """
[[queue]]
name = "general"
skill = "support"
service_level_s = { chat = 60, voice = 20 }
max_wait_s = 300
overflow_queue = "general"

[queue.hours]
timezone = "Europe/Paris"
mon = ["09:00-12:30", "13:30-18:00"]
sat = ["10:00-12:00"]
holidays = ["2026-12-25"]
when_closed = "queue"
"""


def test_hours_service_levels_and_overflow_load(config_dir: Path) -> None:
    _write(config_dir, HOURS, '[default]\nqueue = "general"\n')
    q = load_settings(config_dir, {}).queue("general")
    assert q.hours is not None and q.hours.timezone == "Europe/Paris"
    assert q.hours.weekly[0] == ((540, 750), (810, 1080)) and q.when_closed == "queue"
    assert q.service_level_s == {"chat": 60.0, "voice": 20.0}
    assert q.policy().max_wait_ms == 300_000 and q.policy().overflow_queue == "general"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"', "hours.timezone"),
        ('mon = ["09:00-12:30", "13:30-18:00"]', 'mon = ["18:00-09:00"]', "hours.mon"),
        ('holidays = ["2026-12-25"]', 'holidays = ["Christmas"]', "hours.holidays"),
        ('when_closed = "queue"', 'when_closed = "panic"', "hours.when_closed"),
        ("max_wait_s = 300\n", "", "max_wait_s"),
        ('overflow_queue = "general"', 'overflow_queue = "elsewhere"', "overflow_queue"),
        ("voice = 20", "fax = 20", "service_level_s.fax"),
    ],
)
def test_bad_hours_and_limits_name_the_key(
    config_dir: Path, old: str, new: str, where: str
) -> None:
    assert old in HOURS
    _write(config_dir, HOURS.replace(old, new), '[default]\nqueue = "general"\n')
    assert where in _error(config_dir)
