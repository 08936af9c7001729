"""End to end in a real browser: the customer panel of the agent console (docs/crm.md, "In the
console"). An agent sees who the customer behind an offer is, adds a note and a tag and
resolves a case from the panel; a second console of theirs shows each change without a reload;
the changes are in PostgreSQL; an API refusal is shown to the agent.

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from contactcenter.crm.cases import CaseStore
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.notes import NoteStore
from contactcenter.crm.orders import OrderStore
from tests.conftest import LiveHub
from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    sign_in,
    watched_page,
)
from tests.e2e.clients import ChatClient

require_chromium()

from playwright.async_api import Browser, BrowserContext, Page, expect  # noqa: E402

pytestmark = pytest.mark.browser


async def _console(
    browser: Browser, hub: LiveHub, username: str, errors: list[str], who: str
) -> tuple[BrowserContext, Page]:
    """A signed-in console page in its own browser context (its own session)."""
    context, page = await watched_page(browser, errors, who, width=1440, height=900)
    await sign_in(page, hub.base_url, username, hub.demo_password)
    return context, page


async def _known_customer(hub: LiveHub, visitor_id: str) -> tuple[str, str]:
    """A customer with an order (so a tier), a note, a tag and an open complaint."""
    pool = await asyncpg.create_pool(hub.settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        customer = await CustomerStore(pool).create(
            "Greta Panel", language="fr", identities=[("visitor", visitor_id, False)]
        )
        await NoteStore(pool).add_note(customer.customer_id, None, "Prefers email follow-ups")
        await NoteStore(pool).add_tags(customer.customer_id, ["b2b"])
        case = await CaseStore(pool).open_case(
            customer.customer_id, "complaint", "Parcel arrived broken", priority="high"
        )
        await OrderStore(pool, hub.settings.crm).create_order(
            customer.customer_id,
            amount=Decimal("420.00"),
            currency=hub.settings.crm.base_currency,
            ordered_at=datetime.now(UTC) - timedelta(days=30),
            status="delivered",
        )
        return customer.customer_id, case.case_id
    finally:
        await pool.close()


async def test_an_agent_edits_the_customer_from_the_panel_and_every_console_follows(
    hub: LiveHub, tmp_path: Path
) -> None:
    visitor_id = uuid.uuid4().hex
    customer_id, case_id = await _known_customer(hub, visitor_id)
    errors: list[str] = []
    chat: ChatClient | None = None

    async with chromium() as browser:
        try:
            _ctx1, first = await _console(browser, hub, "alice", errors, "first")
            state_select = first.get_by_test_id("state-select")
            await state_select.select_option("available")
            await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)

            chat = await ChatClient.connect(hub.base_url, "Greta", visitor_id=visitor_id)
            await chat.say("The replacement has not come either")

            # -- the offer: its customer shows in the panel before accepting
            offer = first.get_by_test_id("offer-card").filter(has_text="Greta")
            await expect(offer).to_be_visible(timeout=LIVE_MS)
            panel = first.get_by_test_id("customer-panel")
            await expect(panel.get_by_test_id("customer-name")).to_have_text("Greta Panel")
            await expect(panel.get_by_test_id("customer-tier")).to_contain_text("Tier:")
            # a returning visitor who signed nothing: the agent is told it is a claim
            identity = panel.get_by_test_id("customer-identity")
            await expect(identity).to_have_text("Identity claimed")
            await expect(identity).to_have_attribute("data-verified", "false")
            await expect(panel.get_by_test_id("customer-language")).to_have_text("fr")
            await expect(panel.get_by_test_id("customer-complaint")).to_be_visible()
            await expect(panel.get_by_test_id("customer-note")).to_have_text(
                [re.compile("Prefers email follow-ups")]
            )
            await expect(panel.get_by_test_id("customer-case")).to_contain_text(
                ["Parcel arrived broken"]
            )
            await expect(panel.get_by_test_id("customer-tag")).to_have_count(1)
            await expect(panel.locator('[data-tag="b2b"]')).to_be_visible()
            # The contact being offered is already in the history.
            await expect(panel.get_by_test_id("customer-interaction").first).to_contain_text("chat")

            await offer.get_by_test_id("offer-accept").click()
            await expect(first.get_by_test_id("conversation")).to_be_visible(timeout=LIVE_MS)
            await expect(panel).to_have_attribute("data-customer-id", customer_id)

            # -- a second console of the same agent shows the same customer
            _ctx2, second = await _console(browser, hub, "alice", errors, "second")
            panel2 = second.get_by_test_id("customer-panel")
            await expect(panel2.get_by_test_id("customer-name")).to_have_text(
                "Greta Panel", timeout=LIVE_MS
            )
            await expect(panel2.get_by_test_id("customer-case")).to_have_count(1)

            # -- a note, from the first console
            await panel.get_by_test_id("note-input").fill("Sent a replacement by courier")
            await panel.get_by_test_id("note-add").click()
            await expect(panel.get_by_test_id("customer-note").first).to_contain_text(
                "Sent a replacement by courier"
            )
            await expect(panel.get_by_test_id("note-input")).to_have_value("")
            await expect(panel2.get_by_test_id("customer-note").first).to_contain_text(
                "Sent a replacement by courier", timeout=LIVE_MS
            )

            # -- a tag, with the keyboard
            await panel.get_by_test_id("tag-input").fill("Late Delivery")
            await panel.get_by_test_id("tag-input").press("Enter")
            await expect(panel.get_by_test_id("customer-tag")).to_have_count(2)
            await expect(panel2.locator('[data-tag="late delivery"]')).to_be_visible(
                timeout=LIVE_MS
            )

            # -- the complaint is resolved
            await panel.get_by_test_id("case-resolve").click()
            await expect(panel.get_by_test_id("customer-case")).to_have_count(0)
            await expect(panel.get_by_test_id("customer-complaint")).to_be_hidden()
            await expect(panel2.get_by_test_id("customer-case")).to_have_count(0, timeout=LIVE_MS)
            await expect(panel2.get_by_test_id("customer-complaint")).to_be_hidden()

            # -- a refusal of the API is shown, not swallowed (the input's own limit lifted)
            await panel.get_by_test_id("tag-input").evaluate("n => n.removeAttribute('maxlength')")
            await panel.get_by_test_id("tag-input").fill("x" * 41)
            await panel.get_by_test_id("tag-add").click()
            error = panel.get_by_test_id("customer-error")
            await expect(error).to_be_visible(timeout=LIVE_MS)
            await expect(error).to_have_attribute("data-error-id", "request.invalid")
            await expect(error).to_contain_text("Tag not added")
            await expect(panel.get_by_test_id("customer-tag")).to_have_count(2)

            # -- nothing was reloaded: the second page kept its connection throughout
            assert await second.evaluate("performance.getEntriesByType('navigation').length") == 1
            await first.screenshot(path=str(tmp_path / "console-customer.png"))
            await second.screenshot(path=str(tmp_path / "console-customer-second.png"))
        finally:
            if chat is not None:
                await chat.close()

    # -- the changes are in PostgreSQL
    pool = await asyncpg.create_pool(hub.settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        notes = await NoteStore(pool).notes(customer_id)
        assert [n.body for n in notes.items][:1] == ["Sent a replacement by courier"]
        assert await NoteStore(pool).tags(customer_id) == ["b2b", "late delivery"]
        assert (await CaseStore(pool).get(case_id)).status == "resolved"
    finally:
        await pool.close()

    assert not errors, "errors in the pages:\n" + "\n".join(errors)
