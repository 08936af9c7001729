"""What the routing store's scripts answer: one enum per script, and a live contact's fields.

A refusal is an expected outcome (the world moved on), never an exception.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EnqueueStatus(enum.IntEnum):
    QUEUED = 1
    DUPLICATE = 0
    QUEUE_FULL = -1


class OfferStatus(enum.IntEnum):
    OFFERED = 1
    CONTACT_NOT_WAITING = -1
    AGENT_NOT_AVAILABLE = -2
    AGENT_FULL = -3
    AGENT_ON_VOICE = -4


class AcceptStatus(enum.IntEnum):
    ACCEPTED = 1
    NO_SUCH_OFFER = -1
    LEASE_EXPIRED = -2


class RequeueStatus(enum.IntEnum):
    REQUEUED = 1
    REQUEUED_AGENT_AWAY = 2
    IS_BROADCAST = -4  # internal: the store then takes it back as a broadcast
    NO_SUCH_OFFER = -1
    NOT_YET_EXPIRED = -2
    OTHER_QUEUE = -3


class AbandonStatus(enum.IntEnum):
    ABANDONED = 1
    NOT_WAITING = -1
    OFFER_MOVED = -2


class EndStatus(enum.IntEnum):
    ENDED = 1
    NOT_ASSIGNED = -1


class WrapUpStatus(enum.IntEnum):
    CLOSED = 1
    NOT_IN_WRAPUP = -1


class AgentStateStatus(enum.IntEnum):
    CHANGED = 1
    UNCHANGED = 0
    NO_PROFILE = -1


class NextStateStatus(enum.IntEnum):
    SCHEDULED = 1  # or, for a cancel, cancelled
    APPLIED = 2  # the agent held nothing: it took effect at once
    UNCHANGED = 0
    NO_PROFILE = -1


class ProfileStatus(enum.IntEnum):
    CHANGED = 1
    UNCHANGED = 0


class BroadcastStatus(enum.IntEnum):
    OFFERED = 1  # (the script answers how many agents; the store maps any positive to this)
    CONTACT_NOT_WAITING = -1
    AGENT_UNAVAILABLE = -2


class TransferStatus(enum.IntEnum):
    TRANSFERRED = 1
    NOT_ASSIGNED = -1
    TARGET_NOT_AVAILABLE = -2
    TARGET_FULL = -3
    SAME_AGENT = -4
    UNKNOWN_QUEUE = -5


class ReprioritizeStatus(enum.IntEnum):
    CHANGED = 1
    NOT_WAITING = -1
    MOVED = -2


class RestoreStatus(enum.IntEnum):
    RESTORED = 1
    ALREADY = 0
    UNKNOWN_AGENT = -1


class EscalateStatus(enum.IntEnum):
    ESCALATED = 1
    ALREADY = 0
    NOT_WAITING = -1


@dataclass(frozen=True)
class LiveContact:
    """A contact's live routing fields as stored."""

    contact_id: str
    queue: str
    state: str
    agent_id: str | None
    channel: str
    customer_id: str
    broadcast: bool = False  # offered to several agents at once; agent_id is None then
    deadline_ms: int | None = None  # while offered: when the offer lapses

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> LiveContact:
        deadline = h.get("deadline_ms")
        return cls(
            h["contact_id"],
            h["queue"],
            h["state"],
            h.get("agent_id") or None,
            h.get("channel", ""),
            h.get("customer_id", ""),
            h.get("broadcast") == "1",
            int(deadline) if deadline else None,
        )
