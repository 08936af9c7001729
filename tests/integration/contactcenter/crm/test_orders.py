"""Orders and the incremental recompute, against a real PostgreSQL.

These tests rank every customer of their database, so they use a database of their own
(created for this module, dropped after) rather than the session's shared one.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from contactcenter.crm.orders import ExternalIdTaken, OrderStore, UnknownCurrency
from contactcenter.crm.settings import CrmSettings
from contactcenter.crm.tier_recompute import recompute_all
from contactcenter.crm.tiers import assign_tiers, competition_ranks
from contactcenter.web.pagination import Window

CONFIG = Path(__file__).resolve().parents[4] / "config"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FIGURES = (
    "value_amount, order_count, first_order_at, last_order_at, lifecycle,"
    " rfm_recency, rfm_frequency, rfm_monetary"
)


@pytest.fixture
async def pool(own_pool: asyncpg.Pool) -> asyncpg.Pool:
    await own_pool.execute("TRUNCATE customers, tier_cuts CASCADE")
    return own_pool


def store(pool: asyncpg.Pool, crm: CrmSettings, now: datetime = NOW) -> OrderStore:
    return OrderStore(pool, crm, clock=lambda: now)


async def new_customer(pool: asyncpg.Pool, tier_by_hand: str | None = None) -> str:
    customer_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO customers (id, tier_by_hand) VALUES ($1, $2)", customer_id, tier_by_hand
    )
    return str(customer_id)


async def customer(pool: asyncpg.Pool, customer_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM customers WHERE id = $1", uuid.UUID(customer_id))
    assert row is not None
    return row


async def customers_with_values(
    pool: asyncpg.Pool, crm: CrmSettings, amounts: list[int]
) -> list[str]:
    """One customer per amount, each with one order of that amount a month ago."""
    orders = store(pool, crm)
    ids = []
    for amount in amounts:
        cid = await new_customer(pool)
        await orders.create_order(
            cid, amount=Decimal(amount), currency="EUR", ordered_at=NOW - timedelta(days=30)
        )
        ids.append(cid)
    return ids


async def test_a_first_order_makes_a_new_customer_with_exact_figures(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    cid = await new_customer(pool)
    assert (await customer(pool, cid))["lifecycle"] == "prospect"
    order = await store(pool, crm).create_order(
        cid, amount=Decimal("120.00"), currency="USD", ordered_at=NOW - timedelta(days=10)
    )
    assert order.amount_base == Decimal("110.40")  # 0.92 EUR per USD
    row = await customer(pool, cid)
    assert row["value_amount"] == Decimal("110.40") and row["order_count"] == 1
    assert row["lifecycle"] == "new" and row["value_rank"] == 1
    assert (row["rfm_recency"], row["rfm_frequency"], row["rfm_monetary"]) == (5, 1, 2)
    assert row["tier"] == "standard"  # rank 1 of 1 is in no top 5%: no cuts yet, ranked live


async def test_an_order_is_placed_against_the_cuts_of_the_last_full_recompute(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    ids = await customers_with_values(pool, crm, list(range(1, 101)))
    report = await recompute_all(pool, crm, NOW)
    assert dict(report.tier_counts) == {"platinum": 5, "gold": 15, "silver": 30, "standard": 50}
    assert [c.min_value_amount for c in report.cuts] == [96, 81, 51, 1]
    newcomer = await new_customer(pool)
    orders = store(pool, crm)
    await orders.create_order(
        newcomer, amount=Decimal(90), currency="EUR", ordered_at=NOW - timedelta(days=1)
    )
    assert (await customer(pool, newcomer))["tier"] == "gold"
    # the customer with 81 stays gold although one more customer now ranks above them
    assert (await customer(pool, ids[80]))["tier"] == "gold"
    await orders.create_order(
        newcomer, amount=Decimal(6), currency="EUR", ordered_at=NOW - timedelta(days=1)
    )
    row = await customer(pool, newcomer)
    assert row["tier"] == "platinum" and row["value_amount"] == 96 and row["value_rank"] == 5


async def test_cancelling_the_only_order_falls_back_to_the_tier_set_by_hand(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    await customers_with_values(pool, crm, list(range(1, 21)))
    await recompute_all(pool, crm, NOW)
    by_hand, plain = await new_customer(pool, tier_by_hand="gold"), await new_customer(pool)
    orders = store(pool, crm)
    placed = [
        await orders.create_order(
            cid, amount=Decimal(500), currency="EUR", ordered_at=NOW - timedelta(days=3)
        )
        for cid in (by_hand, plain)
    ]
    assert (await customer(pool, by_hand))["tier"] == "platinum"
    for order in placed:
        cancelled = await orders.cancel_order(order.order_id)
        assert cancelled.status == "cancelled"
    row = await customer(pool, by_hand)
    assert (row["tier"], row["value_amount"], row["order_count"]) == ("gold", 0, 0)
    assert row["lifecycle"] == "prospect" and row["rfm_recency"] is None
    assert (await customer(pool, plain))["tier"] == "standard"


async def test_incremental_figures_match_the_full_recompute(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    rng = random.Random(7)
    orders = store(pool, crm)
    ids = [await new_customer(pool) for _ in range(40)]
    for _ in range(160):
        order = await orders.create_order(
            rng.choice(ids),
            amount=Decimal(rng.randint(1, 3000)),
            currency=rng.choice(["EUR", "USD", "GBP"]),
            ordered_at=NOW - timedelta(days=rng.randint(0, 800), hours=rng.randint(0, 23)),
            status=rng.choice(["placed", "delivered", "delivered", "refunded"]),
        )
        if rng.random() < 0.1:
            await orders.cancel_order(order.order_id)
    incremental = {
        str(r["id"]): r for r in await pool.fetch(f"SELECT id, {FIGURES} FROM customers")
    }
    await recompute_all(pool, crm, NOW)
    full = await pool.fetch(f"SELECT id, tier, value_rank, {FIGURES} FROM customers")
    assert {str(r["id"]): tuple(r)[3:] for r in full} == {
        k: tuple(r)[1:] for k, r in incremental.items()
    }
    # right after a full recompute, the cuts place every customer where ranking did
    for row in full:
        figures = await orders.recompute_customer(str(row["id"]))
        assert (figures.tier, figures.value_rank) == (row["tier"], row["value_rank"])


async def test_full_recompute_ranks_ties_and_boundaries_as_the_reference_rules(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    rng = random.Random(3)
    amounts = [rng.choice([10, 20, 20, 50, 75, 75, 75, 300, 1000]) for _ in range(137)]
    ids = await customers_with_values(pool, crm, amounts)
    by_hand = await new_customer(pool, tier_by_hand="silver")
    nothing = await new_customer(pool)
    await recompute_all(pool, crm, NOW)
    values = {cid: Decimal(a) for cid, a in zip(ids, amounts, strict=True)}
    values |= {by_hand: Decimal(0), nothing: Decimal(0)}
    expected = assign_tiers(values, crm, {by_hand: "silver"})
    ranks = competition_ranks(values)
    rows = await pool.fetch("SELECT id, tier, value_rank FROM customers")
    assert {str(r["id"]): r["tier"] for r in rows} == expected
    assert {str(r["id"]): r["value_rank"] for r in rows if r["value_rank"]} == ranks


async def test_the_window_decides_which_orders_count(pool: asyncpg.Pool, crm: CrmSettings) -> None:
    cid = await new_customer(pool)
    await store(pool, crm).create_order(
        cid, amount=Decimal(200), currency="EUR", ordered_at=NOW - timedelta(days=500)
    )
    await recompute_all(pool, crm, NOW)
    row = await customer(pool, cid)
    assert (row["value_amount"], row["tier"], row["lifecycle"]) == (0, "standard", "churned")
    await recompute_all(pool, replace(crm, window_months=24), NOW)
    row = await customer(pool, cid)
    assert (row["value_amount"], row["order_count"], row["value_rank"]) == (200, 1, 1)


async def test_full_recompute_skips_merged_customers(pool: asyncpg.Pool, crm: CrmSettings) -> None:
    survivor, merged = await customers_with_values(pool, crm, [100, 900])
    await pool.execute(
        "UPDATE customers SET merged_into = $1, tier = 'kept' WHERE id = $2",
        uuid.UUID(survivor),
        uuid.UUID(merged),
    )
    report = await recompute_all(pool, crm, NOW)
    assert report.ranked_customers == 1
    assert (await customer(pool, merged))["tier"] == "kept"
    assert (await customer(pool, survivor))["value_rank"] == 1


async def test_an_unknown_currency_is_refused_and_nothing_is_written(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    cid = await new_customer(pool)
    with pytest.raises(UnknownCurrency) as info:
        await store(pool, crm).create_order(cid, amount=Decimal(5), currency="XYZ", ordered_at=NOW)
    assert "XYZ" in info.value.message and "USD" in info.value.message
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_an_external_id_retry_returns_the_order_and_a_clash_is_refused(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    cid = await new_customer(pool)
    orders = store(pool, crm)
    fields = {"amount": Decimal("9.50"), "currency": "EUR", "ordered_at": NOW}
    first = await orders.create_order(cid, external_id="A-1", **fields)  # type: ignore[arg-type]
    again = await orders.create_order(cid, external_id="A-1", **fields)  # type: ignore[arg-type]
    assert again.order_id == first.order_id
    with pytest.raises(ExternalIdTaken):
        await orders.create_order(
            cid, external_id="A-1", amount=Decimal(10), currency="EUR", ordered_at=NOW
        )
    assert (await customer(pool, cid))["order_count"] == 1


async def test_orders_are_listed_newest_first_page_by_page(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    cid = await new_customer(pool)
    orders = store(pool, crm)
    for day in range(7):
        await orders.create_order(
            cid, amount=Decimal(day), currency="EUR", ordered_at=NOW - timedelta(days=day)
        )
    seen: list[Decimal] = []
    window = Window(limit=3)
    while True:
        page = await orders.list_orders(cid, window)
        seen += [o.amount for o in page.items]
        if page.next is None:
            break
        window = Window(limit=3, cursor=str(page.next))
    assert seen == [Decimal(d) for d in range(7)]


async def test_an_order_for_a_merged_customer_goes_to_its_survivor(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    survivor, merged = await new_customer(pool), await new_customer(pool)
    await pool.execute(
        "UPDATE customers SET merged_into = $1 WHERE id = $2",
        uuid.UUID(survivor),
        uuid.UUID(merged),
    )
    order = await store(pool, crm).create_order(
        merged, amount=Decimal(40), currency="eur", ordered_at=NOW - timedelta(days=2)
    )
    assert order.customer_id == survivor and order.currency == "EUR"
    assert (await customer(pool, survivor))["value_amount"] == 40
    assert (await customer(pool, merged))["value_amount"] == 0
