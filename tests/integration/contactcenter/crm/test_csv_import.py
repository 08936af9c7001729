"""CSV imports of customers and orders, against a real PostgreSQL: every bad row is reported
with its line and nothing is written; a good file is written once, and again changes nothing.

The imports end with a full recompute, which ranks every customer of the database, so these
tests use a database of their own (created for this module, dropped after).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from contactcenter.cli import main
from contactcenter.crm.csv_import import ImportRejected, import_customers, import_orders
from contactcenter.crm.settings import CrmSettings

CONFIG = Path(__file__).resolve().parents[4] / "config"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

CUSTOMERS = """\
external_id,name,email,phone,language,tier_by_hand
C-1,Ada Lovelace,Ada@Example.COM,+44 20 7946 0958,en,
C-2,Grace Hopper,grace@example.com,(201) 555-0123,en,gold
C-3,Alan Turing,,,,platinum
"""
ORDERS = """\
external_id,customer_external_id,customer_email,customer_phone,amount,currency,ordered_at,status
O-1,C-1,,,129.90,EUR,2026-03-01T14:05:00+01:00,delivered
O-2,,grace@example.com,,10.50,usd,2026-03-02,
O-3,,,+1 201-555-0123,99,EUR,2026-04-02T10:00:00Z,refunded
O-4,C-3,,,40,GBP,2024-01-10,delivered
"""
SNAPSHOT = {
    "customers": "SELECT id, display_name, language, tier_by_hand, tier, value_amount,"
    " value_rank, order_count, lifecycle, rfm_recency, updated_at FROM customers ORDER BY id",
    "identities": "SELECT kind, value, customer_id, is_primary FROM identities ORDER BY 1, 2, 3",
    "orders": "SELECT * FROM orders ORDER BY external_id",
}


@pytest.fixture
async def pool(own_pool: asyncpg.Pool) -> asyncpg.Pool:
    await own_pool.execute("TRUNCATE customers, tier_cuts CASCADE")
    return own_pool


def csv_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[object, ...]]]:
    return {table: [tuple(r) for r in await pool.fetch(sql)] for table, sql in SNAPSHOT.items()}


async def import_both(pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path) -> None:
    customers = csv_file(tmp_path, "customers.csv", CUSTOMERS)
    await import_customers(pool, customers, crm, now=NOW, show_progress=False)
    orders = csv_file(tmp_path, "orders.csv", ORDERS)
    await import_orders(pool, orders, crm, now=NOW, show_progress=False)


async def test_a_malformed_customers_file_reports_each_bad_line_and_writes_nothing(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    text = CUSTOMERS + (
        "C-4,Bad Phone,x@example.com,12,fr,\n"
        "C-5,,not-an-email,,english,diamond\n"
        ",Nobody,,,,\n"
        "C-1,Twice,,,,\n"
    )
    with pytest.raises(ImportRejected) as info:
        await import_customers(pool, csv_file(tmp_path, "c.csv", text), crm, now=NOW,
                               show_progress=False)  # fmt: skip
    errors = {e.line: e.reason for e in info.value.errors}
    assert sorted(errors) == [5, 6, 7, 8]
    assert "phone" in errors[5]
    assert all(word in errors[6] for word in ("email", "language", "tier_by_hand"))
    assert "external_id is required" in errors[7]
    assert "also on line 2" in errors[8]
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_a_bad_orders_file_writes_no_order_at_all(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    await import_customers(pool, csv_file(tmp_path, "c.csv", CUSTOMERS), crm, now=NOW,
                           show_progress=False)  # fmt: skip
    text = ORDERS + (
        "O-5,C-9,,,1,EUR,2026-03-02,\n"  # no such customer
        "O-6,C-1,,,1.999,XYZ,yesterday,lost\n"
    )
    with pytest.raises(ImportRejected) as info:
        await import_orders(pool, csv_file(tmp_path, "o.csv", text), crm, now=NOW,
                            show_progress=False)  # fmt: skip
    errors = {e.line: e.reason for e in info.value.errors}
    assert sorted(errors) == [6, 7]
    assert errors[6] == "no customer with this external id"
    assert all(w in errors[7] for w in ("two decimals", "exchange rate", "status", "ISO 8601"))
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_a_good_import_normalises_identities_and_ranks_customers(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    await import_both(pool, crm, tmp_path)
    ids = {
        (r["kind"], r["value"]): r["customer_id"]
        for r in await pool.fetch("SELECT * FROM identities")
    }
    ada = ids[("external", "C-1")]
    assert ids[("email", "ada@example.com")] == ada and ids[("phone", "+442079460958")] == ada
    grace = ids[("phone", "+12015550123")]  # read in the default region, US
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM customers")}
    assert rows[ada]["display_name"] == "Ada Lovelace" and rows[ada]["language"] == "en"
    assert rows[ada]["value_amount"] == Decimal("129.90") and rows[ada]["value_rank"] == 1
    # O-2 is 10.50 USD at 0.92; O-3 was refunded and does not count
    assert (rows[grace]["value_amount"], rows[grace]["order_count"]) == (Decimal("9.66"), 1)
    alan = rows[ids[("external", "C-3")]]
    assert (alan["value_amount"], alan["order_count"], alan["lifecycle"]) == (0, 1, "churned")
    # no value in the window: the tier set by hand; with value: the ranked tier (2 ranked)
    assert alan["tier"] == "platinum"
    assert (rows[ada]["tier"], rows[grace]["tier"], rows[grace]["tier_by_hand"]) == (
        "silver",
        "standard",
        "gold",
    )


async def test_importing_the_same_files_again_changes_nothing(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    await import_both(pool, crm, tmp_path)
    before = await snapshot(pool)
    customers = await import_customers(
        pool, tmp_path / "customers.csv", crm, now=NOW, show_progress=False
    )
    orders = await import_orders(pool, tmp_path / "orders.csv", crm, now=NOW, show_progress=False)
    assert (customers.created, customers.updated, customers.unchanged) == (0, 0, 3)
    assert (orders.created, orders.updated, orders.unchanged) == (0, 0, 4)
    assert orders.recompute.customers_changed == 0
    assert await snapshot(pool) == before


async def test_a_changed_row_updates_its_order_and_its_customer(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    await import_both(pool, crm, tmp_path)
    changed = ORDERS.replace("129.90,EUR,2026-03-01T14:05:00+01:00,delivered", "129.90,EUR,"
                             "2026-03-01T14:05:00+01:00,refunded")  # fmt: skip
    report = await import_orders(pool, csv_file(tmp_path, "o2.csv", changed), crm, now=NOW,
                                 show_progress=False)  # fmt: skip
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    ada = await pool.fetchrow(
        "SELECT c.* FROM customers c JOIN identities i ON i.customer_id = c.id"
        " WHERE i.kind = 'external' AND i.value = 'C-1'"
    )
    assert (ada["value_amount"], ada["order_count"], ada["lifecycle"]) == (0, 0, "prospect")


async def test_an_order_id_held_by_another_customer_rejects_the_file(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    await import_both(pool, crm, tmp_path)
    before = await snapshot(pool)
    moved = (
        "external_id,customer_external_id,amount,currency,ordered_at\nO-1,C-2,5,EUR,2026-01-01\n"
    )
    with pytest.raises(ImportRejected) as info:
        await import_orders(pool, csv_file(tmp_path, "o3.csv", moved), crm, now=NOW,
                            show_progress=False)  # fmt: skip
    assert [(e.line, "another customer" in e.reason) for e in info.value.errors] == [(2, True)]
    assert await snapshot(pool) == before


async def test_a_bad_header_is_reported_on_line_1(
    pool: asyncpg.Pool, crm: CrmSettings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "h.csv", "external_id,amount,colour\nO-1,3,red\n")
    with pytest.raises(ImportRejected) as info:
        await import_orders(pool, path, crm, now=NOW, show_progress=False)
    [error] = info.value.errors
    assert error.line == 1
    for part in ("unknown column 'colour'", "currency", "ordered_at", "customer_external_id"):
        assert part in error.reason


async def test_the_command_line_prints_each_bad_line_and_exits_1(
    pool: asyncpg.Pool,
    own_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", own_database)
    monkeypatch.setenv("CC_CONFIG_DIR", str(CONFIG))
    bad = csv_file(tmp_path, "bad.csv", CUSTOMERS + "C-4,,nope,,,\n")
    status = await asyncio.to_thread(main, ["crm", "import", "customers", str(bad), "--quiet"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{bad}: line 5: email: not an email address" in err and "nothing was imported" in err
    good = csv_file(tmp_path, "good.csv", CUSTOMERS)
    status = await asyncio.to_thread(main, ["crm", "import", "customers", str(good), "--quiet"])
    out = capsys.readouterr().out
    assert status == 0 and "3 created" in out and "recomputed" in out
    assert await pool.fetchval("SELECT count(*) FROM customers") == 3
