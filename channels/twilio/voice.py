"""Phone calls through Twilio Programmable Voice (docs/channels.md, "Twilio voice").

Webhooks (each signed, checked by `twilio_webhook`; each answers TwiML at once):

- `POST /twilio/voice`: a call comes in. It is recorded once on its CallSid, then the IVR
  menu plays (or, with no menu configured, the contact starts at once).
- `POST /twilio/voice/gather`: the caller's key or words pick a language and an intent; the
  contact starts (channel "voice", entry = the number called) and the caller is enqueued.
- `POST /twilio/voice/wait`: the hold loop: position and estimated wait from routing, then
  hold music; after the maximum wait, voicemail or overflow.
- `POST /twilio/voice/voicemail`: a recorded voicemail becomes a callback case.
- `POST /twilio/voice/status`: the call is over: an abandon while waiting, the end of the
  conversation (wrap-up starts) while with an agent.

`GET /api/voice/token` gives a logged-in agent a Twilio access token for the browser
softphone. `channels.twilio.voice_bridge` bridges each accepted call to its agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from channels.twilio.common import (
    TWILIO,
    TwilioSettings,
    close_twilio_client,
    twilio_client,
    twilio_webhook,
)
from channels.twilio.voice_bridge import CONSUMER_GROUP, CallBridge
from channels.twilio.voice_settings import MenuChoice
from channels.twilio.voice_store import VoiceCall, VoiceStore
from channels.twilio.voice_token import VOICE_OPERATIONS
from channels.twilio.voice_twiml import (
    ENDED_STATUSES,
    GATHER_PATH,
    STATUS_PATH,
    VOICE_PATH,
    VOICEMAIL_PATH,
    WAIT_PATH,
    IncomingCall,
    Recording,
    VoiceTwiml,
    choose,
    parse_call,
    parse_gather,
    parse_recording,
    parse_status,
    parse_wait,
    query_attempt,
    query_contact_id,
)
from contactcenter.conversations.appkeys import ROUTING, SERVICE
from contactcenter.conversations.service import ConversationService
from contactcenter.core.appkeys import POOL, REDIS
from contactcenter.core.errors import QueueClosed, QueueFull, ServiceUnavailable
from contactcenter.core.eventbus import EventGroupConsumer
from contactcenter.crm.cases import CaseStore
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.identity import InvalidIdentity, normalise_phone
from contactcenter.settings.appkeys import SETTINGS
from contactcenter.web.openapi import add_operations
from routing.rules import ContactAttributes
from routing.status import AbandonStatus

__all__ = ["VOICE", "VOICE_OPERATIONS", "VoiceChannel", "setup_twilio_voice"]

log = structlog.get_logger("channels.twilio.voice")

FIRST_TEXT = "Incoming call"  # the contact's first line: the caller's words are never stored
START_LEASE_S = 10.0  # a webhook starting a contact holds its call this long at most
DUPLICATE_WAIT_S = 5.0  # a duplicate delivery waits this long for the first one's outcome
CASE_LEASE_S = 30.0


class StartPending(ServiceUnavailable):
    """A twin delivery of this call is still starting its contact; Twilio may try again."""

    error_id = "twilio.call_pending"


@dataclass
class VoiceChannel:
    settings: TwilioSettings
    twiml: VoiceTwiml
    store: VoiceStore
    customers: CustomerStore
    service: ConversationService
    cases: CaseStore

    async def incoming(self, call: IncomingCall) -> str:
        """The first answer to a call: the menu, or the queue when there is no menu. A retry
        of a call already past the menu gets the answer it had."""
        recorded = await self.store.record_call(call)
        if recorded.outcome is None and self.settings.voice.menu:
            log.info("twilio_call_incoming", call_sid=call.call_sid)
            return self.twiml.menu(1)
        return await self.start(call, recorded, None)

    async def menu_input(self, call: IncomingCall, digits: str, speech: str, attempt: int) -> str:
        recorded = await self.store.record_call(call)
        choice = choose(self.settings.voice.menu, digits, speech)
        if recorded.outcome is None and choice is None:
            if attempt < self.settings.voice.menu_attempts:
                return self.twiml.menu(attempt + 1)
        log.info(
            "twilio_call_menu",
            call_sid=call.call_sid,
            key=choice.key if choice else None,
            attempt=attempt,
            by="speech" if speech and not digits else "keys",
        )
        return await self.start(call, recorded, choice)

    async def start(
        self, call: IncomingCall, recorded: VoiceCall, choice: MenuChoice | None
    ) -> str:
        """Start the call's contact once, whatever the deliveries: one takes the call, the
        others wait for its outcome; every one answers the same TwiML."""
        sid = call.call_sid
        if recorded.outcome is None:
            if await self.store.claim_start(sid, START_LEASE_S):
                try:
                    await self._start(call, recorded, choice)
                except BaseException:
                    await self.store.release_start(sid)
                    raise
            recorded = await self._outcome(sid)
        return await self._answer(recorded)

    async def _outcome(self, call_sid: str) -> VoiceCall:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DUPLICATE_WAIT_S
        while True:
            recorded = await self.store.call(call_sid)
            if recorded is not None and recorded.outcome is not None:
                return recorded
            if loop.time() > deadline:
                raise StartPending("this call is still being taken in", call_sid=call_sid)
            await asyncio.sleep(0.05)

    async def _start(
        self, call: IncomingCall, recorded: VoiceCall, choice: MenuChoice | None
    ) -> None:
        customer_id = await self._customer(call)
        language = choice.language if choice else None
        intents = frozenset({choice.intent} if choice and choice.intent else ())
        refusal: str | None = None
        outcome = "queued"
        contact_id = await self.store.orphan_contact(call.call_sid)
        if contact_id is not None:  # started by a delivery that died: queue it if need be
            await self.service.open_contact(customer_id, "voice")
        else:
            facts = ContactAttributes(
                channel="voice", entry=recorded.called, language=language, intents=intents
            )
            name = await self.store.customer_name(customer_id)
            try:
                contact_id = await self.service.start_contact(
                    customer_id, name, "voice", FIRST_TEXT, call.call_sid, facts,
                    identity_proof="twilio",
                )  # fmt: skip
            except QueueClosed as exc:
                refusal, outcome = exc.message, "closed"
            except QueueFull:
                refusal, outcome = self.settings.voice.prompts_for(language).busy, "full"
        await self.store.started(
            call.call_sid, outcome, customer_id, contact_id, language, sorted(intents), refusal
        )
        log.info(
            "twilio_call_started",
            call_sid=call.call_sid,
            contact_id=contact_id,
            outcome=outcome,
            language=language,
            intents=sorted(intents),
        )

    async def _customer(self, call: IncomingCall) -> str:
        """The caller's customer, by phone number; a withheld number is a new customer."""
        try:
            number = normalise_phone(call.caller, self.settings.default_region)
        except InvalidIdentity:
            found = await self.customers.resolve(
                "external", f"twilio-call:{call.call_sid}", display_name="Unknown caller"
            )
            return found.customer_id
        found = await self.customers.resolve(
            "phone", number, display_name=call.caller_name or number
        )
        return found.customer_id

    async def _answer(self, recorded: VoiceCall) -> str:
        if recorded.outcome != "queued" or recorded.contact_id is None:
            return self.twiml.refused(recorded.refusal or "", recorded.language)
        live = await self.service.routing.contact(recorded.contact_id)
        if live is None:  # over already (a late retry)
            return self.twiml.goodbye(self.settings.voice.spoken_language(recorded.language))
        return self.twiml.enqueue(recorded.contact_id, live.queue, recorded.language)

    async def hold(self, contact_id: str, lang: str, waited_s: int) -> str:
        """One round of the hold loop (Enqueue's waitUrl)."""
        routing, voice = self.service.routing, self.settings.voice
        live = await routing.contact(contact_id)
        if live is None or live.state not in ("queued", "offered", "assigned"):
            return self.twiml.leave()  # no agent will come for it: voicemail
        if live.state == "assigned":
            return self.twiml.pause()  # accepted: the bridge is on its way
        if voice.max_wait_s is not None and waited_s >= voice.max_wait_s:
            now_ms = self.service.clock()
            if voice.max_wait_action == "voicemail":
                status = await routing.abandon(contact_id, now_ms)
                if status is AbandonStatus.ABANDONED:
                    log.info("twilio_call_to_voicemail", contact_id=contact_id, waited_s=waited_s)
                    return self.twiml.leave()
                return self.twiml.pause()  # an agent took it meanwhile
            if voice.overflow_queue and live.queue != voice.overflow_queue:
                await self._overflow(contact_id, live.queue, voice.overflow_queue, now_ms)
        placed = await self.service.wait_status(contact_id, fresh=False)
        if placed is None:  # offered right now: no place to tell
            return self.twiml.hold(lang, None, None)
        return self.twiml.hold(lang, placed["position"], placed["estimated_wait_s"])

    async def _overflow(self, contact_id: str, from_queue: str, to_queue: str, now_ms: int) -> None:
        try:
            target = self.service.settings.queue(to_queue)
        except KeyError:
            log.error("twilio_overflow_queue_unknown", queue=to_queue)
            return
        aging_ms = int(target.aging_s * 1000) if target.aging_s else None
        if await self.service.routing.overflow(
            contact_id, from_queue, to_queue, now_ms, aging_ms=aging_ms
        ):
            log.info("twilio_call_overflowed", contact_id=contact_id, to_queue=to_queue)

    async def ended(self, call_sid: str, status: str) -> None:
        """Twilio's last word on a call: the caller hung up (or never got through)."""
        if status not in ENDED_STATUSES:
            return
        recorded = await self.store.call(call_sid)
        if recorded is None:
            return  # not a call this hub answered
        await self.store.ended(call_sid, status)
        contact_id = recorded.contact_id or await self.store.orphan_contact(call_sid)
        if contact_id is not None:
            # Waiting: an abandon. With an agent: the conversation ends, wrap-up starts.
            await self.service.customer_leave(contact_id)
        log.info("twilio_call_ended", call_sid=call_sid, contact_id=contact_id, status=status)

    async def voicemail(self, recording: Recording, lang: str) -> str:
        """A voicemail: kept once, as a callback case for the caller's customer."""
        recorded = await self.store.call(recording.call_sid)
        if recorded is None:
            return self.twiml.goodbye(lang)
        customer_id = recorded.customer_id
        if customer_id is None:
            caller = IncomingCall(recorded.call_sid, recorded.caller, recorded.called)
            customer_id = await self._customer(caller)
        contact_id = recorded.contact_id
        await self.store.record_voicemail(recording, customer_id, contact_id)
        if contact_id is not None:  # still waiting (Twilio's queue refused it): abandoned
            await self.service.routing.abandon(contact_id, self.service.clock())
        if await self.store.claim_case(recording.recording_sid, CASE_LEASE_S):
            try:
                case = await self.cases.open_case(
                    customer_id,
                    "request",
                    f"Call back (voicemail, {recording.duration_s} s): {recording.url}",
                    contact_ids=[contact_id] if contact_id else [],
                )
            except BaseException:
                await self.store.case_opened(recording.recording_sid, None)
                raise
            await self.store.case_opened(recording.recording_sid, case.case_id)
            log.info(
                "twilio_voicemail_case",
                call_sid=recording.call_sid,
                case_id=case.case_id,
                duration_s=recording.duration_s,
            )
        return self.twiml.goodbye(lang)


# --- webhooks (thin) -----------------------------------------------------------------------

VOICE = web.AppKey("twilio_voice", VoiceChannel)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml")


def _lang(request: web.Request) -> str:
    return request.app[VOICE].settings.voice.spoken_language(request.query.get("lang"))


async def incoming_call(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    return _twiml(await request.app[VOICE].incoming(parse_call(form)))


async def menu_input(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    call, given, attempt = parse_call(form), parse_gather(form), query_attempt(request.query)
    channel = request.app[VOICE]
    return _twiml(await channel.menu_input(call, given.digits, given.speech, attempt))


async def hold_loop(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    contact_id = query_contact_id(request.query)
    _call_sid, waited_s = parse_wait(form)
    return _twiml(await request.app[VOICE].hold(contact_id, _lang(request), waited_s))


async def call_status(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    call_sid, status = parse_status(form)
    await request.app[VOICE].ended(call_sid, status)
    return web.Response(status=204)


async def voicemail(request: web.Request, form: MultiDictProxy[str]) -> web.StreamResponse:
    return _twiml(await request.app[VOICE].voicemail(parse_recording(form), _lang(request)))


# --- wiring --------------------------------------------------------------------------------


def setup_twilio_voice(
    app: web.Application, twilio: TwilioSettings, *, serve_token: bool = True
) -> None:
    """Add the voice webhooks, the softphone token route (unless `serve_token` is False,
    for when `VOICE_OPERATIONS` is served with the REST API instead) and, once storage is
    up, the bridge. Call after `contactcenter.app.init` built the app. With no Twilio
    account configured the webhooks answer 503 and nothing runs."""
    app[TWILIO] = twilio
    for path, handler in (
        (VOICE_PATH, incoming_call),
        (GATHER_PATH, menu_input),
        (WAIT_PATH, hold_loop),
        (STATUS_PATH, call_status),
        (VOICEMAIL_PATH, voicemail),
    ):
        app.router.add_post(path, twilio_webhook(handler))
    if serve_token:
        add_operations(app, VOICE_OPERATIONS)
    app.cleanup_ctx.append(_voice_tasks)


async def _voice_tasks(app: web.Application) -> AsyncIterator[None]:
    twilio = app[TWILIO]
    if not twilio.enabled:
        log.info("twilio_voice_off", reason="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN unset")
        yield
        return
    settings, pool = app[SETTINGS], app[POOL]
    twiml = VoiceTwiml(twilio.voice, settings.public_url)
    store = VoiceStore(pool)
    app[VOICE] = VoiceChannel(
        settings=twilio,
        twiml=twiml,
        store=store,
        customers=CustomerStore(pool, default_region=twilio.default_region),
        service=app[SERVICE],
        cases=CaseStore(pool),
    )
    if not settings.runs_workers:  # the webhooks only: the bridge runs in worker processes
        log.info("twilio_voice_on", bridge="in worker processes")
        yield
        return
    client = twilio_client(twilio)
    bridge = CallBridge(store, app[ROUTING], twiml, client, twilio.max_send_attempts)
    consumer = EventGroupConsumer(
        app[REDIS],
        app[ROUTING].keys.events,
        CONSUMER_GROUP,
        bridge,
        claim_idle_ms=settings.claim_idle_ms,
    )
    task = asyncio.create_task(consumer.run(), name="twilio-voice-bridge")
    log.info(
        "twilio_voice_on",
        menu_choices=len(twilio.voice.menu),
        softphone=twilio.softphone_enabled,
        max_wait_action=twilio.voice.max_wait_action if twilio.voice.max_wait_s else None,
    )
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await close_twilio_client(client)
