"""The console's status menu and wrap-up in a real browser (docs/states.md): the catalogue's
away reasons in the menu, the chosen reason sent to the hub, a next state shown and cancelled,
and the wrap-up offering the contact's queue's dispositions.

Drives the system Chromium through Playwright, like test_browser.py; the customer is a real
websocket client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from contactcenter.core import events as ev
from contactcenter.settings.hub import HubSettings, QueueSettings
from contactcenter.settings.reasons import DEFAULT_REASONS
from routing.keys import Keys
from routing.store import RoutingStore
from tests.conftest import LiveHub, start_hub
from tests.e2e.browser import LIVE_MS, chromium, require_chromium, sign_in, watched_page
from tests.e2e.clients import ChatClient

require_chromium()

from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
async def sales_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub whose one queue has dispositions of its own, one required."""
    queue = QueueSettings(
        name="sales", skill="support", channels=("chat",), dispositions=("sold", "callback-later")
    )
    live, runner = await start_hub(replace(settings, queues=(queue,)))
    yield live
    await runner.cleanup()


async def _reasons_sent(redis: Redis, hub: LiveHub) -> list[str | None]:
    entries = await redis.xrange(Keys(hub.settings.routing_domain).events, "-", "+")
    changes = [ev.decode_event(f) for _id, f in entries]
    return [e.reason for e in changes if isinstance(e, ev.AgentStateChanged) and e.state == "away"]


async def test_the_status_menu_sends_a_reason_and_the_wrap_up_shows_the_queues_dispositions(
    sales_hub: LiveHub, redis: Redis, tmp_path: Path
) -> None:
    hub = sales_hub
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "console")
        await sign_in(page, hub.base_url, "alice", hub.demo_password)
        select = page.get_by_test_id("state-select")
        await expect(select).to_be_enabled(timeout=LIVE_MS)

        # -- the menu lists the catalogue, for now and for next
        labels = [r.label for r in DEFAULT_REASONS.reasons]
        away = page.get_by_test_id("away-reasons").locator("option")
        await expect(away).to_have_text(labels, timeout=LIVE_MS)
        nexts = page.get_by_test_id("next-states").locator("option")
        await expect(nexts).to_have_text([*labels, "Offline"])

        # -- away for lunch: the hub records the reason, the menu shows it
        await select.select_option("away:lunch")
        await expect(select).to_have_attribute("data-state", "away", timeout=LIVE_MS)
        await expect(select).to_have_attribute("data-reason", "lunch")
        assert await select.input_value() == "away:lunch"
        assert await _reasons_sent(redis, hub) == ["lunch"]

        await select.select_option("available")
        await expect(select).to_have_attribute("data-state", "available", timeout=LIVE_MS)

        # -- a customer's chat, accepted
        customer = await ChatClient.connect(hub.base_url, "Quinn")
        await customer.say("I would like to order the blue one")
        offer = page.get_by_test_id("offer-card")
        await expect(offer).to_be_visible(timeout=LIVE_MS)
        contact_id = await offer.get_attribute("data-contact-id")
        await offer.get_by_test_id("offer-accept").click()
        conversation = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        await expect(conversation).to_be_visible(timeout=LIVE_MS)

        # -- a next state while in conversation: shown, cancelled, chosen again
        chip = page.get_by_test_id("next-state")
        await select.select_option("next:away:training")
        await expect(chip).to_be_visible(timeout=LIVE_MS)
        await expect(page.get_by_test_id("next-state-label")).to_have_text("Training")
        await expect(select).to_have_attribute("data-state", "available")
        assert await select.input_value() == "available"
        await page.get_by_test_id("next-state-cancel").click()
        await expect(chip).to_be_hidden(timeout=LIVE_MS)
        await select.select_option("next:away:break")
        await expect(page.get_by_test_id("next-state-label")).to_have_text("Break", timeout=LIVE_MS)
        await expect(chip).to_have_attribute("data-reason", "break")

        # -- wrap-up offers the queue's dispositions, and its end brings the next state
        await conversation.get_by_test_id("end-conversation").click()
        disposition = conversation.get_by_test_id("wrapup-disposition")
        await expect(disposition).to_be_visible(timeout=LIVE_MS)
        options = disposition.locator("option")
        await expect(options).to_have_text(["Choose a disposition…", "sold", "callback-later"])
        await disposition.select_option("sold")
        await conversation.get_by_test_id("wrapup-submit").click()
        await expect(page.get_by_test_id("conversation")).to_have_count(0, timeout=LIVE_MS)
        await expect(select).to_have_attribute("data-state", "away", timeout=LIVE_MS)
        await expect(select).to_have_attribute("data-reason", "break")
        await expect(chip).to_be_hidden()
        await expect(page.get_by_test_id("error-banner")).to_be_hidden()
        assert await _reasons_sent(redis, hub) == ["lunch", "break"]

        await page.screenshot(path=str(tmp_path / "states.png"))
        await customer.close()
        await ctx.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_a_reason_the_hub_set_shows_on_the_plain_away_entry(
    hub: LiveHub, redis: Redis
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "console")
        await sign_in(page, hub.base_url, "alice", hub.demo_password, available=True)
        select = page.get_by_test_id("state-select")
        # As routing does after too many offers let go (routing/lua/requeue.lua).
        agent_id: Any = await page.evaluate(
            "fetch('/api/me').then((r) => r.json()).then((b) => (b.agent || b).agent_id)"
        )
        await RoutingStore(redis, hub.settings.routing_domain).set_agent_state(
            agent_id, "away", now_ms=1, reason="missed-offers", from_console=False
        )
        await expect(select).to_have_attribute("data-reason", "missed-offers", timeout=LIVE_MS)
        assert await select.input_value() == "away"
        await expect(select.locator('option[value="away"]')).to_have_text("Away (missed-offers)")
        await ctx.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)
