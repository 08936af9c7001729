"""The web chat widget's wiring: its settings and shared state in a hub process, the files
any site may load (CORS), its public config, and the relay of typing and read signals from
every hub process to this one's connections. The chat socket itself is
agent_console/customers/chat_socket.py;
what a visitor sees is docs/widget.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from agent_console.appkeys import HUB
from agent_console.customers.live_channel import LiveChannel
from agent_console.customers.live_frames import live_deliveries
from agent_console.customers.settings import WidgetSettings, load_widget_settings
from agent_console.hub import ConsoleHub
from agent_console.keys import WidgetKeys
from agent_console.rate_limits import RateLimiter
from channels.email.settings import EmailSettings, load_email_settings
from contactcenter.core.appkeys import REDIS
from contactcenter.settings.appkeys import SETTINGS
from contactcenter.web.guard import is_widget_file

log = structlog.get_logger("agent_console.customers.widget")


@dataclass(frozen=True)
class Widget:
    """What the widget's handlers share in one hub process (see `setup_widget`)."""

    settings: WidgetSettings
    limiter: RateLimiter
    live: LiveChannel
    email: EmailSettings  # the outbound relay; transcripts are off unless `enabled`


WIDGET = web.AppKey("widget", Widget)
WIDGET_SETTINGS = web.AppKey("widget_settings", WidgetSettings)
WIDGET_EMAIL = web.AppKey("widget_email", EmailSettings)
_WIDGET_WIRED = web.AppKey("widget_wired", bool)


# --- wiring -----------------------------------------------------------------------------------

# Served to any site: the script a page embeds, its style sheet, and what the widget shows;
# and every file under the prefix: the ES modules that script imports, which a browser fetches
# from another origin only with CORS (HTML standard, "fetch a single module script").


async def _cross_origin_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Let any page load the widget's files: a `<script>`, a module import or a fetch() from
    another origin, and pages that isolate themselves (Cross-Origin-Embedder-Policy:
    require-corp)."""
    if is_widget_file(request.path):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "public, max-age=300")


async def widget_config(request: web.Request) -> web.Response:
    widget = request.app.get(WIDGET)
    if widget is None:
        raise web.HTTPServiceUnavailable()
    return web.json_response({**widget.settings.public(), "transcripts": widget.email.enabled})


async def _relay_live(hub: ConsoleHub, live: LiveChannel) -> None:
    """Typing and read signals, from any hub process, to this process's connections."""
    async for signal in live.tail():
        contact_id = signal.get("contact_id")
        holders = frozenset(a for a, held in hub.holdings.items() if contact_id in held)
        for d in live_deliveries(signal, holders):
            registry = hub.agents if d.audience == "agent" else hub.customers
            for conn in list(registry.get(d.audience_id, ())):
                conn.send(d.frame)


def setup_widget(
    app: web.Application,
    settings: WidgetSettings | None = None,
    email: EmailSettings | None = None,
) -> None:
    """Run the web chat widget with `app` (call after `init`, before it starts). Without
    `settings`, they are read from the hub's config folder (widget.toml) and environment;
    without `email`, the email channel's settings (for the transcript's relay). Calling it
    again only replaces the settings (tests pass their own)."""
    if settings is not None:
        app[WIDGET_SETTINGS] = settings
    if email is not None:
        app[WIDGET_EMAIL] = email
    if app.get(_WIDGET_WIRED):
        return
    app[_WIDGET_WIRED] = True
    app.on_response_prepare.append(_cross_origin_headers)
    app.router.add_get("/widget/config.json", widget_config)

    async def run(app: web.Application) -> AsyncIterator[None]:
        hub_settings = app[SETTINGS]
        env = dict(os.environ)
        chosen = app.get(WIDGET_SETTINGS) or load_widget_settings(hub_settings.config_dir, env)
        relay = app.get(WIDGET_EMAIL) or _email_settings(app, hub_settings.config_dir, env)
        keys = WidgetKeys(hub_settings.routing_domain)
        live = LiveChannel(app[REDIS], keys)
        app[WIDGET] = Widget(chosen, RateLimiter(app[REDIS], keys), live, relay)
        log.info("widget_on", allowed_origins=len(chosen.allowed_origins), email=relay.enabled)
        if not hub_settings.serves_clients:  # no visitor connects to a worker process
            yield
            return
        relaying = asyncio.create_task(_relay_live(app[HUB], live), name="widget-live")
        try:
            yield
        finally:
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying

    app.cleanup_ctx.append(run)


def _email_settings(app: web.Application, config_dir: Path, env: dict[str, str]) -> EmailSettings:
    """The email channel's settings as it runs with them, else as its files say."""
    from channels.email.channel import EMAIL_SETTINGS

    return app.get(EMAIL_SETTINGS) or load_email_settings(config_dir, env)
