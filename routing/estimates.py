"""Where a waiting contact stands: its position and an estimate of its wait.

A pure function of the queue's state: the contacts ahead, the agents who could take them
(their free slots now, and all their slots on the channel), and the queue's average handle
time. The estimate is the classic one for a queue served in order: the contacts ahead that
free slots cannot absorb now are served in rounds, one round per average handle time, as
many per round as the eligible agents have slots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from routing.model import AgentView

DEFAULT_HANDLE_MS = 180_000  # until the queue has history of its own


@dataclass(frozen=True)
class WaitEstimate:
    position: int  # 1 = next
    estimated_wait_ms: int | None  # None: no agent could take it now


def estimate_wait(
    position: int, agents: Iterable[AgentView], channel: str, aht_ms: int | None
) -> WaitEstimate:
    """The estimate for the contact at `position` (1-based) among those `agents` (eligible
    for it, available) with the queue's average handle time `aht_ms` (None: no history)."""
    slots = free = 0
    for a in agents:
        slots += a.capacity.get(channel, 0)
        free += a.room(channel)
    if slots == 0:
        return WaitEstimate(position, None)
    ahead = position - 1
    if ahead < free:
        return WaitEstimate(position, 0)
    rounds = math.floor((ahead - free) / slots) + 1
    return WaitEstimate(position, rounds * (aht_ms or DEFAULT_HANDLE_MS))
