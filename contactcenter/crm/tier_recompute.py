"""Every customer's tier, lifecycle stage and RFM scores recomputed at once in PostgreSQL
(`contactcenter crm recompute`, and after a CSV import), from the pure rules of
contactcenter/crm/tiers.py; the tier cuts read back for placing one customer."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog

from contactcenter.crm.settings import CrmSettings
from contactcenter.crm.tiers import (
    ORDERS_LOCK,
    RECOMPUTE_TIMEOUT_S,
    RecomputeReport,
    TierCut,
    window_start,
)

log = structlog.get_logger("contactcenter.crm.tier_recompute")

# $1 window start, $2 counted statuses, $3 now, $4 no-orders tier, $5 tier names, $6 their
# cumulative top percents, $7..$11 lifecycle (churned, at risk, new, mature orders, mature
# days), $12..$14 RFM thresholds. Mirrors the pure rules above line for line.
_FIGURES = """
WITH agg AS (
    SELECT customer_id,
           sum(amount_base) FILTER (WHERE ordered_at > $1) AS value_amount,
           count(*) FILTER (WHERE ordered_at > $1) AS window_orders,
           count(*) AS order_count,
           min(ordered_at) AS first_order_at,
           max(ordered_at) AS last_order_at
    FROM orders
    WHERE status = ANY($2::text[])
    GROUP BY customer_id
), live AS (
    SELECT c.id, c.tier_by_hand,
           coalesce(a.value_amount, 0) AS value_amount,
           coalesce(a.window_orders, 0) AS window_orders,
           coalesce(a.order_count, 0) AS order_count,
           a.first_order_at, a.last_order_at,
           greatest(0, floor(extract(epoch FROM $3 - a.last_order_at) / 86400))::int AS recency,
           greatest(0, floor(extract(epoch FROM $3 - a.first_order_at) / 86400))::int AS tenure
    FROM customers c LEFT JOIN agg a ON a.customer_id = c.id
    WHERE c.merged_into IS NULL
), ranked AS (
    SELECT live.*,
           CASE WHEN value_amount > 0
                THEN rank() OVER (ORDER BY value_amount DESC)::int END AS value_rank,
           count(*) FILTER (WHERE value_amount > 0) OVER () AS ranked_customers
    FROM live
), figures AS (
    SELECT id, value_amount, value_rank, order_count, first_order_at, last_order_at,
        CASE WHEN value_rank IS NULL THEN coalesce(tier_by_hand, $4)
             ELSE (SELECT t.name FROM unnest($5::text[], $6::numeric[]) WITH ORDINALITY
                       AS t (name, top_percent, pos)
                   WHERE value_rank * 100 <= t.top_percent * ranked_customers
                   ORDER BY t.pos LIMIT 1)
        END AS tier,
        CASE WHEN order_count = 0 THEN 'prospect'
             WHEN recency > $7 THEN 'churned'
             WHEN recency > $8 THEN 'at_risk'
             WHEN tenure <= $9 THEN 'new'
             WHEN order_count >= $10 AND tenure > $11 THEN 'mature'
             ELSE 'growing'
        END AS lifecycle,
        -- width_bucket(x, thresholds) counts the thresholds <= x
        CASE WHEN order_count > 0
             THEN cardinality($12::int[]) + 1 - width_bucket(recency - 1, $12::int[]) END
            AS rfm_recency,
        CASE WHEN order_count > 0 THEN 1 + width_bucket(window_orders, $13::int[]) END
            AS rfm_frequency,
        CASE WHEN order_count > 0 THEN 1 + width_bucket(value_amount, $14::numeric[]) END
            AS rfm_monetary
    FROM ranked
)
UPDATE customers c
SET value_amount = f.value_amount, value_rank = f.value_rank, order_count = f.order_count,
    first_order_at = f.first_order_at, last_order_at = f.last_order_at, tier = f.tier,
    lifecycle = f.lifecycle, rfm_recency = f.rfm_recency, rfm_frequency = f.rfm_frequency,
    rfm_monetary = f.rfm_monetary, updated_at = now()
FROM figures f
WHERE c.id = f.id
  AND (c.value_amount, c.value_rank, c.order_count, c.first_order_at, c.last_order_at, c.tier,
       c.lifecycle, c.rfm_recency, c.rfm_frequency, c.rfm_monetary)
      IS DISTINCT FROM
      (f.value_amount, f.value_rank, f.order_count, f.first_order_at, f.last_order_at, f.tier,
       f.lifecycle, f.rfm_recency, f.rfm_frequency, f.rfm_monetary)
"""

_TIER_COUNTS = """
SELECT tier, count(*) AS customers, min(value_amount) AS min_value_amount
FROM customers WHERE merged_into IS NULL AND value_rank IS NOT NULL GROUP BY tier
"""


def _figures_args(settings: CrmSettings, now: datetime) -> list[object]:
    life, rfm = settings.lifecycle, settings.rfm
    return [
        window_start(now, settings.window_months),
        list(settings.counted_statuses),
        now,
        settings.no_orders_tier,
        [t.name for t in settings.tiers],
        [t.top_percent for t in settings.tiers],
        life.churned_after_days,
        life.at_risk_after_days,
        life.new_for_days,
        life.mature_min_orders,
        life.mature_after_days,
        list(rfm.recency_days),
        list(rfm.frequency_orders),
        list(rfm.monetary_amounts),
    ]


async def full_recompute(
    conn: asyncpg.Connection, settings: CrmSettings, now: datetime
) -> RecomputeReport:
    """Re-rank every customer (merged ones skipped) and rewrite their figures and the tier
    cuts, in one transaction (a savepoint when the caller already holds one). Only rows whose
    figures change are written."""
    async with conn.transaction():
        await conn.execute(ORDERS_LOCK)
        # the aggregate and the ranking sort in memory rather than spill (about 60 MB at 1M
        # orders and 100k customers); until the transaction ends
        await conn.execute("SET LOCAL work_mem = '64MB'")
        status = await conn.execute(
            _FIGURES, *_figures_args(settings, now), timeout=RECOMPUTE_TIMEOUT_S
        )
        rows = await conn.fetch(_TIER_COUNTS, timeout=RECOMPUTE_TIMEOUT_S)
        found = {r["tier"]: int(r["customers"]) for r in rows}
        counts = {t.name: found[t.name] for t in settings.tiers if t.name in found}
        lowest = {r["tier"]: r["min_value_amount"] for r in rows}
        ranked = sum(counts.values())
        cuts = tuple(TierCut(t.name, t.top_percent, lowest.get(t.name)) for t in settings.tiers)
        shared = (ranked, settings.window_months, now)
        await conn.execute("DELETE FROM tier_cuts")
        await conn.executemany(
            "INSERT INTO tier_cuts (position, tier, top_percent, min_value_amount, customers,"
            " ranked_customers, window_months, computed_at) VALUES ($1, $2, $3, $4, $5, $6,"
            " $7, $8)",
            [
                (i, c.tier, c.top_percent, c.min_value_amount, counts.get(c.tier, 0), *shared)
                for i, c in enumerate(cuts)
            ],
        )
    changed = int(status.split()[-1])
    log.info("crm_recomputed", customers_changed=changed, ranked_customers=ranked)
    return RecomputeReport(changed, ranked, counts, cuts)


async def recompute_all(
    pool: asyncpg.Pool, settings: CrmSettings, now: datetime
) -> RecomputeReport:
    """`full_recompute` on a connection of `pool`: what `contactcenter crm recompute` runs."""
    async with pool.acquire() as conn:
        return await full_recompute(conn, settings, now)


async def load_cuts(conn: asyncpg.Connection, settings: CrmSettings) -> tuple[TierCut, ...] | None:
    """The cuts of the last full recompute, or None when there is none or it was made with
    other tiers or another window than `settings` (then only a full recompute helps)."""
    rows = await conn.fetch(
        "SELECT tier, top_percent, min_value_amount, window_months FROM tier_cuts ORDER BY position"
    )
    cuts = tuple(TierCut(r["tier"], r["top_percent"], r["min_value_amount"]) for r in rows)
    same_tiers = [(c.tier, c.top_percent) for c in cuts] == [
        (t.name, t.top_percent) for t in settings.tiers
    ]
    if not rows or not same_tiers or rows[0]["window_months"] != settings.window_months:
        return None
    return cuts
