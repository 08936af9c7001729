"""In a real browser: the agent sees the customer's chat page go and come back, and going
offline with a conversation in hand asks first, then puts it back in the queue
(docs/routing.md, "Customers who leave", "Going offline with work").

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import pytest

from tests.conftest import LiveHub
from tests.e2e.browser import LIVE_MS, chromium, require_chromium, sign_in, watched_page
from tests.e2e.clients import AgentClient, ChatClient

require_chromium()

from playwright.async_api import Dialog, expect  # noqa: E402

pytestmark = pytest.mark.browser


async def test_presence_and_going_offline_with_a_conversation_in_the_console(
    hub: LiveHub,
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        _ctx, page = await watched_page(browser, errors, "console", width=1440, height=900)
        await sign_in(page, hub.base_url, "alice", hub.demo_password)
        state_select = page.get_by_test_id("state-select")
        await state_select.select_option("available")
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)

        customer = await ChatClient.connect(hub.base_url, "Petra Presence")
        visitor_id = customer.welcome["visitor_id"]
        await customer.say("hello?")
        contact_id = (await customer.expect("queued"))["contact_id"]
        offer = page.get_by_test_id("offer-card").filter(has_text="Petra Presence")
        await expect(offer).to_be_visible(timeout=LIVE_MS)
        await offer.get_by_test_id("offer-accept").click()
        conversation = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        await expect(conversation).to_be_visible(timeout=LIVE_MS)
        presence = conversation.get_by_test_id("customer-presence")
        await expect(presence).to_be_hidden()

        # -- the customer's page goes, then comes back
        await customer.close()
        await expect(presence).to_be_visible(timeout=LIVE_MS)
        await expect(presence).to_have_text("Customer left the chat page")
        back = await ChatClient.connect(hub.base_url, "Petra Presence", visitor_id=visitor_id)
        await expect(presence).to_be_hidden(timeout=LIVE_MS)

        # -- offline with the conversation in hand: asked first; cancelled, nothing changes
        dialogs: list[str] = []

        async def dismiss(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.once("dialog", dismiss)
        await state_select.select_option("offline")
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)
        await expect(state_select).to_have_value("available")
        assert dialogs and "put it back in the queue" in dialogs[0].lower()
        await expect(conversation).to_be_visible()

        # -- confirmed: the conversation goes back to the queue, to the next agent
        bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
        await bob.go_available()

        async def accept_dialog(dialog: Dialog) -> None:
            await dialog.accept()

        page.once("dialog", accept_dialog)
        await state_select.select_option("offline")
        await expect(state_select).to_have_attribute("data-state", "offline", timeout=LIVE_MS)
        offer_to_bob = await bob.expect("offer")
        assert offer_to_bob["contact"]["contact_id"] == contact_id
        await back.expect("transferring", contact_id=contact_id)
        for c in (bob, back):
            await c.close()
    assert errors == []
