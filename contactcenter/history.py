"""The history writer: stores every event in PostgreSQL and keeps contacts' rows current.

It is a consumer-group member (at least once), so each step is idempotent: the event row is
inserted once on its id, and contact updates set values rather than add to them. Message
bodies are already stored by the code that accepted them, so they are not copied here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict

import asyncpg

from contactcenter import events as ev
from contactcenter.crm import ms_to_dt


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class HistoryWriter:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, event: ev.Event) -> None:
        payload = asdict(event)
        payload.pop("body", None)
        at = ms_to_dt(event.at_ms)
        contact_id = _uuid(payload.get("contact_id"))
        agent_id = _uuid(payload.get("agent_id"))
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO events (event_id, type, at, contact_id, agent_id, payload)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                event.event_id,
                event.type,
                at,
                contact_id,
                agent_id,
                json.dumps(payload),
            )
            if inserted and contact_id is not None:
                await self._project(conn, event, contact_id, at)

    async def _project(
        self, conn: asyncpg.Connection, event: ev.Event, contact_id: uuid.UUID, at: object
    ) -> None:
        match event:
            case ev.OfferAccepted():
                await conn.execute(
                    "UPDATE contacts SET state = 'assigned', agent_id = $2, accepted_at = $3"
                    " WHERE id = $1 AND state = 'queued'",
                    contact_id,
                    _uuid(event.agent_id),
                    at,
                )
            case ev.ConversationEnded():
                await conn.execute(
                    "UPDATE contacts SET state = 'wrapup', ended_at = $2"
                    " WHERE id = $1 AND state IN ('queued', 'assigned')",
                    contact_id,
                    at,
                )
            case ev.WrapUpCompleted():
                await conn.execute(
                    "UPDATE contacts SET state = 'closed', closed_at = $2, disposition = $3,"
                    " notes = $4, agent_id = $5 WHERE id = $1",
                    contact_id,
                    at,
                    event.disposition,
                    event.notes,
                    _uuid(event.agent_id),
                )
            case ev.ContactAbandoned():
                await conn.execute(
                    "UPDATE contacts SET state = 'abandoned', ended_at = $2"
                    " WHERE id = $1 AND state = 'queued'",
                    contact_id,
                    at,
                )
            case _:
                pass
