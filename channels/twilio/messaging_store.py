"""What the Twilio channels keep in PostgreSQL (migration 0010_channels.sql): each webhook
delivery recorded once on its sid (`WebhookReceipts`, which doubles as the durable inbox of
messages taken in after the webhook was answered), where a contact's replies go (`Endpoint`),
and each message's id at Twilio, delivery status and media (`MessagingStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from channels.base import DeliveryUpdate, MediaLink

log = structlog.get_logger("channels.twilio.messaging_store")

# --- idempotency on a sid, and the durable inbox -------------------------------------------

# PostgreSQL NOTIFY channel on which each new receipt with a payload is announced (its kind).
RECEIPTS_CHANNEL = "cc_webhook_receipts"


@dataclass(frozen=True)
class Receipt:
    kind: str
    sid: str
    payload: dict[str, Any]
    attempts: int  # this one included


class WebhookReceipts:
    """Each Twilio delivery recorded once, on (kind, sid): a retry of the same MessageSid
    finds its receipt and does nothing again. (Calls have a richer record of their own, one
    row per CallSid: `channels.twilio.voice_store`.)

    A receipt may carry a payload to be handled after the webhook is answered: workers in any
    hub process claim pending receipts for a lease, oldest first. Receipts of one
    `sender_key` are claimed one at a time in arrival order, so one customer's messages are
    handled in the order they came; a lease that runs out (its process died) lets another
    worker take the receipt again, so handling must be idempotent on the sid."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(
        self, kind: str, sid: str, payload: Mapping[str, Any] | None, sender_key: str | None
    ) -> bool:
        """Record a delivery; False when this sid was recorded before (a retry). A delivery
        with a payload is announced on `RECEIPTS_CHANNEL` (its kind), when it commits, to
        the intake workers of every hub process (`listen_for_receipts`)."""
        inserted = await self.pool.fetchval(
            "WITH inserted AS (INSERT INTO webhook_receipts (kind, sid, sender_key, payload)"
            " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING kind, payload)"
            " SELECT count(*) > 0 FROM (SELECT CASE WHEN payload IS NOT NULL"
            " THEN pg_notify($5, kind) END FROM inserted) announced",
            kind,
            sid,
            sender_key,
            None if payload is None else json.dumps(payload),
            RECEIPTS_CHANNEL,
        )
        return bool(inserted)

    async def listen(
        self, database_url: str, kind: str, wake: Callable[[], None], retry_s: float = 1.0
    ) -> None:
        """Call `wake` whenever a receipt of `kind` commits, in any hub process, until
        cancelled: LISTEN on a connection of its own (a pooled one would be handed to
        others), opened again when it drops. Workers still poll, so a gap loses nothing."""

        def announced(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            if payload == kind:
                wake()

        while True:
            try:
                conn = await asyncpg.connect(database_url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("receipts_listen_failed", error=str(exc))
            else:
                await _listen_until_closed(conn, announced, wake)
            await asyncio.sleep(retry_s)

    async def claim(self, kind: str, lease_s: float) -> Receipt | None:
        """The oldest pending receipt no one holds whose sender has nothing older pending,
        held for `lease_s`; None when there is none."""
        row = await self.pool.fetchrow(
            "UPDATE webhook_receipts w SET attempts = w.attempts + 1,"
            " claimed_until = clock_timestamp() + make_interval(secs => $2)"
            " WHERE (w.kind, w.sid) = (SELECT r.kind, r.sid FROM webhook_receipts r"
            "  WHERE r.kind = $1 AND r.handled_at IS NULL"
            "  AND (r.claimed_until IS NULL OR r.claimed_until < clock_timestamp())"
            "  AND NOT EXISTS (SELECT 1 FROM webhook_receipts o WHERE o.kind = r.kind"
            "   AND o.sender_key = r.sender_key AND o.handled_at IS NULL"
            "   AND (o.received_at, o.sid) < (r.received_at, r.sid))"
            "  ORDER BY r.received_at, r.sid LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING w.kind, w.sid, w.payload, w.attempts",
            kind,
            lease_s,
        )
        if row is None:
            return None
        return Receipt(row["kind"], row["sid"], json.loads(row["payload"] or "{}"), row["attempts"])

    async def finish(
        self,
        kind: str,
        sid: str,
        outcome: str,
        *,
        contact_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Mark a receipt handled; its payload (what the customer sent) is dropped, since the
        message itself is stored where it belongs."""
        await self.pool.execute(
            "UPDATE webhook_receipts SET handled_at = clock_timestamp(), payload = NULL,"
            " claimed_until = NULL, outcome = $3, contact_id = $4::uuid, message_id = $5::uuid"
            " WHERE kind = $1 AND sid = $2",
            kind,
            sid,
            outcome,
            contact_id,
            message_id,
        )

    async def retry_later(self, kind: str, sid: str, delay_s: float) -> None:
        await self.pool.execute(
            "UPDATE webhook_receipts SET claimed_until = clock_timestamp()"
            " + make_interval(secs => $3) WHERE kind = $1 AND sid = $2 AND handled_at IS NULL",
            kind,
            sid,
            delay_s,
        )

    async def outcome(self, kind: str, sid: str) -> str | None:
        """'pending' while not handled, else its outcome; None for a sid never recorded."""
        row = await self.pool.fetchrow(
            "SELECT handled_at IS NULL AS pending, outcome FROM webhook_receipts"
            " WHERE kind = $1 AND sid = $2",
            kind,
            sid,
        )
        if row is None:
            return None
        return "pending" if row["pending"] else str(row["outcome"])

    async def prune(self, retention_days: float) -> int:
        """Forget handled receipts older than `retention_days`; returns how many."""
        done = await self.pool.execute(
            "DELETE FROM webhook_receipts WHERE handled_at IS NOT NULL"
            " AND received_at < clock_timestamp() - make_interval(secs => $1)",
            retention_days * 86_400,
        )
        return int(done.split()[-1])


async def _listen_until_closed(
    conn: asyncpg.Connection, announced: Callable[..., None], wake: Callable[[], None]
) -> None:
    closed = asyncio.Event()
    conn.add_termination_listener(lambda _c: closed.set())
    try:
        await conn.add_listener(RECEIPTS_CHANNEL, announced)
        wake()  # anything recorded while no one listened
        await closed.wait()
        log.warning("receipts_listen_lost")
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("receipts_listen_failed", error=str(exc))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(conn.close(timeout=2))


# --- what the channels keep of a conversation's messages -----------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a contact's replies go: the customer's address (`remote`) and ours (`local`),
    both as Twilio writes them (`whatsapp:+E164` on WhatsApp)."""

    channel: str
    remote: str
    local: str


class MessagingStore:
    """A contact's endpoint, and each message's id at Twilio, delivery status and media
    (migration 0010_channels.sql). Status updates only ever move a message forward."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def endpoint(self, contact_id: str) -> Endpoint | None:
        row = await self.pool.fetchrow(
            "SELECT channel, remote, local FROM contact_endpoints WHERE contact_id = $1::uuid",
            contact_id,
        )
        return None if row is None else Endpoint(row["channel"], row["remote"], row["local"])

    async def display_name(self, customer_id: str) -> str:
        name = await self.pool.fetchval(
            "SELECT display_name FROM customers WHERE id = $1::uuid", customer_id
        )
        return str(name or "")

    async def last_message_ms(self, contact_id: str) -> int | None:
        """When the contact's last message was stored, in epoch ms."""
        value = await self.pool.fetchval(
            "SELECT (extract(epoch FROM max(created_at)) * 1000)::bigint FROM messages"
            " WHERE contact_id = $1::uuid",
            contact_id,
        )
        return None if value is None else int(value)

    async def record_inbound(
        self, contact_id: str, sid: str, media: Sequence[MediaLink], endpoint: Endpoint
    ) -> str | None:
        """Attach Twilio's sid and the media links to the customer message stored with the
        sid as its client message id, and remember where the contact's replies go (the
        latest message's addresses); returns the message id."""
        found = await self.pool.fetchval(
            "WITH endpoint AS (INSERT INTO contact_endpoints (contact_id, channel, remote, local)"
            " VALUES ($1::uuid, $4, $5, $6) ON CONFLICT (contact_id) DO UPDATE"
            " SET remote = excluded.remote, local = excluded.local, updated_at = now()"
            " WHERE (contact_endpoints.remote, contact_endpoints.local)"
            " IS DISTINCT FROM (excluded.remote, excluded.local))"
            " UPDATE messages SET external_id = $2, media = $3::jsonb, delivery_status ="
            " 'received', delivery_updated_at = now() WHERE contact_id = $1::uuid"
            " AND sender = 'customer' AND client_msg_id = $2 RETURNING id",
            contact_id,
            sid,
            json.dumps([{"url": m.url, "content_type": m.content_type} for m in media]),
            endpoint.channel,
            endpoint.remote,
            endpoint.local,
        )
        return None if found is None else str(found)

    async def claim_send(self, message_id: str) -> bool:
        """Take an agent message for sending; False when it was taken before."""
        taken = await self.pool.fetchval(
            "UPDATE messages SET delivery_status = 'submitting', delivery_updated_at = now()"
            " WHERE id = $1::uuid AND sender = 'agent' AND delivery_status IS NULL"
            " RETURNING true",
            message_id,
        )
        return bool(taken)

    async def release_send(self, message_id: str) -> None:
        """Give a claimed message back: nothing was sent, it may be sent again."""
        await self.pool.execute(
            "UPDATE messages SET delivery_status = NULL, delivery_updated_at = now()"
            " WHERE id = $1::uuid AND delivery_status = 'submitting'",
            message_id,
        )

    async def send_failed(self, message_id: str, error: str) -> None:
        await self.pool.execute(
            "UPDATE messages SET delivery_status = 'failed', delivery_error = $2,"
            " delivery_updated_at = now() WHERE id = $1::uuid AND delivery_status = 'submitting'",
            message_id,
            error,
        )

    async def record_status(
        self, update: DeliveryUpdate, message_id: str | None, replaceable: Sequence[str]
    ) -> tuple[str, str] | None:
        """Apply Twilio's news of a message (found by our id or its sid) when it moves the
        status forward, that is when the current one is in `replaceable`; returns the
        message's (contact id, message id) when it did."""
        changed = await self.pool.fetchrow(
            "UPDATE messages SET delivery_status = $3, delivery_updated_at = now(),"
            " delivery_error = coalesce($4, delivery_error),"
            " external_id = coalesce(external_id, $2)"
            " WHERE (id = $1::uuid OR external_id = $2)"
            " AND (external_id IS NULL OR external_id = $2)"
            " AND (delivery_status IS NULL OR delivery_status = ANY($5::text[]))"
            " RETURNING contact_id, id",
            message_id,
            update.external_id,
            update.status,
            update.error_code,
            list(replaceable),
        )
        return None if changed is None else (str(changed["contact_id"]), str(changed["id"]))
