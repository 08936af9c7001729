"""Websocket handlers: agents' consoles (`/ws/agent`) and customers' chats (`/ws/chat`).

They translate frames to service calls and results to frames, nothing more. A bad frame gets
an `error` frame and the connection lives on; an oversized one closes it with 1009, which
aiohttp does itself when a frame exceeds `max_msg_size`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import WSMsgType, web

from agent_console import protocol as p
from agent_console.hub import Connection, ConsoleHub
from contactcenter.auth import Principal
from contactcenter.conversations import ConversationService
from contactcenter.errors import HubError, InvalidInput

log = structlog.get_logger("agent_console.gateway")

C = TypeVar("C", p.AgentCommand, p.ChatCommand)


class HelloRequired(InvalidInput):
    error_id = "chat.hello_required"


async def _open(request: web.Request, max_frame_bytes: int) -> web.WebSocketResponse:
    # No permessage-deflate: frames are small JSON, and deflating each one cost the hub more
    # CPU than anything else it does per frame (docs/decisions.md).
    ws = web.WebSocketResponse(max_msg_size=max_frame_bytes, heartbeat=30.0, compress=False)
    await ws.prepare(request)
    return ws


async def _serve(
    ws: web.WebSocketResponse,
    conn: Connection,
    parse: Callable[[str | bytes], C],
    handle: Callable[[C], Awaitable[None]],
) -> None:
    """Parse and handle each frame until the socket closes; a refusal becomes an error frame
    and the connection lives on."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        ref = None
        try:
            cmd = parse(msg.data)
            ref = cmd.ref
            await handle(cmd)
        except HubError as exc:
            conn.send(p.error_frame(exc, ref))


async def agent_socket(
    request: web.Request,
    principal: Principal,
    service: ConversationService,
    hub: ConsoleHub,
    max_frame_bytes: int,
) -> web.WebSocketResponse:
    ws = await _open(request, max_frame_bytes)
    kind = "supervisor" if principal.is_supervisor else "agent"
    conn = hub.connect(ws, kind, principal.agent_id)
    log.info("console_connected", agent_id=principal.agent_id, role=principal.role)
    try:
        await service.prepare_agent(principal)
        await service.routing.heartbeat([principal.agent_id], service.clock())
        await _send_snapshot(conn, principal, service, hub)

        async def handle(cmd: p.AgentCommand) -> None:
            await _agent_command(cmd, principal, service, conn)

        await _serve(ws, conn, p.parse_agent_frame, handle)
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
    cmd: p.AgentCommand, agent: Principal, service: ConversationService, conn: Connection
) -> None:
    match cmd:
        case p.Ping():
            conn.send({"type": "pong"})
            return
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


class _Chat:
    """One customer's chat connection: who they are and which contact they follow."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.customer_id: str | None = None
        self.name = ""
        self.contact_id: str | None = None


async def chat_socket(
    request: web.Request, service: ConversationService, hub: ConsoleHub, max_frame_bytes: int
) -> web.WebSocketResponse:
    ws = await _open(request, max_frame_bytes)
    chat = _Chat(hub.connect(ws, "customer", ""))

    async def handle(cmd: p.ChatCommand) -> None:
        await _chat_command(cmd, chat, service, hub)

    try:
        await _serve(ws, chat.conn, p.parse_chat_frame, handle)
    finally:
        await hub.disconnect(chat.conn)
    return ws


async def _chat_command(
    cmd: p.ChatCommand, chat: _Chat, service: ConversationService, hub: ConsoleHub
) -> None:
    conn = chat.conn
    if isinstance(cmd, p.Ping):
        conn.send({"type": "pong"})
        return
    if isinstance(cmd, p.Hello):
        await _hello(cmd, chat, service, hub)
        return
    if chat.customer_id is None:
        raise HelloRequired("send hello first")
    if isinstance(cmd, p.CustomerMessage):
        if chat.contact_id is None:
            contact_id = await service.start_contact(
                chat.customer_id, chat.name, "chat", cmd.text, cmd.client_msg_id
            )
            chat.contact_id = contact_id
            hub.attach_contact(conn, contact_id)
            conn.send(
                {
                    "type": "queued",
                    "contact_id": contact_id,
                    "queue": live.queue
                    if (live := await service.routing.contact(contact_id))
                    else None,
                }
            )
            # The first message was stored before this connection followed the contact.
            for m in await service.crm.transcript(contact_id):
                conn.send({"type": "message", "contact_id": contact_id, "message": m.wire()})
            status = await service.wait_status(contact_id)
            if status is not None:
                conn.send({"type": "position", **status})
        else:
            await service.customer_message(chat.contact_id, cmd.text, cmd.client_msg_id)
    elif isinstance(cmd, p.Leave) and chat.contact_id is not None:
        await service.customer_leave(chat.contact_id)
        chat.contact_id = None
    if cmd.ref is not None:
        conn.send({"type": "ack", "ref": cmd.ref})


async def _hello(cmd: p.Hello, chat: _Chat, service: ConversationService, hub: ConsoleHub) -> None:
    visitor_id = cmd.visitor_id or secrets.token_urlsafe(18)
    chat.name = cmd.name
    chat.customer_id = await service.identify_visitor(visitor_id, cmd.name, cmd.email)
    found = await service.open_contact(chat.customer_id, "chat")
    messages: list[dict[str, Any]] = []
    status = "new"
    chat.contact_id = None
    if found is not None:
        chat.contact_id, live_state = found
        hub.attach_contact(chat.conn, chat.contact_id)
        messages = [m.wire() for m in await service.crm.transcript(chat.contact_id)]
        status = "connected" if live_state == "assigned" else "waiting"
    chat.conn.send(
        {
            "type": "welcome",
            "visitor_id": visitor_id,
            "contact_id": chat.contact_id,
            "messages": messages,
            "status": status,
        }
    )
    if cmd.ref is not None:
        chat.conn.send({"type": "ack", "ref": cmd.ref})
