"""CRM settings: defaults, then config/crm.toml, then CC_CRM_*; errors name file, key, problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from contactcenter.crm.settings import CrmSettings, load_crm_settings
from tests.unit.config_files import CONFIG, config_error, copy_shipped, edit_file


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path, "crm.toml")


def edit(config_dir: Path, old: str, new: str) -> None:
    edit_file(config_dir / "crm.toml", old, new)


def error_of(config_dir: Path, env: dict[str, str] | None = None) -> str:
    return config_error(load_crm_settings, config_dir, env)


def test_shipped_file_loads_with_its_documented_defaults() -> None:
    s = load_crm_settings(CONFIG, {})
    assert (s.window_months, s.base_currency, s.no_orders_tier) == (12, "EUR", "standard")
    assert [(t.name, t.top_percent) for t in s.tiers] == [
        ("platinum", 5),
        ("gold", 20),
        ("silver", 50),
        ("standard", 100),
    ]
    assert s.exchange_rates["EUR"] == 1 and s.exchange_rates["USD"] == Decimal("0.92")
    assert "cancelled" not in s.counted_statuses and "refunded" not in s.counted_statuses
    defaults = CrmSettings()
    assert (s.lifecycle, s.rfm, s.tiers) == (defaults.lifecycle, defaults.rfm, defaults.tiers)


def test_without_the_file_the_built_in_defaults_apply(tmp_path: Path) -> None:
    assert load_crm_settings(tmp_path, {}) == CrmSettings()


def test_environment_wins_over_the_file(config_dir: Path) -> None:
    env = {"CC_CRM_WINDOW_MONTHS": "24", "CC_CRM_PHONE_REGION": "FR"}
    s = load_crm_settings(config_dir, env | {"CC_CRM_NO_ORDERS_TIER": "silver"})
    assert (s.window_months, s.default_phone_region, s.no_orders_tier) == (24, "FR", "silver")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"CC_CRM_WINDOW_MONTHS": "eighteen"}, "CC_CRM_WINDOW_MONTHS"),
        ({"CC_CRM_WINDOW_MONTHS": "18"}, "CC_CRM_WINDOW_MONTHS"),
        ({"CC_CRM_NO_ORDERS_TIER": "bronze"}, "CC_CRM_NO_ORDERS_TIER"),
        ({"CC_CRM_PHONE_REGION": "XX"}, "CC_CRM_PHONE_REGION"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    config_dir: Path, env: dict[str, str], name: str
) -> None:
    message = error_of(config_dir, env)
    assert f"environment {name}" in message and "crm.toml" not in message


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        ("window_months = 12", "window_months = 18", "value.window_months", "12 or 24"),
        ('base_currency = "EUR"', 'base_currency = "euro"', "value.base_currency", "ISO 4217"),
        ('"delivered"]', '"lost"]', "value.counted_statuses", "drawn from"),
        ('no_orders_tier = "standard"', 'no_orders_tier = "bronze"', "value.no_orders_tier", ""),
        ("USD = 0.92", "USD = -1", "exchange_rates.USD", "positive"),
        ("USD = 0.92", "usd = 0.92", "exchange_rates.usd", "ISO 4217"),
        ("USD = 0.92", "EUR = 1.1", "exchange_rates.EUR", "worth 1"),
        ("new_for_days = 90", "new_for_days = 0", "lifecycle.new_for_days", "at least 1"),
        ("churned_after_days = 365", "churned_after_days = 100", "churned_after_days", "more"),
        ("[30, 90, 180, 365]", "[30, 20, 180, 365]", "rfm.recency_days", "ascending"),
        ("[2, 4, 8, 16]", "[2, 4, 8]", "rfm.frequency_orders", "four"),
        ('default_phone_region = "US"', 'default_phone_region = "ZZ"', "default_phone_region", ""),
        ("top_percent = 20", "top_percent = 4", "tiers[1].top_percent", "tier above"),
        ("top_percent = 100", "top_percent = 90", "tiers[3].top_percent", "rest: 100"),
        ('name = "gold"', 'name = "platinum"', "tiers[1].name", "named twice"),
        ('name = "gold"', 'name = "Gold Tier"', "tiers[1].name", "lower-case"),
        ("window_months = 12", "window_month = 12", "value.window_month", "unknown key"),
        ("[lifecycle]", "[life_cycle]", "[life_cycle]", "unknown section"),
    ],
)
def test_a_bad_value_names_the_file_the_key_and_the_problem(
    config_dir: Path, old: str, new: str, where: str, problem: str
) -> None:
    edit(config_dir, old, new)
    message = error_of(config_dir)
    assert "crm.toml" in message and where in message and problem in message


def test_invalid_toml_is_reported_with_the_file(config_dir: Path) -> None:
    (config_dir / "crm.toml").write_text("[value\nwindow_months=")
    message = error_of(config_dir)
    assert "crm.toml" in message and "not valid TOML" in message


def test_every_key_of_the_shipped_file_is_commented() -> None:
    lines = (CONFIG / "crm.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"crm.toml line {i + 1} has no comment"
