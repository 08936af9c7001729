"""The agents' consoles (`/ws/agent`): frames to service calls and results to frames."""

from __future__ import annotations

import structlog
from aiohttp import web

from agent_console import protocol as p
from agent_console.hub import Connection, ConsoleHub
from agent_console.sockets import LiveSignals, open_socket, serve_frames
from agent_console.widget import WIDGET
from contactcenter.auth import Principal
from contactcenter.conversations import ConversationService
from contactcenter.errors import ContactNotAssigned

log = structlog.get_logger("agent_console.gateway")


async def agent_socket(
    request: web.Request,
    principal: Principal,
    service: ConversationService,
    hub: ConsoleHub,
    max_frame_bytes: int,
) -> web.WebSocketResponse:
    ws = await open_socket(request, max_frame_bytes)
    kind = "supervisor" if principal.is_supervisor else "agent"
    conn = hub.connect(ws, kind, principal.agent_id, request.transport)
    widget = request.app.get(WIDGET)
    live = LiveSignals(hub, widget, service)
    log.info("console_connected", agent_id=principal.agent_id, role=principal.role)
    try:
        await service.prepare_agent(principal)
        await service.routing.heartbeat([principal.agent_id], service.clock())
        await _send_snapshot(conn, principal, service, hub)

        async def handle(cmd: p.AgentCommand) -> None:
            await _agent_command(cmd, principal, service, conn, live)

        await serve_frames(ws, conn, p.parse_agent_frame, handle)
    finally:
        await hub.disconnect(conn)
        if principal.agent_id not in hub.agents:
            await _console_gone(service, principal.agent_id)
        log.info("console_disconnected", agent_id=principal.agent_id, close_code=ws.close_code)
    return ws


async def _console_gone(service: ConversationService, agent_id: str) -> None:
    """The agent's last console on this process closed: no new offers for them, unless a
    console on another process says otherwise at its next heartbeat."""
    timeout_ms = int(3 * service.settings.console_heartbeat_s * 1000)
    try:
        await service.routing.heartbeat([agent_id], service.clock() - timeout_ms - 1)
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
    conn.send(
        {
            "type": "snapshot",
            "agent": {**principal.public(), "state": agent_fields.get("state", "offline")},
            "contacts": contacts,
            "queues": [q.name for q in service.settings.queues],
        }
    )


async def _agent_command(
    cmd: p.AgentCommand,
    agent: Principal,
    service: ConversationService,
    conn: Connection,
    live: LiveSignals,
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
            await service.set_state(agent, cmd.state, cmd.reason)
        case p.Accept():
            await service.accept(agent, cmd.contact_id)
        case p.Reject():
            await service.reject(agent, cmd.contact_id)
        case p.Send():
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
