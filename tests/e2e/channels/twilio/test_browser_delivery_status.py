"""End to end in a real browser: the delivery mark of an agent's SMS reply (docs/channels.md,
"Delivery status"). An SMS arrives through a signed webhook, the agent accepts it in the
console and replies; Twilio's signed status callbacks then move the mark the agent sees on
each reply, forward only, and a failure shows with Twilio's error code; after a reload the
marks are there again.

Twilio's REST API is tests/support/fake_twilio.py on loopback; nothing reaches the internet.
Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from channels.twilio.common import TwilioSettings
from contactcenter.core.appkeys import BUS
from contactcenter.core.events import MessageStatusChanged
from contactcenter.settings.hub import HubSettings
from routing.worker import wall_clock_ms
from tests.conftest import LiveHub
from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    sign_in,
    watched_page,
)
from tests.e2e.channels.twilio.test_twilio_messaging import (
    OUR_SMS,
    messaging_settings,
    post,
    start_twilio_hub,
    until,
)
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN, unique_phone
from tests.support.fake_twilio import FakeTwilio

require_chromium()

from playwright.async_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
async def hub(settings: HubSettings, redis: Any, fake: FakeTwilio) -> AsyncIterator[LiveHub]:
    twilio = TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base=fake.base_url,
        numbers={"sms": (OUR_SMS,)},
    )
    live, runner = await start_twilio_hub(messaging_settings(settings), twilio)
    yield live
    await runner.cleanup()


@pytest.fixture
async def db(hub: LiveHub) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(hub.settings.database_url)
    yield conn
    await conn.close()


async def _reply(
    page: Page, conversation: Locator, fake: FakeTwilio, db: asyncpg.Connection, text: str
) -> tuple[str, Locator]:
    """The agent replies in the console: Twilio's sid of the SMS sent, and its bubble."""
    box = conversation.get_by_test_id("message-input")
    await box.fill(text)
    await box.press("Enter")
    sent = await asyncio.wait_for(fake.created.get(), LIVE_MS / 1000)
    assert sent["body"] == text
    message_id = await until(
        lambda: db.fetchval("SELECT id FROM messages WHERE external_id = $1", sent["sid"])
    )
    return sent["sid"], conversation.locator(
        f'[data-testid="message"][data-message-id="{message_id}"]'
    )


async def _status_of(db: asyncpg.Connection, sid: str) -> tuple[str, str | None]:
    row = await db.fetchrow(
        "SELECT delivery_status, delivery_error FROM messages WHERE external_id = $1", sid
    )
    assert row is not None
    return row["delivery_status"], row["delivery_error"]


async def test_delivery_marks_follow_twilios_callbacks_forward_only_and_show_failures(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, tmp_path: Path
) -> None:
    customer = unique_phone()
    errors: list[str] = []
    async with chromium() as browser:
        _context, page = await watched_page(browser, errors, "console")
        await sign_in(page, hub.base_url, "alice", hub.demo_password, available=True)

        # -- an SMS arrives; the agent accepts it and replies
        params = fake.incoming(customer, OUR_SMS, "Where is my parcel?")
        assert (await post(hub, "/twilio/messaging", params))[0] == 200
        offer = page.get_by_test_id("offer-card")
        await expect(offer).to_be_visible(timeout=LIVE_MS)
        contact_id = await offer.get_attribute("data-contact-id")
        await offer.get_by_test_id("offer-accept").click()
        conversation = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        await expect(conversation).to_be_visible(timeout=LIVE_MS)
        first_sid, first = await _reply(page, conversation, fake, db, "Let me check.")
        first_mark = first.get_by_test_id("delivery-mark")

        # -- Twilio took it (the send's answer), then sent and delivered it
        await expect(first).to_have_attribute("data-delivery", "queued", timeout=LIVE_MS)
        await expect(first_mark).to_have_text("Queued")
        assert (await fake.send_status(first_sid, "sent"))[0] == 204
        await expect(first).to_have_attribute("data-delivery", "sent", timeout=LIVE_MS)
        await expect(first_mark).to_have_text(re.compile(r"^✓ Sent$"))
        assert (await fake.send_status(first_sid, "delivered"))[0] == 204
        await expect(first).to_have_attribute("data-delivery", "delivered", timeout=LIVE_MS)
        await expect(first_mark).to_have_text(re.compile(r"^✓✓ Delivered$"))

        # -- a late `sent`: the hub keeps `delivered`; and should a stale status reach
        # the console all the same (the stream delivers at least once), the mark stays
        assert (await fake.send_status(first_sid, "sent"))[0] == 204
        assert await _status_of(db, first_sid) == ("delivered", None)
        first_id = await first.get_attribute("data-message-id")
        assert first_id and contact_id
        stale = MessageStatusChanged(
            at_ms=wall_clock_ms(), contact_id=contact_id, message_id=first_id, status="sent"
        )
        await hub.app[BUS].publish(stale)

        # -- another reply fails, with Twilio's error code
        second_sid, second = await _reply(page, conversation, fake, db, "Checking now.")
        await expect(second).to_have_attribute("data-delivery", "queued", timeout=LIVE_MS)
        assert (await fake.send_status(second_sid, "failed", "30008"))[0] == 204
        await expect(second).to_have_attribute("data-delivery", "failed", timeout=LIVE_MS)
        second_mark = second.get_by_test_id("delivery-mark")
        await expect(second_mark).to_have_text(re.compile(r"^⚠ Failed · error 30008$"))
        await expect(second).to_have_class(re.compile(r"\bis-undelivered\b"))
        await expect(second).to_have_attribute("title", "Failed (Twilio error 30008)")
        assert await _status_of(db, second_sid) == ("failed", "30008")

        # Frames come in stream order: the stale one came before the failure shown above.
        await expect(first).to_have_attribute("data-delivery", "delivered")
        await expect(first_mark).to_have_text(re.compile(r"^✓✓ Delivered$"))
        await expect(first).not_to_have_class(re.compile(r"\bis-undelivered\b"))
        # The customer's message carries no mark.
        theirs = conversation.locator('[data-testid="message"][data-sender="customer"]')
        await expect(theirs.get_by_test_id("delivery-mark")).to_have_count(0)
        await page.screenshot(path=str(tmp_path / "delivery-marks.png"))
        await expect(page.get_by_test_id("error-banner")).to_be_hidden()

        # -- a reload: the snapshot brings each reply's latest status back
        await page.reload()
        conversation = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        await expect(conversation).to_be_visible(timeout=LIVE_MS)
        mine = conversation.locator('[data-testid="message"][data-sender="agent"]')
        await expect(mine).to_have_count(2, timeout=LIVE_MS)
        await expect(mine.nth(0)).to_have_attribute("data-delivery", "delivered")
        await expect(mine.nth(0).get_by_test_id("delivery-mark")).to_have_text(
            re.compile(r"^✓✓ Delivered$")
        )
        await expect(mine.nth(1).get_by_test_id("delivery-mark")).to_have_text(
            re.compile(r"^⚠ Failed · error 30008$")
        )
    assert not errors, "errors in the page:\n" + "\n".join(errors)
