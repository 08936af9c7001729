"""The durable inbox of webhooks on the real PostgreSQL: a recorded receipt wakes the intake
workers of every process through NOTIFY, and a lost LISTEN connection comes back by itself."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from channels.twilio.messaging_store import RECEIPTS_CHANNEL, WebhookReceipts

KIND = "twilio.message"


class Wakes:
    """Counts the wake-ups `listen` gives, and lets a test wait for the next ones."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.changed.set()

    async def reach(self, count: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.count < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def listening(
    own_database: str, own_pool: asyncpg.Pool
) -> AsyncIterator[tuple[WebhookReceipts, Wakes]]:
    receipts, wakes = WebhookReceipts(own_pool), Wakes()
    task = asyncio.create_task(receipts.listen(own_database, KIND, wakes, retry_s=0.05))
    await wakes.reach(1)  # the wake-up given once LISTEN is in place
    yield receipts, wakes
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _sid() -> str:
    return "SM" + uuid.uuid4().hex


async def test_each_new_receipt_is_announced_once_with_its_kind(
    own_database: str, own_pool: asyncpg.Pool
) -> None:
    receipts = WebhookReceipts(own_pool)
    heard: list[str] = []
    barrier = asyncio.Event()

    def on_notify(_c: object, _pid: int, _channel: str, payload: str) -> None:
        heard.append(payload)
        if payload == "barrier":
            barrier.set()

    conn = await asyncpg.connect(own_database)
    try:
        await conn.add_listener(RECEIPTS_CHANNEL, on_notify)
        sid = _sid()
        assert await receipts.record(KIND, sid, {"text": "hello"}, "phone:+14155550100")
        assert not await receipts.record(KIND, sid, {"text": "hello"}, "phone:+14155550100")
        assert await receipts.record("twilio.other", _sid(), {"x": 1}, None)
        assert await receipts.record(KIND, _sid(), None, None)  # nothing to take in
        # Notifications come in commit order: once the barrier is heard, so is all before it.
        await own_pool.execute("SELECT pg_notify($1, 'barrier')", RECEIPTS_CHANNEL)
        async with asyncio.timeout(10):
            await barrier.wait()
    finally:
        await conn.close()
    assert heard == [KIND, "twilio.other", "barrier"]


async def test_a_recorded_receipt_wakes_the_listener(
    listening: tuple[WebhookReceipts, Wakes],
) -> None:
    receipts, wakes = listening
    assert await receipts.record(KIND, _sid(), {"text": "hello"}, "phone:+14155550100")
    await wakes.reach(2)


async def test_the_listener_comes_back_after_its_connection_is_killed(
    listening: tuple[WebhookReceipts, Wakes], own_pool: asyncpg.Pool
) -> None:
    receipts, wakes = listening
    killed = await own_pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query = $1",
        f'LISTEN "{RECEIPTS_CHANNEL}"',
    )
    assert killed == 1
    await wakes.reach(2)  # back, listening again: it wakes once for anything missed
    assert await receipts.record(KIND, _sid(), {"text": "after"}, "phone:+14155550102")
    await wakes.reach(3)
