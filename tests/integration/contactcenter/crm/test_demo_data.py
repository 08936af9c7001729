"""Demo data against a real PostgreSQL: tiers spread as configured, histories that look real,
the same seed giving the same data, and a second run changing nothing.

The demo data ends with a full recompute of every customer, so these tests use a database of
their own (created for this module, dropped after).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from contactcenter.cli import main
from contactcenter.crm.demo_data import generate_demo, seed_demo_data
from contactcenter.crm.identity import normalise
from contactcenter.crm.settings import CrmSettings

CONFIG = Path(__file__).resolve().parents[4] / "config"
NOW = datetime(2026, 6, 15, tzinfo=UTC)
DISPOSITIONS = ("resolved", "follow-up", "no-answer")


@pytest.fixture
async def pool(own_pool: asyncpg.Pool) -> asyncpg.Pool:
    await own_pool.execute("TRUNCATE customers, tier_cuts CASCADE")
    return own_pool


async def agents(pool: asyncpg.Pool) -> list[uuid.UUID]:
    ids = []
    for name in ("demo-agent-1", "demo-agent-2"):
        row = await pool.fetchrow(
            "INSERT INTO agents (id, username, display_name, role, password_hash)"
            " VALUES ($1, $2, $2, 'agent', 'x') ON CONFLICT (username)"
            " DO UPDATE SET role = 'agent' RETURNING id",
            uuid.uuid4(),
            name,
        )
        assert row is not None
        ids.append(row["id"])
    return ids


async def seed(pool: asyncpg.Pool, crm: CrmSettings, customers: int = 400) -> object:
    return await seed_demo_data(
        pool, crm, customers=customers, seed=5, now=NOW, agents=await agents(pool),
        dispositions=DISPOSITIONS,
    )  # fmt: skip


async def test_tiers_spread_by_rank_percentile_as_configured(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    await seed(pool, crm)
    rows = await pool.fetch("SELECT tier, value_amount, value_rank FROM customers")
    ranked = [r for r in rows if r["value_rank"] is not None]
    n = len(ranked)
    assert 200 < n < 400  # some prospects and some customers lapsed beyond the window
    counts = Counter(r["tier"] for r in ranked)
    # amounts are continuous, so no ties: exactly floor(top% of n) customers down to each cut
    expected, above = {}, 0
    for t in crm.tiers:
        expected[t.name] = math.floor(t.top_percent * n / 100) - above
        above += expected[t.name]
    assert counts == expected
    assert {r["tier"] for r in rows if r["value_rank"] is None} == {crm.no_orders_tier}
    # the value is skewed: the top fifth of ranked customers carries more than half of it
    top = sorted((r["value_amount"] for r in ranked), reverse=True)
    assert sum(top[: n // 5]) > sum(top) / 2


async def test_histories_look_real(pool: asyncpg.Pool, crm: CrmSettings) -> None:
    await seed(pool, crm)
    stages = Counter(r[0] for r in await pool.fetch("SELECT lifecycle FROM customers"))
    assert {"prospect", "new", "growing", "mature", "at_risk", "churned"} <= set(stages)
    for kind, value in await pool.fetch("SELECT kind, value FROM identities"):
        if kind in ("phone", "email"):
            assert normalise(kind, value) == value
    contacts = await pool.fetch("SELECT * FROM contacts")
    assert {c["channel"] for c in contacts} == {"chat", "email", "voice", "sms", "whatsapp"}
    assert all(c["state"] == "closed" and c["agent_id"] and c["summary"] for c in contacts)
    assert {c["disposition"] for c in contacts} == set(DISPOSITIONS)
    span = await pool.fetchval("SELECT max(ordered_at) - min(ordered_at) FROM orders")
    assert span.days > 600
    open_complaints = await pool.fetchval(
        "SELECT count(*) FROM cases c JOIN case_contacts l ON l.case_id = c.id"
        " WHERE c.kind = 'complaint' AND c.status IN ('open', 'pending')"
    )
    assert open_complaints > 0
    assert await pool.fetchval("SELECT count(*) FROM customer_notes") > 0
    assert await pool.fetchval("SELECT count(*) FROM customer_tags") > 0


async def test_a_second_run_changes_nothing_and_says_so(
    pool: asyncpg.Pool, crm: CrmSettings
) -> None:
    await seed(pool, crm, customers=50)
    before = await pool.fetchval("SELECT count(*) FROM orders")
    report = await seed(pool, crm, customers=50)
    assert report.already_there == 50  # type: ignore[attr-defined]
    assert await pool.fetchval("SELECT count(*) FROM orders") == before


def test_the_same_seed_gives_the_same_data(crm: CrmSettings) -> None:
    agents = [uuid.UUID(int=1), uuid.UUID(int=2)]
    first = generate_demo(60, 3, NOW, crm, agents)
    assert generate_demo(60, 3, NOW, crm, agents).rows == first.rows
    assert generate_demo(60, 4, NOW, crm, agents).rows != first.rows


async def test_the_command_seeds_the_demo_agents_and_the_data(
    pool: asyncpg.Pool,
    own_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", own_database)
    monkeypatch.setenv("CC_CONFIG_DIR", str(CONFIG))
    monkeypatch.setenv("CC_DEMO_PASSWORD", "demo-test-password")
    args = ["demo-data", "--customers", "30", "--quiet"]
    assert await asyncio.to_thread(main, args) == 0
    assert "30 customers" in capsys.readouterr().out
    handled_by = await pool.fetch(
        "SELECT DISTINCT a.username FROM contacts c JOIN agents a ON a.id = c.agent_id"
    )
    assert {r["username"] for r in handled_by} <= {"alice", "bob"}
    assert await asyncio.to_thread(main, args) == 0
    assert "already there" in capsys.readouterr().out
