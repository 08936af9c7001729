"""Trimming the event stream behind its slowest reader (docs/decisions.md, "Events and
delivery").

Appending never trims. A worker process looks every few seconds: once the stream holds more
than `stream_maxlen` entries, it removes the entries every consumer group has acknowledged,
that is, those older than the oldest entry some group still has pending or has not been
delivered yet (XTRIM MINID, which Redis 6.2 and later and Valkey understand). A group that
lags keeps everything from where it stands: the history writer may fall behind, it loses
nothing. The live tails of the consoles read only what is new and need nothing kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError, ResponseError

from contactcenter.core.redisconn import RedisClient

log = structlog.get_logger("contactcenter.core.stream_trim")

TRIM_EVERY_S = 5.0


def _parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _after(entry_id: str) -> str:
    """The smallest stream id above `entry_id`."""
    ms, seq = _parse_id(entry_id)
    return f"{ms}-{seq + 1}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class TrimResult:
    length: int  # entries before trimming
    floor: str | None  # entries below it were acknowledged by every group; None: no group
    trimmed: int
    slowest: str | None  # the group that holds the floor


async def safe_floor(redis: RedisClient, stream: str) -> tuple[str | None, str | None]:
    """(floor, group): every entry below `floor` was acknowledged by every consumer group of
    `stream`; `group` is the one holding it back. (None, None) when the stream has no group."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None, None
    floor: tuple[int, int] | None = None
    slowest = None
    for g in groups:
        name = _text(g["name"])
        needed = _after(_text(g["last-delivered-id"]))
        if int(g["pending"]):
            summary = await redis.xpending(stream, name)
            needed = _text(summary["min"])
        key = _parse_id(needed)
        if floor is None or key < floor:
            floor, slowest = key, name
    if floor is None:
        return None, None
    return f"{floor[0]}-{floor[1]}", slowest


async def trim_once(redis: RedisClient, stream: str, maxlen: int) -> TrimResult:
    """Trim `stream` of what every group acknowledged, if it holds more than `maxlen`."""
    length = int(await redis.xlen(stream))
    if length <= maxlen:
        return TrimResult(length, None, 0, None)
    floor, slowest = await safe_floor(redis, stream)
    if floor is None:  # nobody reads it by group: keep the newest `maxlen`
        trimmed = int(await redis.xtrim(stream, maxlen=maxlen, approximate=True))
        return TrimResult(length, None, trimmed, None)
    trimmed = int(await redis.xtrim(stream, minid=floor, approximate=True))
    if length - trimmed > 2 * maxlen:
        log.warning("event_stream_backlog", entries=length - trimmed, group=slowest, maxlen=maxlen)
    return TrimResult(length, floor, trimmed, slowest)


async def run_trimmer(redis: RedisClient, stream: str, maxlen: int) -> None:
    """Trim every few seconds, forever (the first time after a pause, so that the consumer
    groups started beside it exist by then); Redis going away is waited out."""
    while True:
        await asyncio.sleep(TRIM_EVERY_S)
        try:
            await trim_once(redis, stream, maxlen)
        except (RedisError, OSError) as exc:
            log.warning("event_stream_trim_failed", error=str(exc))
