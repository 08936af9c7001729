"""End to end in a real browser: which call the console's softphone takes, and when
(docs/channels.md, "The softphone"): the call bridged for a contact that rings before the
console has that contact, and one call at a time.

The order of things is made, not waited for: the page's agent socket goes through a gate
(`FRAME_GATE`, installed before the console loads) that can hold the hub's frames from a
given one on and hand them over later, in one go, inside a single `page.evaluate`; so the
test rings the softphone (through tests/e2e/channels/twilio/fake_twilio_voice_sdk.js, as in
test_browser_softphone.py) while the console has not seen the `assigned` frame yet, or has
not even had its accept acknowledged. The SDK double's `watch` records, with each call the
page makes into the SDK, whether the contact's conversation was on the page at that moment.

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from tests.conftest import LiveHub
from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    sign_in,
    watched_page,
)
from tests.e2e.channels.twilio import test_browser_softphone as softphone
from tests.e2e.channels.twilio.test_browser_softphone import _ring, _sdk_log, _until_logged
from tests.e2e.channels.twilio.test_twilio_voice import Call, bridged_to
from tests.e2e.twilio_support import unique_phone
from tests.support.fake_twilio import FakeTwilio

require_chromium()

from playwright.async_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

# The fixtures of test_browser_softphone.py: a voice hub on the fake Twilio, loading the SDK
# double from `sdk`.
hub, sdk = softphone.hub, softphone.sdk

# The page's WebSocket, wrapped: every frame of the hub passes `receive`; once one matches
# what `holdFrom` was given, it and all after it wait in `held` (in order) until `release`
# hands them to the console; `deliver` hands over one held frame ahead of the others (as the
# hub may send an ack and an `assigned` frame in either order). Frames handed over are
# renumbered (`seq`, docs/protocol.md) so that the console's gap check sees no gap. `sent`
# is every frame the page sent.
FRAME_GATE = """
(() => {
  const Native = window.WebSocket;
  const matches = (want, frame) => !!want
    && (want.type === null || frame.type === want.type)
    && (want.contactId === null
        || frame.contact_id === want.contactId
        || (!!frame.contact && frame.contact.contact_id === want.contactId));
  const gate = {
    sent: [], delivered: [], held: [], want: null, holding: false,
    holdFrom(type, contactId) {
      this.want = { type, contactId };
    },
    receive(socket, data) {
      const frame = JSON.parse(data);
      if (!this.holding && matches(this.want, frame)) this.holding = true;
      if (this.holding) this.held.push({ socket, frame });
      else this.hand(socket, frame);
    },
    hand(socket, frame) {
      const out = typeof frame.seq === "number" ? { ...frame, seq: ++socket.gateSeq } : frame;
      this.delivered.push(out);
      if (socket.gateHandler) socket.gateHandler({ data: JSON.stringify(out) });
    },
    deliver(type, ref) {
      const i = this.held.findIndex((h) => h.frame.type === type && h.frame.ref === ref);
      if (i < 0) return false;
      const [{ socket, frame }] = this.held.splice(i, 1);
      this.hand(socket, frame);
      return true;
    },
    release() {
      this.want = null;
      this.holding = false;
      for (const { socket, frame } of this.held.splice(0)) this.hand(socket, frame);
    },
  };
  class GatedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.gateSeq = 0;
      this.gateHandler = null;
      this.addEventListener("message", (ev) => gate.receive(this, ev.data));
    }
    get onmessage() { return this.gateHandler; }
    set onmessage(fn) { this.gateHandler = fn; }
    send(data) {
      gate.sent.push(JSON.parse(data));
      super.send(data);
    }
  }
  window.WebSocket = GatedWebSocket;
  window.frameGate = gate;
})();
"""


# --- helpers -------------------------------------------------------------------------------


@asynccontextmanager
async def _console(hub: LiveHub, errors: list[str]) -> AsyncIterator[Page]:
    """Alice's console in Chromium, its socket through the gate, the softphone ready and
    Alice available."""
    async with chromium() as browser:
        page = (await watched_page(browser, errors, "console", width=1440, height=900))[1]
        await page.add_init_script(FRAME_GATE)
        await sign_in(page, hub.base_url, "alice", hub.demo_password)
        await expect(page.get_by_test_id("softphone")).to_have_attribute(
            "data-state", "ready", timeout=LIVE_MS
        )
        state_select = page.get_by_test_id("state-select")
        await state_select.select_option("available")
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)
        yield page


def _conversation(page: Page, contact_id: str) -> Locator:
    return page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')


async def _offered(page: Page, hub: LiveHub, fake: FakeTwilio, caller: str) -> Call:
    """A caller picks billing; the console shows Alice the offer."""
    call = Call(hub, fake, caller)
    await call.choose(Digits="1")
    await expect(page.get_by_test_id("offer-card")).to_have_attribute(
        "data-contact-id", call.contact_id, timeout=LIVE_MS
    )
    return call


async def _watch_conversation(page: Page, contact_id: str) -> None:
    """From now on, each SDK call logged says whether the contact's conversation was shown."""
    await page.evaluate(
        """id => { TwilioVoiceSdkDouble.watch = () => !!document.querySelector(
             `[data-testid="conversation"][data-contact-id="${id}"]`); }""",
        contact_id,
    )


async def _accept_sent(page: Page, contact_id: str) -> str:
    """Alice clicks Accept; the ref of the accept frame the page sent."""
    await page.get_by_test_id("offer-accept").click()
    handle = await page.wait_for_function(
        """id => (frameGate.sent.find(f => f.type === "accept" && f.contact_id === id)
                  || {}).ref""",
        arg=contact_id,
        timeout=LIVE_MS,
    )
    ref: str = await handle.json_value()
    return ref


async def _until_held(page: Page, kind: str, contact_id: str) -> None:
    await page.wait_for_function(
        """([kind, id]) => frameGate.held.some(h => h.frame.type === kind
             && (h.frame.contact_id === id || (h.frame.contact || {}).contact_id === id))""",
        arg=[kind, contact_id],
        timeout=LIVE_MS,
    )


async def _ack_handed_over(page: Page, ref: str) -> None:
    """The hub acknowledged the accept: make sure the console has processed that ack (handed
    over ahead of the held frames if it came after the `assigned` one)."""
    await page.wait_for_function(
        """ref => [...frameGate.delivered, ...frameGate.held.map(h => h.frame)]
             .some(f => f.type === "ack" && f.ref === ref)""",
        arg=ref,
        timeout=LIVE_MS,
    )
    await page.evaluate("ref => frameGate.deliver('ack', ref)", ref)
    delivered = await page.evaluate(
        "ref => frameGate.delivered.filter(f => f.type === 'ack' && f.ref === ref).length", ref
    )
    assert delivered == 1


async def _calls(page: Page, what: str) -> list[str]:
    return [e["call"] for e in await _sdk_log(page, what)]


async def _assert_bridged_to_the_softphone(fake: FakeTwilio, call: Call) -> None:
    """The hub put the caller through to a softphone, with the contact's id as parameter."""
    client = (await bridged_to(fake, call))[1][0]
    assert [n.tag for n in client] == ["Identity", "Parameter"]
    assert client[1].get("value") == call.contact_id


# --- the tests -----------------------------------------------------------------------------


async def test_a_bridged_call_ringing_before_the_console_has_its_contact_is_answered_when_it_comes(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    caller = unique_phone()
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        call = await _offered(page, hub, fake, caller)
        await page.evaluate(
            "id => frameGate.holdFrom('assigned', id)", call.contact_id
        )  # the contact reaches the console only when the test says

        # -- the contact's call rings before Alice accepted: it rings, it is not answered
        bridged = await _ring(page, contactId=call.contact_id, **{"from": caller})
        await expect(phone).to_have_attribute("data-state", "ringing")
        await expect(phone.get_by_test_id("softphone-answer")).to_be_visible()
        assert await _calls(page, "accept") == []

        # -- Alice accepts; the hub assigns her the contact and bridges the caller, and the
        #    console has the ack but not the `assigned` frame: still ringing, not answered
        ref = await _accept_sent(page, call.contact_id)
        await _assert_bridged_to_the_softphone(fake, call)
        await _until_held(page, "assigned", call.contact_id)
        await _ack_handed_over(page, ref)
        await expect(_conversation(page, call.contact_id)).to_have_count(0)
        await expect(phone).to_have_attribute("data-state", "ringing")
        assert await _calls(page, "accept") == []

        # -- the contact comes: the call is answered at once, once, the conversation shown
        await _watch_conversation(page, call.contact_id)
        await page.evaluate("() => frameGate.release()")
        await expect(_conversation(page, call.contact_id)).to_be_visible()
        await expect(phone).to_have_attribute("data-state", "on-call", timeout=LIVE_MS)
        accepted = await _sdk_log(page, "accept")
        assert [(e["call"], e["watched"]) for e in accepted] == [(bridged, True)]
        assert await _calls(page, "reject") == []
        assert await _calls(page, "disconnect") == []
        await expect(phone.get_by_test_id("softphone-answer")).to_be_hidden()
        await expect(phone.get_by_test_id("softphone-hangup")).to_be_visible()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_a_call_ringing_while_the_agent_is_accepting_its_contact_is_answered_at_once(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    caller = unique_phone()
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        call = await _offered(page, hub, fake, caller)

        # -- Alice accepts; the hub's answers (the ack, `assigned`) are all held back
        await page.evaluate("() => frameGate.holdFrom(null, null)")
        await _accept_sent(page, call.contact_id)
        await _assert_bridged_to_the_softphone(fake, call)
        await _until_held(page, "assigned", call.contact_id)

        # -- the bridged call rings while she is accepting: answered at once
        await _watch_conversation(page, call.contact_id)
        bridged = await _ring(page, contactId=call.contact_id, **{"from": caller})
        await expect(phone).to_have_attribute("data-state", "on-call")
        accepted = await _sdk_log(page, "accept")
        assert [(e["call"], e["watched"]) for e in accepted] == [(bridged, False)]

        # -- then the contact comes: the conversation is shown, the call not answered again
        await page.evaluate("() => frameGate.release()")
        await expect(_conversation(page, call.contact_id)).to_be_visible()
        await expect(phone).to_have_attribute("data-state", "on-call")
        assert await _calls(page, "accept") == [bridged]
        assert await _calls(page, "reject") == []
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_one_call_at_a_time_the_accepted_contacts_call_replaces_a_stray_one_ringing(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    caller, stranger, other, third = (unique_phone() for _ in range(4))
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        detail = phone.get_by_test_id("softphone-detail")

        # -- a stray call rings; a second one, while it rings, is rejected by itself
        stray = await _ring(page, **{"from": stranger})
        await expect(phone).to_have_attribute("data-state", "ringing")
        await expect(detail).to_have_text(stranger)
        second = await _ring(page, **{"from": other})
        assert await _calls(page, "reject") == [second]
        await expect(phone).to_have_attribute("data-state", "ringing")
        await expect(detail).to_have_text(stranger)

        # -- Alice accepts a caller; the contact's bridged call replaces the stray one
        call = await _offered(page, hub, fake, caller)
        await page.get_by_test_id("offer-accept").click()
        await expect(_conversation(page, call.contact_id)).to_be_visible(timeout=LIVE_MS)
        await _assert_bridged_to_the_softphone(fake, call)
        await expect(phone).to_have_attribute("data-state", "ringing")  # the stray still rings
        bridged = await _ring(page, contactId=call.contact_id, **{"from": caller})
        await expect(phone).to_have_attribute("data-state", "on-call")
        assert await _calls(page, "reject") == [second, stray]
        assert await _calls(page, "accept") == [bridged]
        await expect(detail).not_to_have_text(stranger)

        # -- on a call, any other call is rejected: a stray one, even one for her contact
        third_sid = await _ring(page, **{"from": third})
        again = await _ring(page, contactId=call.contact_id, **{"from": caller})
        assert await _calls(page, "reject") == [second, stray, third_sid, again]
        assert await _calls(page, "accept") == [bridged]
        await expect(phone).to_have_attribute("data-state", "on-call")
        await expect(phone.get_by_test_id("softphone-answer")).to_be_hidden()
        await expect(phone.get_by_test_id("softphone-hangup")).to_be_visible()
        assert await _calls(page, "disconnect") == []
    assert not errors, "errors in the page:\n" + "\n".join(errors)


@dataclass
class Waiting:
    """A stray call ringing, and the bridged call of a contact Alice accepted waiting behind
    it (the console has the ack, not yet the `assigned` frame)."""

    call: Call
    stray: str
    bridged: str


async def _bridge_behind_a_stray(page: Page, hub: LiveHub, fake: FakeTwilio) -> Waiting:
    caller, stranger = unique_phone(), unique_phone()
    phone = page.get_by_test_id("softphone")
    stray = await _ring(page, **{"from": stranger})
    await expect(phone).to_have_attribute("data-state", "ringing")

    # -- Alice accepts; the console has the ack, not yet the `assigned` frame
    call = await _offered(page, hub, fake, caller)
    await page.evaluate("id => frameGate.holdFrom('assigned', id)", call.contact_id)
    ref = await _accept_sent(page, call.contact_id)
    await _assert_bridged_to_the_softphone(fake, call)
    await _until_held(page, "assigned", call.contact_id)
    await _ack_handed_over(page, ref)

    # -- the bridged call rings now: not turned away, not answered; the stray one still rings
    bridged = await _ring(page, contactId=call.contact_id, **{"from": caller})
    await expect(phone).to_have_attribute("data-state", "ringing")
    await expect(phone.get_by_test_id("softphone-detail")).to_have_text(stranger)
    assert await _calls(page, "reject") == []
    assert await _calls(page, "accept") == []
    await _watch_conversation(page, call.contact_id)
    return Waiting(call, stray, bridged)


async def test_the_accepted_contacts_call_replaces_a_stray_one_even_before_the_contact_comes(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        waiting = await _bridge_behind_a_stray(page, hub, fake)

        # -- the contact comes: the stray call is rejected, the bridged one answered
        await page.evaluate("() => frameGate.release()")
        await expect(_conversation(page, waiting.call.contact_id)).to_be_visible()
        await expect(phone).to_have_attribute("data-state", "on-call", timeout=LIVE_MS)
        assert await _calls(page, "reject") == [waiting.stray]
        accepted = await _sdk_log(page, "accept")
        assert [(e["call"], e["watched"]) for e in accepted] == [(waiting.bridged, True)]
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_a_bridged_call_waiting_rings_when_the_stray_one_is_declined(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        waiting = await _bridge_behind_a_stray(page, hub, fake)

        # -- Alice declines the stray call: the bridged one rings in its place
        await phone.get_by_test_id("softphone-decline").click()
        await _until_logged(page, "reject", call=waiting.stray)
        assert await _calls(page, "reject") == [waiting.stray]
        await expect(phone).to_have_attribute("data-state", "ringing")
        await expect(phone.get_by_test_id("softphone-answer")).to_be_visible()
        assert await _calls(page, "accept") == []

        # -- then the contact comes: it is answered
        await page.evaluate("() => frameGate.release()")
        await expect(_conversation(page, waiting.call.contact_id)).to_be_visible()
        await expect(phone).to_have_attribute("data-state", "on-call", timeout=LIVE_MS)
        accepted = await _sdk_log(page, "accept")
        assert [(e["call"], e["watched"]) for e in accepted] == [(waiting.bridged, True)]
        assert await _calls(page, "reject") == [waiting.stray]
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_a_bridged_call_waiting_is_rejected_when_the_stray_one_is_answered(
    hub: LiveHub, fake: FakeTwilio
) -> None:
    errors: list[str] = []
    async with _console(hub, errors) as page:
        phone = page.get_by_test_id("softphone")
        waiting = await _bridge_behind_a_stray(page, hub, fake)

        # -- Alice answers the stray call by hand: on a call, the waiting one is rejected
        await phone.get_by_test_id("softphone-answer").click()
        await expect(phone).to_have_attribute("data-state", "on-call")
        assert await _calls(page, "accept") == [waiting.stray]
        assert await _calls(page, "reject") == [waiting.bridged]

        # -- the contact comes later: nothing more is answered or rejected
        await page.evaluate("() => frameGate.release()")
        await expect(_conversation(page, waiting.call.contact_id)).to_be_visible()
        await expect(phone).to_have_attribute("data-state", "on-call")
        assert await _calls(page, "accept") == [waiting.stray]
        assert await _calls(page, "reject") == [waiting.bridged]
    assert not errors, "errors in the page:\n" + "\n".join(errors)
