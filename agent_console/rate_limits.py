"""Rate limits counted in Redis, so that a limit holds however many hub processes a client's
connections land on (`RateLimiter`, a fixed window per `Limit`), and a per-connection token
bucket for ephemeral frames (`FrameThrottle`). Used by the customers' chat and the agents'
console alike."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from agent_console.keys import WidgetKeys
from contactcenter.core.errors import HubError
from contactcenter.core.redisconn import RedisClient

log = structlog.get_logger("agent_console.rate_limits")


class RateLimited(HubError):
    """Too many frames of one kind in a window; `details.retry_after_s` says when to retry.
    Nothing of the refused frame was stored or relayed."""

    error_id = "chat.rate_limited"
    http_status = 429


# --- limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """At most `count` hits of `what` by `who` per `window_ms`."""

    what: str
    who: str
    count: int
    window_ms: int


class RateLimiter:
    """Fixed-window counters in Redis: each hit increments the window's key, which expires
    with its window. Cheap (one round trip for any number of limits) and shared by every hub
    process; a burst across a window's edge may reach twice the limit, which is enough to
    stop a flood."""

    def __init__(self, redis: RedisClient, keys: WidgetKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def hit(self, limits: Sequence[Limit], now_ms: int) -> None:
        """Count one hit against each of `limits`; raise `RateLimited` naming the first one
        exceeded and when its window ends."""
        if not limits:
            return
        pipe = self.redis.pipeline(transaction=False)
        for limit in limits:
            key = self.keys.limit(limit.what, limit.who, now_ms // limit.window_ms)
            pipe.incr(key)
            pipe.pexpire(key, limit.window_ms * 2)
        replies = await pipe.execute()
        for limit, count in zip(limits, replies[::2], strict=True):
            if int(count) > limit.count:
                ends_ms = (now_ms // limit.window_ms + 1) * limit.window_ms
                raise RateLimited(
                    "too many at once; try again shortly",
                    limit=limit.what,
                    retry_after_s=max(1, math.ceil((ends_ms - now_ms) / 1000)),
                )


@dataclass
class FrameThrottle:
    """Frames per second of one connection (typing and read marks): a token bucket kept in
    the connection itself, since a connection lives on one process."""

    per_s: float
    clock_ms: Callable[[], int]
    tokens: float = field(default=-1.0)
    last_ms: int = 0

    def allow(self) -> None:
        now_ms = self.clock_ms()
        burst = max(1.0, self.per_s * 2)
        if self.tokens < 0:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now_ms - self.last_ms) / 1000 * self.per_s)
        self.last_ms = now_ms
        if self.tokens < 1:
            raise RateLimited(
                "too many typing or read frames",
                limit="live_frames",
                retry_after_s=max(1, math.ceil((1 - self.tokens) / self.per_s)),
            )
        self.tokens -= 1
