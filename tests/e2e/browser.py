"""What the browser tests share: the system Chromium, how it is launched, how long to wait.

Each browser test module calls `require_chromium()` before importing Playwright, so that the
module is skipped, not failed, on a machine without Chromium or Playwright.
"""

from __future__ import annotations

import os

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
