"""The calls follow the contacts: a consumer-group member on the event stream changes each
live call through Twilio's REST API as its contact moves (docs/channels.md, "Twilio voice").

- `OfferAccepted` of a voice contact: the caller is bridged to the agent, on their browser
  softphone or their phone (`agents.voice_to`).
- `ContactTransferred` to a queue: the caller goes back to waiting, in that queue.
- `ConversationEnded` by the agent: the caller's call is hung up.

Events come at least once: each change is claimed in PostgreSQL before the request (the
event's time orders them), so none is made twice. A request that surely changed nothing (no
connection, HTTP 429 or 503) gives the claim back and the event is handled again, up to
`max_send_attempts`; any other failure is logged and not repeated.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog
from twilio.base.exceptions import TwilioRestException

from channels.twilio.voice_store import CallUpdate, VoiceStore
from channels.twilio.voice_twiml import VoiceTwiml
from contactcenter.core import events as ev
from routing.store import RoutingStore

log = structlog.get_logger("channels.twilio.voice")

CONSUMER_GROUP = "twilio-voice"


class UpdateLater(Exception):
    """Twilio could not be reached and the call was not changed: the event comes again."""


class Unreachable(Exception):
    pass


class CallBridge:
    """Consumer-group member (group `twilio-voice`) keeping live calls in step with their
    contacts."""

    def __init__(
        self,
        store: VoiceStore,
        routing: RoutingStore,
        twiml: VoiceTwiml,
        client: Any,
        max_attempts: int,
    ) -> None:
        self.store = store
        self.routing = routing
        self.twiml = twiml
        self.client = client  # twilio.rest.Client on the async HTTP client
        self.max_attempts = max_attempts
        self.attempts: dict[str, int] = {}

    async def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.OfferAccepted):
            await self._bridge(event)
        elif isinstance(event, ev.ContactTransferred) and event.to_agent_id is None:
            await self._requeue(event)
        elif isinstance(event, ev.ConversationEnded) and event.ended_by == "agent":
            await self._hang_up(event)

    async def _bridge(self, event: ev.OfferAccepted) -> None:
        live = await self.routing.contact(event.contact_id)
        if live is None or live.channel != "voice":
            return
        if live.state != "assigned" or live.agent_id != event.agent_id:
            return  # a late delivery: the contact has moved on since
        update = await self.store.claim_update(event.contact_id, event.at_ms, event.agent_id)
        if update is None:
            return  # bridged before, or the call is over
        voice_to = await self.store.agent_voice_to(event.agent_id)
        twiml = self.twiml.bridge(voice_to, event.agent_id, update.language, event.contact_id)
        if await self._change(event, update, twiml):
            log.info(
                "twilio_call_bridged",
                call_sid=update.call_sid,
                contact_id=event.contact_id,
                agent_id=event.agent_id,
                to="softphone" if voice_to == "client" else "phone",
            )

    async def _requeue(self, event: ev.ContactTransferred) -> None:
        live = await self.routing.contact(event.contact_id)
        if live is None or live.channel != "voice" or live.state not in ("queued", "offered"):
            return
        update = await self.store.claim_update(event.contact_id, event.at_ms, None)
        if update is None:
            return
        twiml = self.twiml.requeue(event.contact_id, event.to_queue, update.language)
        if await self._change(event, update, twiml):
            log.info("twilio_call_requeued", call_sid=update.call_sid, contact_id=event.contact_id)

    async def _change(self, event: ev.Event, update: CallUpdate, twiml: str) -> bool:
        """Replace the call's TwiML (https://www.twilio.com/docs/voice/api/call-resource#
        update-a-call-resource: `Twiml` runs at once, leaving the queue if it waits in one)."""
        try:
            await self._request(event, update.call_sid, twiml=twiml)
        except Unreachable as exc:
            await self.store.release_update(update, event.at_ms)
            await self._later(event, str(exc))
            return False
        except Exception as exc:
            log.warning("twilio_call_update_failed", call_sid=update.call_sid, error=str(exc))
            return False
        return True

    async def _hang_up(self, event: ev.ConversationEnded) -> None:
        sid = await self.store.claim_hangup(event.contact_id)
        if sid is None:
            return  # not a call, over already, or hung up before
        try:
            # Status "completed" ends a call in progress (the Call resource's update).
            await self._request(event, sid, status="completed")
        except Unreachable as exc:
            await self.store.release_hangup(sid)
            await self._later(event, str(exc))
            return
        except Exception as exc:  # the caller left first (Twilio 21220), or unknown outcome
            log.info("twilio_call_hangup_failed", call_sid=sid, error=str(exc))
            return
        log.info("twilio_call_hung_up", call_sid=sid, contact_id=event.contact_id)

    async def _request(self, event: ev.Event, call_sid: str, **change: str) -> None:
        try:
            await self.client.calls(call_sid).update_async(**change)
        except TwilioRestException as exc:
            if exc.status in (429, 503):
                raise Unreachable(f"http {exc.status}") from exc
            raise
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was changed
            raise Unreachable(str(exc)) from exc
        self.attempts.pop(event.event_id, None)

    async def _later(self, event: ev.Event, why: str) -> None:
        tries = self.attempts[event.event_id] = self.attempts.get(event.event_id, 0) + 1
        if tries >= self.max_attempts:
            self.attempts.pop(event.event_id, None)
            log.error(
                "twilio_call_update_gave_up",
                contact_id=getattr(event, "contact_id", None),
                event_type=event.type,
                attempts=tries,
                error=why,
            )
            return
        raise UpdateLater(f"Twilio unreachable ({why}); {event.type} will be handled again")
