"""Agents' state periods (docs/states.md): written by the history writer from AgentStateChanged,
once each whatever the redeliveries and the order, so that time per state and reason is a sum
over rows; the figures below are computed by hand."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from contactcenter.conversations.history import HistoryWriter
from contactcenter.core import events as ev
from contactcenter.core.db import create_pool, migrate

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MINUTE = 60_000

# Time in each state and reason over a window [$3, $4): docs/states.md, "Time in each state".
TIME_IN_STATE = """
SELECT state, reason, productive,
       sum(extract(epoch FROM least(coalesce(ended_at, $5), $4) - greatest(started_at, $3)))
           AS seconds
FROM agent_state_periods
WHERE routing_domain = $1 AND agent_id = $2
  AND started_at < $4 AND coalesce(ended_at, $5) > $3
GROUP BY state, reason, productive
ORDER BY state, reason NULLS FIRST
"""


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, size=2)
    await migrate(p)
    yield p
    await p.close()


def at(minutes: int) -> datetime:
    return datetime.fromtimestamp((T0 + minutes * MINUTE) / 1000, UTC)


def a_shift(agent_id: str) -> list[ev.AgentStateChanged]:
    """Available at 0, a break at 50, available at 65, training at 120, missed offers at 180,
    offline (the hub: no console) at 200."""

    def change(
        minutes: int, state: str, reason: str | None = None, productive: bool | None = None
    ) -> ev.AgentStateChanged:
        return ev.AgentStateChanged(
            at_ms=T0 + minutes * MINUTE,
            agent_id=agent_id,
            state=state,
            reason=reason,
            productive=productive,
        )

    return [
        change(0, "available", productive=True),
        change(50, "away", "break", False),
        change(65, "available", productive=True),
        change(120, "away", "training", True),
        change(180, "away", "missed-offers"),
        change(200, "offline", "no-console"),
    ]


async def periods(pool: asyncpg.Pool, domain: str, agent_id: str) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT state, reason, productive, started_at, ended_at FROM agent_state_periods"
        " WHERE routing_domain = $1 AND agent_id = $2 ORDER BY started_at",
        domain,
        uuid.UUID(agent_id),
    )
    return [tuple(r) for r in rows]


EXPECTED = [
    ("available", None, True, at(0), at(50)),
    ("away", "break", False, at(50), at(65)),
    ("available", None, True, at(65), at(120)),
    ("away", "training", True, at(120), at(180)),
    ("away", "missed-offers", False, at(180), at(200)),
    ("offline", "no-console", False, at(200), None),
]


async def test_each_state_change_closes_the_period_before_it(pool: asyncpg.Pool) -> None:
    agent_id, domain = str(uuid.uuid4()), "main"
    await HistoryWriter(pool, domain).write_many(a_shift(agent_id))
    assert await periods(pool, domain, agent_id) == EXPECTED


async def test_redelivered_and_out_of_order_events_give_the_same_periods(
    pool: asyncpg.Pool,
) -> None:
    agent_id, domain = str(uuid.uuid4()), "other"
    shift = a_shift(agent_id)
    shuffled = [*shift, *shift[1:4]]
    random.Random(12).shuffle(shuffled)
    writer = HistoryWriter(pool, domain)
    for event in shuffled[:5]:  # one at a time, as separate batches
        await writer(event)
    await writer.write_many(shuffled[5:])
    await writer.write_many(shift)  # all of it again
    assert await periods(pool, domain, agent_id) == EXPECTED
    # Another domain's periods are its own.
    assert await periods(pool, "main", agent_id) == []


async def test_time_in_each_state_and_reason_is_a_sum_over_periods(pool: asyncpg.Pool) -> None:
    agent_id, domain = str(uuid.uuid4()), "main"
    await HistoryWriter(pool, domain).write_many(a_shift(agent_id))
    # The window 30..210 min, "now" at 240 (the offline period is still open).
    rows = await pool.fetch(TIME_IN_STATE, domain, uuid.UUID(agent_id), at(30), at(210), at(240))
    seconds = {(r["state"], r["reason"]): (r["productive"], float(r["seconds"])) for r in rows}
    # By hand: available 30..50 and 65..120 = 20 + 55 = 75 min; break 50..65 = 15 min;
    # training 120..180 = 60 min; missed offers 180..200 = 20 min; offline 200..210 = 10 min.
    assert seconds == {
        ("available", None): (True, 75 * 60.0),
        ("away", "break"): (False, 15 * 60.0),
        ("away", "missed-offers"): (False, 20 * 60.0),
        ("away", "training"): (True, 60 * 60.0),
        ("offline", "no-console"): (False, 10 * 60.0),
    }
    productive = sum(s for p, s in seconds.values() if p)
    assert productive == (75 + 60) * 60.0


async def test_events_of_an_agent_without_an_account_id_write_no_period(
    pool: asyncpg.Pool,
) -> None:
    event = ev.AgentStateChanged(at_ms=T0, agent_id="not-a-uuid", state="available")
    await HistoryWriter(pool, "main")(event)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM agent_state_periods WHERE event_id = $1", event.event_id
        )
        == 0
    )
