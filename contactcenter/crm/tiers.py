"""Value tiers, lifecycle stages and RFM scores: the rules, and the full recompute.

The per-customer rules are pure functions of a customer's counted orders and the current time
(an input, never read here), so they are testable without a database. The full recompute
(`full_recompute`) applies the same rules to every customer at once in one set-based UPDATE,
ranks everyone, and records the value cut of each tier in `tier_cuts`; between two full
recomputes, `contactcenter.crm.orders` places a customer whose orders changed against those cuts
(`tier_for_value`). docs/tiers.md states every rule; the two implementations are checked
against each other in tests/integration/contactcenter/crm/test_orders.py.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import structlog

from contactcenter.crm.settings import CrmSettings, LifecycleSettings, RfmSettings, TierThreshold

log = structlog.get_logger("contactcenter.crm.tiers")

LIFECYCLE_STAGES = ("prospect", "new", "growing", "mature", "at_risk", "churned")
RECOMPUTE_TIMEOUT_S = 3600.0  # the pool's 30 s command timeout is for requests, not this
# Serialises full recomputes and bulk imports with each other and with order writes, which
# take ROW EXCLUSIVE; plain reads go on (docs/tiers.md, "Concurrency").
ORDERS_LOCK = "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE"

K = TypeVar("K")


@dataclass(frozen=True)
class OrderSummary:
    """A customer's counted orders (status counted, any date unless said otherwise)."""

    value_amount: Decimal  # in the window, in the base currency
    window_orders: int  # in the window
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None


NO_ORDERS = OrderSummary(Decimal(0), 0, 0, None, None)


@dataclass(frozen=True)
class TierCut:
    """The smallest value ranked into a tier at the last full recompute (None: nobody)."""

    tier: str
    top_percent: Decimal
    min_value_amount: Decimal | None


@dataclass(frozen=True)
class CustomerFigures:
    value_amount: Decimal
    value_rank: int | None
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    tier: str
    lifecycle: str
    rfm_recency: int | None
    rfm_frequency: int | None
    rfm_monetary: int | None


@dataclass(frozen=True)
class RecomputeReport:
    customers_changed: int
    ranked_customers: int
    tier_counts: Mapping[str, int]  # ranked customers per tier
    cuts: tuple[TierCut, ...]


# --- time ------------------------------------------------------------------------------------


def window_start(now: datetime, window_months: int) -> datetime:
    """`now` less `window_months` calendar months, the day clamped to the month's length
    (as PostgreSQL's `now - interval 'N months'`). Orders strictly after it count."""
    month0 = now.month - 1 - window_months
    year, month = now.year + month0 // 12, month0 % 12 + 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    return now.replace(year=year, month=month, day=day)


def days_since(at: datetime, now: datetime) -> int:
    """Whole days from `at` to `now` (rounded down), never below 0."""
    return max(0, (now - at).days)


def summarise_orders(
    orders: Iterable[tuple[Decimal, str, datetime]], now: datetime, settings: CrmSettings
) -> OrderSummary:
    """The summary of (amount_base, status, ordered_at) orders: only counted statuses count,
    and only orders strictly after `window_start` count toward value and window orders."""
    start = window_start(now, settings.window_months)
    counted = [(a, at) for a, status, at in orders if status in settings.counted_statuses]
    in_window = [a for a, at in counted if at > start]
    dates = [at for _, at in counted]
    return OrderSummary(
        value_amount=sum(in_window, Decimal(0)),
        window_orders=len(in_window),
        order_count=len(counted),
        first_order_at=min(dates, default=None),
        last_order_at=max(dates, default=None),
    )


# --- value tiers -----------------------------------------------------------------------------


def tier_for_rank(rank: int, ranked_customers: int, tiers: Sequence[TierThreshold]) -> str:
    """The first tier whose cumulative top share admits `rank` among `ranked_customers`:
    rank * 100 <= top_percent * ranked_customers (so rank 5 of 100 is in the top 5%)."""
    for t in tiers:
        if rank * 100 <= t.top_percent * ranked_customers:
            return t.name
    return tiers[-1].name


def competition_ranks(values: Mapping[K, Decimal]) -> dict[K, int]:
    """Rank 1 for the highest value; equal values share the better rank and the next rank
    skips (1, 2, 2, 4). Values of 0 or less are not ranked."""
    ordered = sorted((v for v in values.values() if v > 0), reverse=True)
    first_rank: dict[Decimal, int] = {}
    for i, v in enumerate(ordered, start=1):
        first_rank.setdefault(v, i)
    return {k: first_rank[v] for k, v in values.items() if v > 0}


def assign_tiers(
    values: Mapping[K, Decimal],
    settings: CrmSettings,
    tier_by_hand: Mapping[K, str | None] | None = None,
) -> dict[K, str]:
    """Every customer's tier from their values in the window: ranked customers by rank
    percentile, the others by hand or the configured no-orders tier. The reference for
    `full_recompute`'s SQL."""
    ranks = competition_ranks(values)
    by_hand = tier_by_hand or {}
    return {
        k: (
            tier_for_rank(ranks[k], len(ranks), settings.tiers)
            if k in ranks
            else by_hand.get(k) or settings.no_orders_tier
        )
        for k in values
    }


def cuts_from_ranks(values: Mapping[K, Decimal], settings: CrmSettings) -> tuple[TierCut, ...]:
    """The cut of each tier, as `full_recompute` stores it: the smallest value ranked into it."""
    tiers = assign_tiers({k: v for k, v in values.items() if v > 0}, settings)
    lowest: dict[str, Decimal] = {}
    for k, name in tiers.items():
        lowest[name] = min(lowest.get(name, values[k]), values[k])
    return tuple(TierCut(t.name, t.top_percent, lowest.get(t.name)) for t in settings.tiers)


def tier_for_value(value_amount: Decimal, cuts: Sequence[TierCut]) -> str:
    """Incremental placement: the first tier whose cut `value_amount` reaches; below every
    cut, the last tier. For the values ranked at the recompute this is their ranked tier."""
    for cut in cuts:
        if cut.min_value_amount is not None and value_amount >= cut.min_value_amount:
            return cut.tier
    return cuts[-1].tier


# --- lifecycle and RFM -----------------------------------------------------------------------


def lifecycle_stage(summary: OrderSummary, now: datetime, rules: LifecycleSettings) -> str:
    """prospect (no counted order), churned / at_risk (last order too long ago), new (first
    order recent), mature (enough orders over a long enough time), else growing."""
    if summary.order_count == 0 or summary.first_order_at is None:
        return "prospect"
    assert summary.last_order_at is not None
    recency_days = days_since(summary.last_order_at, now)
    tenure_days = days_since(summary.first_order_at, now)
    if recency_days > rules.churned_after_days:
        return "churned"
    if recency_days > rules.at_risk_after_days:
        return "at_risk"
    if tenure_days <= rules.new_for_days:
        return "new"
    if summary.order_count >= rules.mature_min_orders and tenure_days > rules.mature_after_days:
        return "mature"
    return "growing"


def recency_score(recency_days: int, thresholds: Sequence[int]) -> int:
    """5 at most the 1st threshold's days ago, ... 1 beyond the last (with four)."""
    return len(thresholds) + 1 - sum(1 for t in thresholds if t < recency_days)


def at_least_score(amount: Decimal | int, thresholds: Sequence[Decimal] | Sequence[int]) -> int:
    """1 below the 1st threshold, one more for each threshold reached (frequency, monetary)."""
    return 1 + sum(1 for t in thresholds if t <= amount)


def rfm_scores(
    summary: OrderSummary, now: datetime, rules: RfmSettings
) -> tuple[int, int, int] | None:
    """(recency, frequency, monetary), each 1..5; None for a customer with no counted order."""
    if summary.order_count == 0 or summary.last_order_at is None:
        return None
    return (
        recency_score(days_since(summary.last_order_at, now), rules.recency_days),
        at_least_score(summary.window_orders, rules.frequency_orders),
        at_least_score(summary.value_amount, rules.monetary_amounts),
    )


def customer_figures(
    summary: OrderSummary,
    now: datetime,
    settings: CrmSettings,
    *,
    tier_by_hand: str | None,
    ranked_tier: str,
    value_rank: int | None,
) -> CustomerFigures:
    """Everything derived for one customer; `ranked_tier` is what ranking or the cuts gave,
    used only when the customer has value in the window."""
    has_value = summary.value_amount > 0
    rfm = rfm_scores(summary, now, settings.rfm)
    return CustomerFigures(
        value_amount=summary.value_amount,
        value_rank=value_rank if has_value else None,
        order_count=summary.order_count,
        first_order_at=summary.first_order_at,
        last_order_at=summary.last_order_at,
        tier=ranked_tier if has_value else tier_by_hand or settings.no_orders_tier,
        lifecycle=lifecycle_stage(summary, now, settings.lifecycle),
        rfm_recency=rfm[0] if rfm else None,
        rfm_frequency=rfm[1] if rfm else None,
        rfm_monetary=rfm[2] if rfm else None,
    )
