"""What the browser tests share: the system Chromium, how it is launched, how long to wait.

Each browser test module calls `require_chromium()` before importing Playwright, so that the
module is skipped, not failed, on a machine without Chromium or Playwright.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

# Headless without a sandbox (CI runs as root); no background traffic, which this machine's
# closed network would refuse many times a second.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Routing, offers and relays go through the hub's stream: give them more than expect's 5 s.
LIVE_MS = 20_000


def require_chromium() -> None:
    """Skip the calling test module unless Playwright and the system Chromium are there."""
    pytest.importorskip("playwright", reason="the playwright package is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"no system Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
        )


async def watched_page(
    browser: Any, errors: list[str], who: str, *, width: int = 1280, height: int = 800
) -> tuple[Any, Any]:
    """A page in a browser context of its own (its own session), whose uncaught exceptions
    and console errors are added to `errors`. Failed resources are left out: the 401 of
    GET /api/me before signing in, and the 4xx some tests provoke, are logged as such."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{who}: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            errors.append(f"{who} console.{msg.type}: {msg.text}")

    page.on("console", on_console)
    return context, page


async def sign_in(
    page: Any, base_url: str, username: str, password: str, *, available: bool = False
) -> None:
    """Open the agent console, sign in, wait until it is connected; with `available`, go
    available and wait until the hub says so (data-state follows the hub's `state` frame,
    not the click)."""
    from playwright.async_api import expect

    await page.goto(f"{base_url}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "connected", timeout=LIVE_MS
    )
    if available:
        state_select = page.get_by_test_id("state-select")
        await expect(state_select).to_be_enabled(timeout=LIVE_MS)
        await state_select.select_option("available")
        await expect(state_select).to_have_attribute("data-state", "available", timeout=LIVE_MS)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """The system Chromium, headless, launched through Playwright; closed on the way out."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
