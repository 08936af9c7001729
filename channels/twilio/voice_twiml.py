"""Twilio voice, the pure part: the voice webhooks' forms parsed, the IVR choice matched, and
every answer rendered as TwiML (docs/channels.md, "Twilio voice"). No I/O and no clock.

A call goes: the menu (<Gather>, keys and speech), then the queue (<Enqueue> whose waitUrl
tells the caller their place and plays hold music, looping), then an agent (the hub replaces
the call's TwiML through the REST API with <Dial>), or voicemail (<Record>) after the
maximum wait, when the queue is closed or full.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twilio.twiml.voice_response import VoiceResponse

from channels.base import InvalidDelivery
from channels.twilio.common import form_invalid
from channels.twilio.voice_settings import MenuChoice, VoicePrompts, VoiceSettings

VOICE_PATH = "/twilio/voice"
GATHER_PATH = "/twilio/voice/gather"
WAIT_PATH = "/twilio/voice/wait"
STATUS_PATH = "/twilio/voice/status"
VOICEMAIL_PATH = "/twilio/voice/voicemail"

# https://www.twilio.com/docs/voice/api/call-resource#call-status-values: a call in one of
# these is over (the status callback's CallStatus).
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_CALL_SID = r"^CA[0-9a-fA-F]{32}$"
# The <Client> custom parameter naming the contact a softphone call belongs to.
CONTACT_PARAMETER = "contact_id"
_QUEUE_NAME_MAX = 64  # https://www.twilio.com/docs/voice/twiml/enqueue: 64 characters or less


# --- the webhooks' forms -------------------------------------------------------------------


class _Call(BaseModel):
    """The standard parameters of every voice webhook that the hub reads
    (https://www.twilio.com/docs/voice/twiml#request-parameters)."""

    model_config = ConfigDict(extra="ignore")
    CallSid: str = Field(pattern=_CALL_SID)
    From: str = Field(default="", max_length=256)  # a number, "client:...", or withheld
    To: str = Field(min_length=1, max_length=256)
    CallerName: str = Field(default="", max_length=200)  # with caller-name lookup only


class _Gather(BaseModel):
    """<Gather>'s action parameters: Digits pressed, or SpeechResult
    (https://www.twilio.com/docs/voice/twiml/gather#action)."""

    model_config = ConfigDict(extra="ignore")
    CallSid: str = Field(pattern=_CALL_SID)
    Digits: str = Field(default="", pattern=r"^[0-9*#]{0,32}$")
    SpeechResult: str = Field(default="", max_length=2000)


class _Wait(BaseModel):
    """<Enqueue>'s waitUrl parameters; QueueTime is the seconds the caller has been in the
    queue (https://www.twilio.com/docs/voice/twiml/enqueue#attributes-wait-url)."""

    model_config = ConfigDict(extra="ignore")
    CallSid: str = Field(pattern=_CALL_SID)
    QueueTime: int = Field(default=0, ge=0)


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")
    CallSid: str = Field(pattern=_CALL_SID)
    CallStatus: str = Field(pattern=r"^[a-z-]{1,32}$")


class _Recording(BaseModel):
    """<Record>'s action parameters (https://www.twilio.com/docs/voice/twiml/record#action)."""

    model_config = ConfigDict(extra="ignore")
    CallSid: str = Field(pattern=_CALL_SID)
    RecordingSid: str = Field(pattern=r"^RE[0-9a-fA-F]{32}$")
    RecordingUrl: str = Field(pattern=r"^https?://", max_length=1000)
    RecordingDuration: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class IncomingCall:
    """A call as the incoming-call webhook tells it: `caller` is From (a phone number, or
    something else when withheld), `called` our number (the routing `entry`)."""

    call_sid: str
    caller: str
    called: str
    caller_name: str = ""


@dataclass(frozen=True)
class MenuInput:
    call_sid: str
    digits: str
    speech: str  # the caller's words: never logged


@dataclass(frozen=True)
class Recording:
    call_sid: str
    recording_sid: str
    url: str
    duration_s: int


def _form(model: type[BaseModel], raw: Mapping[str, str]) -> BaseModel:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise form_invalid(exc) from None


def parse_call(raw: Mapping[str, str]) -> IncomingCall:
    form = _form(_Call, raw)
    assert isinstance(form, _Call)
    return IncomingCall(form.CallSid, form.From, form.To, form.CallerName)


def parse_gather(raw: Mapping[str, str]) -> MenuInput:
    form = _form(_Gather, raw)
    assert isinstance(form, _Gather)
    return MenuInput(form.CallSid, form.Digits, form.SpeechResult)


def parse_wait(raw: Mapping[str, str]) -> tuple[str, int]:
    """The CallSid and the seconds the caller has waited in the queue."""
    form = _form(_Wait, raw)
    assert isinstance(form, _Wait)
    return form.CallSid, form.QueueTime


def parse_status(raw: Mapping[str, str]) -> tuple[str, str]:
    """The CallSid and its CallStatus."""
    form = _form(_Status, raw)
    assert isinstance(form, _Status)
    return form.CallSid, form.CallStatus


def parse_recording(raw: Mapping[str, str]) -> Recording:
    form = _form(_Recording, raw)
    assert isinstance(form, _Recording)
    return Recording(form.CallSid, form.RecordingSid, form.RecordingUrl, form.RecordingDuration)


def query_contact_id(query: Mapping[str, str]) -> str:
    """The `contact_id` our own URLs carry (signed with them); 400 when it is not one."""
    try:
        return str(uuid.UUID(query.get("contact_id", "")))
    except ValueError:
        raise InvalidDelivery("contact_id is not a contact id", invalid=["contact_id"]) from None


def query_attempt(query: Mapping[str, str]) -> int:
    value = query.get("attempt", "1")
    if not value.isdigit() or not 1 <= int(value) <= 99:
        raise InvalidDelivery("attempt is not a small number", invalid=["attempt"])
    return int(value)


# --- the IVR -------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """Lower-case words without accents: "Facturé" and "facture" say the same."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.findall(r"\w+", plain)


def choose(menu: tuple[MenuChoice, ...], digits: str, speech: str) -> MenuChoice | None:
    """The choice the caller made: the key pressed, else the first choice one of whose words
    or phrases they said (whole words, in order); None when neither matches."""
    if digits:
        return next((c for c in menu if c.key == digits[0]), None)
    said = _words(speech)
    for choice in menu:
        for phrase in choice.speech:
            words = _words(phrase)
            n = len(words)
            if n and any(said[i : i + n] == words for i in range(len(said) - n + 1)):
                return choice
    return None


def client_identity(agent_id: str) -> str:
    """The softphone identity of an agent: `agent_` and the agent id's 32 hex digits. Twilio
    asks client identities to keep to letters, digits and underscores
    (https://www.twilio.com/docs/voice/twiml/client)."""
    return "agent_" + uuid.UUID(agent_id).hex


def wait_minutes(estimated_wait_s: int) -> int:
    return max(1, math.ceil(estimated_wait_s / 60))


# --- rendering -----------------------------------------------------------------------------


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml())


class VoiceTwiml:
    """Every TwiML answer of the voice channel, from its settings and the hub's public URL
    (absolute URLs everywhere: TwiML set through the REST API has no document to be relative
    to)."""

    def __init__(self, settings: VoiceSettings, public_url: str) -> None:
        self.settings = settings
        self.public_url = public_url.rstrip("/")

    def url(self, path: str, **query: str | int) -> str:
        return self.public_url + path + ("?" + urlencode(query) if query else "")

    def _say(self, node: Any, text: str, prompts: VoicePrompts) -> None:
        """<Say> into `node` (the response, or a <Gather>)."""
        if prompts.voice:
            node.say(text, language=prompts.say_language, voice=prompts.voice)
        else:
            node.say(text, language=prompts.say_language)

    def menu(self, attempt: int = 1) -> str:
        """The IVR: the welcome (on the first attempt), then each choice's prompt, inside one
        <Gather> of a single key or speech. `actionOnEmptyResult` makes Twilio post to the
        action even when the caller said and pressed nothing
        (https://www.twilio.com/docs/voice/twiml/gather#actiononemptyresult)."""
        s = self.settings
        prompts = s.prompts_for(s.default_language)
        response = VoiceResponse()
        hints = ", ".join(p for c in s.menu for p in c.speech)
        gather = response.gather(
            input="dtmf speech",
            num_digits=1,
            timeout=s.menu_timeout_s,
            speech_timeout="auto",
            action=self.url(GATHER_PATH, attempt=attempt),
            method="POST",
            action_on_empty_result=True,
            language=prompts.say_language,
            **({"hints": hints} if hints else {}),
        )
        opening = prompts.welcome if attempt == 1 else prompts.retry
        self._say(gather, opening, prompts)
        for choice in s.menu:
            self._say(gather, choice.prompt, s.prompts_for(choice.language))
        return _xml(response)

    def enqueue(self, contact_id: str, queue: str, language: str | None, lead: str = "") -> str:
        """The caller into the queue: Twilio requests the waitUrl while they wait, and plays
        what it answers in a loop. Should the caller leave the queue (<Leave/> after the
        maximum wait, or Twilio's queue being full), the verbs after <Enqueue> run:
        voicemail (https://www.twilio.com/docs/voice/twiml/enqueue#action)."""
        lang = self.settings.spoken_language(language)
        prompts = self.settings.prompts_for(lang)
        response = VoiceResponse()
        if lead:
            self._say(response, lead, prompts)
        response.enqueue(
            queue[:_QUEUE_NAME_MAX],
            wait_url=self.url(WAIT_PATH, contact_id=contact_id, lang=lang),
            wait_url_method="POST",
        )
        self._voicemail(response, lang)
        return _xml(response)

    def hold(self, lang: str, position: int | None, estimated_wait_s: int | None) -> str:
        """One round of waiting: where the caller stands, then the hold music (or a pause)."""
        prompts = self.settings.prompts_for(lang)
        response = VoiceResponse()
        if position is not None:
            self._say(response, prompts.position.format(position=position), prompts)
        if estimated_wait_s is not None:
            minutes = wait_minutes(estimated_wait_s)
            self._say(response, prompts.estimate.format(minutes=minutes), prompts)
        if self.settings.hold_music_url:
            response.play(self.settings.hold_music_url)
        else:
            response.pause(length=20)
        return _xml(response)

    def pause(self, seconds: int = 2) -> str:
        """While an agent's acceptance is being turned into a bridge."""
        response = VoiceResponse()
        response.pause(length=seconds)
        return _xml(response)

    def leave(self) -> str:
        """Out of the queue, on to the verbs after <Enqueue> (voicemail)
        (https://www.twilio.com/docs/voice/twiml/leave)."""
        response = VoiceResponse()
        response.leave()
        return _xml(response)

    def refused(self, message: str, language: str | None) -> str:
        """The queue is closed (its closed message) or full: say so, then voicemail."""
        lang = self.settings.spoken_language(language)
        response = VoiceResponse()
        self._say(response, message, self.settings.prompts_for(lang))
        self._voicemail(response, lang)
        return _xml(response)

    def _voicemail(self, response: VoiceResponse, lang: str) -> None:
        """The voicemail prompt and <Record>; its action gets the recording. When nothing was
        recorded Twilio goes on to the next verb: goodbye
        (https://www.twilio.com/docs/voice/twiml/record)."""
        prompts = self.settings.prompts_for(lang)
        self._say(response, prompts.voicemail, prompts)
        response.record(
            action=self.url(VOICEMAIL_PATH, lang=lang),
            method="POST",
            max_length=self.settings.voicemail_max_length_s,
            play_beep=True,
            finish_on_key="#",
        )
        self._say(response, prompts.goodbye, prompts)
        response.hangup()

    def goodbye(self, lang: str) -> str:
        prompts = self.settings.prompts_for(lang)
        response = VoiceResponse()
        self._say(response, prompts.goodbye, prompts)
        response.hangup()
        return _xml(response)

    def bridge(self, voice_to: str, agent_id: str, language: str | None, contact_id: str) -> str:
        """The caller to the agent: their browser softphone (<Client>) or their phone
        (<Number>), per agent (https://www.twilio.com/docs/voice/twiml/dial).

        The softphone's call carries the contact as the custom parameter `contact_id`, which
        the SDK gives the browser in `call.customParameters`: the console answers by itself
        a call for a contact the agent accepted. <Parameter> goes with the identity as an
        <Identity> noun rather than as text; names are up to 32 bytes, values up to 128
        (https://www.twilio.com/docs/voice/twiml/client, custom parameters)."""
        prompts = self.settings.prompts_for(language)
        response = VoiceResponse()
        self._say(response, prompts.connecting, prompts)
        dial = response.dial()
        if voice_to == "client":
            client = dial.client()
            client.identity(client_identity(agent_id))
            client.parameter(name=CONTACT_PARAMETER, value=contact_id)
        else:
            dial.number(voice_to)
        return _xml(response)

    def requeue(self, contact_id: str, queue: str, language: str | None) -> str:
        """Back to waiting, after a transfer to a queue."""
        lead = self.settings.prompts_for(language).transferring
        return self.enqueue(contact_id, queue, language, lead=lead)
