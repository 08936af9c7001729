"""Bad input gets a clear error with a stable id and changes nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest
import websockets
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed

from channels.twilio.common import TwilioSettings
from contactcenter.conversations.appkeys import ROUTING
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, free_port, start_hub
from tests.e2e.api_support import Seeded, call, seed, state
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN, unique_phone
from tests.support.fake_twilio import FakeTwilio


async def test_malformed_and_unknown_frames_get_errors_and_the_connection_survives(
    hub: LiveHub,
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.ws.send("{not json")
    assert (await agent.expect("error"))["error_id"] == "frame.malformed"
    await agent.send(type="fly", ref="x1")
    err = await agent.expect("error")
    assert err["error_id"] == "frame.unknown_type" and err["ref"] == "x1"
    await agent.send(type="set_state", state="dancing", ref="x2")
    err = await agent.expect("error")
    assert err["error_id"] == "frame.malformed" and err["details"]["errors"][0]["field"] == "state"
    err = await agent.command("accept", contact_id="no-such-contact")
    assert err["error_id"] == "offer.gone"
    # Nothing changed: the agent is still offline, and the connection still answers.
    fields = await hub.app[ROUTING].agent_fields(agent.agent_id)
    assert fields.get("state", "offline") == "offline"
    await agent.send(type="ping")
    await agent.expect("pong")
    await agent.close()


async def test_deeply_nested_and_typeless_frames_get_errors_and_the_connection_survives(
    hub: LiveHub,
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    customer = await ChatClient.connect(hub.base_url, "Deep Nester")
    for client in (agent, customer):
        await client.ws.send("[" * 20_000)
        assert (await client.expect("error"))["error_id"] == "frame.malformed"
        await client.send(ref="no-type-1", text="hello")
        err = await client.expect("error")
        assert (err["error_id"], err["ref"]) == ("frame.malformed", "no-type-1")
        await client.send(type="ping", ref="p1")
        await client.expect("pong")
    await customer.close()
    await agent.close()


async def test_oversized_frame_closes_with_1009(hub: LiveHub) -> None:
    customer = await ChatClient.connect(hub.base_url, "Big Sender")
    await customer.ws.send(json.dumps({"type": "message", "text": "x" * 70_000}))
    with pytest.raises(ConnectionClosed):
        await customer.next(timeout_s=5)
    assert customer.ws.close_code == 1009


async def test_customer_frames_before_hello_are_refused(hub: LiveHub) -> None:
    async with websockets.connect(hub.ws_url + "/ws/chat") as ws:
        await ws.send(json.dumps({"type": "message", "text": "hi"}))
        frame = json.loads(await ws.recv())
        assert frame["seq"] == 1 and frame["error_id"] == "chat.hello_required"


async def test_agent_socket_without_a_session_is_refused_with_401(hub: LiveHub) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        await websockets.connect(
            hub.ws_url + "/ws/agent", additional_headers={"Authorization": "Bearer forged"}
        )
    assert info.value.response.status_code == 401


async def test_wrapup_with_unknown_disposition_is_refused(hub: LiveHub) -> None:
    agent = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, "Wren")
    await customer.say("hello")
    contact_id = (await agent.expect("offer"))["contact"]["contact_id"]
    await agent.command("accept", contact_id=contact_id)
    await agent.command("end", contact_id=contact_id)
    err = await agent.command("wrapup", contact_id=contact_id, disposition="teleported")
    assert err["error_id"] == "wrapup.unknown_disposition"
    err = await agent.command("wrapup", contact_id=contact_id, disposition=None)
    assert err["error_id"] == "wrapup.disposition_required"
    live = await hub.app[ROUTING].contact(contact_id)
    assert live is not None and live.state == "wrapup"
    assert (await agent.command("wrapup", contact_id=contact_id, disposition="resolved"))[
        "type"
    ] == "ack"
    for c in (agent, customer):
        await c.close()


async def test_login_errors_have_stable_ids(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(hub.base_url + "/api/login", data="{") as r:
            assert r.status == 400 and (await r.json())["error_id"] == "request.invalid"
        async with http.post(
            hub.base_url + "/api/login", json={"username": "alice", "password": "wrong"}
        ) as r:
            assert r.status == 401 and (await r.json())["error_id"] == "auth.bad_credentials"
        async with http.get(hub.base_url + "/api/me") as r:
            assert r.status == 401 and (await r.json())["error_id"] == "auth.required"
        async with http.get(hub.base_url + "/api/nothing-here") as r:
            assert r.status == 404 and (await r.json())["error_id"] == "http.404"


async def test_healthz_is_ok_when_both_stores_answer(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http, http.get(hub.base_url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


async def test_healthz_names_redis_when_it_is_down(settings) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    dead = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", port=free_port())
    live, runner = await start_hub(dead)
    try:
        async with aiohttp.ClientSession() as http, http.get(live.base_url + "/healthz") as r:
            assert r.status == 503
            assert await r.json() == {"status": "down", "down": ["redis"]}
    finally:
        await runner.cleanup()


# --- characters no store can hold, anywhere in a request --------------------------------------

NUL = "\x00"


def _nul_requests(s: Seeded) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(who, method, path, request keywords, the field the error must name), each carrying a
    NUL (or a lone surrogate, which no UTF-8 store can hold either)."""
    case_in = {"customer_id": s.customer.rsplit("/", 1)[1], "kind": "request"}
    order_in = {"amount": "1.00", "currency": "EUR", "ordered_at_ms": 1_700_000_000_000}
    return [
        ("none", "POST", "/api/login", {"json": {"username": "al" + NUL, "password": "x"}},
         "username"),
        ("none", "POST", "/api/login", {"json": {"username": "alice", "password": NUL}},
         "password"),
        ("agent", "POST", s.customer + "/tags", {"json": {"tags": ["ok", "v" + NUL]}}, "tags.1"),
        ("agent", "POST", s.customer + "/notes", {"json": {"body": "hi" + NUL}}, "body"),
        ("agent", "POST", s.customer + "/notes",
         {"data": '{"body": "hi \\ud800"}', "headers": {"Content-Type": "application/json"}},
         "body"),
        ("agent", "POST", s.customer + "/identities",
         {"json": {"kind": "email", "value": "x" + NUL + "@example.org"}}, "value"),
        ("agent", "POST", "/api/customers", {"json": {"display_name": "N" + NUL}},
         "display_name"),
        ("agent", "POST", "/api/customers",
         {"json": {"identities": [{"kind": "phone", "value": "+33" + NUL}]}},
         "identities.0.value"),
        ("agent", "PATCH", s.customer, {"json": {"display_name": NUL}}, "display_name"),
        ("agent", "PATCH", s.customer, {"json": {"display" + NUL: "x"}}, "display" + NUL),
        ("agent", "POST", "/api/cases", {"json": {**case_in, "subject": "S" + NUL}}, "subject"),
        ("agent", "PATCH", s.case, {"json": {"subject": "S" + NUL}}, "subject"),
        ("supervisor", "POST", s.customer + "/orders",
         {"json": {**order_in, "external_id": "o" + NUL}}, "external_id"),
        ("agent", "GET", "/api/customers", {"params": {"name": "N" + NUL}}, "name"),
        ("agent", "GET", "/api/customers", {"params": {"email": NUL}}, "email"),
        ("agent", "GET", s.customer + "/notes", {"params": {"cursor": NUL}}, "cursor"),
        ("agent", "GET", "/api/customers/%00", {}, "customer_id"),
        ("agent", "GET", s.customer + "/notes?x%00=1", {}, "x" + NUL),
        ("agent", "DELETE", s.customer + "/tags/vip%00", {}, "tag"),
        ("supervisor", "DELETE", s.customer + "/identities/email/a%00b", {}, "value"),
        ("agent", "GET", "/api/cases/%00", {}, "case_id"),
        ("agent", "GET", "/api/orders/%00", {}, "order_id"),
        ("agent", "GET", "/api/contacts/%00/transcript", {}, "contact_id"),
        ("supervisor", "GET", "/api/merges/%00", {}, "merge_id"),
    ]  # fmt: skip


async def test_nul_anywhere_in_a_request_is_refused_naming_the_field_and_changes_nothing(
    hub: LiveHub,
) -> None:
    async with aiohttp.ClientSession() as http:
        seeded = await seed(http, hub)
        before = await state(http, hub, seeded)
        tokens = {"none": None, "agent": seeded.agent, "supervisor": seeded.supervisor}
        wrong = []
        for who, method, path, kw, field in _nul_requests(seeded):
            status, body = await call(http, hub, tokens[who], method, path, **kw)
            fields = [e.get("field") for e in body.get("details", {}).get("errors", [])] if (
                isinstance(body, dict)) else []  # fmt: skip
            if (status, body.get("error_id") if isinstance(body, dict) else None) != (
                400, "request.invalid") or field not in fields:  # fmt: skip
                wrong.append((method, path, kw, status, body))
        assert not wrong, "\n".join(map(repr, wrong))
        assert await state(http, hub, seeded) == before


async def test_a_body_nested_too_deeply_missing_or_too_large_is_refused(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http:
        seeded = await seed(http, hub)
        before = await state(http, hub, seeded)
        deep = {"data": "[" * 20_000, "headers": {"Content-Type": "application/json"}}
        for who, method, path, kw in (
            (None, "POST", "/api/login", deep),
            (seeded.agent, "POST", seeded.customer + "/notes", deep),
            (seeded.agent, "PATCH", seeded.customer, {}),  # no body at all
            (seeded.agent, "PATCH", seeded.case, {}),
            (seeded.supervisor, "PATCH", seeded.order, {}),
        ):
            status, body = await call(http, hub, who, method, path, **kw)
            assert (status, body["error_id"]) == (400, "request.invalid"), (method, path, body)
        big = {"body": "x" * (hub.settings.max_frame_bytes + 1)}
        status, body = await call(http, hub, seeded.agent, "POST", seeded.customer + "/notes",
                                  json=big)  # fmt: skip
        assert (status, body["error_id"]) == (413, "http.413"), body
        assert await state(http, hub, seeded) == before


FORM = "application/x-www-form-urlencoded"


async def test_signed_sms_with_nul_in_its_body_is_taken_without_it_and_nul_elsewhere_is_refused(
    settings: HubSettings, redis: Any, fake: FakeTwilio
) -> None:
    """What a customer wrote is never refused for a NUL (Twilio would not send it again after
    a 4xx); a NUL where Twilio puts numbers and ids is a forged or broken delivery."""
    ours = "+14155550199"
    twilio = TwilioSettings(ACCOUNT_SID, AUTH_TOKEN, api_base=fake.base_url,
                            numbers={"sms": (ours,)})  # fmt: skip
    queue = replace(settings.queues[0], channels=("chat", "sms"))
    public_url = f"http://127.0.0.1:{settings.port}"
    _, runner = await start_hub(
        replace(settings, public_url=public_url, queues=(queue,), twilio=twilio)
    )
    db = await asyncpg.connect(settings.database_url)
    try:
        customer = unique_phone()
        for params, answer in (
            (fake.incoming(customer, ours, "Where is\x00 my parcel?\x00"), 200),
            ({**fake.incoming(customer, ours, "hello"), "To": ours + "\x00"}, 400),
            ({**fake.incoming(customer, ours, "hello"), "MediaUrl0\x00": "x"}, 400),
        ):
            url = public_url + "/twilio/messaging"
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
            headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, data=urlencode(params), headers=headers) as r,
            ):
                assert r.status == answer, await r.text()
                if answer == 400:
                    assert (await r.json())["error_id"] == "channel.invalid_delivery"
        sids = await db.fetch("SELECT sid FROM webhook_receipts WHERE sender_key = $1",
                              f"phone:{customer}")  # fmt: skip
        assert len(sids) == 1, "only the message with a NUL in its body was recorded"

        async def stored() -> str | None:
            body: str | None = await db.fetchval(
                "SELECT body FROM messages WHERE external_id = $1", sids[0]["sid"]
            )
            return body

        assert await _until(stored) == "Where is my parcel?"
    finally:
        await db.close()
        await runner.cleanup()


async def _until(probe: Any, timeout_s: float = 10.0) -> Any:
    """The first truthy result of `probe()`, polled; fails after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (result := await probe()):
        assert loop.time() < deadline, f"nothing within {timeout_s}s"
        await asyncio.sleep(0.05)
    return result


async def test_a_session_token_that_is_not_utf8_is_no_session(hub: LiveHub) -> None:
    port = int(hub.base_url.rsplit(":", 1)[1])
    for header in (b"Authorization: Bearer \xffabc", b"Cookie: cc_session=\xed\xa0\x80abc"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /api/me HTTP/1.1\r\nHost: hub\r\n%s\r\nConnection: close\r\n\r\n" % header
        )
        await writer.drain()
        head, _, body = (await asyncio.wait_for(reader.read(), 10)).partition(b"\r\n\r\n")
        writer.close()
        assert head.startswith(b"HTTP/1.1 401"), head
        assert json.loads(body)["error_id"] == "auth.required"
