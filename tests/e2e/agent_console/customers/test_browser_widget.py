"""End to end in a real browser: the chat widget embedded by one script tag in a page of
another site (another origin), a customer talking to an agent (a websocket client).

Drives the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
The test is async so that the hub, the shop's site and the SMTP sink, all on pytest's event
loop, keep serving while the browser waits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP

from agent_console.customers.settings import WidgetSettings
from agent_console.customers.widget import setup_widget
from contactcenter.app import init
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.routing import QueueSettings
from routing.rules import RoutingRule, RuleTarget
from tests.conftest import TEST_PASSWORD, LiveHub, free_port
from tests.e2e.agent_console.customers.test_widget import Sink, email_settings, until
from tests.e2e.browser import (
    LIVE_MS,
    chromium,
    require_chromium,
    sign_in,
    watched_page,
)
from tests.e2e.clients import AgentClient, ChatClient

require_chromium()

from playwright.async_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser


# The shop's own style is hostile on purpose: the widget lives in a shadow root, so none of it
# may hide or restyle the bubble.
SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Shop</title><link rel="icon" href="data:,">
<style>
  button { display: none !important; }
  div, p, textarea { color: red !important; font-size: 40px !important; }
</style></head>
<body><h1>The Shop</h1><p>Everything for your garden.</p>
<script src="{hub}/static/widget.js" data-hub="{hub}" async></script>
</body></html>
"""

# A page deep in the shop's site that embeds the widget twice, without `async`, with its
# signed-in user on the first tag, and asks for the panel before the widget's modules are in.
ACCOUNT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My account</title><link rel="icon" href="data:,">
</head><body><h1>My account</h1>
<script src="{hub}/static/widget.js" data-hub="{hub}"
        data-user-id="4711" data-user-hash="{hash}"></script>
<script src="{hub}/static/widget.js" data-hub="{hub}"></script>
<script>window.ccChatWidget.open();</script>
</body></html>
"""
SITE_SECRET = "the shop's secret, shared with the hub"

# Keeps the frames the page sends on any websocket.
RECORD_SENT = """
(() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.__sent.push(JSON.parse(data));
    return send.call(this, data);
  };
})();
"""

# Keeps every websocket the page opens, so that the test can cut the widget's connection.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""

# Type a message and press Send, then cut the connection in the same turn of the event loop:
# the frame may or may not have reached the hub, and its answer cannot come back.
SEND_THEN_CUT = """
(text) => {
  const root = document.getElementById("cc-chat-widget").shadowRoot;
  const input = root.querySelector('[data-testid="widget-input"]');
  input.value = text;
  input.dispatchEvent(new Event("input"));
  root.querySelector('[data-testid="widget-send"]').click();
  window.__sockets[window.__sockets.length - 1].close();
}
"""
CUT = "() => window.__sockets[window.__sockets.length - 1].close()"


# Send a message on a connection whose answers will never reach the widget (as when a link
# dies just after a send): the hub stores it, the widget does not hear so.
SEND_DEAF = """
(text) => {
  const root = document.getElementById("cc-chat-widget").shadowRoot;
  window.__sockets[window.__sockets.length - 1].onmessage = null;
  const input = root.querySelector('[data-testid="widget-input"]');
  input.value = text;
  input.dispatchEvent(new Event("input"));
  root.querySelector('[data-testid="widget-send"]').click();
}
"""


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A loopback SMTP server standing in for the relay the transcript goes through."""
    found = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(found, loop=loop), "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


@pytest.fixture
def shop_port() -> int:
    return free_port()


@pytest.fixture
async def widget_hub(
    settings: HubSettings, redis: Any, sink: Sink, shop_port: int
) -> AsyncIterator[LiveHub]:
    """A hub whose widget the shop's pages may embed."""
    billing = QueueSettings(
        name="billing", skill="support", channels=("chat",), dispositions=("resolved",)
    )
    hub_settings = replace(
        settings,
        queues=(*settings.queues, billing),
        rules=(RoutingRule("billing chats", {"intent": ("billing",)}, RuleTarget("billing")),),
    )
    app = init(hub_settings)
    widget = WidgetSettings(
        allowed_origins=(f"http://127.0.0.1:{shop_port}",),
        title="Garden Shop help",
        topics=(("billing", "Billing"), ("orders", "My order")),
        identity_secret=SITE_SECRET,
    )
    setup_widget(app, widget, email_settings(sink))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hub_settings.port).start()
    base = f"http://127.0.0.1:{hub_settings.port}"
    yield LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, hub_settings)
    await runner.cleanup()


@pytest.fixture
async def shop(widget_hub: LiveHub, shop_port: int) -> AsyncIterator[str]:
    """Another site whose page embeds the widget: another origin than the hub's, by its port
    (RFC 6454 section 5)."""
    page = SHOP_PAGE.replace("{hub}", widget_hub.base_url)
    signature = hmac.new(SITE_SECRET.encode(), b"4711", hashlib.sha256).hexdigest()
    account = ACCOUNT_PAGE.replace("{hub}", widget_hub.base_url).replace("{hash}", signature)

    async def index(_r: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def account_page(_r: web.Request) -> web.Response:
        return web.Response(text=account, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/account/settings/", account_page)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", shop_port).start()
    yield f"http://127.0.0.1:{shop_port}/"
    await runner.cleanup()


def w(page: Page, testid: str) -> Any:
    """A widget element by its test id (Playwright's locators pierce the open shadow root)."""
    return page.get_by_test_id(testid)


def got_stored(page: Page, text: str) -> Any:
    """The widget's bubbles of `text` that the hub confirmed (they carry a message_id)."""
    stored = page.locator('[data-testid="widget-message"][data-state="stored"]')
    return stored.filter(has_text=text)


async def stored_bodies(hub: LiveHub, contact_id: str) -> list[str]:
    conn = await asyncpg.connect(hub.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at",
            uuid.UUID(contact_id),
        )
        return [r["body"] for r in rows]
    finally:
        await conn.close()


async def test_the_widget_on_another_site_end_to_end(
    widget_hub: LiveHub, shop: str, sink: Sink
) -> None:
    hub = widget_hub
    errors: list[str] = []
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)

    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        await context.add_init_script(TRACK_SOCKETS)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        await page.goto(shop)

        # -- the bubble shows despite the shop's CSS; the pre-chat form
        bubble = w(page, "widget-bubble")
        await expect(bubble).to_be_visible(timeout=LIVE_MS)
        await bubble.click()
        await expect(w(page, "widget-title")).to_have_text("Garden Shop help")
        await expect(w(page, "widget-topic").locator("option")).to_have_count(2)
        font = await w(page, "widget-name").evaluate("e => getComputedStyle(e).fontSize")
        assert font != "40px", "the host page's CSS reached into the widget"
        await w(page, "widget-name").fill("Dana Whitfield")
        address = f"dana.{uuid.uuid4().hex[:8]}@shop.test"  # the CRM's identities are shared
        await w(page, "widget-email").fill(address)
        await w(page, "widget-topic").select_option("billing")
        await w(page, "widget-first-message").fill("My invoice <b>4711</b> is wrong")
        await w(page, "widget-start").click()

        await expect(w(page, "widget-status")).to_contain_text(
            re.compile("waiting for an agent", re.I), timeout=LIVE_MS
        )
        await expect(w(page, "widget-queue")).to_contain_text(
            "You are next in line", timeout=LIVE_MS
        )
        mine = page.locator('[data-testid="widget-message"][data-sender="customer"]')
        await expect(mine).to_have_count(1, timeout=LIVE_MS)
        await expect(mine).to_contain_text("My invoice <b>4711</b> is wrong")  # as text

        # -- the agent comes, gets it in the billing queue (the topic), and accepts
        await agent.go_available()
        offer = await agent.expect("offer", timeout_s=20)
        contact_id = offer["contact"]["contact_id"]
        assert offer["contact"]["queue"] == "billing"
        assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
        await expect(w(page, "widget-status")).to_contain_text("Alice Martin", timeout=LIVE_MS)

        # -- typing both ways, then the agent's reply
        await w(page, "widget-input").fill("Also the")
        typing = await agent.expect("typing", contact_id=contact_id, timeout_s=20)
        assert typing["sender"] == "customer" and typing["active"] is True
        await agent.command("typing", contact_id=contact_id, active=True)
        await expect(w(page, "widget-typing")).to_be_visible(timeout=LIVE_MS)
        await expect(w(page, "widget-typing")).to_contain_text("is typing")
        await agent.command("send", contact_id=contact_id, text="Let me look at 4711.")
        theirs = page.locator('[data-testid="widget-message"][data-sender="agent"]')
        await expect(theirs).to_have_count(1, timeout=LIVE_MS)
        await expect(theirs).to_contain_text("Let me look at 4711.")
        await expect(w(page, "widget-typing")).to_be_hidden()

        # -- read marks: the open widget reads the reply; the agent reads the question
        reply_id = await theirs.get_attribute("data-message-id")
        read = await agent.expect("read", contact_id=contact_id, timeout_s=20)
        assert (read["reader"], read["message_id"]) == ("customer", reply_id)
        first_id = await mine.first.get_attribute("data-message-id")
        await agent.command("read", contact_id=contact_id, message_id=first_id)
        await expect(mine.first).to_have_attribute("data-read", "true", timeout=LIVE_MS)
        await w(page, "widget-input").fill("")

        # -- a reload: the conversation and its history are back, once each
        await page.reload()
        await expect(w(page, "widget-panel")).to_be_visible(timeout=LIVE_MS)
        await expect(w(page, "widget-status")).to_contain_text("Alice Martin", timeout=LIVE_MS)
        await expect(page.get_by_test_id("widget-message")).to_have_count(2, timeout=LIVE_MS)
        await expect(mine.first).to_have_attribute("data-read", "true", timeout=LIVE_MS)

        # -- the hub stores a message but its answers are lost, then the link dies
        await page.evaluate(SEND_DEAF, "Answer lost")
        assert await until(lambda: _count(stored_bodies(hub, contact_id), 3), timeout_s=10)
        await expect(got_stored(page, "Answer lost")).to_have_count(0)
        await page.evaluate(CUT)
        await expect(got_stored(page, "Answer lost")).to_have_count(1, timeout=LIVE_MS)

        # -- the connection dies as a message leaves, then while offline: nothing lost
        await page.evaluate(SEND_THEN_CUT, "Cut while sending")
        await expect(w(page, "widget-connection")).to_be_visible(timeout=LIVE_MS)
        await page.evaluate(CUT)
        await w(page, "widget-input").fill("Typed while offline")
        await w(page, "widget-send").click()
        for text in ("Cut while sending", "Typed while offline"):
            await expect(got_stored(page, text)).to_have_count(1, timeout=LIVE_MS)
        await expect(w(page, "widget-connection")).to_be_hidden(timeout=LIVE_MS)
        await expect(page.get_by_test_id("widget-message")).to_have_count(5)
        bodies = await until(lambda: _count(stored_bodies(hub, contact_id), 5), timeout_s=10)
        assert bodies == [
            "My invoice <b>4711</b> is wrong",
            "Let me look at 4711.",
            "Answer lost",
            "Cut while sending",
            "Typed while offline",
        ]

        # -- the agent ends; the customer rates 4 and asks for the transcript
        await agent.command("end", contact_id=contact_id)
        await expect(w(page, "widget-end")).to_be_visible(timeout=LIVE_MS)
        await w(page, "widget-rating-4").click()
        await w(page, "widget-comment").fill("Quick, but I had to explain twice.")
        await w(page, "widget-transcript-opt").check()
        await expect(w(page, "widget-transcript-email")).to_have_value(address)
        await w(page, "widget-csat-submit").click()
        await expect(w(page, "widget-thanks")).to_be_visible(timeout=LIVE_MS)
        await expect(w(page, "widget-done-note")).to_contain_text("on its way")

        conn = await asyncpg.connect(hub.settings.database_url)
        try:
            row = await conn.fetchrow(
                "SELECT csat_rating, csat_comment FROM contacts WHERE id = $1",
                uuid.UUID(contact_id),
            )
        finally:
            await conn.close()
        assert row is not None
        assert (row["csat_rating"], row["csat_comment"]) == (
            4,
            "Quick, but I had to explain twice.",
        )
        assert sink.recipients == [[address]]
        assert "Typed while offline" in sink.received[0].get_content()

        # -- a reload after rating: no second rating form
        await page.reload()
        await expect(w(page, "widget-thanks")).to_be_visible(timeout=LIVE_MS)
        await expect(w(page, "widget-csat")).to_be_hidden()
        await context.close()
    await agent.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def test_the_script_tag_keeps_its_contract_while_the_modules_load(
    widget_hub: LiveHub, shop: str
) -> None:
    """widget.js loads the widget's modules from the hub, not from the page's folder; until
    they are in, window.ccChatWidget keeps what the page asks; embedded twice, one bubble; the
    signed-in user on the tag, and identify() later, reach the hub's hello."""
    hub = widget_hub
    errors: list[str] = []
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    async with chromium() as browser:
        context, page = await watched_page(browser, errors, "account")
        await context.add_init_script(RECORD_SENT)
        await page.goto(shop + "account/settings/")

        await expect(w(page, "widget-panel")).to_be_visible(timeout=LIVE_MS)  # open(), queued
        await expect(page.locator("#cc-chat-widget")).to_have_count(1)
        await w(page, "widget-name").fill("Ivy Stone")
        await w(page, "widget-first-message").fill("Where is my order?")
        await w(page, "widget-start").click()
        mine = page.locator('[data-testid="widget-message"][data-state="stored"]')
        await expect(mine).to_have_count(1, timeout=LIVE_MS)

        await agent.go_available()
        offer = await agent.expect("offer", timeout_s=20)
        customer = offer["contact"]["customer"]
        assert customer["verified"] is True, customer  # the tag's signature held

        # Signed out: the widget says hello again, without the proof.
        await page.evaluate("() => window.ccChatWidget.identify(null)")
        await expect(w(page, "widget-connection")).to_be_hidden(timeout=LIVE_MS)
        hellos = await until(lambda: _hellos(page, at_least=2), timeout_s=10)
        assert hellos, "no second hello after identify(null)"
        assert (hellos[0]["user_id"], hellos[0]["user_hash"]) == (
            "4711",
            hmac.new(SITE_SECRET.encode(), b"4711", hashlib.sha256).hexdigest(),
        )
        assert "user_id" not in hellos[-1] and hellos[-1]["name"] == "Ivy Stone"
        await context.close()
    await agent.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


async def _hellos(page: Page, at_least: int) -> list[dict[str, Any]] | None:
    sent: list[dict[str, Any]] = await page.evaluate("() => window.__sent")
    hellos = [f for f in sent if f.get("type") == "hello"]
    return hellos if len(hellos) >= at_least else None


async def _count(bodies: Any, at_least: int) -> list[str] | None:
    found: list[str] = await bodies
    return found if len(found) >= at_least else None


async def test_the_console_shows_the_customers_typing_and_read_marks(widget_hub: LiveHub) -> None:
    hub = widget_hub
    errors: list[str] = []
    async with chromium() as browser:
        _context, page = await watched_page(browser, errors, "console")
        await sign_in(page, hub.base_url, "alice", hub.demo_password, available=True)

        customer = await ChatClient.connect(hub.base_url, "Dana Whitfield")
        await customer.say("Is my parcel lost?")
        contact_id = (await customer.expect("queued"))["contact_id"]
        question = await customer.expect("message", contact_id=contact_id)
        offer = page.get_by_test_id("offer-card")
        await expect(offer).to_be_visible(timeout=LIVE_MS)
        await offer.get_by_test_id("offer-accept").click()
        conversation = page.locator(f'[data-testid="conversation"][data-contact-id="{contact_id}"]')
        await expect(conversation).to_be_visible(timeout=LIVE_MS)

        # The open conversation reads the question: the customer is told.
        read = await customer.expect("read", contact_id=contact_id, timeout_s=20)
        assert (read["reader"], read["message_id"]) == (
            "agent",
            question["message"]["message_id"],
        )

        # The customer types: the console says so, until their message comes.
        await customer.send(type="typing", active=True)
        typing_line = conversation.get_by_test_id("customer-typing")
        await expect(typing_line).to_contain_text("Dana Whitfield is typing", timeout=LIVE_MS)
        await customer.send(type="typing", active=False)
        await expect(typing_line).to_be_hidden(timeout=LIVE_MS)

        # The agent types and answers; the customer reads the answer: a read mark.
        await conversation.get_by_test_id("message-input").fill("Let me check")
        typing = await customer.expect("typing", contact_id=contact_id, timeout_s=20)
        assert (typing["sender"], typing["active"]) == ("agent", True)
        await conversation.get_by_test_id("message-input").press("Enter")
        answer = await customer.expect("message", contact_id=contact_id)
        while answer["message"]["sender"] != "agent":
            answer = await customer.expect("message", contact_id=contact_id)
        await customer.send(type="read", message_id=answer["message"]["message_id"])
        mine = conversation.locator('[data-testid="message"][data-sender="agent"]')
        await expect(mine).to_have_attribute("data-read", "true", timeout=LIVE_MS)
        await expect(mine).to_contain_text("Read")
        await expect(page.get_by_test_id("error-banner")).to_be_hidden()
        await customer.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)
