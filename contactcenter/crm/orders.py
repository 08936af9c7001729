"""Orders: created, changed and cancelled one at a time (the REST API, the console), each change
followed in the same transaction by an incremental recompute of that customer's figures.

The incremental recompute applies the rules of `contactcenter.crm.tiers` to the one customer: its
value, order count, first and last order, lifecycle and RFM are exact. Its tier is placed
against the tier cuts of the last full recompute (`tier_cuts`), so one order never moves
anyone else's tier; the full recompute (nightly, or `contactcenter crm recompute`) re-ranks
everyone. Without cuts yet, the customer is ranked live against the others' stored values.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import asyncpg
import structlog

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.customers import CustomerNotFound, as_uuid, survivor_of
from contactcenter.crm.settings import ORDER_STATUSES, CrmSettings
from contactcenter.crm.store import dt_to_ms
from contactcenter.crm.tier_recompute import load_cuts
from contactcenter.crm.tiers import (
    CustomerFigures,
    OrderSummary,
    customer_figures,
    tier_for_rank,
    tier_for_value,
    window_start,
)
from contactcenter.web.pagination import FIRST_PAGE, Page, Window

log = structlog.get_logger("contactcenter.crm.orders")

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14, 2)


class InvalidOrder(InvalidInput):
    error_id = "order.invalid"


class UnknownCurrency(InvalidInput):
    """No exchange rate to the base currency is configured for the order's currency."""

    error_id = "order.unknown_currency"


class OrderNotFound(NotFound):
    error_id = "order.not_found"


class ExternalIdTaken(Conflict):
    error_id = "order.external_id_taken"


@dataclass(frozen=True)
class Order:
    order_id: str
    external_id: str | None
    customer_id: str
    amount: Decimal
    currency: str
    amount_base: Decimal
    status: str
    ordered_at: datetime
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "external_id": self.external_id,
            "customer_id": self.customer_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "amount_base": str(self.amount_base),
            "status": self.status,
            "ordered_at_ms": dt_to_ms(self.ordered_at),
            "created_at_ms": dt_to_ms(self.created_at),
        }


# --- the pure parts --------------------------------------------------------------------------


def to_base(amount: Decimal, currency: str, settings: CrmSettings) -> Decimal:
    """`amount` in the base currency at the configured rate, rounded half up to the cent."""
    rate = settings.exchange_rates.get(currency)
    if rate is None:
        known = ", ".join(sorted(settings.exchange_rates))
        raise UnknownCurrency(
            f"no exchange rate for {currency!r}; known: {known}", currency=currency
        )
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def check_amount(amount: Decimal) -> Decimal:
    try:
        ok = amount.is_finite() and 0 <= amount <= MAX_AMOUNT
        exact = ok and amount == amount.quantize(CENT)
    except InvalidOperation:
        ok = exact = False
    if not ok:
        raise InvalidOrder(f"amount must be between 0 and {MAX_AMOUNT}", field="amount")
    if not exact:
        raise InvalidOrder("amount has more than two decimals", field="amount")
    return amount


def check_status(status: str) -> str:
    if status not in ORDER_STATUSES:
        raise InvalidOrder(f"status must be one of {', '.join(ORDER_STATUSES)}", field="status")
    return status


def check_ordered_at(ordered_at: datetime) -> datetime:
    if ordered_at.tzinfo is None:
        raise InvalidOrder("ordered_at needs a time zone", field="ordered_at")
    return ordered_at


def _order(row: asyncpg.Record) -> Order:
    return Order(
        order_id=str(row["id"]),
        external_id=row["external_id"],
        customer_id=str(row["customer_id"]),
        amount=row["amount"],
        currency=row["currency"],
        amount_base=row["amount_base"],
        status=row["status"],
        ordered_at=row["ordered_at"],
        created_at=row["created_at"],
    )


# --- the incremental recompute ---------------------------------------------------------------


_SUMMARY = """
SELECT coalesce(sum(amount_base) FILTER (WHERE ordered_at > $2), 0) AS value_amount,
       count(*) FILTER (WHERE ordered_at > $2) AS window_orders,
       count(*) AS order_count, min(ordered_at) AS first_order_at, max(ordered_at) AS last_order_at
FROM orders WHERE customer_id = $1 AND status = ANY($3::text[])
"""
# others' stored values: the customer's own row may still hold its old figures
_OTHERS_ABOVE = (
    "SELECT count(*) FROM customers WHERE merged_into IS NULL AND value_amount > $2 AND id <> $1"
)
_STORE = """
UPDATE customers SET value_amount = $2, value_rank = $3, order_count = $4,
    first_order_at = $5, last_order_at = $6, tier = $7, lifecycle = $8, rfm_recency = $9,
    rfm_frequency = $10, rfm_monetary = $11, updated_at = now()
WHERE id = $1
"""


async def _place(
    conn: asyncpg.Connection, customer_id: uuid.UUID, value_amount: Decimal, settings: CrmSettings
) -> tuple[int | None, str]:
    """(rank, tier) of a value against the others' stored values: the tier from the cuts of
    the last full recompute, or by live rank when there are none. No value: no rank."""
    if value_amount <= 0:
        return None, settings.tiers[-1].name
    rank = 1 + int(await conn.fetchval(_OTHERS_ABOVE, customer_id, value_amount))
    cuts = await load_cuts(conn, settings)
    if cuts is not None:
        return rank, tier_for_value(value_amount, cuts)
    ranked = 1 + int(await conn.fetchval(_OTHERS_ABOVE, customer_id, Decimal(0)))
    return rank, tier_for_rank(rank, ranked, settings.tiers)


async def recompute_customer(
    conn: asyncpg.Connection, customer_id: uuid.UUID, settings: CrmSettings, now: datetime
) -> CustomerFigures:
    """Recompute and store one customer's figures. Call inside the transaction that changed
    their orders, after the change: the row lock taken here serialises concurrent changes of
    the same customer, and orders are written before it so that a full recompute (which
    locks orders first) cannot deadlock with us."""
    row = await conn.fetchrow(
        "SELECT tier_by_hand, merged_into FROM customers WHERE id = $1 FOR UPDATE", customer_id
    )
    if row is None:
        raise CustomerNotFound("no such customer", customer_id=str(customer_id))
    start = window_start(now, settings.window_months)
    s = await conn.fetchrow(_SUMMARY, customer_id, start, list(settings.counted_statuses))
    summary = OrderSummary(
        s["value_amount"], s["window_orders"], s["order_count"], s["first_order_at"],
        s["last_order_at"],
    )  # fmt: skip
    rank, ranked_tier = await _place(conn, customer_id, summary.value_amount, settings)
    figures = customer_figures(
        summary,
        now,
        settings,
        tier_by_hand=row["tier_by_hand"],
        ranked_tier=ranked_tier,
        value_rank=rank,
    )
    if row["merged_into"] is None:
        f = figures
        await conn.execute(
            _STORE, customer_id, f.value_amount, f.value_rank, f.order_count, f.first_order_at,
            f.last_order_at, f.tier, f.lifecycle, f.rfm_recency, f.rfm_frequency, f.rfm_monetary,
        )  # fmt: skip
    return figures


# --- the store -------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OrderStore:
    """Orders in PostgreSQL; every change recomputes its customer's figures in the same
    transaction. `clock` gives the current time (tests pass a fixed one)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: CrmSettings,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock

    async def create_order(
        self,
        customer_id: str,
        *,
        amount: Decimal,
        currency: str,
        ordered_at: datetime,
        status: str = "placed",
        external_id: str | None = None,
    ) -> Order:
        """A new order. The same `external_id` again returns the stored order when it says the
        same thing (a retry), and raises `ExternalIdTaken` when it does not."""
        currency = currency.strip().upper()
        amount_base = to_base(check_amount(amount), currency, self.settings)
        async with self.pool.acquire() as conn, conn.transaction():
            customer = await survivor_of(conn, customer_id)
            values = (customer, amount, currency, amount_base, check_status(status))
            row = await conn.fetchrow(
                "INSERT INTO orders (id, external_id, customer_id, amount, currency, amount_base,"
                " status, ordered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (external_id) DO NOTHING RETURNING *",
                uuid.uuid4(), external_id, *values, check_ordered_at(ordered_at),
            )  # fmt: skip
            if row is None:
                return await self._existing(conn, external_id, values, ordered_at)
            await recompute_customer(conn, customer, self.settings, self.clock())
        order = _order(row)
        log.info("order_created", order_id=order.order_id, customer_id=order.customer_id)
        return order

    async def _existing(
        self,
        conn: asyncpg.Connection,
        external_id: str | None,
        values: tuple[object, ...],
        ordered_at: datetime,
    ) -> Order:
        row = await conn.fetchrow("SELECT * FROM orders WHERE external_id = $1", external_id)
        assert row is not None
        stored = (row["customer_id"], row["amount"], row["currency"], row["amount_base"])
        if (*stored, row["status"]) != values or row["ordered_at"] != ordered_at:
            raise ExternalIdTaken("another order has this external id", external_id=external_id)
        return _order(row)

    async def update_order(
        self,
        order_id: str,
        *,
        amount: Decimal | None = None,
        currency: str | None = None,
        status: str | None = None,
        ordered_at: datetime | None = None,
    ) -> Order:
        """Change what is given; a new amount or currency is converted at today's rate."""
        oid = as_uuid(order_id, "order")
        async with self.pool.acquire() as conn, conn.transaction():
            old = await conn.fetchrow("SELECT * FROM orders WHERE id = $1 FOR UPDATE", oid)
            if old is None:
                raise OrderNotFound(f"no order {order_id}")
            new_amount = old["amount"] if amount is None else check_amount(amount)
            new_currency = old["currency"] if currency is None else currency.strip().upper()
            amount_base = old["amount_base"]
            if amount is not None or currency is not None:
                amount_base = to_base(new_amount, new_currency, self.settings)
            row = await conn.fetchrow(
                "UPDATE orders SET amount = $2, currency = $3, amount_base = $4, status = $5,"
                " ordered_at = $6 WHERE id = $1 RETURNING *",
                oid, new_amount, new_currency, amount_base,
                old["status"] if status is None else check_status(status),
                old["ordered_at"] if ordered_at is None else check_ordered_at(ordered_at),
            )  # fmt: skip
            await recompute_customer(conn, row["customer_id"], self.settings, self.clock())
        log.info("order_updated", order_id=order_id, customer_id=str(row["customer_id"]))
        return _order(row)

    async def cancel_order(self, order_id: str) -> Order:
        """Cancel an order; an order already cancelled or refunded stays as it is."""
        current = await self.order(order_id)
        if current.status in ("cancelled", "refunded"):
            return current
        return await self.update_order(order_id, status="cancelled")

    async def order(self, order_id: str) -> Order:
        oid = as_uuid(order_id, "order")
        row = await self.pool.fetchrow("SELECT * FROM orders WHERE id = $1", oid)
        if row is None:
            raise OrderNotFound(f"no order {order_id}")
        return _order(row)

    async def list_orders(self, customer_id: str, window: Window = FIRST_PAGE) -> Page[Order]:
        """A customer's orders (a merged customer's: its survivor's), newest first."""
        customer = await survivor_of(self.pool, customer_id)
        after = window.after(datetime, uuid.UUID) or [None, None]
        rows = await self.pool.fetch(
            "SELECT * FROM orders WHERE customer_id = $1"
            " AND ($2::timestamptz IS NULL OR (ordered_at, id) < ($2, $3::uuid))"
            " ORDER BY ordered_at DESC, id DESC LIMIT $4 OFFSET $5",
            customer, *after, window.limit + 1, window.offset or 0,
        )  # fmt: skip
        return window.page(rows, lambda r: (r["ordered_at"], r["id"])).map(_order)

    async def recompute_customer(self, customer_id: str) -> CustomerFigures:
        """Recompute one customer's figures now (after a tier set by hand, say)."""
        async with self.pool.acquire() as conn, conn.transaction():
            customer = await survivor_of(conn, customer_id)
            return await recompute_customer(conn, customer, self.settings, self.clock())
