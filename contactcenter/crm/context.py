"""The customer context that travels with every routing offer, read in one round trip.

`customer_context` is one SQL statement (prepared once per connection by asyncpg's statement
cache) that builds the whole object in PostgreSQL with json_build_object and json_agg
subqueries, each an index probe: who the customer is, what they are worth, their last ten
interactions on every channel, open cases, latest notes, tags and account manager. Its shape
is documented in docs/crm.md ("The customer context"). `interactions` pages through the same
history for the API.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from contactcenter.crm.customers import SURVIVOR_CTE, as_uuid, survivor_of
from contactcenter.web.pagination import FIRST_PAGE, Page, Window

HISTORY_SIZE = 10  # interactions in the context
NOTES_SIZE = 5  # latest notes in the context
SUMMARY_CHARS = 120  # a first customer message standing in for a summary is cut to this


def _ms(column: str) -> str:
    return f"floor(extract(epoch FROM {column}) * 1000)::bigint"


# One contact as an interaction (k: contacts, a: its agent, fm: the first non-blank line of
# its first customer message, looked up only when the contact has no summary).
_INTERACTION_FROM = r"""
FROM contacts k
LEFT JOIN agents a ON a.id = k.agent_id
LEFT JOIN LATERAL (
    SELECT btrim(substring(m.body FROM '[^\r\n]*\S[^\r\n]*')) AS line
    FROM messages m WHERE k.summary = '' AND m.contact_id = k.id AND m.sender = 'customer'
    ORDER BY m.created_at LIMIT 1
) fm ON true
"""
_INTERACTION = f"""json_build_object(
    'contact_id', k.id, 'channel', k.channel, 'queue', k.queue, 'state', k.state,
    'arrived_at_ms', {_ms("k.arrived_at")}, 'ended_at_ms', {_ms("k.ended_at")},
    'agent_id', k.agent_id, 'agent_name', a.display_name, 'disposition', k.disposition,
    'notes', k.notes,
    'duration_s', CASE WHEN k.ended_at IS NOT NULL AND k.accepted_at IS NOT NULL
        THEN floor(extract(epoch FROM k.ended_at - k.accepted_at))::int END,
    'summary', CASE WHEN k.summary <> '' THEN k.summary
        WHEN char_length(fm.line) > {SUMMARY_CHARS}
        THEN left(fm.line, {SUMMARY_CHARS - 1}) || '…' ELSE coalesce(fm.line, '') END)"""

_CONTEXT = f"""{SURVIVOR_CTE}
SELECT json_build_object(
    'customer_id', c.id,
    'merged_from', CASE WHEN c.id <> $1 THEN $1 END,
    'name', c.display_name,
    'language', c.language,
    'identities', (SELECT coalesce(json_agg(json_build_object(
            'kind', i.kind, 'value', i.value, 'is_primary', i.is_primary,
            'shared', EXISTS (SELECT 1 FROM identities h WHERE h.kind = i.kind
                AND h.value = i.value AND h.customer_id <> i.customer_id))
        ORDER BY i.kind, i.value), '[]') FROM identities i WHERE i.customer_id = c.id),
    'value', json_build_object(
        'tier', c.tier, 'tier_by_hand', c.tier_by_hand, 'value_amount', c.value_amount::text,
        'value_rank', c.value_rank, 'order_count', c.order_count,
        'first_order_at_ms', {_ms("c.first_order_at")},
        'last_order_at_ms', {_ms("c.last_order_at")}),
    'lifecycle', c.lifecycle,
    'rfm', json_build_object('recency', c.rfm_recency, 'frequency', c.rfm_frequency,
        'monetary', c.rfm_monetary),
    'account_manager', (SELECT json_build_object('agent_id', am.id,
        'display_name', am.display_name) FROM agents am WHERE am.id = c.account_manager),
    'interactions', (SELECT coalesce(json_agg(h.j ORDER BY h.arrived_at DESC, h.id DESC), '[]')
        FROM (SELECT k.arrived_at, k.id, {_INTERACTION} AS j {_INTERACTION_FROM}
            WHERE k.customer_id = c.id ORDER BY k.arrived_at DESC, k.id DESC
            LIMIT {HISTORY_SIZE}) h),
    'open_cases', (SELECT coalesce(json_agg(json_build_object(
            'case_id', s.id, 'kind', s.kind, 'subject', s.subject, 'status', s.status,
            'priority', s.priority, 'owner_id', s.owner_id, 'due_at_ms', {_ms("s.due_at")},
            'created_at_ms', {_ms("s.created_at")})
        ORDER BY s.created_at DESC, s.id DESC), '[]')
        FROM cases s WHERE s.customer_id = c.id AND s.status IN ('open', 'pending')),
    'notes', (SELECT coalesce(json_agg(n.j ORDER BY n.created_at DESC, n.id DESC), '[]')
        FROM (SELECT n.created_at, n.id, json_build_object('note_id', n.id, 'body', n.body,
                'author_id', n.author_id, 'author_name', na.display_name,
                'created_at_ms', {_ms("n.created_at")}) AS j
            FROM customer_notes n LEFT JOIN agents na ON na.id = n.author_id
            WHERE n.customer_id = c.id ORDER BY n.created_at DESC, n.id DESC
            LIMIT {NOTES_SIZE}) n),
    'tags', (SELECT coalesce(json_agg(t.tag ORDER BY t.tag), '[]')
        FROM customer_tags t WHERE t.customer_id = c.id)
)::text
FROM survivor JOIN customers c USING (id)
"""


async def customer_context(
    db: asyncpg.Pool | asyncpg.Connection, customer_id: str | uuid.UUID
) -> dict[str, Any] | None:
    """The context of a customer (its survivor if merged), a plain JSON-able dict; None for
    an unknown customer. One round trip."""
    text = await db.fetchval(_CONTEXT, as_uuid(customer_id))
    if text is None:
        return None
    context: dict[str, Any] = json.loads(text)
    context["has_open_complaint"] = any(c["kind"] == "complaint" for c in context["open_cases"])
    return context


CONTEXT_SQL = _CONTEXT  # for EXPLAIN in tests and the benchmark


async def interactions(
    db: asyncpg.Pool | asyncpg.Connection, customer_id: str, window: Window = FIRST_PAGE
) -> Page[dict[str, Any]]:
    """A customer's contacts on every channel, newest first, as in the context."""
    cid = await survivor_of(db, customer_id)
    after = window.after(datetime, uuid.UUID) or [None, None]
    rows = await db.fetch(
        f"SELECT k.arrived_at, k.id, {_INTERACTION}::text AS j {_INTERACTION_FROM}"
        " WHERE k.customer_id = $1"
        " AND ($2::timestamptz IS NULL OR (k.arrived_at, k.id) < ($2, $3::uuid))"
        " ORDER BY k.arrived_at DESC, k.id DESC LIMIT $4 OFFSET $5",
        cid,
        *after,
        window.limit + 1,
        window.offset or 0,
    )
    page = window.page(rows, lambda r: (r["arrived_at"], r["id"]))
    return page.map(lambda r: json.loads(r["j"]))
