"""The routing worker: the small async loop that drives the pure core against the store.

Each pass reads a snapshot, asks `routing.core.decide` what to do at the current time, and
carries the commands out through the store's atomic scripts. Several workers (one per hub
process) may run at once: a command another worker already carried out is refused by its
script and simply dropped. The loop wakes on any new event on the stream, and at the latest
every `tick_ms`, which bounds how late an expired offer is taken back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError

from contactcenter.core.redisconn import RedisClient
from routing.core import decide
from routing.model import (
    AbandonContact,
    BroadcastContact,
    CompleteWrapUp,
    Decision,
    EscalateContact,
    ExpireOffer,
    Liveness,
    OfferContact,
    OverflowContact,
    QueuePolicy,
    SetAgentOffline,
)
from routing.release import give_back_work
from routing.status import (
    AbandonStatus,
    BroadcastStatus,
    EscalateStatus,
    OfferStatus,
    RequeueStatus,
    WrapUpStatus,
)
from routing.store import RoutingStore

log = structlog.get_logger("routing.worker")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class PassResult:
    offered: int = 0
    expired: int = 0
    refused: int = 0
    other: int = 0


class RoutingWorker:
    """Runs routing passes for one routing domain until cancelled."""

    def __init__(
        self,
        store: RoutingStore,
        queues: Mapping[str, QueuePolicy],
        *,
        tick_ms: int = 250,
        clock: Callable[[], int] = wall_clock_ms,
        wake_redis: RedisClient | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.store = store
        self.queues = dict(queues)
        self.tick_ms = tick_ms
        self.clock = clock
        # Blocking XREAD needs a connection of its own.
        self.wake_redis = wake_redis or store.redis
        self.liveness = liveness

    async def run_pass(self) -> PassResult:
        """One snapshot, one set of decisions, each carried out atomically."""
        result = PassResult()
        now_ms = self.clock()
        state = await self.store.snapshot(self.queues)
        decisions = decide(state, self.queues, now_ms, self.liveness)
        offers = [d for d in decisions if isinstance(d, OfferContact)]
        steps = [d for d in decisions if isinstance(d, EscalateContact)]
        # Everything else first, in order (expiries free capacity the offers were decided
        # on); then escalations and offers, each kind in one round trip, each script still
        # checking its own contact.
        for d in decisions:
            if not isinstance(d, OfferContact | EscalateContact):
                await self._carry_out(d, now_ms, result)
        batch = [(d.contact_id, d.queue, d.step) for d in steps]
        for d, escalated in zip(steps, await self.store.escalate_many(batch, now_ms), strict=True):
            if escalated is EscalateStatus.ESCALATED:
                result.other += 1
                log.info("contact_escalated", contact_id=d.contact_id, step=d.step)
        for d, status in zip(offers, await self.store.offer_many(offers, now_ms), strict=True):
            if status is OfferStatus.OFFERED:
                result.offered += 1
                log.info(
                    "contact_offered", contact_id=d.contact_id, agent_id=d.agent_id, queue=d.queue
                )
            else:
                result.refused += 1
        return result

    async def _carry_out(self, d: Decision, now_ms: int, result: PassResult) -> None:
        match d:
            case BroadcastContact():
                if await self.store.broadcast(d, now_ms) is BroadcastStatus.OFFERED:
                    result.offered += 1
                    log.info(
                        "contact_broadcast",
                        contact_id=d.contact_id,
                        agents=len(d.agent_ids),
                        queue=d.queue,
                    )
                else:
                    result.refused += 1
            case ExpireOffer():
                max_misses = self.queues[d.queue].max_misses if d.queue in self.queues else 0
                status = await self.store.requeue(
                    d.contact_id, d.agent_id, d.queue, now_ms, expired=True, max_misses=max_misses
                )
                if status in (RequeueStatus.REQUEUED, RequeueStatus.REQUEUED_AGENT_AWAY):
                    result.expired += 1
                    log.info("offer_expired", contact_id=d.contact_id, agent_id=d.agent_id)
                    if status is RequeueStatus.REQUEUED_AGENT_AWAY:
                        log.info("agent_set_away", agent_id=d.agent_id, why="missed-offers")
                else:
                    result.refused += 1
            case OverflowContact():
                target = self.queues.get(d.to_queue)
                moved = await self.store.overflow(
                    d.contact_id,
                    d.from_queue,
                    d.to_queue,
                    now_ms,
                    aging_ms=target.aging_ms if target else None,
                )
                if moved:
                    result.other += 1
                    log.info("contact_overflowed", contact_id=d.contact_id, to_queue=d.to_queue)
                else:
                    result.refused += 1
            case CompleteWrapUp():
                if await self.store.wrap_up(d.contact_id, d.agent_id, None, "", now_ms) is (
                    WrapUpStatus.CLOSED
                ):
                    result.other += 1
            case SetAgentOffline():
                await self._set_offline(d.agent_id, now_ms)
                result.other += 1
            case AbandonContact():
                left = await self.store.abandon(d.contact_id, now_ms, reason=d.reason)
                if left is AbandonStatus.ABANDONED:
                    result.other += 1
                    log.info(
                        "contact_abandoned", contact_id=d.contact_id, queue=d.queue, why=d.reason
                    )
                else:
                    result.refused += 1

    async def _set_offline(self, agent_id: str, now_ms: int) -> None:
        """No console for the grace period: offline, and the work they hold given back."""
        await self.store.set_agent_state(
            agent_id, "offline", now_ms=now_ms, reason="no-console", from_console=False
        )
        moved = await give_back_work(self.store, agent_id, self.queues, now_ms, chosen=False)
        log.info("agent_set_offline", agent_id=agent_id, why="no console", contacts_moved=moved)

    async def run(self) -> None:
        last_id = "$"
        stream = self.store.keys.events
        while True:
            try:
                result = await self.run_pass()
                if result.refused:
                    continue  # the world moved under us: decide again at once
                last_id = await self._wait(stream, last_id)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("routing_pass_failed", error=str(exc))
                await asyncio.sleep(min(1.0, self.tick_ms / 1000))

    async def _wait(self, stream: str, last_id: str) -> str:
        """Until an event that may give routing something to do, or the tick; returns the
        last stream id seen. Events that cannot (a message, an offer just made) do not wake
        it: under load they are most of the stream."""
        deadline = time.monotonic() + self.tick_ms / 1000
        while True:
            block_ms = max(1, int((deadline - time.monotonic()) * 1000))
            reply = await self.wake_redis.xread({stream: last_id}, count=1000, block=block_ms)
            woken = False
            for _name, entries in reply or []:
                if entries:
                    last_id = entries[-1][0]
                    woken = woken or any(wakes_routing(fields) for _id, fields in entries)
            if woken or not reply or time.monotonic() >= deadline:
                return last_id


# Events that never leave routing anything new to decide: arrivals are decided on once
# queued, offers and escalations come from a pass that already took them into account.
_QUIET = frozenset(
    {"ContactArrived", "MessageSent", "ContactOffered", "ContactBroadcast", "ContactEscalated"}
)


def wakes_routing(fields: Mapping[str, str]) -> bool:
    """Whether a stream entry may give routing something to do: a contact to place, or
    room freed. An accepted offer frees room only when it ends a broadcast."""
    kind = fields.get("type", "")
    if kind == "OfferAccepted":
        return bool(json.loads(fields.get("data") or "{}").get("released"))
    return kind not in _QUIET
