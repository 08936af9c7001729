"""The routing worker: the small async loop that drives the pure core against the store.

Each pass reads a snapshot, asks `routing.core.decide` what to do at the current time, and
carries the commands out through the store's atomic scripts. Several workers (one per hub
process) may run at once: a command another worker already carried out is refused by its
script and simply dropped. The loop wakes on any new event on the stream, and at the latest
every `tick_ms`, which bounds how late an expired offer is taken back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from routing.core import ExpireOffer, Liveness, OfferContact, QueuePolicy, SetAgentOffline, decide
from routing.store import OfferStatus, RequeueStatus, RoutingStore

log = structlog.get_logger("routing.worker")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class PassResult:
    offered: int = 0
    expired: int = 0
    refused: int = 0


class RoutingWorker:
    """Runs routing passes for one routing domain until cancelled."""

    def __init__(
        self,
        store: RoutingStore,
        queues: Mapping[str, QueuePolicy],
        *,
        tick_ms: int = 250,
        clock: Callable[[], int] = wall_clock_ms,
        wake_redis: Redis | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.store = store
        self.queues = dict(queues)
        self.tick_ms = tick_ms
        self.clock = clock
        self.liveness = liveness
        # Blocking XREAD needs a connection of its own.
        self.wake_redis = wake_redis or store.redis

    async def run_pass(self) -> PassResult:
        """One snapshot, one set of decisions, each carried out atomically."""
        result = PassResult()
        now_ms = self.clock()
        state = await self.store.snapshot(self.queues)
        for d in decide(state, self.queues, now_ms, self.liveness):
            if isinstance(d, ExpireOffer):
                status = await self.store.requeue(
                    d.contact_id, d.agent_id, d.queue, now_ms, expired=True
                )
                if status is RequeueStatus.REQUEUED:
                    result.expired += 1
                    log.info("offer_expired", contact_id=d.contact_id, agent_id=d.agent_id)
                else:
                    result.refused += 1
            elif isinstance(d, SetAgentOffline):
                await self.store.set_agent_state(
                    d.agent_id,
                    "offline",
                    skills=dict(d.skills),
                    capacity=d.capacity,
                    now_ms=now_ms,
                    from_console=False,
                )
                log.info("agent_set_offline", agent_id=d.agent_id, why="no console")
            elif isinstance(d, OfferContact):
                offer_status = await self.store.offer(d, now_ms)
                if offer_status is OfferStatus.OFFERED:
                    result.offered += 1
                    log.info(
                        "contact_offered",
                        contact_id=d.contact_id,
                        agent_id=d.agent_id,
                        queue=d.queue,
                    )
                else:
                    result.refused += 1
        return result

    async def run(self) -> None:
        last_id = "$"
        stream = self.store.keys.events
        while True:
            try:
                result = await self.run_pass()
                if result.refused:
                    continue  # the world moved under us: decide again at once
                reply = await self.wake_redis.xread(
                    {stream: last_id}, count=1000, block=self.tick_ms
                )
                for _name, entries in reply or []:
                    if entries:
                        last_id = entries[-1][0]
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("routing_pass_failed", error=str(exc))
                await asyncio.sleep(min(1.0, self.tick_ms / 1000))
