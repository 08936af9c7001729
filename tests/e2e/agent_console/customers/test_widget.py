"""End to end: the web chat widget's protocol through a running hub (docs/widget.md), with
real websocket clients: typing and read marks both ways, the rating, limits, origins, and
the transcript by email to a loopback SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from websockets.exceptions import ConnectionClosed

from agent_console.customers.settings import WidgetSettings
from agent_console.customers.widget import setup_widget
from channels.email.settings import EmailSettings, RelaySettings
from contactcenter.app import init
from contactcenter.settings.hub import HubSettings
from contactcenter.settings.routing import QueueSettings
from routing.rules import RoutingRule, RuleTarget
from tests.conftest import TEST_PASSWORD, LiveHub, free_port
from tests.e2e.clients import AgentClient, ChatClient

SHOP = "http://shop.test:8000"  # the site allowed to embed the widget
OURS = "support@hub.test"
TOPICS = (("billing", "Billing"), ("other", "Something else"))


@dataclass
class Sink:
    """A loopback SMTP server standing in for the relay: keeps what it is given."""

    received: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = BytesParser(policy=default_policy).parsebytes(envelope.original_content or b"")
        assert isinstance(msg, EmailMessage)
        self.received.append(msg)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    found = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(found, loop=loop), "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


def widget_settings(**changes: Any) -> WidgetSettings:
    base = WidgetSettings(
        allowed_origins=(SHOP,),
        topics=TOPICS,
        max_message_chars=500,
        messages_per_visitor_per_min=1000,
        messages_per_ip_per_min=1000,
        connections_per_ip_per_min=1000,
        live_frames_per_s=50,
    )
    return replace(base, **changes)


def email_settings(sink: Sink) -> EmailSettings:
    return EmailSettings(
        enabled=True,
        from_address=OURS,
        from_name="Hub Support",
        relay=RelaySettings(port=sink.port, timeout_s=5),
    )


StartHub = Callable[..., Awaitable[LiveHub]]


@pytest.fixture
async def start(settings: HubSettings, redis: Any, sink: Sink) -> AsyncIterator[StartHub]:
    """Starts the hub (once per test) with the widget set up: `start(**widget changes)`, or
    `start(email=EmailSettings())` for a hub that sends no email."""
    runners: list[web.AppRunner] = []
    billing = QueueSettings(
        name="billing", skill="support", channels=("chat",), dispositions=("resolved",)
    )
    hub_settings = replace(
        settings,
        queues=(*settings.queues, billing),
        rules=(RoutingRule("billing chats", {"intent": ("billing",)}, RuleTarget("billing")),),
    )

    async def go(email: EmailSettings | None = None, **changes: Any) -> LiveHub:
        # A second hub of the test shares the first one's Redis, database and domain.
        mine = replace(hub_settings, port=free_port()) if runners else hub_settings
        app = init(mine)
        setup_widget(app, widget_settings(**changes), email or email_settings(sink))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", mine.port).start()
        runners.append(runner)
        base = f"http://127.0.0.1:{mine.port}"
        return LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, mine)

    yield go
    for runner in runners:
        await runner.cleanup()


async def visitor(
    hub: LiveHub, name: str = "Dana", origin: str | None = SHOP, **hello: Any
) -> ChatClient:
    """A customer on a page of `origin`, after hello."""
    ws = await websockets.connect(hub.ws_url + "/ws/chat", origin=origin)  # type: ignore[arg-type]
    client = ChatClient(ws)
    await client.send(type="hello", name=name, **hello)
    client.welcome = await client.expect("welcome")
    return client


async def ask(client: ChatClient, kind: str, **fields: Any) -> dict[str, Any]:
    """Send a frame with a ref; its ack or error."""
    ref = uuid.uuid4().hex[:8]
    await client.send(type=kind, ref=ref, **fields)
    while True:
        frame = await client.next()
        if frame.get("ref") == ref and frame["type"] in ("ack", "error"):
            return frame
        client.backlog.append(frame)


async def in_conversation(
    hub: LiveHub, name: str = "Dana", **hello: Any
) -> tuple[AgentClient, ChatClient, str]:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await visitor(hub, name, **hello)
    await customer.say("Hello, my parcel is late")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer")
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined")
    return agent, customer, contact_id


async def message_from(client: Any, sender: str, contact_id: str) -> dict[str, Any]:
    while True:
        frame = await client.expect("message", contact_id=contact_id)
        if frame["message"]["sender"] == sender:
            return dict(frame["message"])


async def db(hub: LiveHub) -> asyncpg.Connection:
    return await asyncpg.connect(hub.settings.database_url)


async def bodies(hub: LiveHub, contact_id: str) -> list[str]:
    conn = await db(hub)
    try:
        rows = await conn.fetch(
            "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at",
            uuid.UUID(contact_id),
        )
        return [r["body"] for r in rows]
    finally:
        await conn.close()


async def contact_row(hub: LiveHub, contact_id: str) -> asyncpg.Record:
    conn = await db(hub)
    try:
        row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact_id))
        assert row is not None
        return row
    finally:
        await conn.close()


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """The first truthy value of `check`, polled until `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)


# --- typing and read marks --------------------------------------------------------------------


async def test_typing_crosses_both_ways_and_is_not_stored(start: StartHub) -> None:
    hub = await start()
    agent, customer, contact_id = await in_conversation(hub)

    await customer.send(type="typing", active=True)
    seen = await agent.expect("typing", contact_id=contact_id)
    assert (seen["sender"], seen["active"]) == ("customer", True)
    assert (await agent.command("typing", contact_id=contact_id, active=True))["type"] == "ack"
    seen = await customer.expect("typing", contact_id=contact_id)
    assert (seen["sender"], seen["active"]) == ("agent", True)
    await agent.command("typing", contact_id=contact_id, active=False)
    assert (await customer.expect("typing", contact_id=contact_id))["active"] is False

    # Nobody hears their own typing; an agent may type only in their own conversations.
    assert not [f for f in customer.backlog if f["type"] == "typing"]
    assert not [f for f in agent.backlog if f["type"] == "typing"]
    err = await agent.command("typing", contact_id=str(uuid.uuid4()), active=True)
    assert err["error_id"] == "contact.not_assigned"
    conn = await db(hub)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM events WHERE payload->>'contact_id' = $1 AND type ILIKE '%typ%'",
            contact_id,
        )
        assert stored == 0
    finally:
        await conn.close()


async def test_typing_and_read_marks_cross_hub_processes(start: StartHub) -> None:
    """The customer on one hub process, the agent on another: signals go through Redis."""
    one, other = await start(), await start()
    agent = await AgentClient.connect(other.base_url, "alice", other.demo_password)
    await agent.go_available()
    customer = await visitor(one)
    await customer.say("Hello from the first hub")
    contact_id = (await customer.expect("queued"))["contact_id"]
    first = await message_from(customer, "customer", contact_id)
    await agent.expect("offer", timeout_s=20)
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined", timeout_s=20)

    await customer.send(type="typing", active=True)
    assert (await agent.expect("typing", contact_id=contact_id))["sender"] == "customer"
    await agent.command("typing", contact_id=contact_id, active=True)
    assert (await customer.expect("typing", contact_id=contact_id))["sender"] == "agent"
    await agent.command("read", contact_id=contact_id, message_id=first["message_id"])
    mark = await customer.expect("read", contact_id=contact_id)
    assert mark["message_id"] == first["message_id"]


async def test_too_many_typing_frames_are_refused(start: StartHub) -> None:
    hub = await start(live_frames_per_s=1)
    _agent, customer, _contact_id = await in_conversation(hub)
    answers = [(await ask(customer, "typing", active=True))["type"] for _ in range(4)]
    assert answers[:2] == ["ack", "ack"] and "error" in answers
    refused = await ask(customer, "typing", active=False)
    assert refused["error_id"] == "chat.rate_limited"
    assert refused["details"]["limit"] == "live_frames" and refused["details"]["retry_after_s"] >= 1


async def test_read_marks_reach_the_other_side_and_come_back_on_reload(start: StartHub) -> None:
    hub = await start()
    agent, customer, contact_id = await in_conversation(hub)
    first = await message_from(customer, "customer", contact_id)  # its echo
    await agent.command("send", contact_id=contact_id, text="Let me check")
    reply = await message_from(customer, "agent", contact_id)

    assert (await ask(customer, "read", message_id=reply["message_id"]))["type"] == "ack"
    mark = await agent.expect("read", contact_id=contact_id)
    assert (mark["reader"], mark["message_id"]) == ("customer", reply["message_id"])

    ack = await agent.command("read", contact_id=contact_id, message_id=first["message_id"])
    assert ack["type"] == "ack"
    mark = await customer.expect("read", contact_id=contact_id)
    assert (mark["reader"], mark["message_id"]) == ("agent", first["message_id"])

    # Marks only move on: reading an older message again tells nobody anything.
    assert (await ask(customer, "read", message_id=first["message_id"]))["type"] == "ack"
    row = await contact_row(hub, contact_id)
    assert str(row["customer_read_message_id"]) == reply["message_id"]
    assert str(row["agent_read_message_id"]) == first["message_id"]

    # A message of another conversation, or none at all, is refused.
    err = await ask(customer, "read", message_id=str(uuid.uuid4()))
    assert err["error_id"] == "read.unknown_message"
    err = await ask(customer, "read", message_id="not-a-uuid")
    assert err["error_id"] == "read.unknown_message"

    # A reload: the visitor comes back to the conversation and sees how far the agent read.
    again = await visitor(hub, visitor_id=customer.welcome["visitor_id"])
    assert again.welcome["status"] == "connected"
    assert again.welcome["agent_read_message_id"] == first["message_id"]
    assert again.welcome["agent_name"] == "Alice Martin"
    assert not [f for f in agent.backlog if f["type"] == "read"]


# --- the rating ---------------------------------------------------------------------------------


async def test_a_rating_is_stored_once_after_the_end(start: StartHub) -> None:
    hub = await start()
    agent, customer, contact_id = await in_conversation(hub)

    early = await ask(customer, "csat", contact_id=contact_id, rating=5)
    assert early["error_id"] == "csat.too_early"
    await agent.command("end", contact_id=contact_id)
    await customer.expect("ended", contact_id=contact_id)

    bad = await ask(customer, "csat", contact_id=contact_id, rating=6)
    assert bad["error_id"] == "frame.malformed"
    assert bad["details"]["errors"][0]["field"] == "rating"
    stranger = await visitor(hub, "Eve")
    err = await ask(stranger, "csat", contact_id=contact_id, rating=1)
    assert err["error_id"] == "contact.not_found"
    await stranger.close()  # without a contact, the hub's shutdown would wait for it

    ok = await ask(customer, "csat", contact_id=contact_id, rating=4, comment="Quick and kind")
    assert ok["type"] == "ack"
    twice = await ask(customer, "csat", contact_id=contact_id, rating=1, comment="changed my mind")
    assert twice["error_id"] == "csat.already_given"

    row = await contact_row(hub, contact_id)
    assert (row["csat_rating"], row["csat_comment"]) == (4, "Quick and kind")
    assert row["csat_at"] is not None

    # After a reload the visitor may still rate their past conversations, never others'.
    back = await visitor(hub, visitor_id=customer.welcome["visitor_id"])
    again = await ask(back, "csat", contact_id=contact_id, rating=2)
    assert again["error_id"] == "csat.already_given"
    await back.close()


# --- limits -------------------------------------------------------------------------------------


async def test_messages_past_the_visitors_limit_are_refused_and_not_stored(
    start: StartHub,
) -> None:
    hub = await start(messages_per_visitor_per_min=3)
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    customer = await visitor(hub)
    # Fixed one-minute windows: 7 messages over at most two windows are one too many.
    answers = []
    for i in range(7):
        answers.append(await ask(customer, "message", text=f"message {i}", client_msg_id=f"m{i}"))
    refused = [a for a in answers if a["type"] == "error"]
    assert refused, "a limit of 3 per minute let 7 messages through"
    for err in refused:
        assert err["error_id"] == "chat.rate_limited"
        assert err["details"]["limit"] == "messages-visitor"
        assert 1 <= err["details"]["retry_after_s"] <= 60
    contact_id = (await customer.expect("queued"))["contact_id"]
    stored = await bodies(hub, contact_id)
    accepted = [f"message {i}" for i, a in enumerate(answers) if a["type"] == "ack"]
    assert stored == accepted


async def test_a_message_too_long_is_refused_and_not_stored(start: StartHub) -> None:
    hub = await start(max_message_chars=20)
    customer = await visitor(hub)
    err = await ask(customer, "message", text="x" * 21)
    assert err["error_id"] == "chat.message_too_long" and err["details"]["max_chars"] == 20
    assert (await ask(customer, "message", text="x" * 20))["type"] == "ack"
    contact_id = (await customer.expect("queued"))["contact_id"]
    assert await bodies(hub, contact_id) == ["x" * 20]
    err = await ask(customer, "message", text="bad \u0000 byte")
    assert err["error_id"] == "frame.malformed"
    assert await bodies(hub, contact_id) == ["x" * 20]


async def test_connections_past_the_address_limit_are_refused_with_1013(start: StartHub) -> None:
    hub = await start(connections_per_ip_per_min=2)
    refused: list[dict[str, Any]] = []
    codes = []
    for _ in range(5):  # over at most two one-minute windows, one too many
        async with websockets.connect(hub.ws_url + "/ws/chat", origin=SHOP) as ws:  # type: ignore[arg-type]
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "ping"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5.0))  # pong, if admitted
            if frame["type"] == "error":
                refused.append(frame)
                await asyncio.wait_for(ws.wait_closed(), 5.0)
                codes.append(ws.close_code)
    assert refused, "a limit of 2 per minute let 5 connections in"
    assert all(f["error_id"] == "chat.rate_limited" for f in refused)
    assert all(f["details"]["limit"] == "connections" for f in refused)
    assert set(codes) == {1013}


async def test_pages_of_sites_not_allowed_are_refused_before_the_upgrade(
    start: StartHub,
) -> None:
    hub = await start()
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await websockets.connect(hub.ws_url + "/ws/chat", origin="https://evil.test")  # type: ignore[arg-type]
    assert info.value.response.status_code == 403
    assert json.loads(info.value.response.body or b"{}")["error_id"] == "chat.origin_forbidden"
    # The allowed site, the hub's own page and a client that is no browser get in.
    for origin in (SHOP, hub.base_url, None):
        client = await visitor(hub, origin=origin)
        assert client.welcome["status"] == "new"
        await client.close()


async def test_the_widget_files_are_served_to_any_site(start: StartHub) -> None:
    hub = await start()
    async with aiohttp.ClientSession() as http:
        for path in ("/static/widget.js", "/static/widget.css"):
            async with http.get(hub.base_url + path, headers={"Origin": SHOP}) as r:
                assert r.status == 200
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        async with http.get(hub.base_url + "/widget/config.json") as r:
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
            config = await r.json()
        assert config["topics"] == [{"id": i, "label": label} for i, label in TOPICS]
        assert config["max_message_chars"] == 500
        async with http.get(hub.base_url + "/static/chat/main.js") as r:
            assert "Access-Control-Allow-Origin" not in r.headers


async def test_the_widget_modules_are_served_to_any_site(start: StartHub) -> None:
    """widget.js imports ES modules from /static/widget/; a page of another site fetches them
    in CORS mode, so each one the import graph reaches must allow any origin."""
    hub = await start()
    found: list[str] = []
    todo = ["main.js"]
    async with aiohttp.ClientSession() as http:
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.append(name)
            path = "/static/widget/" + name
            async with http.get(hub.base_url + path, headers={"Origin": SHOP}) as r:
                assert r.status == 200, path
                assert r.headers["Access-Control-Allow-Origin"] == "*", path
                assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin", path
                assert "javascript" in r.content_type, path  # a module must be served as one
                todo += re.findall(r'from "\./([\w-]+\.js)"', await r.text())
    assert len(found) > 1, "main.js imports the widget's other modules"


async def test_the_topic_routes_the_contact_and_must_be_known(start: StartHub) -> None:
    hub = await start()
    ws = await websockets.connect(hub.ws_url + "/ws/chat", origin=SHOP)  # type: ignore[arg-type]
    client = ChatClient(ws)
    await client.send(type="hello", name="Dana", topic="astrology")
    assert (await client.expect("error"))["error_id"] == "chat.unknown_topic"
    await client.close()
    customer = await visitor(hub, topic="billing")
    await customer.say("Why was I charged twice?")
    assert (await customer.expect("queued"))["queue"] == "billing"


# --- transcript ---------------------------------------------------------------------------------


async def test_the_transcript_is_emailed_to_the_address_of_the_pre_chat_form(
    start: StartHub, sink: Sink
) -> None:
    hub = await start()
    address = f"dana.{uuid.uuid4().hex[:8]}@widget.test"  # the CRM's identities are shared
    agent, customer, contact_id = await in_conversation(hub, email=address)
    await agent.command("send", contact_id=contact_id, text="It ships today.\nTracking soon.")
    await message_from(customer, "agent", contact_id)
    await agent.command("end", contact_id=contact_id)
    await customer.expect("ended", contact_id=contact_id)

    ok = await ask(customer, "transcript_request", time_zone="Europe/Paris")
    assert ok["type"] == "ack", ok
    assert len(sink.received) == 1
    mail = sink.received[0]
    assert sink.recipients == [[address]]
    assert mail["To"] == address and mail["From"] == f"Hub Support <{OURS}>"
    body = mail.get_content().replace("\r\n", "\n")
    assert "] You: Hello, my parcel is late\n" in body
    assert "] Alice Martin: It ships today.\n    Tracking soon.\n" in body

    # Another address may be given; a bad one is refused; the day's allowance runs out.
    ok = await ask(customer, "transcript_request", contact_id=contact_id, email="d2@x.test")
    assert ok["type"] == "ack" and sink.recipients[-1] == ["d2@x.test"]
    bad = await ask(customer, "transcript_request", email="not-an-address")
    assert bad["error_id"] == "identity.invalid"
    bad = await ask(customer, "transcript_request", time_zone="Mars/Olympus")
    assert bad["error_id"] == "transcript.unknown_time_zone"
    assert (await ask(customer, "transcript_request"))["type"] == "ack"
    over = await ask(customer, "transcript_request")
    assert over["error_id"] == "chat.rate_limited"
    assert len(sink.received) == 3


async def test_a_transcript_needs_an_address_and_email_switched_on(
    start: StartHub, sink: Sink
) -> None:
    hub = await start(email=EmailSettings(enabled=False))
    address = f"dana.{uuid.uuid4().hex[:8]}@widget.test"
    _agent, customer, _contact_id = await in_conversation(hub, email=address)
    err = await ask(customer, "transcript_request")
    assert err["error_id"] == "transcript.unavailable"
    assert sink.received == []


async def test_a_transcript_without_any_address_is_refused(start: StartHub, sink: Sink) -> None:
    hub = await start()
    _agent, customer, contact_id = await in_conversation(hub)
    err = await ask(customer, "transcript_request", contact_id=contact_id)
    assert err["error_id"] == "transcript.no_address"
    stranger = await visitor(hub, "Eve", email=f"eve.{uuid.uuid4().hex[:8]}@widget.test")
    err = await ask(stranger, "transcript_request", contact_id=contact_id)
    assert err["error_id"] == "contact.not_found"
    await stranger.close()
    assert sink.received == []


async def test_the_socket_closes_1009_on_a_frame_over_the_hubs_limit(start: StartHub) -> None:
    hub = await start()
    customer = await visitor(hub)
    await customer.ws.send(json.dumps({"type": "message", "text": "x" * 70_000}))
    with pytest.raises(ConnectionClosed):
        await customer.next(timeout_s=5)
    assert customer.ws.close_code == 1009
