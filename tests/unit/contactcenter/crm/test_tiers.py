"""The value tier, lifecycle and RFM rules, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactcenter.crm.settings import CrmSettings, LifecycleSettings, RfmSettings, TierThreshold
from contactcenter.crm.tiers import (
    NO_ORDERS,
    OrderSummary,
    assign_tiers,
    competition_ranks,
    customer_figures,
    cuts_from_ranks,
    lifecycle_stage,
    rfm_scores,
    summarise_orders,
    tier_for_rank,
    tier_for_value,
    window_start,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SETTINGS = CrmSettings()  # top 5% platinum, next 15% gold, next 30% silver, the rest standard
TIERS = SETTINGS.tiers


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def summary(orders: int, first_days_ago: float, last_days_ago: float) -> OrderSummary:
    return OrderSummary(
        Decimal(100), orders, orders, days_ago(first_days_ago), days_ago(last_days_ago)
    )


# --- tiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rank", "tier"),
    [
        (1, "platinum"),
        (5, "platinum"),
        (6, "gold"),
        (20, "gold"),
        (21, "silver"),
        (50, "silver"),
        (51, "standard"),
        (100, "standard"),
    ],
)
def test_tier_boundaries_fall_exactly_on_the_percentiles(rank: int, tier: str) -> None:
    assert tier_for_rank(rank, 100, TIERS) == tier


def test_a_fractional_percentile_is_exact() -> None:
    tiers = (TierThreshold("elite", Decimal("0.5")), TierThreshold("rest", Decimal(100)))
    assert tier_for_rank(5, 1000, tiers) == "elite"
    assert tier_for_rank(6, 1000, tiers) == "rest"


def test_a_tier_too_small_for_the_population_stays_empty() -> None:
    # with 10 customers the top 5% would be half a customer: nobody is platinum
    assert [tier_for_rank(r, 10, TIERS) for r in (1, 2, 3)] == ["gold", "gold", "silver"]


def test_ties_share_the_better_rank_and_the_better_tier() -> None:
    values = {"a": Decimal(90), "b": Decimal(90), "c": Decimal(50), "d": Decimal(50)}
    values |= {f"x{i}": Decimal(10) for i in range(16)}
    ranks = competition_ranks(values)
    assert (ranks["a"], ranks["b"], ranks["c"], ranks["d"], ranks["x0"]) == (1, 1, 3, 3, 5)
    tiers = assign_tiers(values, SETTINGS)
    # 20 customers: the top 5% is rank 1, and both tied at rank 1 are platinum
    assert [tiers[k] for k in ("a", "b", "c", "d", "x0")] == [
        "platinum",
        "platinum",
        "gold",
        "gold",
        "silver",
    ]


def test_customers_without_value_get_their_tier_by_hand_or_the_default() -> None:
    values = {"buyer": Decimal(10), "by_hand": Decimal(0), "nobody": Decimal(0)}
    tiers = assign_tiers(values, SETTINGS, {"by_hand": "gold", "nobody": None})
    assert tiers == {"buyer": "standard", "by_hand": "gold", "nobody": "standard"}
    other_default = replace(SETTINGS, no_orders_tier="silver")
    assert assign_tiers({"nobody": Decimal(0)}, other_default) == {"nobody": "silver"}


def test_a_tier_by_hand_does_not_override_a_ranked_tier() -> None:
    figures = customer_figures(
        summary(3, 200, 10), NOW, SETTINGS, tier_by_hand="platinum", ranked_tier="silver",
        value_rank=40,
    )  # fmt: skip
    assert (figures.tier, figures.value_rank) == ("silver", 40)
    none = customer_figures(
        NO_ORDERS, NOW, SETTINGS, tier_by_hand="platinum", ranked_tier="silver", value_rank=40
    )
    assert (none.tier, none.value_rank, none.lifecycle) == ("platinum", None, "prospect")


@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=300))
def test_cuts_place_every_ranked_value_in_its_ranked_tier(amounts: list[int]) -> None:
    values = {i: Decimal(a) for i, a in enumerate(amounts)}
    cuts = cuts_from_ranks(values, SETTINGS)
    ranked = assign_tiers(values, SETTINGS)
    for i, v in values.items():
        if v > 0:
            assert tier_for_value(v, cuts) == ranked[i]


def test_a_new_value_is_placed_against_the_cuts() -> None:
    cuts = cuts_from_ranks({i: Decimal(i) for i in range(1, 101)}, SETTINGS)
    assert [c.min_value_amount for c in cuts] == [96, 81, 51, 1]
    assert tier_for_value(Decimal("95.99"), cuts) == "gold"
    assert tier_for_value(Decimal(5000), cuts) == "platinum"
    assert tier_for_value(Decimal("0.5"), cuts) == "standard"


# --- the window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "months", "start"),
    [
        (NOW, 12, datetime(2025, 6, 15, 12, 0, tzinfo=UTC)),
        (NOW, 24, datetime(2024, 6, 15, 12, 0, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), 12, datetime(2023, 2, 28, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 24, datetime(2024, 1, 31, tzinfo=UTC)),
    ],
)
def test_the_window_starts_whole_calendar_months_back(
    now: datetime, months: int, start: datetime
) -> None:
    assert window_start(now, months) == start


def test_window_of_12_or_24_months_decides_what_counts() -> None:
    orders = [
        (Decimal(100), "delivered", days_ago(30)),
        (Decimal(50), "delivered", days_ago(500)),
        (Decimal(70), "refunded", days_ago(20)),
        (Decimal(10), "delivered", window_start(NOW, 12)),  # on the edge: outside
    ]
    twelve = summarise_orders(orders, NOW, SETTINGS)
    assert (twelve.value_amount, twelve.window_orders, twelve.order_count) == (100, 1, 3)
    twenty_four = summarise_orders(orders, NOW, replace(SETTINGS, window_months=24))
    assert (twenty_four.value_amount, twenty_four.window_orders) == (160, 3)
    assert twelve.first_order_at == days_ago(500) and twelve.last_order_at == days_ago(30)


# --- lifecycle -------------------------------------------------------------------------------

LIFE = LifecycleSettings(
    new_for_days=90,
    mature_min_orders=5,
    mature_after_days=365,
    at_risk_after_days=120,
    churned_after_days=365,
)


@pytest.mark.parametrize(
    ("orders", "first", "last", "stage"),
    [
        (1, 90, 90, "new"),
        (3, 10, 1, "new"),
        (2, 91, 5, "growing"),
        (9, 300, 5, "growing"),  # many orders but not long enough
        (4, 700, 5, "growing"),  # long enough but too few orders
        (5, 366, 5, "mature"),
        (5, 365, 5, "growing"),
        (8, 700, 120, "mature"),
        (8, 700, 121, "at_risk"),
        (8, 700, 365, "at_risk"),
        (8, 700, 366, "churned"),
        (1, 100, 100, "growing"),
    ],
)
def test_lifecycle_stage_follows_the_documented_rules(
    orders: int, first: int, last: int, stage: str
) -> None:
    assert lifecycle_stage(summary(orders, first, last), NOW, LIFE) == stage


def test_no_counted_order_is_a_prospect() -> None:
    assert lifecycle_stage(NO_ORDERS, NOW, LIFE) == "prospect"


def test_days_are_whole_days_rounded_down() -> None:
    # 120 days and 23 hours ago is still 120 days: not yet at risk
    assert lifecycle_stage(summary(8, 700, 120.99), NOW, LIFE) == "mature"


# --- RFM -------------------------------------------------------------------------------------

RFM = RfmSettings(
    recency_days=(30, 90, 180, 365),
    frequency_orders=(2, 4, 8, 16),
    monetary_amounts=(Decimal(100), Decimal(500), Decimal(1500), Decimal(5000)),
)


@pytest.mark.parametrize(
    ("last", "score"), [(0, 5), (30, 5), (31, 4), (90, 4), (91, 3), (365, 2), (366, 1)]
)
def test_recency_score_by_days_since_the_last_order(last: int, score: int) -> None:
    s = OrderSummary(Decimal(1), 1, 1, days_ago(last), days_ago(last))
    scores = rfm_scores(s, NOW, RFM)
    assert scores is not None and scores[0] == score


@pytest.mark.parametrize(("orders", "score"), [(0, 1), (1, 1), (2, 2), (7, 3), (8, 4), (16, 5)])
def test_frequency_score_by_orders_in_the_window(orders: int, score: int) -> None:
    s = OrderSummary(Decimal(1), orders, max(orders, 1), days_ago(400), days_ago(1))
    scores = rfm_scores(s, NOW, RFM)
    assert scores is not None and scores[1] == score


@pytest.mark.parametrize(
    ("amount", "score"),
    [("0", 1), ("99.99", 1), ("100", 2), ("1499.99", 3), ("1500", 4), ("5000", 5)],
)
def test_monetary_score_by_value_in_the_window(amount: str, score: int) -> None:
    s = OrderSummary(Decimal(amount), 1, 1, days_ago(10), days_ago(10))
    scores = rfm_scores(s, NOW, RFM)
    assert scores is not None and scores[2] == score


def test_no_counted_order_has_no_rfm_scores() -> None:
    assert rfm_scores(NO_ORDERS, NOW, RFM) is None
