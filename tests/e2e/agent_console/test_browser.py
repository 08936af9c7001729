"""End to end in a real browser: an agent in the console and a customer in the web chat.

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
The `hub` fixture (tests/conftest.py) runs a live hub and gives its `base_url` and the
`demo_password` of the demo agents (alice, bob: agents; sam: supervisor).

The test is async so that a hub running on pytest's event loop keeps serving while the browser
waits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    watched_page,
)

require_chromium()

from playwright.async_api import (  # noqa: E402
    expect,
)

pytestmark = pytest.mark.browser


async def test_agent_and_customer_chat_end_to_end(hub: Any, tmp_path: Path) -> None:
    base = hub.base_url.rstrip("/")
    customer_name = "Dana Whitfield"
    # Markup in a message must show as text, never as HTML.
    first_text = "Hello, my parcel <b>#4711</b> has not arrived"
    agent_text = "Hi Dana, I am looking into parcel 4711 right now."
    customer_text = "Thank you, it was due on Monday."
    errors: list[str] = []

    async with chromium() as browser:
        agent_ctx, agent = await watched_page(browser, errors, "console")
        customer_ctx, customer = await watched_page(browser, errors, "chat", width=390, height=760)

        # -- the agent signs in and goes available
        await agent.goto(f"{base}/console")
        await agent.get_by_test_id("login-username").fill("alice")
        await agent.get_by_test_id("login-password").fill(hub.demo_password)
        await agent.get_by_test_id("login-submit").click()
        status = agent.get_by_test_id("connection-status")
        await expect(status).to_have_attribute("data-state", "connected", timeout=LIVE_MS)
        await expect(status).to_have_text("Connected")

        state_select = agent.get_by_test_id("state-select")
        await expect(state_select).to_be_enabled()
        await state_select.select_option("available")
        # data-state follows the hub's `state` frame, not the click.
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)

        # -- a customer opens the web chat in another browser context
        await customer.goto(f"{base}/chat")
        await customer.get_by_test_id("chat-name").fill(customer_name)
        await customer.get_by_test_id("chat-first-message").fill(first_text)
        await customer.get_by_test_id("chat-start").click()
        chat_status = customer.get_by_test_id("chat-status")
        await expect(chat_status).to_contain_text(
            re.compile("waiting for an agent", re.I), timeout=LIVE_MS
        )
        own_first = customer.locator('[data-testid="message"][data-sender="customer"]')
        await expect(own_first).to_have_count(1, timeout=LIVE_MS)
        await expect(own_first).to_contain_text(first_text)

        # -- the agent sees the offer with the customer's name and accepts it
        offer = agent.get_by_test_id("offer-card").filter(has_text=customer_name)
        await expect(offer).to_be_visible(timeout=LIVE_MS)
        contact_id = await offer.get_attribute("data-contact-id")
        assert contact_id
        await expect(offer.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"\d+s"))
        await offer.get_by_test_id("offer-accept").click()
        await expect(agent.get_by_test_id("offer-card")).to_have_count(0, timeout=LIVE_MS)

        conversation = agent.locator(
            f'[data-testid="conversation"][data-contact-id="{contact_id}"]'
        )
        await expect(conversation).to_be_visible(timeout=LIVE_MS)
        from_customer = conversation.locator('[data-testid="message"][data-sender="customer"]')
        await expect(from_customer).to_have_count(1, timeout=LIVE_MS)
        await expect(from_customer).to_contain_text(first_text)
        assert await conversation.locator("b").count() == 0, "message text rendered as HTML"

        await expect(chat_status).to_contain_text(re.compile(r"\bjoined\b", re.I), timeout=LIVE_MS)

        # -- one message each way; each side sees the other's
        await conversation.get_by_test_id("message-input").fill(agent_text)
        await conversation.get_by_test_id("message-input").press("Enter")
        agent_bubble = conversation.locator('[data-testid="message"][data-sender="agent"]')
        await expect(agent_bubble).to_have_text(re.compile(re.escape(agent_text)), timeout=LIVE_MS)
        from_agent = customer.locator('[data-testid="message"][data-sender="agent"]')
        await expect(from_agent).to_have_count(1, timeout=LIVE_MS)
        await expect(from_agent).to_contain_text(agent_text)

        await customer.get_by_test_id("chat-input").fill(customer_text)
        await customer.get_by_test_id("chat-send").click()
        await expect(from_customer).to_have_count(2, timeout=LIVE_MS)
        await expect(from_customer.nth(1)).to_contain_text(customer_text)
        # No duplicates on either side (the hub may deliver a message twice).
        await expect(customer.get_by_test_id("message")).to_have_count(3)
        await expect(conversation.get_by_test_id("message")).to_have_count(3)

        await agent.screenshot(path=str(tmp_path / "console-active.png"))

        # -- the agent ends the conversation and wraps up with a disposition
        await conversation.get_by_test_id("end-conversation").click()
        await expect(chat_status).to_contain_text(
            re.compile("conversation ended", re.I), timeout=LIVE_MS
        )
        disposition = conversation.get_by_test_id("wrapup-disposition")
        await expect(disposition).to_be_visible(timeout=LIVE_MS)
        await expect(conversation.get_by_test_id("message-input")).to_be_hidden()
        await disposition.select_option("resolved")
        await conversation.get_by_test_id("wrapup-notes").fill("Parcel re-shipped.")
        await conversation.get_by_test_id("wrapup-submit").click()
        await expect(agent.get_by_test_id("conversation")).to_have_count(0, timeout=LIVE_MS)
        await expect(agent.get_by_test_id("error-banner")).to_be_hidden()

        await agent.screenshot(path=str(tmp_path / "console.png"))
        await customer.screenshot(path=str(tmp_path / "chat.png"))

        await agent_ctx.close()
        await customer_ctx.close()

    assert not errors, "errors in the pages:\n" + "\n".join(errors)
