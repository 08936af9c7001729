"""The event stream: publishing, fan-out tailing, and consumer groups.

Two ways to read the one stream:

- `tail` (every hub process): each process sees every event, to push it to the consoles
  connected to it. Used for live delivery; a console that misses something resumes from a
  snapshot taken from the stores.
- `EventGroupConsumer` (work sharing): one consumer group per purpose (for instance the
  history writer); each event is handled by one member, acknowledged only after it was
  handled, and a member that dies leaves its pending events to be claimed by another after
  `claim_idle_ms`. Handlers must be idempotent on `event_id`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from redis.exceptions import RedisError, ResponseError

from contactcenter.core.events import Event, UnknownEvent, decode_event, encode_event
from contactcenter.core.redisconn import RedisClient
from contactcenter.core.store_errors import is_store_failure

log = structlog.get_logger("contactcenter.core.eventbus")


class EventBus:
    """Appends events; never trims (contactcenter/core/stream_trim.py does, behind every group)."""

    def __init__(self, redis: RedisClient, stream: str) -> None:
        self.redis = redis
        self.stream = stream

    async def publish(self, event: Event) -> str:
        """Append `event`; returns its stream id."""
        fields: dict[Any, Any] = dict(encode_event(event))
        entry_id = await self.redis.xadd(self.stream, fields)
        return str(entry_id)

    async def publish_many(self, events: list[Event]) -> list[str]:
        """Append `events` in order, in one round trip; returns their stream ids."""
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            fields: dict[Any, Any] = dict(encode_event(event))
            pipe.xadd(self.stream, fields)
        return [str(entry_id) for entry_id in await pipe.execute()]

    async def tail(
        self, *, block_ms: int = 1000, start: str = "$"
    ) -> AsyncIterator[tuple[str, Event]]:
        """Every event appended from now on (or after `start`), forever."""
        async for entry_id, fields in tail_stream(self.redis, self.stream, block_ms, start):
            try:
                yield entry_id, decode_event(fields)
            except (UnknownEvent, KeyError, ValueError):
                log.warning("event_undecodable", entry_id=entry_id)


async def tail_stream(
    redis: RedisClient, stream: str, block_ms: int = 1000, start: str = "$"
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Every entry of `stream` appended from now on (or after `start`), forever; Redis
    going away is waited out."""
    last_id = start
    while True:
        try:
            if last_id == "$":
                # Pin the position now, so nothing appended while the caller sets up is
                # missed by a later XREAD from "$".
                last_id = await _last_id(redis, stream)
            reply = await redis.xread({stream: last_id}, count=500, block=block_ms)
        except (RedisError, OSError) as exc:
            log.warning("stream_tail_failed", stream=stream, error=str(exc))
            await asyncio.sleep(0.5)
            continue
        for _name, entries in reply or []:
            for entry_id, fields in entries:
                last_id = entry_id
                yield entry_id, fields


async def _last_id(redis: RedisClient, stream: str) -> str:
    try:
        info = await redis.xinfo_stream(stream)
    except ResponseError:  # no such stream yet
        return "0-0"
    return str(info["last-generated-id"])


Handler = Callable[[Event], Awaitable[None]]


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class EventGroupConsumer:
    """One member of a consumer group, handling each event at least once."""

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        group: str,
        handler: Handler,
        *,
        consumer: str | None = None,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.handler = handler
        self.consumer = consumer or consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        # Whether this member may hold events it read and did not acknowledge: at start (a
        # restart under the same name), and after a batch that failed. Otherwise there are
        # none, and reading them again would be a wasted round trip per wake-up.
        self._own_pending = True

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _handle(self, entries: list[tuple[str, dict[str, str]]]) -> int:
        """Handle a batch, then acknowledge it at once. A handler with `write_many` takes
        the batch in one call (all or nothing); any other is called per event, in order."""
        events: list[Event] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed away while pending: nothing left to handle
                continue
            try:
                events.append(decode_event(fields))
            except (UnknownEvent, KeyError, ValueError):
                log.warning("event_undecodable", entry_id=entry_id, group=self.group)
        write_many = getattr(self.handler, "write_many", None)
        if write_many is not None:
            await write_many(events)
        else:
            for event in events:
                await self.handler(event)
        if entries:
            await self.redis.xack(self.stream, self.group, *(entry_id for entry_id, _ in entries))
        return len(events)

    async def claim_stale(self) -> int:
        """Take over events a dead member left pending longer than `claim_idle_ms`."""
        reply = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, start_id="0-0", count=500
        )
        return await self._handle(reply[1])

    async def run_once(self, block_ms: int | None = None) -> int:
        """Handle this member's own pending events (when it may have any), then a batch of
        new ones."""
        done = 0
        if self._own_pending:
            own = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=500
            )
            for _name, entries in own or []:
                done += await self._handle(entries)
            self._own_pending = False  # handled and acknowledged (a failure raised above)
        reply = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=500,
            block=self.block_ms if block_ms is None else block_ms,
        )
        for _name, entries in reply or []:
            self._own_pending = True  # until the batch is handled and acknowledged
            done += await self._handle(entries)
            self._own_pending = False
        return done

    async def run(self) -> None:
        group_ready = False
        # Look for events dead members left behind at start, then every claim_idle_ms (at
        # most every 10 s): none of them can be claimed sooner than that anyway.
        claim_every_s = min(10.0, self.claim_idle_ms / 1000)
        next_claim = 0.0
        while True:
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                if time.monotonic() >= next_claim:
                    await self.claim_stale()
                    next_claim = time.monotonic() + claim_every_s
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    # Redis lost the stream (a restart without persistence, a FLUSHALL):
                    # make the group again, from the start of the new stream. Expected.
                    group_ready = False
                    log.warning("event_group_recreated", group=self.group)
                    continue
                log.error("event_consumer_failed", group=self.group, error=str(exc))
                await asyncio.sleep(1.0)
            except Exception as exc:  # a failing handler or store must not stop the consumer
                if is_store_failure(exc):  # away for now: the events wait, nothing is lost
                    log.warning(
                        "event_consumer_waiting", group=self.group, error=type(exc).__name__
                    )
                else:
                    log.error("event_consumer_failed", group=self.group, error=str(exc))
                await asyncio.sleep(1.0)
