"""Bring live routing state back in line with PostgreSQL, the system of record.

A contact is stored in PostgreSQL before it is queued in Redis. If a hub dies between the two,
or Redis loses its data, the contact exists but waits in no queue. `requeue_orphans` finds
such contacts and queues them again at their original arrival time, so they keep their place.
It runs when a hub starts and when a customer comes back; queueing is idempotent, so several
hub processes may run it at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import structlog

from contactcenter.crm import dt_to_ms
from contactcenter.settings import HubSettings
from routing.status import EnqueueStatus
from routing.store import RoutingStore

log = structlog.get_logger("contactcenter.recovery")

# Once one of these is in the history, the contact no longer waits for an agent.
_PAST_WAITING = ("OfferAccepted", "ContactAbandoned", "ConversationEnded", "WrapUpCompleted")

_ORPHANS = """
SELECT c.id, c.customer_id, c.channel, c.queue, c.arrived_at, c.priority, c.required_skills,
       c.language FROM contacts c
WHERE c.state = 'queued' AND c.routing_domain = $3
  AND ($1::uuid[] IS NULL OR c.id = ANY($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.type = ANY($2::text[]))
ORDER BY c.arrived_at
"""


async def requeue_orphans(
    pool: asyncpg.Pool,
    routing: RoutingStore,
    settings: HubSettings,
    now_ms: int,
    contact_ids: Sequence[str] | None = None,
) -> int:
    """Queue again every waiting contact (of `contact_ids`, or all) unknown to Redis."""
    ids = [uuid.UUID(c) for c in contact_ids] if contact_ids is not None else None
    restored = 0
    rows = await pool.fetch(_ORPHANS, ids, list(_PAST_WAITING), settings.routing_domain)
    for row in rows:
        contact_id = str(row["id"])
        if await routing.contact(contact_id) is not None:
            continue
        queue = next((q for q in settings.queues if q.name == row["queue"]), settings.queues[0])
        status = await routing.enqueue(
            contact_id=contact_id,
            queue=queue.name,
            channel=row["channel"],
            customer_id=str(row["customer_id"]),
            priority=row["priority"],
            now_ms=now_ms,
            enqueued_at_ms=dt_to_ms(row["arrived_at"]),
            aging_ms=int(queue.aging_s * 1000) if queue.aging_s else None,
            required_skills=row["required_skills"],
            language=row["language"],
        )
        if status is EnqueueStatus.QUEUED:
            restored += 1
            log.info("contact_requeued_from_record", contact_id=contact_id, queue=queue.name)
    return restored
