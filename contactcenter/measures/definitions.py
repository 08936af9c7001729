"""The numbers a contact center is judged by, defined once (docs/measures.md): service level,
average speed of answer, average handle time, abandon rate, occupancy. The live supervisor
view, the reports and the workforce simulator all compute them here, from the same tallies.

A `QueueTally` is a fold: each contact that leaves the queue (answered or abandoned) and each
handled contact adds a constant amount of work, and the measures are read from its sums at
any time, so a live view never rescans history. Durations are integer milliseconds; a
measure with nothing to measure is None, never 0 (no contact is not a perfect score).
"""

from __future__ import annotations

from dataclasses import dataclass

# A contact abandoned sooner than this after arriving is a short abandon: a misdial, a
# customer who changed their mind. It counts in neither the service level nor the abandon
# rate (Genesys and RingCentral's "short abandon" threshold; docs/measures.md).
DEFAULT_SHORT_ABANDON_MS = 5_000


@dataclass
class QueueTally:
    """What one queue (or one channel of it) did over a period, as sums.

    `target_ms` is the queue's service-level target (`service_level_s`); `short_abandon_ms`
    the short-abandon threshold. Both are fixed for the life of the tally, so that every
    contact is judged by the same rule."""

    target_ms: int
    short_abandon_ms: int = DEFAULT_SHORT_ABANDON_MS
    answered: int = 0
    answered_in_target: int = 0
    answer_wait_ms: int = 0  # sum of waits of answered contacts
    abandoned: int = 0  # after the short-abandon threshold
    abandoned_in_target: int = 0
    abandon_wait_ms: int = 0
    short_abandoned: int = 0
    longest_wait_ms: int = 0
    handled: int = 0
    talk_ms: int = 0
    wrapup_ms: int = 0

    # --- what happened -----------------------------------------------------------------------

    def add_answered(self, wait_ms: int) -> None:
        """An agent accepted the contact after it waited `wait_ms` (arrival to acceptance)."""
        self.answered += 1
        self.answer_wait_ms += wait_ms
        if wait_ms <= self.target_ms:
            self.answered_in_target += 1
        self.longest_wait_ms = max(self.longest_wait_ms, wait_ms)

    def add_abandoned(self, wait_ms: int) -> None:
        """The customer left (or the hub closed the contact) after waiting `wait_ms`."""
        self.longest_wait_ms = max(self.longest_wait_ms, wait_ms)
        if wait_ms < self.short_abandon_ms:
            self.short_abandoned += 1
            return
        self.abandoned += 1
        self.abandon_wait_ms += wait_ms
        if wait_ms <= self.target_ms:
            self.abandoned_in_target += 1

    def add_handled(self, talk_ms: int, wrapup_ms: int) -> None:
        """An agent finished a contact: `talk_ms` from acceptance to the conversation's end,
        `wrapup_ms` from then to the end of wrap-up."""
        self.handled += 1
        self.talk_ms += talk_ms
        self.wrapup_ms += wrapup_ms

    def merge(self, other: QueueTally) -> QueueTally:
        """The tally of both periods (or channels, or queues with the same targets)."""
        if (other.target_ms, other.short_abandon_ms) != (self.target_ms, self.short_abandon_ms):
            raise ValueError("tallies with different targets do not add up")
        out = QueueTally(self.target_ms, self.short_abandon_ms)
        for name in _SUMS:
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.longest_wait_ms = max(self.longest_wait_ms, other.longest_wait_ms)
        return out

    # --- the measures ------------------------------------------------------------------------

    @property
    def service_level(self) -> float | None:
        """answered within the target / (answered + abandoned after the short threshold)."""
        return _ratio(self.answered_in_target, self.answered + self.abandoned)

    @property
    def abandon_rate(self) -> float | None:
        """abandoned after the short threshold / (answered + abandoned after it)."""
        return _ratio(self.abandoned, self.answered + self.abandoned)

    @property
    def average_speed_of_answer_ms(self) -> float | None:
        """Sum of answered contacts' waits / answered."""
        return _ratio(self.answer_wait_ms, self.answered)

    @property
    def average_abandon_time_ms(self) -> float | None:
        """Sum of (non-short) abandoned contacts' waits / abandoned."""
        return _ratio(self.abandon_wait_ms, self.abandoned)

    @property
    def average_handle_time_ms(self) -> float | None:
        """(talk + wrap-up) / handled."""
        return _ratio(self.talk_ms + self.wrapup_ms, self.handled)


_SUMS = (
    "answered",
    "answered_in_target",
    "answer_wait_ms",
    "abandoned",
    "abandoned_in_target",
    "abandon_wait_ms",
    "short_abandoned",
    "handled",
    "talk_ms",
    "wrapup_ms",
)


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def occupancy(handling_ms: int, idle_ms: int) -> float | None:
    """Time handling contacts (with at least one in hand: in conversation or wrap-up) over
    that time plus time available with none; away and offline time count in neither
    (Amazon Connect's "Occupancy"). An agent holding three chats at once is occupied once,
    not three times: concurrency is measured by `utilisation`, not here."""
    return _ratio(handling_ms, handling_ms + idle_ms)


def utilisation(load_ms: int, capacity_ms: int) -> float | None:
    """For multi-contact channels: the sum over time of contacts in hand, over the sum of
    capacity (contacts the agent could hold) over the same time. 3 chats of capacity 3 for
    an hour is 1.0; one chat for that hour is 1/3."""
    return _ratio(load_ms, capacity_ms)
