"""What the voice channel keeps in PostgreSQL (migration 0013_voice.sql): each call once on
its CallSid, the claims that keep Twilio's retries and the stream's redeliveries from doing
anything twice, each voicemail once on its RecordingSid, and where each agent takes calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from channels.twilio.voice_twiml import IncomingCall, Recording


@dataclass(frozen=True)
class VoiceCall:
    """A call as the hub recorded it; `outcome` is None until its contact started (or the
    queue refused it: "closed", "full")."""

    call_sid: str
    caller: str
    called: str
    customer_id: str | None
    language: str | None
    intents: tuple[str, ...]
    outcome: str | None
    contact_id: str | None
    refusal: str | None
    ended: bool


def _call(row: asyncpg.Record) -> VoiceCall:
    return VoiceCall(
        call_sid=row["call_sid"],
        caller=row["caller"],
        called=row["called"],
        customer_id=None if row["customer_id"] is None else str(row["customer_id"]),
        language=row["language"],
        intents=tuple(row["intents"]),
        outcome=row["outcome"],
        contact_id=None if row["contact_id"] is None else str(row["contact_id"]),
        refusal=row["refusal"],
        ended=row["ended_at"] is not None,
    )


@dataclass(frozen=True)
class CallUpdate:
    """A claimed change of a live call through the REST API, and what it replaced (to give
    the claim back should Twilio not be reached)."""

    call_sid: str
    contact_id: str
    language: str | None
    previous_at_ms: int | None
    previous_agent_id: str | None


class VoiceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record_call(self, call: IncomingCall) -> VoiceCall:
        """The call, recorded on its first webhook; a retry finds it as it stands."""
        row = await self.pool.fetchrow(
            "WITH new AS (INSERT INTO voice_calls (call_sid, caller, called)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING *)"
            " SELECT * FROM new UNION ALL SELECT * FROM voice_calls WHERE call_sid = $1",
            call.call_sid,
            call.caller,
            call.called,
        )
        if row is None:  # a twin delivery inserted it after this statement's snapshot
            row = await self.pool.fetchrow(
                "SELECT * FROM voice_calls WHERE call_sid = $1", call.call_sid
            )
        assert row is not None
        return _call(row)

    async def call(self, call_sid: str) -> VoiceCall | None:
        row = await self.pool.fetchrow("SELECT * FROM voice_calls WHERE call_sid = $1", call_sid)
        return None if row is None else _call(row)

    async def call_of_contact(self, contact_id: str) -> VoiceCall | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM voice_calls WHERE contact_id = $1::uuid", contact_id
        )
        return None if row is None else _call(row)

    # --- starting the contact, once ----------------------------------------------------------

    async def claim_start(self, call_sid: str, lease_s: float) -> bool:
        """Take the call to start its contact; False while another delivery holds it, or
        once it has an outcome."""
        taken = await self.pool.fetchval(
            "UPDATE voice_calls SET start_claimed_until = clock_timestamp()"
            " + make_interval(secs => $2) WHERE call_sid = $1 AND outcome IS NULL"
            " AND (start_claimed_until IS NULL OR start_claimed_until < clock_timestamp())"
            " RETURNING true",
            call_sid,
            lease_s,
        )
        return bool(taken)

    async def release_start(self, call_sid: str) -> None:
        await self.pool.execute(
            "UPDATE voice_calls SET start_claimed_until = NULL WHERE call_sid = $1", call_sid
        )

    async def started(
        self,
        call_sid: str,
        outcome: str,
        customer_id: str,
        contact_id: str | None,
        language: str | None,
        intents: Sequence[str],
        refusal: str | None = None,
    ) -> None:
        await self.pool.execute(
            "UPDATE voice_calls SET outcome = $2, customer_id = $3::uuid, contact_id = $4::uuid,"
            " language = $5, intents = $6, refusal = $7, start_claimed_until = NULL"
            " WHERE call_sid = $1",
            call_sid,
            outcome,
            customer_id,
            contact_id,
            language,
            list(intents),
            refusal,
        )

    async def customer_name(self, customer_id: str) -> str:
        name = await self.pool.fetchval(
            "SELECT display_name FROM customers WHERE id = $1::uuid", customer_id
        )
        return str(name or "")

    async def orphan_contact(self, call_sid: str) -> str | None:
        """The contact a delivery that died midway started for this call (its first message
        carries the CallSid as client message id), if any."""
        found = await self.pool.fetchval(
            "SELECT m.contact_id FROM messages m JOIN contacts c ON c.id = m.contact_id"
            " WHERE m.client_msg_id = $1 AND m.sender = 'customer' AND c.channel = 'voice'"
            " LIMIT 1",
            call_sid,
        )
        return None if found is None else str(found)

    # --- changing the live call, once per event --------------------------------------------

    async def claim_update(
        self, contact_id: str, at_ms: int, agent_id: str | None
    ) -> CallUpdate | None:
        """Claim the change an event at `at_ms` asks of the contact's call (bridge it to
        `agent_id`, or back to the queue for None); None when the call is over, or this event
        or a later one already changed it."""
        row = await self.pool.fetchrow(
            "WITH old AS (SELECT call_sid, updated_at_ms, bridged_agent_id FROM voice_calls"
            " WHERE contact_id = $1::uuid AND ended_at IS NULL AND hangup_claimed_at IS NULL"
            " AND (updated_at_ms IS NULL OR updated_at_ms < $2) FOR UPDATE)"
            " UPDATE voice_calls v SET updated_at_ms = $2, bridged_agent_id = $3::uuid"
            " FROM old WHERE v.call_sid = old.call_sid"
            " RETURNING v.call_sid, v.language, old.updated_at_ms AS previous_at_ms,"
            " old.bridged_agent_id AS previous_agent_id",
            contact_id,
            at_ms,
            agent_id,
        )
        if row is None:
            return None
        previous = row["previous_agent_id"]
        return CallUpdate(
            row["call_sid"],
            contact_id,
            row["language"],
            row["previous_at_ms"],
            None if previous is None else str(previous),
        )

    async def release_update(self, update: CallUpdate, at_ms: int) -> None:
        """Give a claimed change back: Twilio was not reached, the event will come again."""
        await self.pool.execute(
            "UPDATE voice_calls SET updated_at_ms = $3, bridged_agent_id = $4::uuid"
            " WHERE call_sid = $1 AND updated_at_ms = $2",
            update.call_sid,
            at_ms,
            update.previous_at_ms,
            update.previous_agent_id,
        )

    async def claim_hangup(self, contact_id: str) -> str | None:
        """Claim ending the contact's call from our side; its CallSid, or None when it is
        over or was claimed before."""
        sid = await self.pool.fetchval(
            "UPDATE voice_calls SET hangup_claimed_at = now() WHERE contact_id = $1::uuid"
            " AND ended_at IS NULL AND hangup_claimed_at IS NULL RETURNING call_sid",
            contact_id,
        )
        return None if sid is None else str(sid)

    async def release_hangup(self, call_sid: str) -> None:
        await self.pool.execute(
            "UPDATE voice_calls SET hangup_claimed_at = NULL WHERE call_sid = $1", call_sid
        )

    async def ended(self, call_sid: str, status: str) -> None:
        await self.pool.execute(
            "UPDATE voice_calls SET ended_at = coalesce(ended_at, now()),"
            " end_status = coalesce(end_status, $2) WHERE call_sid = $1",
            call_sid,
            status,
        )

    async def agent_voice_to(self, agent_id: str) -> str:
        """Where the agent takes calls: "client" (the softphone) or an E.164 number."""
        found = await self.pool.fetchval(
            "SELECT voice_to FROM agents WHERE id = $1", uuid.UUID(agent_id)
        )
        return str(found or "client")

    # --- voicemail ---------------------------------------------------------------------------

    async def record_voicemail(
        self, recording: Recording, customer_id: str, contact_id: str | None
    ) -> None:
        await self.pool.execute(
            "INSERT INTO voicemails (recording_sid, call_sid, customer_id, contact_id,"
            " recording_url, duration_s) VALUES ($1, $2, $3::uuid, $4::uuid, $5, $6)"
            " ON CONFLICT DO NOTHING",
            recording.recording_sid,
            recording.call_sid,
            customer_id,
            contact_id,
            recording.url,
            recording.duration_s,
        )

    async def claim_case(self, recording_sid: str, lease_s: float) -> bool:
        """Take the voicemail to open its callback case; False when it has one or another
        delivery is opening it."""
        taken = await self.pool.fetchval(
            "UPDATE voicemails SET case_claimed_until = clock_timestamp()"
            " + make_interval(secs => $2) WHERE recording_sid = $1 AND case_id IS NULL"
            " AND (case_claimed_until IS NULL OR case_claimed_until < clock_timestamp())"
            " RETURNING true",
            recording_sid,
            lease_s,
        )
        return bool(taken)

    async def case_opened(self, recording_sid: str, case_id: str | None) -> None:
        """Record the case (or, with None, give the claim back)."""
        await self.pool.execute(
            "UPDATE voicemails SET case_id = $2::uuid, case_claimed_until = NULL"
            " WHERE recording_sid = $1",
            recording_sid,
            case_id,
        )
