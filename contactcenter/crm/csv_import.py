"""CSV imports of customers and orders (`contactcenter crm import ...`).

Every row is validated first; any bad row stops the import with its line number and reason,
and nothing is written. A valid file is written in one transaction: COPY into a temporary
table, then INSERT ... SELECT, keyed on `external_id` so that importing the same file again
changes nothing, then a full recompute of tiers in the same transaction. The formats are in
docs/tiers.md.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import structlog
from tqdm import tqdm

from contactcenter.core.errors import InvalidInput
from contactcenter.crm.csv_rows import (
    CUSTOMER_COLUMNS,
    CUSTOMER_REFS,
    MAX_FUTURE,
    ORDER_COLUMNS,
    CustomerRow,
    OrderRow,
    RowError,
    parse_customer,
    parse_order,
)
from contactcenter.crm.settings import CrmSettings
from contactcenter.crm.tier_recompute import full_recompute
from contactcenter.crm.tiers import ORDERS_LOCK, RECOMPUTE_TIMEOUT_S, RecomputeReport

log = structlog.get_logger("contactcenter.crm.csv_import")

_COPY_CHUNK = 20_000

# what csv_import offered before the pure rows moved to csv_rows
__all__ = [
    "CUSTOMER_COLUMNS",
    "CUSTOMER_REFS",
    "MAX_FUTURE",
    "ORDER_COLUMNS",
    "CustomerRow",
    "ImportRejected",
    "ImportReport",
    "OrderRow",
    "RowError",
    "import_customers",
    "import_orders",
    "parse_customer",
    "parse_order",
    "read_rows",
    "validate_file",
]


class ImportRejected(InvalidInput):
    """The file has bad rows (every one is in `errors`); nothing was written."""

    error_id = "import.rejected"

    def __init__(self, path: Path, errors: Sequence[RowError]) -> None:
        super().__init__(
            f"{path}: {len(errors)} bad row(s), nothing was imported",
            errors=[{"line": e.line, "reason": e.reason} for e in errors],
        )
        self.errors = list(errors)


@dataclass(frozen=True)
class ImportReport:
    rows: int
    created: int
    updated: int
    unchanged: int
    recompute: RecomputeReport


def _progress(desc: str, total: int, show: bool) -> Any:
    return tqdm(total=total, desc=desc, unit=" rows", disable=not show, mininterval=0.5)


# --- reading and validating files ------------------------------------------------------------


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def read_rows(
    path: Path,
    columns: Sequence[str],
    required: Sequence[str],
    errors: list[RowError],
    any_of: Sequence[str] = (),
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line, cells) of each data row; a bad header or undecodable text lands in `errors`."""
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        errors.append(RowError(0, f"cannot read the file: {exc.strerror}"))
        return
    with f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames or []
            unknown = [c for c in header if c not in columns]
            missing = [c for c in required if c not in header]
            if any_of and not set(any_of) & set(header):
                missing.append(" or ".join(any_of))
            if unknown or missing or not header:
                problems = [f"unknown column {c!r}" for c in unknown]
                problems += [f"missing column {c}" for c in missing]
                errors.append(RowError(1, "; ".join(problems) or "the file is empty"))
                return
            for cells in reader:
                if None in cells:
                    errors.append(RowError(reader.line_num, "more cells than columns"))
                    continue
                yield reader.line_num, cells
        except UnicodeDecodeError:
            errors.append(RowError(reader.line_num + 1, "not UTF-8 text"))
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, f"not valid CSV: {exc}"))


class _Keyed(Protocol):
    @property
    def line(self) -> int: ...
    @property
    def external_id(self) -> str: ...


Row = TypeVar("Row", bound=_Keyed)


def validate_file(
    path: Path,
    columns: Sequence[str],
    required: Sequence[str],
    parse: Callable[[Mapping[str, str | None], int], Row],
    *,
    any_of: Sequence[str] = (),
    show_progress: bool = False,
) -> tuple[list[Row], list[RowError]]:
    """Every row parsed, or the reason it cannot be; an external_id seen twice is an error."""
    rows: list[Row] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    total = max(0, _count_lines(path) - 1) if path.is_file() else 0
    with _progress("validating", total, show_progress) as bar:
        for line, cells in read_rows(path, columns, required, errors, any_of):
            bar.update()
            try:
                row = parse(cells, line)
            except ValueError as exc:
                errors.append(RowError(line, str(exc)))
                continue
            if row.external_id in first_line:
                where = first_line[row.external_id]
                errors.append(
                    RowError(line, f"external_id {row.external_id!r} is also on line {where}")
                )
                continue
            first_line[row.external_id] = line
            rows.append(row)
    return rows, errors


# --- writing ---------------------------------------------------------------------------------


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
    show_progress: bool,
) -> None:
    with _progress("writing", len(records), show_progress) as bar:
        for start in range(0, len(records), _COPY_CHUNK):
            chunk = records[start : start + _COPY_CHUNK]
            await conn.copy_records_to_table(
                table, records=chunk, columns=columns, timeout=RECOMPUTE_TIMEOUT_S
            )
            bar.update(len(chunk))


def _count(status: str) -> int:
    return int(status.split()[-1])


_CUSTOMER_TEMP = """
CREATE TEMP TABLE import_customers (
    line integer, external_id text, name text, email text, phone text, language text,
    tier_by_hand text, customer_id uuid, created boolean NOT NULL DEFAULT false
) ON COMMIT DROP
"""
_CUSTOMER_FIELDS = ("line", "external_id", "name", "email", "phone", "language", "tier_by_hand")
_FIND_CUSTOMERS = """
UPDATE import_customers i SET customer_id = coalesce(c.merged_into, c.id)
FROM identities x JOIN customers c ON c.id = x.customer_id
WHERE x.kind = 'external' AND x.value = i.external_id AND x.is_primary
"""
_NEW_CUSTOMERS = """
UPDATE import_customers SET customer_id = gen_random_uuid(), created = true
WHERE customer_id IS NULL
"""
_INSERT_CUSTOMERS = """
INSERT INTO customers (id, display_name, language, tier_by_hand)
SELECT customer_id, coalesce(name, ''), language, tier_by_hand FROM import_customers WHERE created
"""
# an empty cell leaves what is stored
_UPDATE_CUSTOMERS = """
UPDATE customers c
SET display_name = coalesce(i.name, c.display_name), language = coalesce(i.language, c.language),
    tier_by_hand = coalesce(i.tier_by_hand, c.tier_by_hand), updated_at = now()
FROM import_customers i
WHERE NOT i.created AND c.id = i.customer_id
  AND (c.display_name, c.language, c.tier_by_hand) IS DISTINCT FROM
      (coalesce(i.name, c.display_name), coalesce(i.language, c.language),
       coalesce(i.tier_by_hand, c.tier_by_hand))
"""
# a known identity stays as it is; a new one is primary unless another customer holds it
_INSERT_IDENTITIES = """
INSERT INTO identities (kind, value, customer_id, is_primary)
SELECT kind, value, customer_id,
       first AND NOT EXISTS (SELECT 1 FROM identities p
                             WHERE p.kind = u.kind AND p.value = u.value AND p.is_primary)
FROM (SELECT kind, value, customer_id,
             row_number() OVER (PARTITION BY kind, value ORDER BY line) = 1 AS first
      FROM (SELECT line, 'external' AS kind, external_id AS value, customer_id
            FROM import_customers WHERE created
            UNION ALL SELECT line, 'email', email, customer_id
            FROM import_customers WHERE email IS NOT NULL
            UNION ALL SELECT line, 'phone', phone, customer_id
            FROM import_customers WHERE phone IS NOT NULL) s) u
ON CONFLICT DO NOTHING
"""


async def import_customers(
    pool: asyncpg.Pool, path: Path, settings: CrmSettings, *, now: datetime, show_progress: bool
) -> ImportReport:
    """Import a customers CSV; raises `ImportRejected` (nothing written) on any bad row."""
    rows, errors = validate_file(
        path,
        CUSTOMER_COLUMNS,
        ("external_id",),
        lambda cells, line: parse_customer(cells, line, settings),
        show_progress=show_progress,
    )
    if errors:
        raise ImportRejected(path, errors)
    records = [
        (r.line, r.external_id, r.name, r.email, r.phone, r.language, r.tier_by_hand) for r in rows
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(ORDERS_LOCK)
        await conn.execute(_CUSTOMER_TEMP)
        await _copy(conn, "import_customers", _CUSTOMER_FIELDS, records, show_progress)
        for sql in (_FIND_CUSTOMERS, _NEW_CUSTOMERS):
            await conn.execute(sql, timeout=RECOMPUTE_TIMEOUT_S)
        created = _count(await conn.execute(_INSERT_CUSTOMERS, timeout=RECOMPUTE_TIMEOUT_S))
        updated = _count(await conn.execute(_UPDATE_CUSTOMERS, timeout=RECOMPUTE_TIMEOUT_S))
        await conn.execute(_INSERT_IDENTITIES, timeout=RECOMPUTE_TIMEOUT_S)
        recompute = await full_recompute(conn, settings, now)
    log.info("customers_imported", rows=len(rows), created=created, updated=updated)
    return ImportReport(len(rows), created, updated, len(rows) - created - updated, recompute)


_ORDER_TEMP = """
CREATE TEMP TABLE import_orders (
    line integer, external_id text, customer_id uuid, amount numeric(14, 2), currency text,
    amount_base numeric(14, 2), status text, ordered_at timestamptz
) ON COMMIT DROP
"""
_ORDER_FIELDS = "line external_id customer_id amount currency amount_base status ordered_at".split()
_ORDER_CLASHES = """
SELECT i.line FROM import_orders i JOIN orders o ON o.external_id = i.external_id
WHERE o.customer_id <> i.customer_id ORDER BY i.line
"""
_ORDERS_KNOWN = "SELECT count(*) FROM import_orders i JOIN orders o USING (external_id)"
_UPSERT_ORDERS = """
INSERT INTO orders (id, external_id, customer_id, amount, currency, amount_base, status,
                    ordered_at)
SELECT gen_random_uuid(), external_id, customer_id, amount, currency, amount_base, status,
       ordered_at
FROM import_orders
ON CONFLICT (external_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, amount_base = EXCLUDED.amount_base,
    status = EXCLUDED.status, ordered_at = EXCLUDED.ordered_at
WHERE (orders.amount, orders.currency, orders.amount_base, orders.status, orders.ordered_at)
      IS DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.amount_base,
                        EXCLUDED.status, EXCLUDED.ordered_at)
"""
_RESOLVE = """
SELECT k.kind, k.value, coalesce(c.merged_into, c.id) AS customer_id
FROM unnest($1::text[], $2::text[]) AS k (kind, value)
JOIN identities i ON i.kind = k.kind AND i.value = k.value AND i.is_primary
JOIN customers c ON c.id = i.customer_id
"""
_REF_NAMES = {"external": "external id", "email": "email", "phone": "phone"}


async def _resolve(
    conn: asyncpg.Connection, rows: Sequence[OrderRow], errors: list[RowError]
) -> dict[tuple[str, str], Any]:
    """The customer each row's reference names; an unknown one is an error of that row."""
    refs = sorted({r.customer_ref for r in rows})
    found = await conn.fetch(
        _RESOLVE, [k for k, _ in refs], [v for _, v in refs], timeout=RECOMPUTE_TIMEOUT_S
    )
    customers = {(r["kind"], r["value"]): r["customer_id"] for r in found}
    for r in rows:
        if r.customer_ref not in customers:
            kind = _REF_NAMES[r.customer_ref[0]]
            errors.append(RowError(r.line, f"no customer with this {kind}"))
    return customers


async def import_orders(
    pool: asyncpg.Pool, path: Path, settings: CrmSettings, *, now: datetime, show_progress: bool
) -> ImportReport:
    """Import an orders CSV; raises `ImportRejected` (nothing written) on any bad row,
    including a customer that cannot be found or an external_id another customer's order has."""
    rows, errors = validate_file(
        path,
        ORDER_COLUMNS + CUSTOMER_REFS,
        ("external_id", "amount", "currency", "ordered_at"),
        lambda cells, line: parse_order(cells, line, settings, now),
        any_of=CUSTOMER_REFS,
        show_progress=show_progress,
    )
    async with pool.acquire() as conn, conn.transaction():
        customers = await _resolve(conn, rows, errors) if rows else {}
        if errors:
            raise ImportRejected(path, sorted(errors, key=lambda e: e.line))
        records = [r.record(customers[r.customer_ref]) for r in rows]
        await conn.execute(ORDERS_LOCK)
        await conn.execute(_ORDER_TEMP)
        await _copy(conn, "import_orders", _ORDER_FIELDS, records, show_progress)
        clashes = await conn.fetch(_ORDER_CLASHES, timeout=RECOMPUTE_TIMEOUT_S)
        if clashes:
            reason = "external_id belongs to another customer's order"
            raise ImportRejected(path, [RowError(c["line"], reason) for c in clashes])
        known = int(await conn.fetchval(_ORDERS_KNOWN, timeout=RECOMPUTE_TIMEOUT_S))
        written = _count(await conn.execute(_UPSERT_ORDERS, timeout=RECOMPUTE_TIMEOUT_S))
        recompute = await full_recompute(conn, settings, now)
    created = len(rows) - known
    log.info("orders_imported", rows=len(rows), created=created, updated=written - created)
    return ImportReport(
        len(rows), created, written - created, known - (written - created), recompute
    )
