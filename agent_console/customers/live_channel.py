"""The channel the web chat's typing, read and presence signals cross hub processes on
(`LiveChannel`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import structlog

from agent_console.keys import WidgetKeys
from contactcenter.core.eventbus import tail_stream
from contactcenter.core.redisconn import RedisClient

log = structlog.get_logger("agent_console.customers.live_channel")


# --- the live channel -------------------------------------------------------------------------


class LiveChannel:
    """Typing and read signals between hub processes.

    A capped stream of its own (`WidgetKeys.live`), tailed by every process like the event
    stream: not the event stream, whose every entry the history writer stores; not Redis
    pub/sub, which the asyncio Redis Cluster client does not offer. A signal missed (a process
    restarting) costs a typing dot or a read mark that the next one sets right."""

    def __init__(self, redis: RedisClient, keys: WidgetKeys, *, maxlen: int = 2000) -> None:
        self.redis = redis
        self.stream = keys.live
        self.maxlen = maxlen

    async def publish(self, signal: Mapping[str, Any]) -> None:
        fields: dict[Any, Any] = {"s": json.dumps(signal, separators=(",", ":"))}
        await self.redis.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)

    async def tail(self, *, block_ms: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every signal published from now on, forever."""
        async for _entry_id, fields in tail_stream(self.redis, self.stream, block_ms):
            try:
                signal = json.loads(fields["s"])
            except (KeyError, ValueError):
                continue
            if isinstance(signal, dict):
                yield signal
