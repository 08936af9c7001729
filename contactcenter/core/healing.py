"""Noticing that Redis lost the live state while hubs run, and rebuilding it at once.

Redis may lose its data under running hubs: a restart without persistence, a FLUSHALL, a
failover to an empty replica. Each domain's live state carries an epoch mark, a random value
set once (`SET NX`). Every hub process reads it every `console.heartbeat_s`; gone or changed,
the state it knew is no more, and the process rebuilds at once, without a restart:

1. it sets a new mark (one process wins; the others adopt the winner's);
2. it runs the recovery from PostgreSQL (contactcenter/conversations/recovery.py: agents,
   conversations in progress, waiting contacts at their places; idempotent, so processes may race);
3. it registers again the agents whose consoles are connected to it (profile, presence,
   heartbeat) and the customers whose pages follow a contact here.

Consumer groups recreate themselves (contactcenter/core/eventbus.py), and a message for a
conversation Redis forgot restores that conversation first (ConversationService).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError

from contactcenter.core.redisconn import RedisClient

log = structlog.get_logger("contactcenter.core.healing")

Rebuild = Callable[[], Awaitable[dict[str, int]]]


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class EpochWatch:
    """Watches one domain's epoch mark and calls `rebuild` when it is gone or changed."""

    def __init__(self, redis: RedisClient, key: str, rebuild: Rebuild) -> None:
        self.redis = redis
        self.key = key
        self.rebuild = rebuild
        self.known: str | None = None
        self.rebuilds = 0

    async def adopt(self) -> str:
        """Set the mark if there is none, and remember the one in force."""
        await self.redis.set(self.key, secrets.token_hex(8), nx=True)
        value = _text(await self.redis.get(self.key))
        assert value is not None
        self.known = value
        return value

    async def check(self) -> bool:
        """Whether the live state was lost since the last look; if so, it is rebuilt now."""
        if self.known is None:
            await self.adopt()
            return False
        current = _text(await self.redis.get(self.key))
        if current == self.known:
            return False
        started = time.monotonic()
        await self.adopt()
        counts = await self.rebuild()
        self.rebuilds += 1
        log.warning(
            "live_state_lost_and_rebuilt",
            mark="gone" if current is None else "changed",
            rebuild_ms=round((time.monotonic() - started) * 1000),
            **counts,
        )
        return True

    async def run(self, every_s: float) -> None:
        """Look every `every_s`, forever; Redis or PostgreSQL away is waited out (the next
        look finds the mark still missing and tries again)."""
        while True:
            try:
                await self.check()
            except (RedisError, OSError) as exc:  # Redis away: look again next time
                log.warning("epoch_check_failed", error=str(exc))
            except Exception as exc:  # PostgreSQL away during the rebuild: try again
                log.warning("live_state_rebuild_failed", error=str(exc))
                self.known = "?"  # not the mark in force: the next look rebuilds again
            await asyncio.sleep(every_s)
