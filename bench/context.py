"""Customer context: the latency of the one-round-trip lookup that travels with every offer.

A scratch database is seeded with a realistic CRM: 5,000 customers (by default) with 1 or 2
identities, 0 to 200 past contacts on four channels (most have few, some have many; each
with its first customer message, a third with a summary), 0 to 50 orders, a few cases,
notes and tags, and 50 agents; then ANALYZE. Then `contactcenter.crm.context.customer_context`
is timed for random customers, each lookup alternating with the baseline: a bare round trip
(`SELECT 1`) on the same pool, so both see the same machine at the same moment. Then the
offer path itself: what the hub does to enrich an offer frame (`ConversationService.
contact_view`: the contact, its transcript, its live state in Redis) with the context and
without it, alternating, for the latest contact of random customers; the difference of the
two p99s is what the context adds to routing's offer. The heaviest
customers (200 contacts and 50 orders) are timed on their own too, and their plan is printed
with EXPLAIN ANALYZE to show that every table is reached through an index.

Run from the repository root:  .venv/bin/python -m bench.context [--customers N] [--lookups N]
The last line printed is the result; the exit status is 0 unless something is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from bench._common import (
    STORAGE_EPILOG,
    BenchBroken,
    hub_settings,
    percentile,
    positive_int,
    progress,
    run_bench,
    scratch_database,
)
from contactcenter.conversations.service import ConversationService
from contactcenter.core.db import create_pool, migrate
from contactcenter.core.eventbus import EventBus
from contactcenter.core.redisconn import redis_client
from contactcenter.crm.context import CONTEXT_SQL, customer_context
from contactcenter.crm.store import CrmStore
from contactcenter.web.auth import AgentStore
from routing.store import RoutingStore

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""
EPILOG = (
    STORAGE_EPILOG
    + """

Result line:
context: lookups=N p50_ms=X p99_ms=Y baseline_p99_ms=Z added_p99_ms=W
         offer_p99_ms=A offer_without_p99_ms=B offer_added_p99_ms=C   (on one line)
where added_p99_ms = p99_ms - baseline_p99_ms: what the context costs over a bare round trip;
offer_*: the offer frame's enrichment with and without the context, and their difference."""
)

CHANNELS = ("chat", "email", "sms", "voice")
HEAVY = 20  # customers given the full 200 contacts and 50 orders
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def contact_count(rng: random.Random) -> int:
    """0 to 200, most customers with a handful (a long tail, as in real contact centers)."""
    return min(200, int(rng.expovariate(1 / 12)))


def seed_rows(n_customers: int, agents: list[uuid.UUID], seed: int) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {
        t: []
        for t in (
            "customers",
            "identities",
            "contacts",
            "messages",
            "orders",
            "cases",
            "customer_notes",
            "customer_tags",
        )
    }
    for i in range(n_customers):
        cid = uuid.UUID(int=rng.getrandbits(128))
        heavy = i < HEAVY
        created = NOW - timedelta(days=rng.randint(30, 2000))
        rows["customers"].append(
            (cid, f"Customer {i:05d}", rng.choice(("en", "fr", None)), created)
        )
        rows["identities"].append(("phone", f"+3361{i:07d}", cid, True, created))
        if rng.random() < 0.6:
            rows["identities"].append(("email", f"c{i}@example.com", cid, True, created))
        for _ in range(200 if heavy else contact_count(rng)):
            contact_id, at = uuid.uuid4(), created + timedelta(minutes=rng.randint(0, 10**6))
            accepted = at + timedelta(seconds=rng.randint(5, 120))
            ended = accepted + timedelta(seconds=rng.randint(60, 1200))
            summary = "Refund agreed, parcel re-sent" if rng.random() < 0.3 else ""
            rows["contacts"].append(
                (
                    contact_id,
                    cid,
                    rng.choice(CHANNELS),
                    "support",
                    "closed",
                    at,
                    accepted,
                    ended,
                    ended,
                    rng.choice(agents),
                    "resolved",
                    summary,
                )
            )
            rows["messages"].append(
                (
                    uuid.uuid4(),
                    contact_id,
                    "customer",
                    "Hello, my order has not arrived yet\nit was due last week",
                    at,
                )
            )
        for _ in range(50 if heavy else min(50, int(rng.expovariate(1 / 4)))):
            amount = Decimal(f"{rng.uniform(5, 400):.2f}")
            rows["orders"].append(
                (
                    uuid.uuid4(),
                    cid,
                    amount,
                    "EUR",
                    amount,
                    "delivered",
                    created + timedelta(days=rng.randint(0, 700)),
                )
            )
        for _ in range(3 if heavy else rng.choice((0, 0, 0, 1, 2))):
            rows["cases"].append(
                (
                    uuid.uuid4(),
                    cid,
                    rng.choice(("complaint", "request")),
                    "Late delivery",
                    rng.choice(("open", "closed")),
                    created,
                )
            )
        for n in range(10 if heavy else rng.randint(0, 4)):
            rows["customer_notes"].append(
                (uuid.uuid4(), cid, rng.choice(agents), f"note {n}", created + timedelta(days=n))
            )
        for tag in rng.sample(("vip", "late-payer", "french", "b2b", "press"), rng.randint(0, 3)):
            rows["customer_tags"].append((cid, tag))
    return rows


COLUMNS = {
    "customers": ("id", "display_name", "language", "created_at"),
    "identities": ("kind", "value", "customer_id", "is_primary", "created_at"),
    "contacts": (
        "id",
        "customer_id",
        "channel",
        "queue",
        "state",
        "arrived_at",
        "accepted_at",
        "ended_at",
        "closed_at",
        "agent_id",
        "disposition",
        "summary",
    ),
    "messages": ("id", "contact_id", "sender", "body", "created_at"),
    "orders": ("id", "customer_id", "amount", "currency", "amount_base", "status", "ordered_at"),
    "cases": ("id", "customer_id", "kind", "subject", "status", "created_at"),
    "customer_notes": ("id", "customer_id", "author_id", "body", "created_at"),
    "customer_tags": ("customer_id", "tag"),
}


async def seed(pool: asyncpg.Pool, n_customers: int, seed_value: int) -> list[uuid.UUID]:
    """Fill the database; returns the customer ids, the heavy ones first."""
    agents = [uuid.uuid4() for _ in range(50)]
    await pool.executemany(
        "INSERT INTO agents (id, username, display_name, role, password_hash)"
        " VALUES ($1, $2, $3, 'agent', 'x')",
        [(a, f"bench{i}", f"Agent {i}") for i, a in enumerate(agents)],
    )
    started = time.perf_counter()
    rows = seed_rows(n_customers, agents, seed_value)
    progress(
        f"seed: generated in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{t} {len(r)}" for t, r in rows.items())
    )
    async with pool.acquire() as conn:
        for table, records in rows.items():
            t0 = time.perf_counter()
            await conn.copy_records_to_table(table, records=records, columns=COLUMNS[table])
            progress(f"seed: {table} copied in {time.perf_counter() - t0:.1f} s")
        await conn.execute(
            "UPDATE customers c SET value_amount = o.total, order_count = o.n,"
            " last_order_at = o.last, tier = CASE WHEN o.total > 2000 THEN 'gold' ELSE"
            " 'standard' END, lifecycle = 'growth' FROM (SELECT customer_id, sum(amount_base)"
            " AS total, count(*) AS n, max(ordered_at) AS last FROM orders GROUP BY"
            " customer_id) o WHERE o.customer_id = c.id"
        )
        await conn.execute("ANALYZE")
    return [r[0] for r in rows["customers"]]


async def explain(pool: asyncpg.Pool, customer_id: uuid.UUID) -> None:
    text = await pool.fetchval(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {CONTEXT_SQL}", customer_id
    )
    plan = json.loads(text)[0]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            nodes.append(
                f"{node['Node Type']} on {node['Relation Name']}"
                + (f" ({node['Index Name']})" if "Index Name" in node else "")
            )
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    progress(
        f"plan (a heavy customer): executed in {plan['Execution Time']:.3f} ms,"
        f" planned in {plan['Planning Time']:.3f} ms"
    )
    for line in sorted(set(nodes)):
        progress(f"plan:   {line}")
    scanned = {n.removeprefix("Seq Scan on ") for n in nodes if n.startswith("Seq Scan")}
    for table in sorted(scanned):
        rows = await pool.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = $1", table
        )
        verdict = "fine for a table this small" if rows < 10_000 else "WARNING: an index is missing"
        progress(f"plan: sequential scan of {table} ({rows} rows): {verdict}")


async def measure(
    pool: asyncpg.Pool, ids: list[uuid.UUID], lookups: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """(context ms, baseline ms) for `lookups` random customers, interleaved."""
    context_ms: list[float] = []
    baseline_ms: list[float] = []
    every = max(1, lookups // 5)
    for i in range(lookups):
        t0 = time.perf_counter_ns()
        await pool.fetchval("SELECT 1")
        t1 = time.perf_counter_ns()
        found = await customer_context(pool, rng.choice(ids))
        t2 = time.perf_counter_ns()
        if found is None:
            raise BenchBroken("a seeded customer has no context")
        baseline_ms.append((t1 - t0) / 1e6)
        context_ms.append((t2 - t1) / 1e6)
        if (i + 1) % every == 0:
            progress(f"lookups: {i + 1}/{lookups}")
    return context_ms, baseline_ms


async def measure_offer(
    service: ConversationService, contact_ids: list[str], lookups: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """(with context ms, without ms): an offer frame's enrichment, alternating."""
    with_ms: list[float] = []
    without_ms: list[float] = []
    for _ in range(lookups):
        contact_id = rng.choice(contact_ids)
        t0 = time.perf_counter_ns()
        plain = await service.contact_view(contact_id, with_messages=True)
        t1 = time.perf_counter_ns()
        full = await service.contact_view(contact_id, with_messages=True, with_context=True)
        t2 = time.perf_counter_ns()
        if plain is None or full is None or full["customer"].get("context") is None:
            raise BenchBroken("a seeded contact has no view or no context")
        without_ms.append((t1 - t0) / 1e6)
        with_ms.append((t2 - t1) / 1e6)
    return with_ms, without_ms


async def offer_path(
    pool: asyncpg.Pool, redis_url: str, ids: list[uuid.UUID], args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    rows = await pool.fetch(
        "SELECT DISTINCT ON (customer_id) id FROM contacts WHERE customer_id = ANY($1::uuid[])"
        " ORDER BY customer_id, arrived_at DESC",
        ids,
    )
    contact_ids = [str(r["id"]) for r in rows]
    settings = hub_settings(redis_url, "postgresql://unused", 0)
    redis = redis_client(redis_url)
    try:
        routing = RoutingStore(redis, settings.routing_domain)
        bus = EventBus(redis, routing.keys.events)
        service = ConversationService(
            settings, CrmStore(pool), AgentStore(pool), routing, bus, lambda: 0
        )
        rng = random.Random(args.seed + 2)
        await measure_offer(service, contact_ids, args.warmup, rng)
        with_ms, without_ms = await measure_offer(service, contact_ids, args.lookups, rng)
        progress(summary("offer enrichment with the context", with_ms))
        progress(summary("offer enrichment without it", without_ms))
        return with_ms, without_ms
    finally:
        await redis.aclose()


def summary(label: str, values: list[float]) -> str:
    v = sorted(values)
    return (
        f"{label}: n={len(v)} p50={percentile(v, 50):.3f} p90={percentile(v, 90):.3f}"
        f" p99={percentile(v, 99):.3f} max={v[-1]:.3f} ms"
    )


Figures = tuple[list[float], list[float], list[float], list[float]]


async def run(admin_url: str, redis_url: str, args: argparse.Namespace) -> Figures:
    async with scratch_database(admin_url) as database_url:
        pool = await create_pool(database_url, size=4)
        try:
            await migrate(pool)
            ids = await seed(pool, args.customers, args.seed)
            await explain(pool, ids[0])
            rng = random.Random(args.seed + 1)
            progress(f"warm-up: {args.warmup} lookups")
            await measure(pool, ids, args.warmup, rng)
            heavy, heavy_base = await measure(pool, ids[:HEAVY], min(args.lookups, 500), rng)
            progress(summary("heavy customers (200 contacts, 50 orders)", heavy))
            progress(summary("baseline beside them", heavy_base))
            context_ms, baseline_ms = await measure(pool, ids, args.lookups, rng)
            progress(summary("random customers", context_ms))
            progress(summary("baseline (SELECT 1)", baseline_ms))
            with_ms, without_ms = await offer_path(pool, redis_url, ids, args)
            return context_ms, baseline_ms, with_ms, without_ms
        finally:
            await pool.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.context",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--customers",
        type=positive_int,
        default=5000,
        help=f"customers to seed, at least {HEAVY} (default 5000)",
    )
    parser.add_argument(
        "--lookups",
        type=positive_int,
        default=2000,
        help="measured lookups of random customers (default 2000)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="lookups not measured (200)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data set (7)")
    args = parser.parse_args(argv)
    if args.customers < HEAVY:
        parser.error(f"--customers must be at least {HEAVY}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run_bench(
        "context",
        lambda found, _tally: asyncio.run(run(found.admin_database_url, found.redis_url, args)),
    )
    if isinstance(outcome, int):
        return outcome
    (context_ms, baseline_ms, with_ms, without_ms), _tally = outcome
    c, b = sorted(context_ms), sorted(baseline_ms)
    p99, b99 = percentile(c, 99), percentile(b, 99)
    o99, n99 = percentile(sorted(with_ms), 99), percentile(sorted(without_ms), 99)
    print(
        f"context: lookups={len(c)} p50_ms={percentile(c, 50):.3f} p99_ms={p99:.3f}"
        f" baseline_p99_ms={b99:.3f} added_p99_ms={p99 - b99:.3f}"
        f" offer_p99_ms={o99:.3f} offer_without_p99_ms={n99:.3f}"
        f" offer_added_p99_ms={o99 - n99:.3f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
