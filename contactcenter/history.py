"""The history writer: stores every event in PostgreSQL and keeps contacts' rows current.

It is a consumer-group member (at least once), so each step is idempotent: the event row is
inserted once on its id, and contact updates set values rather than add to them. Message
bodies are already stored by the code that accepted them, so they are not copied here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from typing import Any

import asyncpg

from contactcenter import events as ev
from contactcenter.crm import ms_to_dt


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class HistoryWriter:
    """Stores the events of one routing domain's stream."""

    def __init__(self, pool: asyncpg.Pool, routing_domain: str = "main") -> None:
        self.pool = pool
        self.routing_domain = routing_domain

    async def __call__(self, event: ev.Event) -> None:
        payload = asdict(event)
        payload.pop("body", None)
        at = ms_to_dt(event.at_ms)
        contact_id = _uuid(payload.get("contact_id"))
        agent_id = _uuid(payload.get("agent_id"))
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO events (event_id, type, at, contact_id, agent_id, payload,"
                " routing_domain) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                event.event_id,
                event.type,
                at,
                contact_id,
                agent_id,
                json.dumps(payload),
                self.routing_domain,
            )
            if inserted and contact_id is not None:
                await self._project(conn, event, contact_id, at)

    async def _project(
        self, conn: asyncpg.Connection, event: ev.Event, contact_id: uuid.UUID, at: object
    ) -> None:
        """Keep the contact row current. State changes apply only if no later event already
        set the state (events may arrive out of order); facts such as the disposition are
        set whenever they come."""
        move = _STATE_MOVES.get(type(event))
        if move is not None:
            state, agent = move(event)
            await conn.execute(
                "UPDATE contacts SET state = $2, state_at = $3,"
                " agent_id = CASE WHEN $4 THEN $5::uuid ELSE agent_id END"
                " WHERE id = $1 AND (state_at IS NULL OR state_at <= $3)",
                contact_id,
                state,
                at,
                agent is not _KEEP,
                None if agent is _KEEP else agent,
            )
        match event:
            case ev.OfferAccepted():
                await conn.execute(
                    "UPDATE contacts SET accepted_at = coalesce(accepted_at, $2) WHERE id = $1",
                    contact_id,
                    at,
                )
            case ev.ConversationEnded() | ev.ContactAbandoned():
                await conn.execute(
                    "UPDATE contacts SET ended_at = $2 WHERE id = $1", contact_id, at
                )
            case ev.WrapUpCompleted():
                await conn.execute(
                    "UPDATE contacts SET closed_at = $2, disposition = $3, notes = $4"
                    " WHERE id = $1",
                    contact_id,
                    at,
                    event.disposition,
                    event.notes,
                )
            case ev.ContactOverflowed():
                await conn.execute(
                    "UPDATE contacts SET queue = $2 WHERE id = $1", contact_id, event.to_queue
                )
            case ev.ContactTransferred():
                await conn.execute(
                    "UPDATE contacts SET queue = $2 WHERE id = $1", contact_id, event.to_queue
                )
            case ev.ContactReprioritized():
                await conn.execute(
                    "UPDATE contacts SET priority = $2 WHERE id = $1", contact_id, event.priority
                )
            case _:
                pass


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
