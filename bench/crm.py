"""CRM recompute: `contactcenter crm recompute` over 1,000,000 orders of 100,000 customers,
beside a bare aggregate scan of the same orders.

A scratch database gets 100,000 customers and 1,000,000 orders over two years (generated in
SQL: a skewed number of orders per customer, lognormal-like amounts, one order in ten
cancelled or refunded), then VACUUM ANALYZE. The figure is the wall time of
`contactcenter.crm.tier_recompute.recompute_all`, the function the command runs: one
transaction that
aggregates every order, ranks every customer, writes every changed customer row and the tier
cuts. The baseline, measured in the same run on the same rows, is the least any recompute must
do: `SELECT customer_id, sum(amount_base) FROM orders GROUP BY 1`, counted on the server (no
rows sent back), in one process as the recompute's UPDATE runs (the parallel plan PostgreSQL
picks by default is printed too). A second recompute, where no customer changes, shows the
cost of the writes.

Run from the repository root:  .venv/bin/python -m bench.crm [--customers N] [--orders N]
The last line printed is the result; the exit status is 0 unless something is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

import asyncpg

from bench._common import (
    ROOT,
    STORAGE_EPILOG,
    BenchBroken,
    CpuMeter,
    progress,
    run_bench,
    scratch_database,
)
from contactcenter.core.db import create_pool, migrate
from contactcenter.crm.settings import load_crm_settings
from contactcenter.crm.tier_recompute import recompute_all

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""
EPILOG = (
    STORAGE_EPILOG
    + """

Result line:
  crm: customers=N orders=M recompute_s=X baseline_s=Y ratio=R
where ratio = recompute_s / baseline_s (both wall time, same run, same rows; the baseline is
the faster of its two one-process runs, before and after the recompute).
"""
)

# Customer n has a uuid made from n, so that orders can name one without a join.
_CUSTOMER_ID = "('00000000-0000-4000-8000-' || lpad(to_hex({n}), 12, '0'))::uuid"
_CUSTOMERS = f"""
INSERT INTO customers (id, display_name, created_at)
SELECT {_CUSTOMER_ID.format(n="n")}, 'Customer ' || n, now() - interval '800 days'
FROM generate_series(1, $1) AS n
"""
# power(random(), 1.5) favours low customer numbers: a few customers order far more than most
_ORDERS = f"""
INSERT INTO orders (id, customer_id, amount, currency, amount_base, status, ordered_at)
SELECT gen_random_uuid(), {_CUSTOMER_ID.format(n="c")}, amount, 'EUR', amount,
       (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered',
              'shipped', 'paid', 'cancelled', 'refunded'])[1 + floor(random() * 10)::int],
       now() - random() * interval '730 days'
FROM (SELECT 1 + floor(power(random(), 1.5) * $1)::int AS c,
             round((5 * exp(random() * 3 + random() * 2))::numeric, 2) AS amount
      FROM generate_series(1, $2)) AS g
"""
_BASELINE = "SELECT count(*) FROM (SELECT customer_id, sum(amount_base) FROM orders GROUP BY 1) s"
_BATCH = 100_000
_LONG_S = 600.0  # the pool's 30 s command timeout is for requests, not bulk work


async def generate(conn: asyncpg.Connection, customers: int, orders: int) -> None:
    started = time.perf_counter()
    await conn.execute("SELECT setseed(0.42)")
    await conn.execute(_CUSTOMERS, customers, timeout=_LONG_S)
    for done in range(0, orders, _BATCH):
        await conn.execute(_ORDERS, customers, min(_BATCH, orders - done), timeout=_LONG_S)
        progress(f"generated {done + min(_BATCH, orders - done)}/{orders} orders")
    await conn.execute("VACUUM ANALYZE customers", timeout=_LONG_S)
    await conn.execute("VACUUM ANALYZE orders", timeout=_LONG_S)
    progress(f"data set ready in {time.perf_counter() - started:.1f} s")


async def timed_baseline(conn: asyncpg.Connection, *, serial: bool) -> float:
    """The bare aggregate; `serial`: on one core with the recompute's work_mem, as the
    recompute's UPDATE runs (PostgreSQL plans no parallel workers for an UPDATE)."""
    async with conn.transaction():
        if serial:
            await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            await conn.execute("SET LOCAL work_mem = '64MB'")
        started = time.perf_counter()
        groups = await conn.fetchval(_BASELINE, timeout=_LONG_S)
        elapsed = time.perf_counter() - started
    how = "one process" if serial else "PostgreSQL's defaults, parallel workers allowed"
    progress(f"baseline ({how}): GROUP BY of every order, {groups} groups in {elapsed:.2f} s")
    return elapsed


async def timed_recompute(pool: asyncpg.Pool, label: str) -> float:
    crm = load_crm_settings(ROOT / "config", {})
    meter = CpuMeter()
    started = time.perf_counter()
    report = await recompute_all(pool, crm, datetime.now(UTC))
    elapsed = time.perf_counter() - started
    use = meter.stop()
    busy = (
        "" if use.machine_cores is None else f", whole machine {use.machine_cores:.2f} cores busy"
    )
    tiers = ", ".join(f"{t} {n}" for t, n in report.tier_counts.items())
    progress(
        f"recompute ({label}): {elapsed:.2f} s, {report.customers_changed} customers changed,"
        f" {report.ranked_customers} ranked ({tiers}){busy}"
    )
    return elapsed


async def run(admin_url: str, customers: int, orders: int) -> tuple[float, float]:
    async with scratch_database(admin_url) as url:
        pool = await create_pool(url, size=2)
        try:
            await migrate(pool)
            async with pool.acquire() as conn:
                await generate(conn, customers, orders)
                await conn.fetchval(_BASELINE, timeout=_LONG_S)  # warm the cache for both
                await timed_baseline(conn, serial=False)
                baseline_s = await timed_baseline(conn, serial=True)
            recompute_s = await timed_recompute(pool, "first: every customer's figures written")
            await timed_recompute(pool, "again: nothing changed")
            async with pool.acquire() as conn:
                after_s = await timed_baseline(conn, serial=True)
            got = await pool.fetchval("SELECT count(*) FROM customers WHERE tier IS NOT NULL")
            if got != customers:
                raise BenchBroken(f"{got} of {customers} customers have a tier after recompute")
        finally:
            await pool.close()
    return recompute_s, min(baseline_s, after_s)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crm",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=100_000, help="default 100000")
    parser.add_argument("--orders", type=int, default=1_000_000, help="default 1000000")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.orders < 1:
        parser.error("--customers and --orders must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run_bench(
        "crm",
        lambda found, _tally: asyncio.run(
            run(found.admin_database_url, args.customers, args.orders)
        ),
    )
    if isinstance(outcome, int):
        return outcome
    (recompute_s, baseline_s), _tally = outcome
    print(
        f"crm: customers={args.customers} orders={args.orders} recompute_s={recompute_s:.2f}"
        f" baseline_s={baseline_s:.2f} ratio={recompute_s / baseline_s:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
