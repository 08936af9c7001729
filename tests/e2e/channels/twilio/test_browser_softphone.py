"""End to end in a real browser: the agent console's softphone (docs/channels.md, "The
softphone"). The console gets a token from the hub, loads the Twilio Voice SDK from the
configured address, registers, answers by itself the call bridged for the contact the agent
accepted, rings any other call, mutes and hangs up, renews its token, and switches the agent
between the softphone and a phone number.

No test reaches the internet: the SDK is fake_twilio_voice_sdk.js beside this file, a double of
Twilio's, served on loopback at `voice.softphone_sdk_url`; the page's calls into it are read
from its log, and the test plays Twilio's side through it (an incoming call, the far end
hanging up, a token about to expire). Twilio's REST API is tests/support/fake_twilio.py.

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp import web

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    sign_in,
    watched_page,
)
from tests.e2e.channels.twilio.test_twilio_voice import (
    API_KEY,
    Call,
    bridged_to,
    start_voice_hub,
    twilio_settings,
    voice_settings,
)
from tests.e2e.twilio_support import ACCOUNT_SID, unique_phone
from tests.support.fake_twilio import FakeTwilio

require_chromium()

from playwright.async_api import (  # noqa: E402
    Page,
    Response,
    expect,
)

pytestmark = pytest.mark.browser

SDK_DOUBLE = Path(__file__).with_name("fake_twilio_voice_sdk.js")
SDK_PATH = "/npm/@twilio/voice-sdk@2.18.5/dist/twilio.min.js"  # shaped like the CDN's


@dataclass
class ServedSdk:
    """The SDK double on loopback: its URL, and how many times a page fetched it."""

    url: str = ""
    hits: int = 0


@pytest.fixture
async def sdk() -> AsyncIterator[ServedSdk]:
    served = ServedSdk()

    async def script(_request: web.Request) -> web.StreamResponse:
        served.hits += 1
        return web.FileResponse(SDK_DOUBLE)

    app = web.Application()
    app.router.add_get(SDK_PATH, script)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}{SDK_PATH}"
    yield served
    await runner.cleanup()


@pytest.fixture
async def hub(
    settings: HubSettings, redis: Any, fake: FakeTwilio, sdk: ServedSdk
) -> AsyncIterator[LiveHub]:
    twilio = twilio_settings(fake, softphone_sdk_url=sdk.url)
    live, runner = await start_voice_hub(voice_settings(settings), twilio)
    yield live
    await runner.cleanup()


@pytest.fixture
async def db(settings: HubSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


# --- helpers -------------------------------------------------------------------------------


def _token_answer(response: Response) -> bool:
    return response.url.endswith("/api/voice/token") and response.status == 200


async def _issued_token(response: Response) -> str:
    token: str = (await response.json())["token"]
    return token


async def _sdk_log(page: Page, what: str) -> list[dict[str, Any]]:
    """What the page asked of the SDK double, of one kind, in order."""
    found: list[dict[str, Any]] = await page.evaluate(
        "what => TwilioVoiceSdkDouble.log.filter(e => e.what === what)", what
    )
    return found


async def _until_logged(page: Page, what: str, **fields: Any) -> None:
    """Wait (bounded) until the page asked `what` of the SDK, with these fields."""
    await page.wait_for_function(
        """([what, fields]) => TwilioVoiceSdkDouble.log.some(
             e => e.what === what && Object.entries(fields).every(([k, v]) => e[k] === v))""",
        arg=[what, fields],
        timeout=LIVE_MS,
    )


async def _ring(page: Page, **options: str) -> str:
    """Twilio rings the registered softphone: the CallSid of the new call."""
    sid: str = await page.evaluate("o => TwilioVoiceSdkDouble.incoming(o)", options)
    return sid


def _claims(token: str) -> dict[str, Any]:
    """The access token's claims, its signature checked with the API key's secret."""
    claims: dict[str, Any] = jwt.decode(token, API_KEY[1], algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == (API_KEY[0], ACCOUNT_SID)
    return claims


# --- the tests -----------------------------------------------------------------------------


async def test_the_softphone_answers_the_accepted_call_rings_others_mutes_and_hangs_up(
    hub: LiveHub, fake: FakeTwilio, sdk: ServedSdk, db: asyncpg.Connection, tmp_path: Path
) -> None:
    caller, stranger = unique_phone(), unique_phone()
    alice = await db.fetchval("SELECT id FROM agents WHERE username = 'alice'")
    identity = "agent_" + alice.hex
    errors: list[str] = []
    async with chromium() as browser:
        page = (await watched_page(browser, errors, "console", width=1440, height=900))[1]
        async with page.expect_response(_token_answer, timeout=LIVE_MS) as issued:
            await sign_in(page, hub.base_url, "alice", hub.demo_password)
        token = await _issued_token(await issued.value)

        # -- registered with the token the hub issued, from the configured SDK address
        phone = page.get_by_test_id("softphone")
        await expect(phone).to_have_attribute("data-state", "ready", timeout=LIVE_MS)
        await expect(phone.get_by_test_id("softphone-status")).to_have_text("Softphone ready")
        (device,) = await _sdk_log(page, "device")
        assert device["token"] == token and device["identity"] == identity
        assert device["options"]["closeProtection"] is True
        claims = _claims(token)
        assert claims["grants"]["identity"] == identity
        assert claims["grants"]["voice"]["incoming"] == {"allow": True}
        assert len(await _sdk_log(page, "register")) == 1
        assert sdk.hits == 1

        # -- a call: the agent accepts it, the hub bridges it to this softphone
        state_select = page.get_by_test_id("state-select")
        await state_select.select_option("available")
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)
        call = Call(hub, fake, caller)
        await call.choose(Digits="1")
        offer = page.get_by_test_id("offer-card")
        await expect(offer).to_have_attribute("data-contact-id", call.contact_id, timeout=LIVE_MS)
        await offer.get_by_test_id("offer-accept").click()
        conversation = page.locator(
            f'[data-testid="conversation"][data-contact-id="{call.contact_id}"]'
        )
        await expect(conversation).to_be_visible(timeout=LIVE_MS)
        client = (await bridged_to(fake, call))[1][0]
        assert [(n.tag, n.text, n.get("value")) for n in client] == [
            ("Identity", identity, None),
            ("Parameter", None, call.contact_id),
        ]

        # -- Twilio rings the softphone with the bridge's parameter: answered by itself
        bridged = await _ring(page, contactId=call.contact_id, **{"from": caller})
        await expect(phone).to_have_attribute("data-state", "on-call", timeout=LIVE_MS)
        assert [e["call"] for e in await _sdk_log(page, "accept")] == [bridged]
        await expect(phone.get_by_test_id("softphone-answer")).to_be_hidden()
        await expect(phone.get_by_test_id("voice-to-save")).to_be_disabled()  # not mid-call

        # -- mute, unmute
        mute = phone.get_by_test_id("softphone-mute")
        await mute.click()
        await expect(phone).to_have_attribute("data-state", "muted")
        await expect(mute).to_have_attribute("aria-pressed", "true")
        await expect(mute).to_have_text("Unmute")
        await mute.click()
        await expect(phone).to_have_attribute("data-state", "on-call")
        await expect(mute).to_have_attribute("aria-pressed", "false")
        muted = [(e["call"], e["muted"]) for e in await _sdk_log(page, "mute")]
        assert muted == [(bridged, True), (bridged, False)]
        await page.screenshot(path=str(tmp_path / "softphone-on-call.png"))

        # -- hang up: the softphone's leg ends, then Twilio reports the caller's call over
        await phone.get_by_test_id("softphone-hangup").click()
        await expect(phone).to_have_attribute("data-state", "ready")
        assert [e["call"] for e in await _sdk_log(page, "disconnect")] == [bridged]
        await call.hang_up()
        await expect(conversation).to_have_attribute("data-state", "wrapup", timeout=LIVE_MS)

        # -- a call for no contact of this agent's rings; Decline rejects it
        stray = await _ring(page, contactId=str(uuid.uuid4()), **{"from": stranger})
        await expect(phone).to_have_attribute("data-state", "ringing", timeout=LIVE_MS)
        await expect(phone.get_by_test_id("softphone-detail")).to_have_text(stranger)
        await phone.get_by_test_id("softphone-decline").click()
        await expect(phone).to_have_attribute("data-state", "ready")
        assert [e["call"] for e in await _sdk_log(page, "reject")] == [stray]
        assert [e["call"] for e in await _sdk_log(page, "accept")] == [bridged]

        # -- another rings, is answered by hand, and the far end hangs up
        other = await _ring(page, **{"from": stranger})
        await expect(phone).to_have_attribute("data-state", "ringing", timeout=LIVE_MS)
        await phone.get_by_test_id("softphone-answer").click()
        await expect(phone).to_have_attribute("data-state", "on-call")
        await _until_logged(page, "accept", call=other)
        await page.evaluate("sid => TwilioVoiceSdkDouble.hangUp(sid)", other)
        await expect(phone).to_have_attribute("data-state", "ready")

        # -- the token is about to expire: the console fetches a new one and hands it over
        async with page.expect_response(_token_answer, timeout=LIVE_MS) as renewed:
            await page.evaluate("() => TwilioVoiceSdkDouble.tokenWillExpire()")
        fresh = await _issued_token(await renewed.value)
        await _until_logged(page, "updateToken", token=fresh)
        assert _claims(fresh)["grants"]["identity"] == identity
        assert len(await _sdk_log(page, "device")) == 1  # the same Device, re-tokened
        await expect(phone).to_have_attribute("data-state", "ready")
        await expect(page.get_by_test_id("error-banner")).to_be_hidden()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_an_agent_moves_calls_to_a_phone_and_back_and_a_bad_number_changes_nothing(
    hub: LiveHub, db: asyncpg.Connection, sdk: ServedSdk
) -> None:
    errors: list[str] = []
    alice = await db.fetchval("SELECT id FROM agents WHERE username = 'alice'")
    voice_to = "SELECT voice_to FROM agents WHERE username = 'bob'"
    async with chromium() as browser:
        try:
            page = (await watched_page(browser, errors, "console", width=1440, height=900))[1]
            await sign_in(page, hub.base_url, "bob", hub.demo_password)
            phone = page.get_by_test_id("softphone")
            await expect(phone).to_have_attribute("data-state", "ready", timeout=LIVE_MS)
            other = await page.request.get(f"{hub.base_url}/api/agents/{alice}/voice")
            assert other.status == 403  # an agent reads where their own calls ring only

            # -- a malformed number: the API's error is shown, and nothing changes
            await phone.get_by_test_id("voice-to-toggle").click()
            await phone.get_by_test_id("voice-to-phone").check()
            await phone.get_by_test_id("voice-to-number").fill("not a number")
            await phone.get_by_test_id("voice-to-save").click()
            problem = phone.get_by_test_id("voice-to-error")
            await expect(problem).to_be_visible(timeout=LIVE_MS)
            await expect(problem).to_have_attribute("data-error-id", "identity.invalid")
            await expect(problem).to_contain_text("Not changed")
            assert await db.fetchval(voice_to) == "client"
            await expect(phone).to_have_attribute("data-state", "ready")
            assert await _sdk_log(page, "destroy") == []

            # -- a good one: stored in E.164, the softphone goes away
            await phone.get_by_test_id("voice-to-number").fill("+1 (415) 555-0188")
            await phone.get_by_test_id("voice-to-save").click()
            await expect(phone).to_have_attribute("data-state", "phone", timeout=LIVE_MS)
            await expect(phone.get_by_test_id("softphone-detail")).to_have_text("+14155550188")
            await expect(problem).to_be_hidden()
            assert await db.fetchval(voice_to) == "+14155550188"
            await _until_logged(page, "destroy")

            # -- it persists: after a reload the console shows the phone, and loads no SDK
            await page.reload()
            await expect(phone).to_have_attribute("data-state", "phone", timeout=LIVE_MS)
            await expect(phone.get_by_test_id("voice-to-number")).to_have_value("+14155550188")
            await expect(phone.get_by_test_id("voice-to-phone")).to_be_checked()
            assert await page.evaluate("() => typeof TwilioVoiceSdkDouble") == "undefined"
            assert sdk.hits == 1

            # -- back to the softphone: a new Device registers
            await phone.get_by_test_id("voice-to-toggle").click()
            await phone.get_by_test_id("voice-to-client").check()
            await phone.get_by_test_id("voice-to-save").click()
            await expect(phone).to_have_attribute("data-state", "ready", timeout=LIVE_MS)
            assert await db.fetchval(voice_to) == "client"
            assert [e["what"] for e in await page.evaluate("() => TwilioVoiceSdkDouble.log")] == [
                "device",
                "register",
            ]
            await expect(page.get_by_test_id("error-banner")).to_be_hidden()
        finally:
            await db.execute("UPDATE agents SET voice_to = 'client' WHERE username = 'bob'")
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_without_an_api_key_the_softphone_shows_off_and_no_error(
    settings: HubSettings, redis: Any, fake: FakeTwilio, sdk: ServedSdk
) -> None:
    twilio = replace(
        twilio_settings(fake, softphone_sdk_url=sdk.url), api_key_sid=None, api_key_secret=None
    )
    live, runner = await start_voice_hub(voice_settings(settings), twilio)
    errors: list[str] = []
    try:
        async with chromium() as browser:
            page = (await watched_page(browser, errors, "console", width=1440, height=900))[1]
            async with page.expect_response(
                lambda r: r.url.endswith("/api/voice/token"), timeout=LIVE_MS
            ) as refused:
                await sign_in(page, live.base_url, "alice", live.demo_password)
            assert (await refused.value).status == 503
            phone = page.get_by_test_id("softphone")
            await expect(phone).to_have_attribute("data-state", "off", timeout=LIVE_MS)
            await expect(phone).to_be_visible()  # calls come in: say the softphone is off
            await expect(phone.get_by_test_id("softphone-status")).to_have_text("Softphone off")
            await expect(phone.get_by_test_id("softphone-error")).to_be_hidden()
            await expect(phone.get_by_test_id("softphone-retry")).to_be_hidden()
            await expect(page.get_by_test_id("error-banner")).to_be_hidden()
            # Taking calls on a phone instead stays possible.
            await phone.get_by_test_id("voice-to-toggle").click()
            await expect(phone.get_by_test_id("voice-to-save")).to_be_enabled()
            assert await page.evaluate("() => typeof Twilio") == "undefined"
            assert sdk.hits == 0
    finally:
        await runner.cleanup()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_a_hub_without_twilio_shows_no_phone_panel(
    settings: HubSettings, redis: Any, sdk: ServedSdk
) -> None:
    assert not settings.twilio.enabled
    live, runner = await start_hub(settings)
    errors: list[str] = []
    try:
        async with chromium() as browser:
            page = (await watched_page(browser, errors, "console", width=1440, height=900))[1]
            async with page.expect_response(
                lambda r: r.url.endswith("/api/voice/token"), timeout=LIVE_MS
            ) as refused:
                await sign_in(page, live.base_url, "alice", live.demo_password)
            answer = await (await refused.value).json()
            assert answer["error_id"] == "twilio.softphone_off"
            assert answer["details"]["voice"] is False
            phone = page.get_by_test_id("softphone")
            await expect(phone).to_have_attribute("data-state", "off", timeout=LIVE_MS)
            await expect(phone).to_be_hidden()
            await expect(page.get_by_test_id("error-banner")).to_be_hidden()
            assert sdk.hits == 0
    finally:
        await runner.cleanup()
    assert not errors, "errors in the page:\n" + "\n".join(errors)
