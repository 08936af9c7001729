"""The hub's background work, by process role (part of the composition root, beside
contactcenter/app.py): rebuilding live state from the record, the stream tail that feeds the
consoles connected here, their heartbeat, the customers' queue positions, and, in processes
that run workers, routing, the history writer and the stream trimmer.

`workers` is an aiohttp cleanup context: it starts every task, yields, then cancels and awaits
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from agent_console.agents.socket import AGENT_SESSIONS
from agent_console.appkeys import HUB
from agent_console.hub import Dispatch
from contactcenter.conversations.appkeys import RECOVERED, ROUTING, ROUTING_WORKER, SERVICE
from contactcenter.conversations.history import HistoryWriter
from contactcenter.conversations.recovery import recover
from contactcenter.core.appkeys import BUS, CLOCK, POOL, REDIS
from contactcenter.core.eventbus import EventGroupConsumer
from contactcenter.core.events import SessionEnded
from contactcenter.core.healing import EpochWatch
from contactcenter.core.stream_trim import run_trimmer
from contactcenter.settings.appkeys import SETTINGS, WATCHER
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.reload import ConfigWatcher
from contactcenter.web.appkeys import AGENTS
from routing.model import Liveness
from routing.worker import RoutingWorker, wall_clock_ms

log = structlog.get_logger("contactcenter.background")


def liveness(settings: HubSettings, since_ms: int = 0) -> Liveness:
    """Routing's view of live consoles and customers' pages; silence is counted from
    `since_ms` at the earliest (when this process started)."""
    return Liveness(
        console_timeout_ms=int(3 * settings.console_heartbeat_s * 1000),
        offline_after_ms=int(settings.offline_after_s * 1000),
        customer_grace_ms=int(settings.customer_grace_s * 1000),
        since_ms=since_ms,
    )


async def recover_once(app: web.Application) -> bool:
    """Rebuild what Redis does not know from PostgreSQL
    (contactcenter/conversations/recovery.py)."""
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
    """Redis lost the live state under this running process (contactcenter/core/healing.py):
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
        if await recover_once(app):
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


async def workers(app: web.Application) -> AsyncIterator[None]:
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
