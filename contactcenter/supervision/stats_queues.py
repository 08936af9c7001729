"""The per-queue side of the live statistics fold (docs/supervisor.md, "Live statistics:
the fold"): what one queue, or one channel of it, did today and over a sliding window, and
who waits in it now. Pure: no I/O, no clock; every figure is read at a `now_ms` given.

The measures themselves (service level, abandon rate, ASA, AHT) are `QueueTally`'s
(contactcenter/measures/definitions.py); this module only keeps the tallies and the counts
that are not measures (contacts offered to the queue, transferred out, overflowed out)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from contactcenter.measures.definitions import DEFAULT_SHORT_ABANDON_MS, QueueTally

MINUTE_MS = 60_000
DEFAULT_WINDOW_MS = 30 * MINUTE_MS
# A waiting heap holds at most this many stale entries beyond twice its live ones before it
# is compacted: each compaction follows as many removals as it scans, so it is amortised O(1)
# per event, and a contact stuck for hours cannot make the heap grow with the traffic.
_HEAP_SLACK = 64


@dataclass
class Counts:
    """A queue's sums over one period: the measures' tally and the plain counts."""

    tally: QueueTally
    offered: int = 0  # contacts that began waiting here (new, transferred or overflowed in)
    transferred_out: int = 0  # answered here, then handed to a queue or an agent
    overflowed_out: int = 0  # left this queue's wait for its overflow queue

    @classmethod
    def empty(cls, target_ms: int, short_abandon_ms: int) -> Counts:
        return cls(QueueTally(target_ms, short_abandon_ms))

    def merged(self, other: Counts) -> Counts:
        return Counts(
            self.tally.merge(other.tally),
            self.offered + other.offered,
            self.transferred_out + other.transferred_out,
            self.overflowed_out + other.overflowed_out,
        )


class MinuteBuckets:
    """The last `window_ms` of `Counts`, one bucket per minute: adding touches one bucket,
    reading merges at most window_ms / 60 s of them. A bucket of minute m holds what happened
    in [m, m + 1 min); the window read at `now_ms` is the buckets of the last
    window_ms / 60 s minutes, the current (partial) one included."""

    def __init__(self, window_ms: int, target_ms: int, short_abandon_ms: int) -> None:
        self.minutes = max(1, window_ms // MINUTE_MS)
        self.target_ms = target_ms
        self.short_abandon_ms = short_abandon_ms
        self.buckets: deque[tuple[int, Counts]] = deque()

    def at(self, at_ms: int) -> Counts | None:
        """The bucket of `at_ms`'s minute (None: older than the window already kept)."""
        minute = at_ms // MINUTE_MS
        buckets = self.buckets
        if buckets and buckets[-1][0] == minute:
            return buckets[-1][1]
        if not buckets or minute > buckets[-1][0]:
            fresh = Counts.empty(self.target_ms, self.short_abandon_ms)
            buckets.append((minute, fresh))
            while buckets[0][0] <= minute - self.minutes:
                buckets.popleft()
            return fresh
        # A late event (another process's clock, a slow stream): at most `minutes` buckets.
        if minute <= buckets[-1][0] - self.minutes:
            return None
        for i in range(len(buckets) - 1, -1, -1):
            if buckets[i][0] == minute:
                return buckets[i][1]
            if buckets[i][0] < minute:
                fresh = Counts.empty(self.target_ms, self.short_abandon_ms)
                buckets.insert(i + 1, (minute, fresh))
                return fresh
        fresh = Counts.empty(self.target_ms, self.short_abandon_ms)
        buckets.appendleft((minute, fresh))
        return fresh

    def total(self, now_ms: int) -> Counts:
        """What happened in the window that ends at `now_ms`."""
        now_minute = now_ms // MINUTE_MS
        out = Counts.empty(self.target_ms, self.short_abandon_ms)
        for minute, counts in self.buckets:
            if now_minute - self.minutes < minute <= now_minute:
                out = out.merged(counts)
        return out


@dataclass(frozen=True)
class WaitEntry:
    """A contact's place in a waiting heap; `token` names one wait of it, so that an entry
    left behind by a wait that ended (lazy deletion) is told from a later wait."""

    enqueued_at_ms: int
    token: int
    contact_id: str


class QueueLine:
    """One queue, or one channel of it: today's counts, the window's, and who waits now."""

    def __init__(
        self,
        target_ms: int | None,
        window_ms: int = DEFAULT_WINDOW_MS,
        short_abandon_ms: int = DEFAULT_SHORT_ABANDON_MS,
    ) -> None:
        # A line with no target still keeps a tally (ASA, AHT, abandon rate do not depend
        # on it); its service level is not shown.
        self.target_ms = target_ms
        self.short_abandon_ms = short_abandon_ms
        self.day_start_ms = 0
        self.today = Counts.empty(target_ms or 0, short_abandon_ms)
        self.window = MinuteBuckets(window_ms, target_ms or 0, short_abandon_ms)
        self.waiting = 0
        self.heap: list[tuple[int, int, str]] = []

    def periods(self, at_ms: int, day_start_ms: int) -> list[Counts]:
        """The counts an event at `at_ms` adds to: today's (when it is of today) and its
        minute's bucket (when still in the window)."""
        out = []
        if at_ms >= day_start_ms:
            if self.day_start_ms != day_start_ms:
                self.today = Counts.empty(self.target_ms or 0, self.short_abandon_ms)
                self.day_start_ms = day_start_ms
            out.append(self.today)
        bucket = self.window.at(at_ms)
        if bucket is not None:
            out.append(bucket)
        return out

    def today_counts(self, day_start_ms: int) -> Counts:
        if self.day_start_ms != day_start_ms:
            return Counts.empty(self.target_ms or 0, self.short_abandon_ms)
        return self.today

    def push(self, entry: WaitEntry, live: Callable[[str, int], bool]) -> None:
        self.waiting += 1
        heapq.heappush(self.heap, (entry.enqueued_at_ms, entry.token, entry.contact_id))
        if len(self.heap) > 2 * self.waiting + _HEAP_SLACK:
            self.heap = [e for e in self.heap if live(e[2], e[1])]
            heapq.heapify(self.heap)

    def oldest_enqueued_at_ms(self, live: Callable[[str, int], bool]) -> int | None:
        """The arrival of the contact waiting longest here (None: nobody waits); entries of
        waits that ended are dropped as they reach the top."""
        heap = self.heap
        while heap and not live(heap[0][2], heap[0][1]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None


@dataclass(frozen=True)
class PeriodFigures:
    """What a queue did over a period, and its measures (docs/measures.md)."""

    offered: int
    answered: int
    abandoned: int  # after the short-abandon threshold
    short_abandoned: int
    transferred_out: int
    overflowed_out: int
    handled: int
    service_level: float | None
    abandon_rate: float | None
    average_speed_of_answer_ms: float | None
    average_handle_time_ms: float | None

    @classmethod
    def of(cls, counts: Counts, *, with_service_level: bool) -> PeriodFigures:
        t = counts.tally
        return cls(
            offered=counts.offered,
            answered=t.answered,
            abandoned=t.abandoned,
            short_abandoned=t.short_abandoned,
            transferred_out=counts.transferred_out,
            overflowed_out=counts.overflowed_out,
            handled=t.handled,
            service_level=t.service_level if with_service_level else None,
            abandon_rate=t.abandon_rate,
            average_speed_of_answer_ms=t.average_speed_of_answer_ms,
            average_handle_time_ms=t.average_handle_time_ms,
        )


@dataclass(frozen=True)
class QueueFigures:
    """A queue (`channel` None: every channel) or one channel of it, at one moment."""

    queue: str
    channel: str | None
    target_ms: int | None
    waiting: int
    oldest_wait_ms: int | None
    today: PeriodFigures
    window: PeriodFigures
    agents: dict[str, int] = field(default_factory=dict)  # queue lines only; see AgentCounts
    channels: dict[str, QueueFigures] = field(default_factory=dict)


def read_line(
    line: QueueLine,
    queue: str,
    channel: str | None,
    now_ms: int,
    day_start_ms: int,
    live: Callable[[str, int], bool],
) -> QueueFigures:
    oldest = line.oldest_enqueued_at_ms(live)
    with_sl = line.target_ms is not None
    return QueueFigures(
        queue=queue,
        channel=channel,
        target_ms=line.target_ms,
        waiting=line.waiting,
        oldest_wait_ms=None if oldest is None else max(0, now_ms - oldest),
        today=PeriodFigures.of(line.today_counts(day_start_ms), with_service_level=with_sl),
        window=PeriodFigures.of(line.window.total(now_ms), with_service_level=with_sl),
    )
