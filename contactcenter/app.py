"""The composition root: builds the aiohttp application and everything it runs on.

This is the one place that creates Redis and PostgreSQL clients. Background tasks (the routing
worker, the history writer, the stream tail feeding the consoles) are each owned by a
cleanup context that starts them, yields, then cancels and awaits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from agent_console.agents.socket import (
    AGENT_SESSIONS,
    ConsoleSession,
    SessionSockets,
    agent_socket,
)
from agent_console.appkeys import HUB
from agent_console.customers.chat_socket import chat_socket
from agent_console.customers.widget import setup_widget
from agent_console.fanout import Delivery
from agent_console.hub import ConsoleHub
from channels.email.channel import EMAIL_OPERATIONS, setup_email
from channels.language import TEXT_CLASSIFIER, setup_language
from channels.twilio.messaging import setup_twilio_messaging
from channels.twilio.voice import VOICE_OPERATIONS, setup_twilio_voice
from contactcenter.agents.api import ADMIN_OPERATIONS
from contactcenter.agents.appkeys import ADMIN, TEAMS
from contactcenter.agents.demo_agents import seed_demo
from contactcenter.agents.service import AdminService
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.background import recover_once, workers
from contactcenter.conversations.appkeys import RECOVERED, ROUTING, SERVICE
from contactcenter.conversations.contacts_api import CONTACT_OPERATIONS
from contactcenter.conversations.messages_api import MESSAGE_OPERATIONS
from contactcenter.conversations.queues_api import QUEUE_OPERATIONS
from contactcenter.conversations.service import ConversationService
from contactcenter.core.appkeys import BUS, CLOCK, POOL, REDIS
from contactcenter.core.db import create_pool, migrate
from contactcenter.core.eventbus import EventBus
from contactcenter.core.redisconn import hub_client_name, redis_client
from contactcenter.crm.api.customers import setup_crm_api
from contactcenter.crm.api.orders import ORDER_OPERATIONS
from contactcenter.crm.context import customer_context
from contactcenter.crm.store import CrmStore
from contactcenter.settings.appkeys import SETTINGS, WATCHER
from contactcenter.settings.routing_api import (
    ROUTING_CONFIG_OPERATIONS,
    LiveRouting,
    setup_routing_config,
)
from contactcenter.site_settings import SiteSettings
from contactcenter.web import guard, http, session_api
from contactcenter.web.appkeys import AGENTS
from contactcenter.web.auth import AgentStore
from contactcenter.web.login_limits import LOGIN_LIMITER, LoginLimiter, LoginPolicy
from routing.store import RoutingStore
from routing.worker import wall_clock_ms

log = structlog.get_logger("contactcenter.app")

# The whole of the settings, channels' included: the composition root's own key (handlers
# read `SETTINGS`, the hub's part, and their channel's settings from their own keys).
SITE = web.AppKey("site_settings", SiteSettings)


def login_policy(settings: SiteSettings) -> LoginPolicy:
    """The `[login]` settings, in milliseconds, and how a client's address is told."""
    return LoginPolicy(
        free_per_account=settings.login_free_failures_per_account,
        free_per_address=settings.login_free_failures_per_address,
        first_delay_ms=round(settings.login_first_delay_s * 1000),
        max_delay_ms=round(settings.login_max_delay_s * 1000),
        forget_after_ms=round(settings.login_forget_after_s * 1000),
        trust_forwarded_for=settings.widget.trust_forwarded_for,
        secure_cookie=settings.public_url.startswith("https://"),
    )


def _enricher(
    service: ConversationService, agents: AgentStore
) -> Callable[[Delivery], Awaitable[dict[str, Any] | None]]:
    async def enrich(d: Delivery) -> dict[str, Any] | None:
        if d.enrich in ("offer", "assigned"):
            # The offer brings the customer's context; the console keeps it (and reads it
            # again from the API when it has none), so the assignment does not repeat it.
            contact = await service.contact_view(
                d.extra["contact_id"], with_messages=True, with_context=d.enrich == "offer"
            )
            return None if contact is None else {**d.frame, "contact": contact}
        if d.enrich == "customer":  # a CRM change: the customer's context as it is now
            context = await customer_context(service.crm.pool, d.extra["customer_id"])
            return {**d.frame, "context": context}
        if d.enrich == "agent_joined":
            agent = await agents.get(d.extra["agent_id"])
            return {**d.frame, "agent_name": agent.display_name if agent else "An agent"}
        return d.frame

    return enrich


async def _storage(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url and settings.database_url, "storage URLs must be resolved first"
    redis = redis_client(
        settings.redis_url,
        name=hub_client_name(settings.routing_domain),
        max_connections=settings.redis_max_connections,
        pool_timeout_s=settings.redis_pool_timeout_s,
    )
    pool = await create_pool(
        settings.database_url,
        size=settings.db_pool_size,
        statement_timeout_s=settings.db_statement_timeout_s,
    )
    try:
        await migrate(pool)
        agents = AgentStore(pool, session_ttl_h=settings.session_ttl_h)
        routing = RoutingStore(redis, settings.routing_domain)
        bus = EventBus(redis, routing.keys.events)
        clock = app.get(CLOCK, wall_clock_ms)
        service = ConversationService(settings, CrmStore(pool), agents, routing, bus, clock)
        app[ADMIN] = AdminService(pool, routing, bus, lambda: app[SERVICE].settings, clock)
        app[TEAMS] = TeamAdmin(pool, bus, lambda: app[SERVICE].settings, clock)
        app[REDIS], app[POOL], app[AGENTS], app[ROUTING], app[BUS] = (
            redis,
            pool,
            agents,
            routing,
            bus,
        )
        app[SERVICE] = service
        if settings.demo_seed and settings.demo_password:
            await seed_demo(app[ADMIN], app[TEAMS], settings.demo_password, settings.chat_capacity)
        app[LOGIN_LIMITER] = LoginLimiter(
            redis,
            settings.routing_domain,
            login_policy(app[SITE]),
            bus=bus,
            agents=agents,
            clock=app.get(CLOCK, wall_clock_ms),
        )
        app[RECOVERED] = asyncio.Event()
        if await recover_once(app):
            app[RECOVERED].set()
        app[HUB] = ConsoleHub(
            _enricher(service, agents),
            queue_size=settings.outbound_queue_size,
            max_outbound_bytes=settings.max_outbound_bytes,
        )
        yield
    finally:
        await pool.close()
        await redis.aclose()


async def _classify_first_words(app: web.Application) -> AsyncIterator[None]:
    """New text contacts get their language and intents from their first words."""
    app[SERVICE].classify = app[TEXT_CLASSIFIER].classify
    yield


def http_handler_args(settings: SiteSettings) -> dict[str, Any]:
    """How the HTTP server treats its connections, wherever the app is served (the CLI, tests,
    benchmarks): aiohttp's keep-alive timer also runs from the moment a connection opens and
    after each answer, and closes it if no whole request head came in meanwhile. That makes
    it the header read timeout: a client that sends its headers slowly, partly or not at all
    is cut off after `header_timeout_s` (docs/architecture.md)."""
    return {"keepalive_timeout": settings.header_timeout_s}


def static_dir() -> Path:
    return Path(str(resources.files("agent_console") / "static"))


def init(settings: SiteSettings, *, clock: Callable[[], int] | None = None) -> web.Application:
    """The hub's web application for `settings` (storage URLs already resolved)."""
    middlewares = [http.error_middleware, guard.session_guard(settings.public_url)]
    if not settings.serves_clients:
        middlewares.append(http.health_only)
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_frame_bytes,
        handler_args=http_handler_args(settings),
    )
    app[SETTINGS] = settings
    app[SITE] = settings
    app[AGENT_SESSIONS] = SessionSockets()
    app.on_response_prepare.append(guard.security_headers(settings.twilio.voice.softphone_sdk_url))
    if clock is not None:
        app[CLOCK] = clock
    app.cleanup_ctx.append(_storage)

    async def close_sockets(app: web.Application) -> None:
        # On shutdown, before aiohttp waits for handlers: open websockets would hold it up.
        if HUB in app:
            await app[HUB].close_all()

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(workers)
    setup_language(app)
    setup_email(app)
    setup_twilio_messaging(app, settings.twilio)
    setup_twilio_voice(app, settings.twilio, serve_token=False)  # the token: in the API table
    setup_widget(app, settings.widget)
    app.cleanup_ctx.append(_classify_first_words)
    session_api.add_routes(app)
    setup_crm_api(
        app,
        crm_settings=settings.crm,
        more=(
            *ORDER_OPERATIONS,
            *EMAIL_OPERATIONS,
            *VOICE_OPERATIONS,
            *MESSAGE_OPERATIONS,
            *ADMIN_OPERATIONS,
            *QUEUE_OPERATIONS,
            *CONTACT_OPERATIONS,
            *ROUTING_CONFIG_OPERATIONS,
        ),
    )
    setup_routing_config(
        app,
        LiveRouting(
            settings=lambda: app[SERVICE].settings,
            loaded_at_ms=lambda: app[WATCHER].loaded_at_ms if WATCHER in app else None,
        ),
    )

    async def ws_agent(request: web.Request) -> web.StreamResponse:
        guard.check_origin(request, settings.public_url)
        principal, token_hash = await http.require_session(request)
        session = ConsoleSession(
            token_hash, app[AGENT_SESSIONS], lambda: app[AGENTS].session_alive(token_hash)
        )
        return await agent_socket(
            request, principal, app[SERVICE], app[HUB], settings.max_frame_bytes, session
        )

    async def ws_chat(request: web.Request) -> web.StreamResponse:
        return await chat_socket(request, app[SERVICE], app[HUB], settings.max_frame_bytes)

    app.router.add_get("/ws/agent", ws_agent)
    app.router.add_get("/ws/chat", ws_chat)
    static = static_dir()
    page = {
        "console": static / "console.html",
        "chat": static / "chat.html",
        "admin": static / "admin.html",
    }

    async def console_page(_r: web.Request) -> web.StreamResponse:
        return web.FileResponse(page["console"])

    async def chat_page(_r: web.Request) -> web.StreamResponse:
        return web.FileResponse(page["chat"])

    async def admin_page(_r: web.Request) -> web.StreamResponse:
        return web.FileResponse(page["admin"])

    async def root(_r: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console")

    app.router.add_get("/console", console_page)
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/", root)
    app.router.add_static("/static", static)
    return app
