"""In a real browser: logging out in one tab ends the session's console in another, which
goes back to the sign-in form; the pages run under their Content-Security-Policy without
a violation (the watched pages report any as console errors)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import LIVE_MS, chromium, require_chromium, sign_in, watched_page

require_chromium()

from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


async def test_logging_out_in_one_tab_signs_the_other_tab_out(hub: Any) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        context, first = await watched_page(browser, errors, "first tab")
        await sign_in(first, hub.base_url, "alice", hub.demo_password)
        second = await context.new_page()  # the same browser session (its cookie)
        await second.goto(f"{hub.base_url}/console")
        await expect(second.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected", timeout=LIVE_MS
        )
        await second.get_by_test_id("logout").click()
        await expect(first.get_by_test_id("login-username")).to_be_visible(timeout=LIVE_MS)
        await expect(first.get_by_test_id("login-error")).to_contain_text("session has ended")
        await context.close()
    assert not errors, errors
