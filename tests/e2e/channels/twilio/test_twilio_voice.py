"""End to end: phone calls through Twilio Voice, on a real hub with real Redis and PostgreSQL.

Webhooks are posted as Twilio posts them (to the URLs the hub's own TwiML names), signed
with the twilio library's RequestValidator; the hub's call updates go to
tests/support/fake_twilio.py on loopback. Agents use real websocket consoles. Nothing reaches the
internet.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import jwt
import pytest
import structlog
from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio.common import TwilioSettings
from channels.twilio.voice_settings import MenuChoice, VoicePrompts, VoiceSettings
from contactcenter.app import init
from contactcenter.conversations.appkeys import ROUTING
from contactcenter.settings.hub import HubSettings
from routing.hours import BusinessHours
from routing.rules import RoutingRule, RuleTarget
from tests.conftest import TEST_PASSWORD, LiveHub
from tests.e2e.clients import AgentClient, login
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN, unique_phone
from tests.support.fake_twilio import FakeTwilio

OUR_NUMBER = "+14155550100"
CLOSED_NUMBER = "+14155550111"  # routed to a queue that is never open
API_KEY = ("SK" + "3" * 32, "test-api-key-secret-0123456789abcdef")
APP_SID = "AP" + "4" * 32
VOICE = VoiceSettings(
    prompts={"en": VoicePrompts(), "fr": VoicePrompts(say_language="fr-FR")},
    menu=(
        MenuChoice("1", "For billing, press 1.", ("billing", "invoice"), None, "billing"),
        MenuChoice("2", "Pour le français, appuyez sur 2.", ("français",), "fr", None),
    ),
    hold_music_url="https://music.example/hold.mp3",
    max_wait_s=120,
    outgoing_application_sid=APP_SID,
)


@pytest.fixture
def caller() -> str:
    return unique_phone()


def twilio_settings(fake: FakeTwilio, **voice: Any) -> TwilioSettings:
    return TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base=fake.base_url,
        numbers={"voice": (OUR_NUMBER,)},
        api_key_sid=API_KEY[0],
        api_key_secret=API_KEY[1],
        voice=replace(VOICE, **voice),
        max_send_attempts=2,
    )


def voice_settings(settings: HubSettings) -> HubSettings:
    """Support and billing take calls; the billing intent goes to billing, the closed
    number to a queue whose hours never open."""
    support = replace(settings.queues[0], channels=("chat", "voice"))
    billing = replace(support, name="billing")
    closed = replace(
        support,
        name="afterhours",
        hours=BusinessHours("UTC"),
        closed_message="We are closed right now.",
    )
    rules = (
        RoutingRule("closed", {"entry": (CLOSED_NUMBER,)}, RuleTarget("afterhours")),
        RoutingRule("billing", {"intent": ("billing",)}, RuleTarget("billing")),
    )
    return replace(
        settings,
        public_url=f"http://127.0.0.1:{settings.port}",
        queues=(support, billing, closed),
        rules=rules,
    )


async def start_voice_hub(
    settings: HubSettings, twilio: TwilioSettings
) -> tuple[LiveHub, web.AppRunner]:
    """A hub with the voice channel on these Twilio settings."""
    app = init(replace(settings, twilio=twilio))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    base = f"http://127.0.0.1:{settings.port}"
    return LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, settings), runner


@pytest.fixture
async def hub(settings: HubSettings, redis: Any, fake: FakeTwilio) -> AsyncIterator[LiveHub]:
    live, runner = await start_voice_hub(voice_settings(settings), twilio_settings(fake))
    yield live
    await runner.cleanup()


@pytest.fixture
async def db(settings: HubSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


# --- helpers -------------------------------------------------------------------------------


async def webhook(
    url: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST to `url` as Twilio does, signed with RequestValidator over the URL."""
    signature = RequestValidator(token).compute_signature(signed_url or url, params)
    sent = {"X-Twilio-Signature": signature} if headers is None else headers
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=sent) as resp:
        return resp.status, await resp.text()


async def ok(url: str, params: dict[str, str]) -> ET.Element:
    """The TwiML answered to a webhook that must succeed."""
    status, body = await webhook(url, params)
    assert status == 200, body
    return ET.fromstring(body)


def tags(twiml: ET.Element) -> list[str]:
    return [verb.tag for verb in twiml]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def until(probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """The first truthy result of `probe`, polled; fails after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        assert loop.time() < deadline, f"nothing within {timeout_s}s"
        await asyncio.sleep(0.05)


class Call:
    """One caller, driven through the hub's webhooks as Twilio would."""

    def __init__(self, hub: LiveHub, fake: FakeTwilio, caller: str, to: str = OUR_NUMBER):
        self.hub, self.fake = hub, fake
        self.form = fake.incoming_call(caller, to)
        self.sid = self.form["CallSid"]
        self.wait_url = ""

    async def ring(self) -> ET.Element:
        return await ok(self.hub.base_url + "/twilio/voice", self.form)

    async def choose(self, **said: str) -> ET.Element:
        """Ring, then press or say `said` (Digits=..., SpeechResult=...) at the menu."""
        menu = await self.ring()
        assert tags(menu) == ["Gather"]
        answer = await ok(menu[0].attrib["action"], self.fake.call_form(self.form, **said))
        if "Enqueue" in tags(answer):
            self.wait_url = answer[tags(answer).index("Enqueue")].attrib["waitUrl"]
        return answer

    @property
    def contact_id(self) -> str:
        return query(self.wait_url)["contact_id"]

    async def wait(self, queue_time_s: int = 5) -> ET.Element:
        return await ok(self.wait_url, self.fake.call_form(self.form, QueueTime=queue_time_s))

    async def hang_up(self) -> None:
        url = self.hub.base_url + "/twilio/voice/status"
        status, body = await webhook(url, self.fake.hang_up(self.form))
        assert status == 204, body

    async def leave_voicemail(self, record_url: str, sid: str | None = None) -> ET.Element:
        form = self.fake.call_form(
            self.form,
            RecordingSid=sid or "RE" + uuid.uuid4().hex,
            RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/R1",
            RecordingDuration=12,
        )
        return await ok(record_url, form)


async def live_state(hub: LiveHub, contact_id: str) -> str | None:
    live = await hub.app[ROUTING].contact(contact_id)
    return None if live is None else live.state


async def bridged_to(fake: FakeTwilio, call: Call) -> ET.Element:
    """The TwiML the hub put the call on through the REST API."""
    sid, form = await asyncio.wait_for(fake.call_updates.get(), 10)
    assert sid == call.sid
    return ET.fromstring(form["Twiml"])


async def accepted_by(agent: AgentClient, call: Call) -> dict[str, Any]:
    offer = await agent.expect("offer")
    assert offer["contact"]["contact_id"] == call.contact_id
    assert (await agent.command("accept", contact_id=call.contact_id))["type"] == "ack"
    await agent.expect("assigned")
    contact: dict[str, Any] = offer["contact"]
    return contact


# --- the tests -----------------------------------------------------------------------------


async def test_a_call_chooses_billing_waits_is_bridged_to_the_softphone_and_ends_in_wrapup(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    call = Call(hub, fake, caller)
    queued = await call.choose(Digits="1")
    assert tags(queued) == ["Enqueue", "Say", "Record", "Say", "Hangup"]
    assert queued[0].text == "billing"  # the intent's queue, by the routing rule
    assert query(call.wait_url)["lang"] == "en"

    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    contact = await accepted_by(agent, call)
    assert (contact["channel"], contact["queue"]) == ("voice", "billing")
    assert [m["body"] for m in contact["messages"]] == ["Incoming call"]

    twiml = await bridged_to(fake, call)
    assert tags(twiml) == ["Say", "Dial"]
    assert [n.tag for n in twiml[1]] == ["Client"]
    assert [(n.tag, n.text, n.get("value")) for n in twiml[1][0]] == [
        ("Identity", "agent_" + uuid.UUID(agent.agent_id).hex, None),
        ("Parameter", None, call.contact_id),  # the console answers by this contact id
    ]
    request = fake.requests[-1]
    assert request.auth_user == ACCOUNT_SID
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json"
    assert tags(await call.wait()) == ["Pause"]  # a late hold request only pauses: no harm

    await call.hang_up()
    assert await until(lambda: _in_state(hub, call.contact_id, "wrapup")) == "wrapup"
    ended = await agent.expect("conversation_ended", contact_id=call.contact_id)
    assert ended["ended_by"] == "customer"
    row = await db.fetchrow("SELECT * FROM voice_calls WHERE call_sid = $1", call.sid)
    assert (row["end_status"], str(row["contact_id"])) == ("completed", call.contact_id)
    assert fake.call_updates.empty()  # the caller hung up: nothing more to do on the call
    await agent.close()


async def _in_state(hub: LiveHub, contact_id: str, state: str) -> str | None:
    found = await live_state(hub, contact_id)
    return found if found == state else None


async def test_a_call_is_bridged_to_the_agents_phone_when_they_take_calls_there(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    phone = "+14155550177"
    token = await login(hub.base_url, "bob", hub.demo_password)
    bob = await db.fetchval("SELECT id FROM agents WHERE username = 'bob'")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        url = f"{hub.base_url}/api/agents/{bob}/voice"
        async with http.put(url, json={"voice_to": "+1 (415) 555-0177"}) as resp:
            assert (resp.status, await resp.json()) == (
                200,
                {"agent_id": str(bob), "voice_to": phone},
            )
        alice = await db.fetchval("SELECT id FROM agents WHERE username = 'alice'")
        async with http.put(
            f"{hub.base_url}/api/agents/{alice}/voice", json={"voice_to": "client"}
        ) as resp:  # an agent sets where they take their own calls only
            assert (resp.status, (await resp.json())["error_id"]) == (403, "auth.forbidden")
        async with http.put(url, json={"voice_to": "not a number"}) as resp:
            assert (resp.status, (await resp.json())["error_id"]) == (400, "identity.invalid")
    try:
        agent = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
        await agent.go_available()
        call = Call(hub, fake, caller)
        await call.choose(Digits="1")
        await accepted_by(agent, call)
        twiml = await bridged_to(fake, call)
        assert [(n.tag, n.text) for n in twiml[1]] == [("Number", phone)]
        await agent.close()
    finally:
        await db.execute("UPDATE agents SET voice_to = 'client' WHERE username = 'bob'")


async def test_the_agent_ending_the_call_hangs_up_the_caller_once(
    hub: LiveHub, fake: FakeTwilio, caller: str
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    call = Call(hub, fake, caller)
    await call.choose(Digits="1")
    await accepted_by(agent, call)
    await bridged_to(fake, call)
    assert (await agent.command("end", contact_id=call.contact_id))["type"] == "ack"
    sid, form = await asyncio.wait_for(fake.call_updates.get(), 10)
    assert (sid, form.get("Status"), form.get("Twiml")) == (call.sid, "completed", None)
    assert fake.calls[call.sid]["status"] == "completed"
    await call.hang_up()  # Twilio's status callback follows: it changes nothing more
    assert await live_state(hub, call.contact_id) == "wrapup"
    await agent.close()


async def test_duplicate_deliveries_of_one_call_start_one_contact(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    call, ring = Call(hub, fake, caller), hub.base_url + "/twilio/voice"
    menus = await asyncio.gather(*(webhook(ring, call.form) for _ in range(3)))
    assert {status for status, _ in menus} == {200} and len({body for _, body in menus}) == 1
    action = ET.fromstring(menus[0][1])[0].attrib["action"]
    chosen = fake.call_form(call.form, Digits="1")
    answers = await asyncio.gather(*(webhook(action, chosen) for _ in range(3)))
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1  # the same Enqueue, one contact
    assert (await webhook(ring, call.form))[1] == answers[0][1]
    contacts = await db.fetch(
        "SELECT DISTINCT contact_id FROM messages WHERE client_msg_id = $1", call.sid
    )
    assert len(contacts) == 1
    wait_url = ET.fromstring(answers[0][1])[0].attrib["waitUrl"]
    assert query(wait_url)["contact_id"] == str(contacts[0]["contact_id"])
    assert await db.fetchval("SELECT count(*) FROM voice_calls WHERE call_sid = $1", call.sid) == 1


async def test_a_caller_hanging_up_while_queued_is_an_abandon(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    call = Call(hub, fake, caller)
    await call.choose(Digits="1")
    hold = await call.wait()
    assert tags(hold) == ["Say", "Play"]
    assert hold[0].text == "You are number 1 in line."
    assert hold[1].text == "https://music.example/hold.mp3"
    await call.hang_up()
    state = await until(
        lambda: db.fetchval(
            "SELECT state FROM contacts WHERE id = $1 AND state = 'abandoned'",
            uuid.UUID(call.contact_id),
        )
    )
    assert state == "abandoned"
    assert await live_state(hub, call.contact_id) in (None, "abandoned")


async def test_after_the_max_wait_the_caller_leaves_a_voicemail_that_becomes_a_callback_case(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    call = Call(hub, fake, caller)
    queued = await call.choose(Digits="2")  # French
    record_url = queued[tags(queued).index("Record")].attrib["action"]
    assert query(record_url) == {"lang": "fr"}
    assert tags(await call.wait(queue_time_s=119)) == ["Say", "Play"]  # "Vous êtes..."
    assert tags(await call.wait(queue_time_s=120)) == ["Leave"]
    # Abandoned: no agent will be offered a caller who is leaving a message.
    assert await live_state(hub, call.contact_id) in (None, "abandoned")

    recording_sid = "RE" + uuid.uuid4().hex
    goodbye = await call.leave_voicemail(record_url, recording_sid)
    assert tags(goodbye) == ["Say", "Hangup"] and goodbye[0].get("language") == "fr-FR"
    await call.leave_voicemail(record_url, recording_sid)  # Twilio's retry: still one case
    rows = await db.fetch("SELECT * FROM voicemails WHERE call_sid = $1", call.sid)
    assert len(rows) == 1 and rows[0]["case_id"] is not None and rows[0]["duration_s"] == 12
    case = await db.fetchrow("SELECT * FROM cases WHERE id = $1", rows[0]["case_id"])
    assert (case["kind"], case["status"]) == ("request", "open")
    assert case["subject"].startswith("Call back (voicemail, 12 s): https://api.twilio.com/")
    customer = await db.fetchval(
        "SELECT customer_id FROM identities WHERE kind = 'phone' AND value = $1", caller
    )
    assert case["customer_id"] == customer
    linked = await db.fetch("SELECT contact_id FROM case_contacts WHERE case_id = $1", case["id"])
    assert [str(r["contact_id"]) for r in linked] == [call.contact_id]


async def test_outside_business_hours_the_caller_hears_the_closed_message_and_voicemail(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    call = Call(hub, fake, caller, to=CLOSED_NUMBER)
    closed = await call.choose(Digits="1")
    assert tags(closed) == ["Say", "Say", "Record", "Say", "Hangup"]
    assert closed[0].text == "We are closed right now."
    assert "message after the tone" in (closed[1].text or "")
    assert (
        await db.fetchval("SELECT count(*) FROM messages WHERE client_msg_id = $1", call.sid) == 0
    )  # no contact for a closed queue
    retry = await ok(hub.base_url + "/twilio/voice", call.form)  # a retry: the same answer
    assert ET.tostring(retry) == ET.tostring(closed)
    await call.leave_voicemail(closed[2].attrib["action"])
    case_id = await db.fetchval("SELECT case_id FROM voicemails WHERE call_sid = $1", call.sid)
    assert case_id is not None
    await call.hang_up()


async def test_ivr_language_and_intent_reach_routing(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    french = Call(hub, fake, caller)
    with structlog.testing.capture_logs() as logs:
        queued = await french.choose(SpeechResult="Français, s'il vous plaît")
    said = [str(entry) for entry in logs]
    assert any("twilio_call_menu" in line for line in said)
    assert not [line for line in said if caller in line or "plaît" in line]  # ids only
    assert queued[0].text == "support" and query(french.wait_url)["lang"] == "fr"
    row = await db.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(french.contact_id))
    assert (row["channel"], row["language"], row["queue"]) == ("voice", "fr", "support")
    facts = await db.fetchrow("SELECT * FROM voice_calls WHERE call_sid = $1", french.sid)
    assert (facts["language"], facts["intents"], facts["called"]) == ("fr", [], OUR_NUMBER)

    billing = Call(hub, fake, unique_phone())
    await billing.choose(SpeechResult="It is about an invoice")
    row = await db.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(billing.contact_id))
    assert (row["queue"], row["language"]) == ("billing", None)

    unsure = Call(hub, fake, unique_phone())
    again = await unsure.choose(Digits="9")  # no such key: the menu once more
    assert tags(again) == ["Gather"] and query(again[0].attrib["action"])["attempt"] == "2"
    queued = await ok(again[0].attrib["action"], fake.call_form(unsure.form))  # then silence
    assert tags(queued)[0] == "Enqueue" and queued[0].text == "support"


async def test_a_transfer_to_a_queue_puts_the_caller_back_on_hold(
    hub: LiveHub, fake: FakeTwilio, caller: str
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    call = Call(hub, fake, caller)
    await call.choose(Digits="1")
    await accepted_by(agent, call)
    await bridged_to(fake, call)
    await agent.command("set_state", state="away", reason="break")
    ack = await agent.command("transfer", contact_id=call.contact_id, to_queue="support")
    assert ack["type"] == "ack", ack
    twiml = await bridged_to(fake, call)
    assert tags(twiml) == ["Say", "Enqueue", "Say", "Record", "Say", "Hangup"]
    assert twiml[1].text == "support" and query(twiml[1].attrib["waitUrl"])["lang"] == "en"
    await agent.close()


async def test_after_the_max_wait_a_call_can_overflow_instead(
    settings: HubSettings, redis: Any, fake: FakeTwilio, caller: str
) -> None:
    twilio = twilio_settings(fake, max_wait_action="overflow", overflow_queue="support")
    live, runner = await start_voice_hub(voice_settings(settings), twilio)
    try:
        call = Call(live, fake, caller)
        await call.choose(Digits="1")
        held = await call.wait(queue_time_s=120)
        assert "Leave" not in tags(held)
        contact = await live.app[ROUTING].contact(call.contact_id)
        assert contact is not None and (contact.queue, contact.state) == ("support", "queued")
    finally:
        await runner.cleanup()


VOICE_PATHS = ("", "/gather", "/wait?contact_id=" + str(uuid.uuid4()), "/status", "/voicemail")


@pytest.mark.parametrize("path", VOICE_PATHS)
async def test_forged_and_unsigned_voice_webhooks_get_403_and_change_nothing(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str, path: str
) -> None:
    form = fake.call_form(
        fake.incoming_call(caller, OUR_NUMBER),
        Digits="1",
        QueueTime=500,
        RecordingSid="RE" + uuid.uuid4().hex,
        RecordingUrl="https://api.twilio.com/r",
    )
    url = hub.base_url + "/twilio/voice" + path
    tampered = {**form, "Digits": "2"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    for status, body in [
        await webhook(url, form, headers={}),  # unsigned
        await webhook(url, form, token="not-our-token"),  # another account's token
        await webhook(url, form, signed_url="https://elsewhere.example/twilio/voice" + path),
        await webhook(url, tampered, headers={"X-Twilio-Signature": signature}),
    ]:
        assert status == 403, body
        assert json.loads(body)["error_id"] == "twilio.signature_invalid"
    sid = form["CallSid"]
    assert await db.fetchval("SELECT count(*) FROM voice_calls WHERE call_sid = $1", sid) == 0
    assert await db.fetchval("SELECT count(*) FROM identities WHERE value = $1", caller) == 0


async def test_a_bad_voice_webhook_gets_400_and_changes_nothing(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, caller: str
) -> None:
    form = fake.incoming_call(caller, OUR_NUMBER)
    status, body = await webhook(hub.base_url + "/twilio/voice", {**form, "CallSid": "CA1"})
    assert status == 400 and json.loads(body)["details"]["invalid"] == ["CallSid"]
    status, body = await webhook(hub.base_url + "/twilio/voice/wait?contact_id=x", form)
    assert status == 400 and json.loads(body)["error_id"] == "channel.invalid_delivery"
    assert await db.fetchval("SELECT count(*) FROM identities WHERE value = $1", caller) == 0


async def test_a_logged_in_agent_gets_a_softphone_token_with_a_voice_grant(hub: LiveHub) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    async with aiohttp.ClientSession() as http:
        async with http.get(hub.base_url + "/api/voice/token") as resp:
            assert resp.status == 401
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(hub.base_url + "/api/voice/token", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
        async with http.get(hub.base_url + "/api/me", headers=headers) as resp:
            agent_id = (await resp.json())["agent"]["agent_id"]
    claims = jwt.decode(answer["token"], API_KEY[1], algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == (API_KEY[0], ACCOUNT_SID)
    assert claims["exp"] - claims["nbf"] == 3600 == answer["ttl_s"]
    identity = "agent_" + uuid.UUID(agent_id).hex
    assert claims["grants"]["identity"] == identity == answer["identity"]
    assert claims["grants"]["voice"] == {
        "incoming": {"allow": True},
        "outgoing": {"application_sid": APP_SID},
    }


async def test_without_an_api_key_the_softphone_is_off_and_calls_still_work(
    settings: HubSettings, redis: Any, fake: FakeTwilio, caller: str
) -> None:
    twilio = replace(twilio_settings(fake), api_key_sid=None, api_key_secret=None)
    live, runner = await start_voice_hub(voice_settings(settings), twilio)
    try:
        token = await login(live.base_url, "alice", live.demo_password)
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                live.base_url + "/api/voice/token", headers={"Authorization": f"Bearer {token}"}
            ) as resp,
        ):
            assert resp.status == 503
            assert (await resp.json())["error_id"] == "twilio.softphone_off"
        assert tags(await Call(live, fake, caller).choose(Digits="1"))[0] == "Enqueue"
    finally:
        await runner.cleanup()


async def test_without_credentials_the_voice_webhooks_answer_503(
    settings: HubSettings, redis: Any, fake: FakeTwilio, caller: str
) -> None:
    live, runner = await start_voice_hub(voice_settings(settings), TwilioSettings())
    try:
        form = MultiDict(fake.incoming_call(caller, OUR_NUMBER))
        status, body = await webhook(live.base_url + "/twilio/voice", dict(form))
        assert status == 503 and json.loads(body)["error_id"] == "twilio.not_configured"
    finally:
        await runner.cleanup()
