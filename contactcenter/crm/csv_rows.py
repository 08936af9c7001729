"""Rows of the CSV imports (`contactcenter crm import ...`) read and checked, pure: cells in,
a normalised record out, or a ValueError naming every problem of the row. The formats are in
docs/tiers.md; the files and the database are csv_import's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from contactcenter.crm.identity import InvalidIdentity, normalise
from contactcenter.crm.orders import InvalidOrder, check_amount, to_base
from contactcenter.crm.settings import ORDER_STATUSES, CrmSettings

CUSTOMER_COLUMNS = ("external_id", "name", "email", "phone", "language", "tier_by_hand")
ORDER_COLUMNS = ("external_id", "amount", "currency", "ordered_at", "status")
CUSTOMER_REFS = ("customer_external_id", "customer_email", "customer_phone")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_FUTURE = timedelta(days=1)  # clocks differ; an order dated later than this is a mistake


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header; 0 for the whole file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass(frozen=True, slots=True)
class CustomerRow:
    line: int
    external_id: str
    name: str | None
    email: str | None
    phone: str | None
    language: str | None
    tier_by_hand: str | None


@dataclass(frozen=True, slots=True)
class OrderRow:
    line: int
    external_id: str
    customer_ref: tuple[str, str]  # (identity kind, normalised value)
    amount: Decimal
    currency: str
    amount_base: Decimal
    status: str
    ordered_at: datetime

    def record(self, customer_id: Any) -> tuple[Any, ...]:
        """The row as `import_orders` holds it (`_ORDER_FIELDS`)."""
        r = self
        return (r.line, r.external_id, customer_id, r.amount, r.currency, r.amount_base,
                r.status, r.ordered_at)  # fmt: skip


class _Bad(ValueError):
    """A row's problems; becomes a RowError with the row's line."""


class _Cells:
    """One row's cells, read and checked; every problem is noted rather than raised, so that
    `done()` reports the row once with all of them."""

    def __init__(self, cells: Mapping[str, str | None], settings: CrmSettings) -> None:
        self.cells, self.settings = cells, settings
        self.problems: list[str] = []

    def text(
        self,
        key: str,
        ok: Callable[[str], object] = bool,
        problem: str = "",
        *,
        needed: bool = False,
    ) -> str | None:
        value = (self.cells.get(key) or "").strip() or None
        if value is None and needed:
            self.problems.append(f"{key} is required")
        elif value is not None and (len(value) > 200 or not ok(value)):
            self.problems.append(f"{key}: {problem or 'at most 200 characters'}")
        return value

    def identity(self, kind: str, key: str) -> str | None:
        raw = self.text(key)
        try:
            return None if raw is None else normalise(kind, raw, self.settings.default_phone_region)
        except InvalidIdentity as exc:
            self.problems.append(f"{key}: {exc.message}")
            return None

    def amount(self) -> Decimal:
        try:
            return check_amount(Decimal(self.text("amount", needed=True) or "0"))
        except InvalidOperation:
            self.problems.append("amount: not a number")
        except InvalidOrder as exc:
            self.problems.append(exc.message)
        return Decimal(0)

    def currency(self) -> str:
        rates = self.settings.exchange_rates
        known = f"no exchange rate; known: {', '.join(sorted(rates))}"
        return (
            self.text("currency", lambda v: v.upper() in rates, known, needed=True) or ""
        ).upper()

    def ordered_at(self, now: datetime) -> datetime:
        raw = self.text("ordered_at", needed=True)
        try:
            at = datetime.fromisoformat(raw or now.isoformat())
        except ValueError:
            self.problems.append("ordered_at: not an ISO 8601 date or time")
            return now
        at = at if at.tzinfo else at.replace(tzinfo=UTC)  # no offset given: UTC
        if at > now + MAX_FUTURE:
            self.problems.append("ordered_at: in the future")
        return at

    def customer_ref(self) -> tuple[str, str]:
        for column, kind in zip(CUSTOMER_REFS, ("external", "email", "phone"), strict=True):
            value = self.identity(kind, column)
            if value is not None:
                return kind, value
        self.problems.append(f"one of {', '.join(CUSTOMER_REFS)} is required")
        return "", ""

    def done(self) -> None:
        if self.problems:
            raise _Bad("; ".join(self.problems))


def parse_customer(
    cells: Mapping[str, str | None], line: int, settings: CrmSettings
) -> CustomerRow:
    """One customer row, normalised; raises ValueError naming every problem of the row."""
    c, tiers = _Cells(cells, settings), settings.tier_names
    row = CustomerRow(
        line,
        c.text("external_id", needed=True) or "",
        c.text("name"),
        c.identity("email", "email"),
        c.identity("phone", "phone"),
        c.text("language", _LANGUAGE.match, "must be a language tag such as en or pt-BR"),
        c.text("tier_by_hand", lambda v: v in tiers, f"must be one of {', '.join(tiers)}"),
    )
    c.done()
    return row


def parse_order(
    cells: Mapping[str, str | None], line: int, settings: CrmSettings, now: datetime
) -> OrderRow:
    """One order row, its amount converted to the base currency; raises ValueError naming
    every problem of the row."""
    c = _Cells(cells, settings)
    external_id = c.text("external_id", needed=True) or ""
    ref, amount = c.customer_ref(), c.amount()
    currency = c.currency()
    status = (c.text("status") or "placed").lower()
    if status not in ORDER_STATUSES:
        c.problems.append(f"status: must be one of {', '.join(ORDER_STATUSES)}")
    at = c.ordered_at(now)
    c.done()
    amount_base = to_base(amount, currency, settings)
    return OrderRow(line, external_id, ref, amount, currency, amount_base, status, at)
