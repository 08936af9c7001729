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

import asyncpg
import structlog
from aiohttp import web

from agent_console.agent_socket import (
    AGENT_SESSIONS,
    ConsoleSession,
    SessionSockets,
    agent_socket,
)
from agent_console.fanout import Delivery
from agent_console.gateway import chat_socket
from agent_console.hub import ConsoleHub, Dispatch
from agent_console.widget import setup_widget
from channels.email_channel import EMAIL_OPERATIONS, setup_email
from channels.language import TEXT_CLASSIFIER, setup_language
from channels.twilio_messaging import setup_twilio_messaging
from channels.twilio_voice import VOICE_OPERATIONS, setup_twilio_voice
from contactcenter import api, guard
from contactcenter.auth import AgentStore
from contactcenter.context import customer_context
from contactcenter.conversations import ConversationService
from contactcenter.crm import CrmStore
from contactcenter.crm_api import setup_crm_api
from contactcenter.db import create_pool, migrate
from contactcenter.eventbus import EventBus, EventGroupConsumer
from contactcenter.events import SessionEnded
from contactcenter.healing import EpochWatch
from contactcenter.history import HistoryWriter
from contactcenter.login_limits import LOGIN_LIMITER, LoginLimiter, LoginPolicy
from contactcenter.messages_api import MESSAGE_OPERATIONS
from contactcenter.orders_api import ORDER_OPERATIONS
from contactcenter.recovery import recover
from contactcenter.redisconn import RedisClient, hub_client_name, redis_client
from contactcenter.reload import ConfigWatcher
from contactcenter.seed import seed_demo
from contactcenter.settings import HubSettings
from contactcenter.stream_trim import run_trimmer
from routing.model import Liveness
from routing.store import RoutingStore
from routing.worker import RoutingWorker, wall_clock_ms

log = structlog.get_logger("contactcenter.app")

SETTINGS = web.AppKey("settings", HubSettings)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
POOL = web.AppKey("pool", asyncpg.Pool)
AGENTS = web.AppKey("agents", AgentStore)
SERVICE = web.AppKey("service", ConversationService)
HUB = web.AppKey("hub", ConsoleHub)
BUS = web.AppKey("bus", EventBus)
ROUTING = web.AppKey("routing", RoutingStore)
WATCHER = web.AppKey("watcher", ConfigWatcher)
RECOVERED = web.AppKey("recovered", asyncio.Event)
ROUTING_WORKER = web.AppKey("routing_worker", RoutingWorker)
CLOCK: web.AppKey[Callable[[], int]] = web.AppKey("clock")


def liveness(settings: HubSettings, since_ms: int = 0) -> Liveness:
    """Routing's view of live consoles and customers' pages; silence is counted from
    `since_ms` at the earliest (when this process started)."""
    return Liveness(
        console_timeout_ms=int(3 * settings.console_heartbeat_s * 1000),
        offline_after_ms=int(settings.offline_after_s * 1000),
        customer_grace_ms=int(settings.customer_grace_s * 1000),
        since_ms=since_ms,
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
        if settings.demo_seed and settings.demo_password:
            await seed_demo(agents, settings.demo_password, settings.chat_capacity)
        routing = RoutingStore(redis, settings.routing_domain)
        bus = EventBus(redis, routing.keys.events)
        service = ConversationService(
            settings, CrmStore(pool), agents, routing, bus, app.get(CLOCK, wall_clock_ms)
        )
        app[REDIS], app[POOL], app[AGENTS], app[ROUTING], app[BUS] = (
            redis,
            pool,
            agents,
            routing,
            bus,
        )
        app[SERVICE] = service
        app[LOGIN_LIMITER] = LoginLimiter(
            redis,
            settings.routing_domain,
            LoginPolicy.from_settings(settings),
            bus=bus,
            agents=agents,
            clock=app.get(CLOCK, wall_clock_ms),
        )
        app[RECOVERED] = asyncio.Event()
        if await _recover_once(app):
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


async def _recover_once(app: web.Application) -> bool:
    """Rebuild what Redis does not know from PostgreSQL (contactcenter/recovery.py)."""
    service = app[SERVICE]
    try:
        recovered = await recover(
            app[POOL], app[AGENTS], app[ROUTING], app[SETTINGS], service.clock()
        )
    except Exception as exc:  # Redis or PostgreSQL away: the hub starts, and retries
        log.warning("recovery_failed", error=str(exc))
        return False
    if recovered.agents or recovered.conversations or recovered.waiting:
        log.info(
            "live_state_rebuilt_from_record",
            agents=recovered.agents,
            conversations=recovered.conversations,
            waiting=recovered.waiting,
        )
    return True


async def _rebuild_live_state(app: web.Application) -> dict[str, int]:
    """Redis lost the live state under this running process (contactcenter/healing.py):
    rebuild it from PostgreSQL, then register again what is connected here."""
    service, routing, settings = app[SERVICE], app[ROUTING], app[SETTINGS]
    recovered = await recover(app[POOL], app[AGENTS], routing, settings, service.clock())
    consoles = 0
    hub = app.get(HUB)
    if settings.serves_clients and hub is not None:
        for agent_id in list(hub.agents):
            principal = await app[AGENTS].get(agent_id)
            if principal is not None:
                await service.prepare_agent(principal)
                consoles += 1
        now_ms = service.clock()
        await routing.heartbeat(list(hub.agents), now_ms)
        await routing.customer_heartbeat(hub.present_customers(), now_ms)
    return {
        "agents": recovered.agents,
        "conversations": recovered.conversations,
        "waiting": recovered.waiting,
        "consoles": consoles,
    }


async def _recover_until_done(app: web.Application) -> None:
    delay_s = 1.0
    while not app[RECOVERED].is_set():
        await asyncio.sleep(delay_s)
        if await _recover_once(app):
            app[RECOVERED].set()
        delay_s = min(delay_s * 2, 30.0)


async def _tail_to_hub(app: web.Application) -> None:
    """Events to the local consoles, in stream order. Each event's frames are planned as it
    arrives and their enrichment reads start at once; a sender queues them in order, so a
    slow read delays only what comes after it, while later reads already run."""
    hub = app[HUB]
    planned: asyncio.Queue[tuple[str, Dispatch]] = asyncio.Queue(maxsize=2000)
    closing: set[asyncio.Task[int]] = set()

    async def sender() -> None:
        while True:
            event_type, dispatch = await planned.get()
            try:
                await dispatch.send()
            except Exception as exc:  # one bad event must not stop live delivery
                log.error("dispatch_failed", event_type=event_type, error=str(exc))

    sending = asyncio.create_task(sender(), name="console-sender")
    try:
        async for _entry_id, event in app[BUS].tail():
            if isinstance(event, SessionEnded):  # from any process: close its consoles here
                task = asyncio.create_task(app[AGENT_SESSIONS].close(event.token_hash))
                closing.add(task)
                task.add_done_callback(closing.discard)
            try:
                dispatch = hub.plan(event)
            except Exception as exc:
                log.error("dispatch_failed", event_type=event.type, error=str(exc))
                continue
            await planned.put((event.type, dispatch))
    finally:
        sending.cancel()
        for task in closing:
            task.cancel()
        while not planned.empty():
            planned.get_nowait()[1].cancel()


async def _heartbeat(app: web.Application) -> None:
    """Tell routing, every heartbeat, which agents have a console on this process and which
    contacts a customer's page follows here."""
    settings, hub, routing = app[SETTINGS], app[HUB], app[ROUTING]
    clock = app.get(CLOCK, wall_clock_ms)
    while True:
        try:
            now_ms = clock()
            await routing.heartbeat(list(hub.agents), now_ms)
            await routing.customer_heartbeat(hub.present_customers(), now_ms)
        except Exception as exc:  # Redis away: routing will see the silence, which is right
            log.warning("console_heartbeat_failed", error=str(exc))
        await asyncio.sleep(settings.console_heartbeat_s)


async def _positions(app: web.Application) -> None:
    """Tell waiting customers connected here where they stand, when that changes."""
    settings, hub, service = app[SETTINGS], app[HUB], app[SERVICE]
    told: dict[str, tuple[int, int | None]] = {}
    while True:
        await asyncio.sleep(settings.position_interval_s)
        for contact_id in list(hub.customers):
            try:
                status = await service.wait_status(contact_id, fresh=False)
            except Exception as exc:  # stores away: try again next round
                log.warning("position_update_failed", error=str(exc))
                break
            if status is None:
                told.pop(contact_id, None)
                continue
            now = (status["position"], status["estimated_wait_s"])
            if told.get(contact_id) != now:
                told[contact_id] = now
                for conn in list(hub.customers.get(contact_id, ())):
                    conn.send({"type": "position", **status})


async def _workers(app: web.Application) -> AsyncIterator[None]:
    """The background tasks of this process's role (`HubSettings.role`): the pushes to the
    consoles and customers connected here, and/or routing, history and recovery."""
    settings = app[SETTINGS]
    assert settings.redis_url
    watcher = ConfigWatcher(settings, lambda new: _apply(app, new), app[ROUTING].queue_length)
    app[WATCHER] = watcher
    epoch = EpochWatch(app[REDIS], app[ROUTING].keys.epoch, lambda: _rebuild_live_state(app))
    tasks = [
        asyncio.create_task(watcher.run(), name="config-watcher"),
        asyncio.create_task(epoch.run(settings.console_heartbeat_s), name="epoch-watch"),
    ]
    if settings.serves_clients:
        tasks += [
            asyncio.create_task(_tail_to_hub(app), name="console-tail"),
            asyncio.create_task(_heartbeat(app), name="console-heartbeat"),
            asyncio.create_task(_positions(app), name="customer-positions"),
        ]
    if settings.runs_workers:
        worker = RoutingWorker(
            app[ROUTING],
            settings.policies,
            tick_ms=settings.routing_tick_ms,
            clock=app.get(CLOCK, wall_clock_ms),
            liveness=liveness(settings, since_ms=app.get(CLOCK, wall_clock_ms)()),
        )
        app[ROUTING_WORKER] = worker
        history = EventGroupConsumer(
            app[REDIS],
            app[ROUTING].keys.events,
            "history",
            HistoryWriter(app[POOL], settings.routing_domain),
            claim_idle_ms=settings.claim_idle_ms,
        )
        tasks += [
            asyncio.create_task(worker.run(), name="routing-worker"),
            asyncio.create_task(history.run(), name="history-writer"),
            asyncio.create_task(_recover_until_done(app), name="recovery"),
            asyncio.create_task(
                run_trimmer(app[REDIS], app[ROUTING].keys.events, settings.stream_maxlen),
                name="stream-trimmer",
            ),
        ]
    log.info("hub_role", role=settings.role, tasks=[t.get_name() for t in tasks])
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # already dead: say so, but let the others stop cleanly
            log.error("background_task_failed", task=task.get_name(), error=str(exc))


async def _apply(app: web.Application, new: HubSettings) -> None:
    """A reloaded configuration, taken up by the conversations and by routing."""
    app[SERVICE].settings = new
    if ROUTING_WORKER in app:
        app[ROUTING_WORKER].queues = new.policies


async def _classify_first_words(app: web.Application) -> AsyncIterator[None]:
    """New text contacts get their language and intents from their first words."""
    app[SERVICE].classify = app[TEXT_CLASSIFIER].classify
    yield


def http_handler_args(settings: HubSettings) -> dict[str, Any]:
    """How the HTTP server treats its connections, wherever the app is served (the CLI, tests,
    benchmarks): aiohttp's keep-alive timer also runs from the moment a connection opens and
    after each answer, and closes it if no whole request head came in meanwhile. That makes
    it the header read timeout: a client that sends its headers slowly, partly or not at all
    is cut off after `header_timeout_s` (docs/architecture.md)."""
    return {"keepalive_timeout": settings.header_timeout_s}


def static_dir() -> Path:
    return Path(str(resources.files("agent_console") / "static"))


def init(settings: HubSettings, *, clock: Callable[[], int] | None = None) -> web.Application:
    """The hub's web application for `settings` (storage URLs already resolved)."""
    middlewares = [api.error_middleware, guard.session_guard(settings.public_url)]
    if not settings.serves_clients:
        middlewares.append(api.health_only)
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_frame_bytes,
        handler_args=http_handler_args(settings),
    )
    app[SETTINGS] = settings
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
    app.cleanup_ctx.append(_workers)
    setup_language(app)
    setup_email(app)
    setup_twilio_messaging(app, settings.twilio)
    setup_twilio_voice(app, settings.twilio, serve_token=False)  # the token: in the API table
    setup_widget(app, settings.widget)
    app.cleanup_ctx.append(_classify_first_words)
    api.add_routes(app)
    setup_crm_api(
        app,
        crm_settings=settings.crm,
        more=(*ORDER_OPERATIONS, *EMAIL_OPERATIONS, *VOICE_OPERATIONS, *MESSAGE_OPERATIONS),
    )

    async def ws_agent(request: web.Request) -> web.StreamResponse:
        guard.check_origin(request, settings.public_url)
        principal, token_hash = await api.require_session(request)
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
    page = {"console": static / "console.html", "chat": static / "chat.html"}

    async def console_page(_r: web.Request) -> web.StreamResponse:
        return web.FileResponse(page["console"])

    async def chat_page(_r: web.Request) -> web.StreamResponse:
        return web.FileResponse(page["chat"])

    async def root(_r: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console")

    app.router.add_get("/console", console_page)
    app.router.add_get("/chat", chat_page)
    app.router.add_get("/", root)
    app.router.add_static("/static", static)
    return app
