"""Bring live routing state back in line with PostgreSQL, the system of record.

Redis holds live routing state; if it loses it (a restart without persistence) or never got
it (a hub died between storing a contact and queueing it), the hub rebuilds from the record:

1. agents: their routing profile, and their last presence from the event history; an agent
   restored as available or away gets the console grace period to reconnect;
2. conversations in progress and wrap-ups: back with the agent who holds them;
3. waiting contacts: back in their queues at their original arrival time, keeping their place.

It runs when a hub starts, and for one contact when its customer comes back. Every step is
idempotent (what Redis already knows is left alone), so hub processes may run it together.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from contactcenter.crm.store import dt_to_ms
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.routing import QueueSettings
from contactcenter.web.auth import AgentStore
from routing.status import AgentStateStatus, EnqueueStatus, RestoreStatus
from routing.store import RoutingStore

log = structlog.get_logger("contactcenter.conversations.recovery")

_CONTACTS = """
SELECT c.id, c.customer_id, c.channel, c.queue, c.arrived_at, c.priority, c.required_skills,
       c.language, c.state, c.agent_id, c.ended_at
FROM contacts c
WHERE c.state = ANY($3::text[]) AND c.routing_domain = $2
  AND ($1::uuid[] IS NULL OR c.id = ANY($1::uuid[]))
ORDER BY c.arrived_at
"""

_LAST_PRESENCE = """
SELECT DISTINCT ON (agent_id) agent_id, payload->>'state' AS state, payload->>'reason' AS reason
FROM events WHERE type = 'AgentStateChanged' AND agent_id IS NOT NULL AND routing_domain = $1
  AND ($2::uuid IS NULL OR agent_id = $2::uuid)
ORDER BY agent_id, at DESC
"""


@dataclass
class Recovered:
    agents: int = 0
    conversations: int = 0
    waiting: int = 0


def _queue(settings: HubSettings, name: str) -> QueueSettings:
    return next((q for q in settings.queues if q.name == name), settings.queues[0])


def _aging_ms(queue: QueueSettings) -> int | None:
    return int(queue.aging_s * 1000) if queue.aging_s else None


async def _rows(
    pool: asyncpg.Pool,
    settings: HubSettings,
    contact_ids: Sequence[str] | None,
    states: tuple[str, ...],
) -> list[asyncpg.Record]:
    """The domain's contacts in `states` (of `contact_ids`, or all), oldest first."""
    ids = [uuid.UUID(c) for c in contact_ids] if contact_ids is not None else None
    return list(await pool.fetch(_CONTACTS, ids, settings.routing_domain, list(states)))


async def restore_agents(
    pool: asyncpg.Pool,
    agents: AgentStore,
    routing: RoutingStore,
    now_ms: int,
    only: str | None = None,
) -> int:
    """Agents unknown to Redis (or the one agent `only`) get their profile, and their last
    presence if not offline."""
    domain = routing.keys.domain
    wanted = uuid.UUID(only) if only is not None else None
    presence = {str(r["agent_id"]): r for r in await pool.fetch(_LAST_PRESENCE, domain, wanted)}
    restored = 0
    if only is not None:
        one = await agents.get(only)
        chosen = [one] if one is not None else []
    else:
        chosen = list(await agents.all())
    for agent in chosen:
        if await routing.agent_fields(agent.agent_id):
            continue
        await routing.set_agent_profile(
            agent.agent_id,
            skills=agent.skills,
            capacity=agent.capacity,
            languages=agent.languages,
            voice_blocks_chat=agent.voice_blocks_chat,
            now_ms=now_ms,
        )
        last = presence.get(agent.agent_id)
        if last is not None and last["state"] in ("available", "away"):
            # Counted as seen now: their console has the grace period to come back.
            status = await routing.set_agent_state(
                agent.agent_id, last["state"], now_ms=now_ms, reason=last["reason"] or None
            )
            restored += status is AgentStateStatus.CHANGED
    return restored


async def restore_conversations(
    pool: asyncpg.Pool,
    routing: RoutingStore,
    settings: HubSettings,
    now_ms: int,
    contact_ids: Sequence[str] | None = None,
) -> int:
    """Contacts in conversation or wrap-up that Redis lost go back to their agent."""
    restored = 0
    for row in await _rows(pool, settings, contact_ids, ("assigned", "wrapup")):
        if row["agent_id"] is None:
            continue
        queue = _queue(settings, row["queue"])
        status = await routing.restore(
            contact_id=str(row["id"]),
            queue=queue.name,
            channel=row["channel"],
            priority=row["priority"],
            enqueued_at_ms=dt_to_ms(row["arrived_at"]),
            customer_id=str(row["customer_id"]),
            state=row["state"],
            agent_id=str(row["agent_id"]),
            ended_at_ms=dt_to_ms(row["ended_at"]) if row["ended_at"] else None,
            now_ms=now_ms,
            aging_ms=_aging_ms(queue),
        )
        if status is RestoreStatus.RESTORED:
            restored += 1
            log.info(
                "conversation_restored", contact_id=str(row["id"]), agent_id=str(row["agent_id"])
            )
    return restored


async def requeue_orphans(
    pool: asyncpg.Pool,
    routing: RoutingStore,
    settings: HubSettings,
    now_ms: int,
    contact_ids: Sequence[str] | None = None,
) -> int:
    """Queue again every waiting contact (of `contact_ids`, or all) unknown to Redis."""
    restored = 0
    for row in await _rows(pool, settings, contact_ids, ("queued",)):
        contact_id = str(row["id"])
        if await routing.contact(contact_id) is not None:
            continue
        queue = _queue(settings, row["queue"])
        status = await routing.enqueue(
            contact_id=contact_id,
            queue=queue.name,
            channel=row["channel"],
            customer_id=str(row["customer_id"]),
            priority=row["priority"],
            now_ms=now_ms,
            enqueued_at_ms=dt_to_ms(row["arrived_at"]),
            aging_ms=_aging_ms(queue),
            required_skills=row["required_skills"],
            language=row["language"],
        )
        if status is EnqueueStatus.QUEUED:
            restored += 1
            log.info("contact_requeued_from_record", contact_id=contact_id, queue=queue.name)
    return restored


async def recover(
    pool: asyncpg.Pool,
    agents: AgentStore,
    routing: RoutingStore,
    settings: HubSettings,
    now_ms: int,
) -> Recovered:
    """All three steps, in order (conversations need their agents)."""
    return Recovered(
        agents=await restore_agents(pool, agents, routing, now_ms),
        conversations=await restore_conversations(pool, routing, settings, now_ms),
        waiting=await requeue_orphans(pool, routing, settings, now_ms),
    )
