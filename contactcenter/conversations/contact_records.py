"""Contacts as the record holds them, for supervisors (contactcenter/conversations/
contacts_api.py): a filtered list, newest first, one page at a time; one contact with its
routing history, its disposition and wrap-up notes, and how much its transcript holds.

Read only. Every read is limited to the hub's routing domain and to what a `Scope` lets the
caller see: an admin everything; a supervisor the contacts of their teams' queues and those
their teams' agents handled.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contactcenter.agents.scope import Scope
from contactcenter.crm.store import dt_to_ms, ms_to_dt
from contactcenter.web.pagination import Page, Window

# The events of a conversation's transcript, which the transcript shows: not routing history.
MESSAGE_EVENTS = ("MessageSent", "MessageStatusChanged")
# Events stored within the same millisecond come in the order a contact lives them (the
# arrival before its queueing, an offer given back before the next offer, an offer before
# its answer); the record keeps no finer order.
LIFE_ORDER = (
    "ContactArrived",
    "ContactRestored",
    "ContactQueued",
    "ContactReprioritized",
    "ContactEscalated",
    "ContactOverflowed",
    "OfferRejected",
    "OfferExpired",
    "OfferWithdrawn",
    "BroadcastEnded",
    "ContactTransferred",
    "ContactOffered",
    "ContactBroadcast",
    "OfferAccepted",
    "ConversationEnded",
    "ContactAbandoned",
    "WrapUpCompleted",
)
MAX_HISTORY = 500


@dataclass(frozen=True)
class ContactFilter:
    """What a list of contacts is narrowed to; None: any."""

    state: str | None = None
    queue: str | None = None
    agent_id: uuid.UUID | None = None
    channel: str | None = None
    customer_id: uuid.UUID | None = None
    since_ms: int | None = None  # arrived at or after
    until_ms: int | None = None  # arrived before


_COLUMNS = """
k.id, k.customer_id, cu.display_name AS customer_name, k.channel, k.queue, k.state,
k.priority, k.language, k.agent_id, a.display_name AS agent_name, k.arrived_at,
k.accepted_at, k.ended_at, k.closed_at, k.disposition
"""
_FROM = """
FROM contacts k
JOIN customers cu ON cu.id = k.customer_id
LEFT JOIN agents a ON a.id = k.agent_id
"""
# $1 routing domain; $2 sees everything; $3 queues and $4 agents it sees otherwise.
_IN_SCOPE = """
k.routing_domain = $1
AND ($2::boolean OR k.queue = ANY($3::text[]) OR k.agent_id = ANY($4::uuid[]))
"""
_LIST = f"""
SELECT {_COLUMNS} {_FROM}
WHERE {_IN_SCOPE}
AND ($5::text IS NULL OR k.state = $5)
AND ($6::text IS NULL OR k.queue = $6)
AND ($7::uuid IS NULL OR k.agent_id = $7)
AND ($8::text IS NULL OR k.channel = $8)
AND ($9::uuid IS NULL OR k.customer_id = $9)
AND ($10::timestamptz IS NULL OR k.arrived_at >= $10)
AND ($11::timestamptz IS NULL OR k.arrived_at < $11)
AND ($12::timestamptz IS NULL OR (k.arrived_at, k.id) < ($12, $13::uuid))
ORDER BY k.arrived_at DESC, k.id DESC
LIMIT $14 OFFSET $15
"""
_ONE = f"""
SELECT {_COLUMNS}, k.notes, k.summary, k.identity_proof, k.csat_rating,
       (SELECT count(*) FROM messages m WHERE m.contact_id = k.id) AS message_count,
       (SELECT max(m.created_at) FROM messages m WHERE m.contact_id = k.id) AS last_message_at
{_FROM}
WHERE {_IN_SCOPE} AND k.id = $5
"""
_HISTORY = """
SELECT event_id, type, at, payload::text AS payload
FROM events
WHERE contact_id = $1 AND NOT (type = ANY($2::text[]))
ORDER BY at, coalesce(array_position($3::text[], type), 1000), stored_at, event_id
LIMIT $4
"""


def _ms(at: datetime | None) -> int | None:
    return None if at is None else dt_to_ms(at)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _scope_args(domain: str, scope: Scope) -> tuple[Any, ...]:
    return (
        domain,
        scope.everything,
        sorted(scope.queues),
        [uuid.UUID(a) for a in sorted(scope.agent_ids)],
    )


def contact_wire(row: asyncpg.Record) -> dict[str, Any]:
    """A contact row as the list and the detail show it."""
    return {
        "contact_id": str(row["id"]),
        "customer_id": str(row["customer_id"]),
        "customer_name": row["customer_name"],
        "channel": row["channel"],
        "queue": row["queue"],
        "state": row["state"],
        "priority": row["priority"],
        "language": row["language"],
        "agent_id": _str(row["agent_id"]),
        "agent_name": row["agent_name"],
        "arrived_at_ms": dt_to_ms(row["arrived_at"]),
        "accepted_at_ms": _ms(row["accepted_at"]),
        "ended_at_ms": _ms(row["ended_at"]),
        "closed_at_ms": _ms(row["closed_at"]),
        "disposition": row["disposition"],
    }


async def list_contacts(
    db: asyncpg.Pool, domain: str, scope: Scope, f: ContactFilter, window: Window
) -> Page[dict[str, Any]]:
    """The contacts `scope` sees that match `f`, newest arrival first."""
    after = window.after(datetime, uuid.UUID) or [None, None]
    rows = await db.fetch(
        _LIST,
        *_scope_args(domain, scope),
        f.state,
        f.queue,
        f.agent_id,
        f.channel,
        f.customer_id,
        None if f.since_ms is None else ms_to_dt(f.since_ms),
        None if f.until_ms is None else ms_to_dt(f.until_ms),
        *after,
        window.limit + 1,
        window.offset or 0,
    )
    page = window.page(rows, lambda r: (r["arrived_at"], r["id"]))
    return page.map(contact_wire)


def _event_wire(row: asyncpg.Record) -> dict[str, Any]:
    data = json.loads(row["payload"])
    for known in ("event_id", "at_ms", "type", "contact_id"):
        data.pop(known, None)
    return {
        "event_id": row["event_id"],
        "type": row["type"],
        "at_ms": dt_to_ms(row["at"]),
        "data": data,
    }


async def contact_detail(
    db: asyncpg.Pool, domain: str, scope: Scope, contact_id: uuid.UUID
) -> dict[str, Any] | None:
    """One contact `scope` sees, with its routing history oldest first (at most
    `MAX_HISTORY` events; `history_complete` says whether that was all), or None."""
    async with db.acquire() as conn:
        row = await conn.fetchrow(_ONE, *_scope_args(domain, scope), contact_id)
        if row is None:
            return None
        events = await conn.fetch(
            _HISTORY, contact_id, list(MESSAGE_EVENTS), list(LIFE_ORDER), MAX_HISTORY + 1
        )
    return {
        **contact_wire(row),
        "notes": row["notes"],
        "summary": row["summary"],
        "identity_proof": row["identity_proof"],
        "csat_rating": row["csat_rating"],
        "history": [_event_wire(e) for e in events[:MAX_HISTORY]],
        "history_complete": len(events) <= MAX_HISTORY,
        "transcript": {
            "url": f"/api/contacts/{row['id']}/transcript",
            "message_count": row["message_count"],
            "last_message_at_ms": _ms(row["last_message_at"]),
        },
    }
