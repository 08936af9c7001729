"""What the clients of bench.faults saw, kept for the checks at the end.

Times are `time.monotonic()` seconds of the benchmark's process, which also runs the faults,
so a client's observation and a fault compare on one clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 10.0)  # what the widget and the console wait between tries
RETRY_S = 1.0  # after store.unavailable or an unanswered command
COMMAND_TIMEOUT_S = 15.0  # longer than a hung PostgreSQL's statement timeout


class Reconnect(Exception):
    """The connection must be dropped and opened again (a sequence gap, a refused hello)."""


@dataclass
class Sent:
    """One message a client sent under its client_msg_id, and what became of it."""

    cmid: str
    sender: str  # "customer" or "agent"
    who: str
    text: str
    contact_id: str | None = None
    first_sent_s: float | None = None
    confirmed_s: float | None = None
    attempts: int = 0


@dataclass
class Refusal:
    at_s: float
    who: str
    what: str  # the frame refused
    error_id: str
    contact_id: str | None


@dataclass
class Hold:
    """An agent's console held a contact (assigned or in wrap-up) from `start_s` to `end_s`."""

    agent: str
    contact_id: str
    start_s: float
    end_s: float | None = None
    how_ended: str = ""


@dataclass
class CustomerLog:
    index: int
    due_s: float  # the customer's arrival: when the first message was due, on schedule
    first_cmid: str
    visitor_id: str | None = None
    contact_id: str | None = None
    contact_ids: set[str] = field(default_factory=set)
    joined_s: float | None = None
    over_s: float | None = None
    outcome: str = "waiting"  # ended, ended-while-away, refused-closed, forgotten, stopped
    connects: int = 0
    seen_agent_cmids: set[str] = field(default_factory=set)


@dataclass
class Book:
    """Everything every client saw."""

    started_s: float = field(default_factory=time.monotonic)
    customers: list[CustomerLog] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)  # by client_msg_id
    offers: list[tuple[float, str, str]] = field(default_factory=list)  # (at, agent, contact)
    holds: list[Hold] = field(default_factory=list)
    agent_seen: dict[str, set[str]] = field(default_factory=dict)  # contact -> customer cmids
    refusals: list[Refusal] = field(default_factory=list)
    anomalies: list[tuple[float, str, str]] = field(default_factory=list)
    drops: list[tuple[float, str]] = field(default_factory=list)  # (at, "customer" / "agent")
    agent_states: Counter[str] = field(default_factory=Counter)  # state frames not available
    withdrawn: Counter[str] = field(default_factory=Counter)  # offer_withdrawn by why
    agent_ids: dict[str, str] = field(default_factory=dict)  # username -> agent id
    crashes: list[str] = field(default_factory=list)  # a client's own failure: the run broke
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # the run is over: give up

    def now(self) -> float:
        return time.monotonic()

    def refuse(self, who: str, what: str, error_id: str, contact_id: str | None) -> None:
        self.refusals.append(Refusal(self.now(), who, what, error_id, contact_id))

    def dropped(self, kind: str) -> None:
        """A connection of a `kind` client was lost (not closed by the client)."""
        self.drops.append((self.now(), kind))

    def anomaly(self, who: str, text: str) -> None:
        self.anomalies.append((self.now(), who, text))

    def seen_by_agents(self, contact_id: str, messages: list[dict[str, Any]]) -> None:
        seen = self.agent_seen.setdefault(contact_id, set())
        for m in messages:
            if m.get("sender") == "customer" and m.get("client_msg_id"):
                seen.add(str(m["client_msg_id"]))


def read_frame(raw: str | bytes, last_seq: int) -> dict[str, Any]:
    """A server frame; a sequence gap means something was missed: reconnect (the widget and
    the console do the same, and the snapshot or welcome that follows has everything)."""
    frame: dict[str, Any] = json.loads(raw)
    if frame.get("seq") != last_seq + 1:
        raise Reconnect(f"sequence gap {last_seq} -> {frame.get('seq')}")
    return frame


def backoff_s(attempt: int) -> float:
    return BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
