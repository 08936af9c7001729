"""The history writer: stores every event in PostgreSQL and keeps contacts' rows current,
and agents' state periods (docs/states.md).

It is a consumer-group member (at least once), so each step is idempotent: the event row is
inserted once on its id, and contact updates set values rather than add to them. Message
bodies are already stored by the code that accepted them, so they are not copied here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from contactcenter.core import events as ev
from contactcenter.crm.store import ms_to_dt


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


Statement = tuple[str, tuple[Any, ...]]


class HistoryWriter:
    """Stores the events of one routing domain's stream."""

    def __init__(self, pool: asyncpg.Pool, routing_domain: str = "main") -> None:
        self.pool = pool
        self.routing_domain = routing_domain

    async def __call__(self, event: ev.Event) -> None:
        await self.write_many([event])

    async def write_many(self, events: Sequence[ev.Event]) -> None:
        """Store a batch of events in one transaction: the rows not stored yet, then what
        they change in their contacts' rows, in the events' order."""
        if not events:
            return
        rows = [self._row(e) for e in events]
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.fetch(
                "INSERT INTO events (event_id, type, at, contact_id, agent_id, payload,"
                " routing_domain) SELECT e.*, $7::text FROM unnest($1::text[], $2::text[],"
                " $3::timestamptz[], $4::uuid[], $5::uuid[], $6::jsonb[]) AS e"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                *(list(column) for column in zip(*rows, strict=True)),
                self.routing_domain,
            )
            new = {r["event_id"] for r in stored}
            statements: list[Statement] = []
            for event, row in zip(events, rows, strict=True):
                contact_id, agent_id = row[3], row[4]
                if event.event_id in new and contact_id is not None:
                    statements += _project(event, contact_id, row[2])
                if event.event_id in new and isinstance(event, ev.AgentStateChanged):
                    if agent_id is not None:
                        statements += _state_period(event, agent_id, row[2], self.routing_domain)
            await _run_in_order(conn, statements)

    def _row(self, event: ev.Event) -> tuple[Any, ...]:
        payload = ev.event_as_json(event)
        payload.pop("body", None)
        payload.pop("type", None)
        return (
            event.event_id,
            event.type,
            ms_to_dt(event.at_ms),
            _uuid(payload.get("contact_id")),
            _uuid(payload.get("agent_id")),
            json.dumps(payload),
        )


async def _run_in_order(conn: asyncpg.Connection, statements: list[Statement]) -> None:
    """Run the statements in order; a run of the same statement goes as one executemany
    (one round trip)."""
    i = 0
    while i < len(statements):
        sql = statements[i][0]
        j = i
        while j < len(statements) and statements[j][0] == sql:
            j += 1
        if j - i == 1:
            await conn.execute(sql, *statements[i][1])
        else:
            await conn.executemany(sql, [args for _sql, args in statements[i:j]])
        i = j


_MOVE = (
    "UPDATE contacts SET state = $2, state_at = $3,"
    " agent_id = CASE WHEN $4 THEN $5::uuid ELSE agent_id END"
    " WHERE id = $1 AND (state_at IS NULL OR state_at <= $3)"
)
_QUEUE = "UPDATE contacts SET queue = $2 WHERE id = $1"


def _project(event: ev.Event, contact_id: uuid.UUID, at: object) -> list[Statement]:
    """What the event changes in its contact's row. State changes apply only if no later
    event already set the state (events may arrive out of order); facts such as the
    disposition are set whenever they come."""
    out: list[Statement] = []
    move = _STATE_MOVES.get(type(event))
    if move is not None:
        state, agent = move(event)
        keep = agent is _KEEP
        out.append((_MOVE, (contact_id, state, at, not keep, None if keep else agent)))
    match event:
        case ev.OfferAccepted():
            sql = "UPDATE contacts SET accepted_at = coalesce(accepted_at, $2) WHERE id = $1"
            out.append((sql, (contact_id, at)))
        case ev.ConversationEnded() | ev.ContactAbandoned():
            out.append(("UPDATE contacts SET ended_at = $2 WHERE id = $1", (contact_id, at)))
        case ev.WrapUpCompleted():
            sql = "UPDATE contacts SET closed_at = $2, disposition = $3, notes = $4 WHERE id = $1"
            out.append((sql, (contact_id, at, event.disposition, event.notes)))
        case ev.ContactOverflowed() | ev.ContactTransferred():
            out.append((_QUEUE, (contact_id, event.to_queue)))
        case ev.ContactReprioritized():
            sql = "UPDATE contacts SET priority = $2 WHERE id = $1"
            out.append((sql, (contact_id, event.priority)))
        case _:
            pass
    return out


_KEEP = object()  # leave the agent as it is


def _moves() -> dict[type[ev.Event], Any]:
    def accepted(e: Any) -> tuple[str, Any]:
        return "assigned", _uuid(e.agent_id)

    return {
        ev.OfferAccepted: accepted,
        # Back to waiting: nobody holds it (a named agent is only offered it).
        ev.ContactTransferred: lambda e: ("queued", None),
        ev.ConversationEnded: lambda e: ("wrapup", _KEEP),
        ev.WrapUpCompleted: lambda e: ("closed", _uuid(e.agent_id)),
        ev.ContactAbandoned: lambda e: ("abandoned", _KEEP),
    }


_STATE_MOVES = _moves()


# A state change starts a period (ended by the next one the agent already has, when events
# come out of order) and ends the period it falls in. Both are idempotent on the event id.
_PERIOD_START = (
    "INSERT INTO agent_state_periods (event_id, routing_domain, agent_id, state, reason,"
    " productive, started_at, ended_at) SELECT $1, $2, $3, $4, $5, $6, $7,"
    " (SELECT min(started_at) FROM agent_state_periods"
    "  WHERE routing_domain = $2 AND agent_id = $3 AND started_at > $7)"
    " ON CONFLICT DO NOTHING"
)
_PERIOD_END = (
    "UPDATE agent_state_periods SET ended_at = $4"
    " WHERE routing_domain = $1 AND agent_id = $2 AND event_id <> $3"
    " AND started_at <= $4 AND (ended_at IS NULL OR ended_at > $4)"
)


def _state_period(
    event: ev.AgentStateChanged, agent_id: uuid.UUID, at: object, domain: str
) -> list[Statement]:
    """The agent's state periods as `event` changes them (docs/states.md). A change the hub
    made says nothing of productivity: available counts as productive, anything else not."""
    productive = event.productive
    if productive is None:
        productive = event.state == "available"
    start = (event.event_id, domain, agent_id, event.state, event.reason, productive, at)
    return [(_PERIOD_START, start), (_PERIOD_END, (domain, agent_id, event.event_id, at))]
