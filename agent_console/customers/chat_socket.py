"""Customers' chats (`/ws/chat`); the agents' consoles are agent_console/agents/socket.py.

They translate frames to service calls and results to frames, nothing more. A bad frame gets
an `error` frame and the connection lives on; an oversized one closes it with 1009, which
aiohttp does itself when a frame exceeds `max_msg_size`.

With the web chat widget set up (`setup_widget`, docs/widget.md), `/ws/chat` also checks the
page's Origin, counts each visitor's and each address's messages and connections, relays
typing and read signals both ways, and takes ratings and transcript requests.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from agent_console import protocol as p
from agent_console.customers.live_signals import LiveSignals
from agent_console.customers.widget import WIDGET, Widget
from agent_console.hub import Connection, ConsoleHub
from agent_console.rate_limits import Limit, RateLimited
from agent_console.sockets import CLOSE_TRY_LATER, DAY_MS, MINUTE_MS, open_socket, serve_frames
from channels.email import transcript as te
from contactcenter.conversations.service import ConversationService
from contactcenter.conversations.widget_store import ContactNotFound
from contactcenter.core.errors import Forbidden, InvalidInput
from contactcenter.core.store_errors import is_store_failure, store_unavailable
from contactcenter.crm.identity import normalise_email, site_signature_valid
from contactcenter.web.origins import client_ip, origin_allowed
from routing.rules import ContactAttributes

log = structlog.get_logger("agent_console.customers.chat_socket")


class OriginForbidden(Forbidden):
    """The page opening the chat is not on a site allowed to embed the widget."""

    error_id = "chat.origin_forbidden"


class MessageTooLong(InvalidInput):
    error_id = "chat.message_too_long"


ENDED_STATES = ("wrapup", "closed", "abandoned")  # a contact the customer cannot write to


class HelloRequired(InvalidInput):
    error_id = "chat.hello_required"


class UnknownTopic(InvalidInput):
    error_id = "chat.unknown_topic"


class IdentityNotVerified(InvalidInput):
    """A signed identity whose signature does not prove it (or a hub with no identity
    secret to check it against): refused, nothing changed."""

    error_id = "chat.identity_invalid"


class _Chat:
    """One customer's chat connection: who they are and which contact they follow."""

    def __init__(self, conn: Connection, live: LiveSignals, origin: str | None, ip: str) -> None:
        self.conn = conn
        self.live = live
        self.origin = origin  # the embedding page's origin: the contact's entry for routing
        self.ip = ip
        self.customer_id: str | None = None
        self.visitor_id = ""
        self.name = ""
        self.email: str | None = None
        self.topic: str | None = None
        self.identity_proof: str | None = None  # 'site' once the site's signature proved it
        self.contact_id: str | None = None
        self.last_contact_id: str | None = None  # kept after leaving, for a rating or transcript

    async def follow(self, hub: ConsoleHub, service: ConversationService, contact_id: str) -> None:
        """Follow the contact's conversation here; routing learns at once that its customer
        is present (then at every heartbeat), so a reload never looks like a ghost."""
        self.contact_id = self.last_contact_id = contact_id
        hub.attach_contact(self.conn, contact_id)
        await service.routing.customer_heartbeat([contact_id], service.clock())
        await self.live.presence(contact_id, True)


def _check_origin(request: web.Request, widget: Widget, public_url: str) -> None:
    """Refuse, before the upgrade (HTTP 403), a page not allowed to embed the chat."""
    origin = request.headers.get("Origin")
    own = [request.host, urlsplit(public_url).netloc]
    if not origin_allowed(origin, own, widget.settings.allowed_origins):
        log.info("chat_origin_refused", origin=origin)
        raise OriginForbidden("this site may not open the chat", origin=origin)


async def chat_socket(
    request: web.Request, service: ConversationService, hub: ConsoleHub, max_frame_bytes: int
) -> web.WebSocketResponse:
    widget = request.app.get(WIDGET)
    ip = ""
    if widget is not None:
        _check_origin(request, widget, service.settings.public_url)
        forwarded = request.headers.get("X-Forwarded-For")
        ip = client_ip(request.remote, forwarded, widget.settings.trust_forwarded_for)
    ws = await open_socket(request, max_frame_bytes)
    conn = hub.connect(ws, "customer", "", request.transport)
    origin = request.headers.get("Origin") if widget is not None else None
    chat = _Chat(conn, LiveSignals(hub, widget, service), origin, ip)

    async def handle(cmd: p.ChatCommand) -> None:
        await _chat_command(cmd, chat, service, hub, widget)

    refused = False
    try:
        if widget is not None:
            limit = widget.settings.connections_per_ip_per_min
            try:
                await widget.limiter.hit(
                    [Limit("connections", ip, limit, MINUTE_MS)], service.clock()
                )
            except RateLimited as exc:
                conn.send(p.error_frame(exc))
                refused = True
            except Exception as exc:  # Redis away: told so, and to try again later
                if not is_store_failure(exc):
                    raise
                conn.send(p.error_frame(store_unavailable(exc)))
                refused = True
        if not refused:
            await serve_frames(ws, conn, p.parse_chat_frame, handle)
    finally:
        await hub.disconnect(conn)  # sends what is queued first, the refusal included
        await _page_gone(chat, hub)
        if refused:
            await ws.close(code=CLOSE_TRY_LATER, message=b"try again later")
    return ws


async def _page_gone(chat: _Chat, hub: ConsoleHub) -> None:
    """The customer's page closed: if no other page here follows the contact, the agents
    holding it are told the customer may be gone (docs/routing.md, "Customers who leave")."""
    contact_id = chat.contact_id
    if contact_id is None or hub.customers.get(contact_id):
        return
    try:
        await chat.live.presence(contact_id, False)
    except Exception as exc:  # Redis away: the agent sees no change, the grace period still runs
        log.warning("presence_not_sent", contact_id=contact_id, error=str(exc))


async def _chat_command(
    cmd: p.ChatCommand,
    chat: _Chat,
    service: ConversationService,
    hub: ConsoleHub,
    widget: Widget | None,
) -> None:
    conn = chat.conn
    if isinstance(cmd, p.Ping):
        conn.send({"type": "pong"})
        return
    if isinstance(cmd, p.Hello):
        await _hello(cmd, chat, service, hub, widget)
        return
    if chat.customer_id is None:
        raise HelloRequired("send hello first")
    match cmd:
        case p.CustomerMessage():
            if widget is not None:
                await _admit(cmd.text, chat, service, widget)
            await _customer_message(cmd, chat, service, hub)
        case p.Leave() if chat.contact_id is not None:
            await service.customer_leave(chat.contact_id)
            chat.contact_id = None
        case p.CustomerTyping() if chat.contact_id is not None:
            await chat.live.typing(chat.contact_id, "customer", cmd.active)
        case p.CustomerRead():
            if chat.contact_id is None:
                raise ContactNotFound("no conversation yet")
            await chat.live.read(chat.contact_id, "customer", cmd.message_id)
        case p.Csat():
            live = await service.routing.contact(cmd.contact_id)
            await chat.live.store.give_csat(
                cmd.contact_id,
                chat.customer_id,
                cmd.rating,
                cmd.comment,
                service.clock(),
                live.state if live else None,
            )
            log.info("csat_given", contact_id=cmd.contact_id, rating=cmd.rating)
        case p.TranscriptRequest():
            await _transcript(cmd, chat, service, widget)
    if cmd.ref is not None:
        conn.send({"type": "ack", "ref": cmd.ref})


async def _admit(text: str, chat: _Chat, service: ConversationService, widget: Widget) -> None:
    """Refuse, before anything is stored, a message too long or one too many."""
    s = widget.settings
    if len(text) > s.max_message_chars:
        raise MessageTooLong(
            f"a message may have at most {s.max_message_chars} characters",
            max_chars=s.max_message_chars,
        )
    await widget.limiter.hit(
        [
            Limit("messages-visitor", chat.visitor_id, s.messages_per_visitor_per_min, MINUTE_MS),
            Limit("messages-ip", chat.ip, s.messages_per_ip_per_min, MINUTE_MS),
        ],
        service.clock(),
    )


async def _customer_message(
    cmd: p.CustomerMessage, chat: _Chat, service: ConversationService, hub: ConsoleHub
) -> None:
    conn = chat.conn
    if chat.contact_id is not None:
        await service.customer_message(chat.contact_id, cmd.text, cmd.client_msg_id)
        return
    assert chat.customer_id is not None
    attributes = None
    if chat.topic is not None or chat.origin is not None:
        intents = frozenset((chat.topic,)) if chat.topic else frozenset()
        attributes = ContactAttributes(channel="chat", entry=chat.origin, intents=intents)
    contact_id = await service.start_contact(
        chat.customer_id,
        chat.name,
        "chat",
        cmd.text,
        cmd.client_msg_id,
        attributes,
        identity_proof=chat.identity_proof,
    )
    await chat.follow(hub, service, contact_id)
    live = await service.routing.contact(contact_id)
    conn.send({"type": "queued", "contact_id": contact_id, "queue": live.queue if live else None})
    # The first message was stored before this connection followed the contact.
    for m in await service.crm.transcript(contact_id):
        conn.send({"type": "message", "contact_id": contact_id, "message": m.wire()})
    status = await service.wait_status(contact_id)
    if status is not None:
        conn.send({"type": "position", **status})


async def _transcript(
    cmd: p.TranscriptRequest, chat: _Chat, service: ConversationService, widget: Widget | None
) -> None:
    """Email the transcript of one of the customer's contacts, at once."""
    if widget is None or not widget.email.enabled:
        raise te.TranscriptUnavailable("transcripts by email are not available here")
    contact_id = cmd.contact_id or chat.last_contact_id
    if contact_id is None:
        raise ContactNotFound("no conversation yet")
    raw = cmd.email or chat.email
    if raw is None:
        raise te.TranscriptNoAddress("give the address to send the transcript to")
    address = normalise_email(raw)
    zone = te.time_zone(cmd.time_zone)
    assert chat.customer_id is not None
    contact, lines = await chat.live.store.transcript(contact_id, chat.customer_id)
    per_contact = widget.settings.transcripts_per_contact
    await widget.limiter.hit(
        [Limit("transcripts", contact.contact_id, per_contact, DAY_MS)], service.clock()
    )
    email = widget.email
    message = te.render_transcript(
        te.TranscriptEmail(
            to=address,
            customer_name=chat.name or contact.customer_name,
            from_address=email.from_address,
            from_name=email.from_name,
            rfc_message_id=f"<transcript.{uuid.uuid4().hex}@{email.id_domain}>",
            sent_at_ms=service.clock(),
            lines=[te.Line(x.sender, x.name, x.body, x.at_ms) for x in lines],
            zone=zone,
        )
    )
    await te.send_transcript(message, email.from_address, email.relay)
    log.info("transcript_sent", contact_id=contact.contact_id, messages=len(lines))


async def _hello(
    cmd: p.Hello, chat: _Chat, service: ConversationService, hub: ConsoleHub, widget: Widget | None
) -> None:
    # A topic becomes the contact's intent for routing rules: only the configured ones.
    topics = widget.settings.topic_ids() if widget is not None else frozenset()
    if cmd.topic is not None and cmd.topic not in topics:
        raise UnknownTopic(f"unknown topic {cmd.topic!r}", topics=sorted(topics))
    verified_user_id = _verified_user(cmd, widget)
    visitor_id = cmd.visitor_id or secrets.token_urlsafe(18)
    chat.name, chat.visitor_id, chat.topic = cmd.name, visitor_id, cmd.topic
    chat.identity_proof = "site" if verified_user_id is not None else None
    chat.customer_id = await service.identify_visitor(
        visitor_id, cmd.name, cmd.email, verified_user_id=verified_user_id
    )
    chat.email = cmd.email or chat.email  # refused above when malformed
    found = await service.open_contact(chat.customer_id, "chat")
    welcome: dict[str, Any] = {
        "type": "welcome",
        "visitor_id": visitor_id,
        "contact_id": None,
        "messages": [],
        "status": "new",
        "verified": verified_user_id is not None,
    }
    chat.contact_id = None
    if found is not None:
        contact_id, live_state = found
        await chat.follow(hub, service, contact_id)
        welcome["contact_id"] = contact_id
        welcome["messages"] = [m.wire() for m in await service.crm.transcript(contact_id)]
        welcome["status"] = "connected" if live_state == "assigned" else "waiting"
        marks = await chat.live.store.read_marks(contact_id)
        welcome["agent_read_message_id"] = marks["agent"]
        if live_state == "assigned":
            welcome["agent_name"] = await _agent_name(service, contact_id)
    else:
        last = await service.crm.latest_contact(chat.customer_id, "chat")
        live = await service.routing.contact(last.contact_id) if last is not None else None
        # Redis is ahead of the record, which the history writer updates a moment later.
        if last is not None and (live.state if live else last.state) in ENDED_STATES:
            # Their last conversation is over: they may still rate it or ask for its transcript.
            welcome["status"], welcome["contact_id"] = "ended", last.contact_id
            chat.last_contact_id = last.contact_id
    chat.conn.send(welcome)
    if cmd.ref is not None:
        chat.conn.send({"type": "ack", "ref": cmd.ref})


def _verified_user(cmd: p.Hello, widget: Widget | None) -> str | None:
    """The site's user id when its signature proves it; None when none was given."""
    if cmd.user_id is None or cmd.user_hash is None:
        return None
    secret = widget.settings.identity_secret if widget is not None else ""
    if not secret:
        raise IdentityNotVerified("this hub verifies no signed identities", field="user_hash")
    if not site_signature_valid(secret, cmd.user_id, cmd.user_hash):
        log.info("chat_identity_refused")
        raise IdentityNotVerified("the signature does not match user_id", field="user_hash")
    return cmd.user_id


async def _agent_name(service: ConversationService, contact_id: str) -> str | None:
    live = await service.routing.contact(contact_id)
    agent = await service.agents.get(live.agent_id) if live and live.agent_id else None
    return agent.display_name if agent else None
