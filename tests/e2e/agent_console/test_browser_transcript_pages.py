"""In a real browser: a long transcript shows its latest page, and earlier pages come in
when the agent clicks "Earlier messages" or scrolls to the top, in order, none twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.browser import LIVE_MS, chromium, require_chromium, sign_in, watched_page
from tests.e2e.clients import AgentClient
from tests.e2e.traffic import close_all, conversation, unthrottled

require_chromium()

from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

PAGE = 10
TOTAL = 35  # the latest 10, then pages of 50 (the console's) until none remain


@pytest.fixture
async def paged_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(replace(unthrottled(settings), transcript_page_messages=PAGE))
    yield live
    await runner.cleanup()


def _text(i: int) -> str:
    return f"line {i} of a long chat"


async def test_earlier_messages_load_on_click_and_on_scrolling_to_the_top(
    paged_hub: LiveHub,
) -> None:
    hub = paged_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    customer, contact_id = await conversation(hub, alice, "Quentin", first=_text(0))
    for i in range(1, TOTAL):
        await customer.say(_text(i))
        await alice.expect("message", contact_id=contact_id)
    errors: list[str] = []
    async with chromium() as browser:
        context, page = await watched_page(browser, errors, "console", height=600)
        await sign_in(page, hub.base_url, "alice", hub.demo_password)
        panel = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        messages = panel.get_by_test_id("message").locator(".message-body")
        earlier = panel.get_by_test_id("earlier-messages")
        await expect(messages).to_have_count(PAGE, timeout=LIVE_MS)
        await expect(messages.first).to_have_text(_text(TOTAL - PAGE))

        # A click brings the page before (at most 50: here the 25 left), above what was shown.
        await expect(earlier).to_be_visible()
        await earlier.click()
        await expect(messages).to_have_count(TOTAL, timeout=LIVE_MS)
        await expect(earlier).to_be_hidden()
        assert await messages.all_inner_texts() == [_text(i) for i in range(TOTAL)]
        await context.close()

        # Again from a fresh console, by scrolling to the top instead.
        context, page = await watched_page(browser, errors, "console again", height=600)
        await sign_in(page, hub.base_url, "alice", hub.demo_password)
        panel = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        messages = panel.get_by_test_id("message").locator(".message-body")
        await expect(messages).to_have_count(PAGE, timeout=LIVE_MS)
        transcript = panel.get_by_test_id("transcript")
        await transcript.hover()
        await page.mouse.wheel(0, -5000)  # the agent scrolls up, to the top
        await expect(messages).to_have_count(TOTAL, timeout=LIVE_MS)
        assert await messages.all_inner_texts() == [_text(i) for i in range(TOTAL)]
        await context.close()
    assert errors == []
    await close_all(alice, customer)
