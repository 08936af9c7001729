"""The agents' consoles (`/ws/agent`): frames to service calls and results to frames.

Each console belongs to the login session it was opened with: when that session ends
(`SessionEnded`, from any hub process), `SessionSockets` closes it with code 4001. An agent's
messages are rate limited across all their consoles and hub processes (`SendLimit`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from agent_console import protocol as p
from agent_console.customers.live_signals import LiveSignals
from agent_console.customers.widget import WIDGET, Widget
from agent_console.hub import Connection, ConsoleHub
from agent_console.keys import WidgetKeys
from agent_console.rate_limits import Limit, RateLimited, RateLimiter
from agent_console.sockets import CLOSE_TRY_LATER, open_socket, serve_frames
from contactcenter.agents.scope import scope_of
from contactcenter.conversations.service import ConversationService
from contactcenter.core.errors import ContactNotAssigned
from contactcenter.core.store_errors import is_store_failure
from contactcenter.web.auth import Principal

log = structlog.get_logger("agent_console.customers.chat_socket")

# An application's own close code (RFC 6455 section 7.4.2: 4000-4999 are for applications):
# the login session this console was opened with has ended; sign in again.
CLOSE_SESSION_ENDED = 4001


class AgentRateLimited(RateLimited):
    """An agent sent more messages than `agents.messages_per_window` allows; nothing of the
    refused one was stored or sent (`details.retry_after_s` says when to try again)."""

    error_id = "agent.rate_limited"


class SessionSockets:
    """This process's agent consoles by the login session they were opened with (the hash
    of its token), so that ending a session closes them."""

    def __init__(self) -> None:
        self._by_session: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, token_hash: str, ws: web.WebSocketResponse) -> None:
        self._by_session[token_hash].add(ws)

    def discard(self, token_hash: str, ws: web.WebSocketResponse) -> None:
        found = self._by_session.get(token_hash)
        if found is not None:
            found.discard(ws)
            if not found:
                del self._by_session[token_hash]

    async def close(self, token_hash: str) -> int:
        """Close the consoles of that session (code 4001); returns how many there were."""
        sockets = list(self._by_session.pop(token_hash, ()))
        await asyncio.gather(
            *(ws.close(code=CLOSE_SESSION_ENDED, message=b"session ended") for ws in sockets),
            return_exceptions=True,
        )
        return len(sockets)


AGENT_SESSIONS = web.AppKey("agent_sessions", SessionSockets)


@dataclass(frozen=True)
class ConsoleSession:
    """The login session a console is opened with: its token's hash, this process's
    registry of sessions' consoles, and a check that the session still exists."""

    token_hash: str
    sockets: SessionSockets
    alive: Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class SendLimit:
    """`count` messages per `window_ms` for one agent, counted in Redis."""

    limiter: RateLimiter
    count: int
    window_ms: int

    @classmethod
    def of(cls, service: ConversationService) -> SendLimit:
        s = service.settings
        limiter = RateLimiter(service.routing.redis, WidgetKeys(s.routing_domain))
        return cls(limiter, s.agent_messages_per_window, round(s.agent_message_window_s * 1000))

    async def hit(self, agent_id: str, now_ms: int) -> None:
        try:
            limit = Limit("agent-messages", agent_id, self.count, self.window_ms)
            await self.limiter.hit([limit], now_ms)
        except RateLimited as exc:
            raise AgentRateLimited("too many messages; wait a moment", **exc.details) from None


async def agent_socket(
    request: web.Request,
    principal: Principal,
    service: ConversationService,
    hub: ConsoleHub,
    max_frame_bytes: int,
    session: ConsoleSession,
) -> web.WebSocketResponse:
    ws = await open_socket(request, max_frame_bytes)
    session.sockets.add(session.token_hash, ws)
    try:
        # Registered first, checked second: a logout that ran meanwhile either finds this
        # socket registered or has already deleted the session this check reads.
        try:
            alive = await session.alive()
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            await ws.close(code=CLOSE_TRY_LATER, message=b"store.unavailable")
            return ws
        if not alive:
            await ws.close(code=CLOSE_SESSION_ENDED, message=b"session ended")
            return ws
        await _serve_console(
            ws, principal, service, hub, request.app.get(WIDGET), request.transport
        )
    finally:
        session.sockets.discard(session.token_hash, ws)
    return ws


async def _serve_console(
    ws: web.WebSocketResponse,
    principal: Principal,
    service: ConversationService,
    hub: ConsoleHub,
    widget: Widget | None,
    transport: asyncio.Transport | None,
) -> None:
    kind = "supervisor" if principal.is_supervisor else "agent"
    conn = hub.connect(ws, kind, principal.agent_id, transport)
    if principal.role == "supervisor":  # their teams' events only (docs/admin.md, "Scope")
        scope = await scope_of(service.crm.pool, principal)
        conn.scope = (scope.agent_ids, scope.queues)
    live = LiveSignals(hub, widget, service)
    sends = SendLimit.of(service)
    log.info("console_connected", agent_id=principal.agent_id, role=principal.role)
    try:
        try:
            await service.prepare_agent(principal)
            await service.routing.heartbeat([principal.agent_id], service.clock())
            await _send_snapshot(conn, principal, service, hub)
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            # Without a snapshot the console cannot start: it is told why and reconnects.
            log.warning("console_store_unavailable", agent_id=principal.agent_id)
            await ws.close(code=CLOSE_TRY_LATER, message=b"store.unavailable")
            return

        async def handle(cmd: p.AgentCommand) -> None:
            await _agent_command(cmd, principal, service, conn, live, sends)

        await serve_frames(ws, conn, p.parse_agent_frame, handle)
    finally:
        await hub.disconnect(conn)
        if principal.agent_id not in hub.agents:
            await _console_gone(service, principal.agent_id)
        log.info("console_disconnected", agent_id=principal.agent_id, close_code=ws.close_code)


async def _console_gone(service: ConversationService, agent_id: str) -> None:
    """The agent's last console on this process closed: no new offers for them, unless a
    console on another process says otherwise at its next heartbeat; the grace period
    before they are set offline starts now (docs/routing.md, "Live consoles")."""
    try:
        await service.routing.heartbeat([agent_id], service.clock(), left=True)
    except Exception as exc:  # shutting down with Redis gone: the silence says the same
        log.warning("console_gone_not_recorded", agent_id=agent_id, error=str(exc))


async def _send_snapshot(
    conn: Connection, principal: Principal, service: ConversationService, hub: ConsoleHub
) -> None:
    held = await service.routing.agent_contact_ids(principal.agent_id)
    hub.hold(principal.agent_id, held)
    agent_fields = await service.routing.agent_fields(principal.agent_id)
    contacts = []
    for contact_id in sorted(held):
        view = await service.contact_view(contact_id, with_messages=True, with_context=True)
        if view is not None:
            contacts.append(view)
    next_state = agent_fields.get("next_state") or None
    conn.send(
        {
            "type": "snapshot",
            "agent": {
                **principal.public(),
                "state": agent_fields.get("state", "offline"),
                "reason": agent_fields.get("reason") or None,
                "next_state": next_state
                and {
                    "state": next_state,
                    "reason": agent_fields.get("next_reason") or None,
                },
            },
            "contacts": contacts,
            "queues": [q.name for q in service.settings.queues],
            "reasons": service.settings.reasons.public(),
        }
    )


async def _agent_command(
    cmd: p.AgentCommand,
    agent: Principal,
    service: ConversationService,
    conn: Connection,
    live: LiveSignals,
    sends: SendLimit,
) -> None:
    match cmd:
        case p.Ping():
            conn.send({"type": "pong"})
            return
        case p.AgentTyping() | p.AgentRead():
            if cmd.contact_id not in live.hub.holdings.get(agent.agent_id, ()):
                raise ContactNotAssigned("not in conversation with you", contact_id=cmd.contact_id)
            if isinstance(cmd, p.AgentTyping):
                await live.typing(cmd.contact_id, "agent", cmd.active)
            else:
                await live.read(cmd.contact_id, "agent", cmd.message_id)
        case p.SetState():
            await service.set_state(
                agent, cmd.state, cmd.reason, release_work=cmd.release_work, next_state=cmd.next
            )
        case p.CancelNextState():
            await service.cancel_next_state(agent)
        case p.Accept():
            await service.accept(agent, cmd.contact_id)
        case p.Reject():
            await service.reject(agent, cmd.contact_id)
        case p.Send():
            await sends.hit(agent.agent_id, service.clock())
            await service.agent_message(agent, cmd.contact_id, cmd.text, cmd.client_msg_id)
        case p.End():
            await service.end(agent, cmd.contact_id)
        case p.WrapUp():
            await service.wrap_up(agent, cmd.contact_id, cmd.disposition, cmd.notes)
        case p.Transfer():
            await service.transfer(agent, cmd.contact_id, cmd.to_queue, cmd.to_agent)
        case p.Reprioritize():
            await service.reprioritize(agent, cmd.contact_id, cmd.priority)
    if cmd.ref is not None:
        conn.send({"type": "ack", "ref": cmd.ref})
