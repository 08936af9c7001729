"""End to end: SMS and WhatsApp through Twilio, on a real hub with real Redis and PostgreSQL.

Webhooks are posted as Twilio posts them, signed with the twilio library's RequestValidator;
the hub's outbound requests go to tests/support/fake_twilio.py on loopback, which answers as
Twilio's REST API does. Nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web
from twilio.request_validator import RequestValidator

from channels.twilio.common import TwilioSettings
from contactcenter.app import init
from contactcenter.core.appkeys import BUS
from contactcenter.core.events import MessageSent
from contactcenter.settings.hub import HubSettings
from routing.worker import wall_clock_ms
from tests.conftest import TEST_PASSWORD, LiveHub
from tests.e2e.clients import AgentClient
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN, unique_phone
from tests.support.fake_twilio import FakeTwilio

OUR_SMS = "+14155550199"
OUR_WHATSAPP = "+14155238886"


@pytest.fixture
def customer() -> str:
    return unique_phone()


@pytest.fixture
def twilio(fake: FakeTwilio) -> TwilioSettings:
    return TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base=fake.base_url,
        numbers={"sms": (OUR_SMS,), "whatsapp": (OUR_WHATSAPP,)},
        conversation_window_h=1.0,
        max_send_attempts=2,
    )


def messaging_settings(settings: HubSettings) -> HubSettings:
    queue = replace(settings.queues[0], channels=("chat", "sms", "whatsapp"))
    return replace(settings, public_url=f"http://127.0.0.1:{settings.port}", queues=(queue,))


async def start_twilio_hub(
    settings: HubSettings, twilio: TwilioSettings, clock: Callable[[], int] | None = None
) -> tuple[LiveHub, web.AppRunner]:
    """A hub with the Twilio messaging channel on these Twilio settings."""
    app = init(replace(settings, twilio=twilio), clock=clock)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    base = f"http://127.0.0.1:{settings.port}"
    return LiveHub(base, base.replace("http", "ws", 1), TEST_PASSWORD, app, settings), runner


@pytest.fixture
async def hub(settings: HubSettings, redis: Any, twilio: TwilioSettings) -> AsyncIterator[LiveHub]:
    live, runner = await start_twilio_hub(messaging_settings(settings), twilio)
    yield live
    await runner.cleanup()


async def post(
    hub: LiveHub,
    path: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST a webhook as Twilio does, signed with RequestValidator over the public URL."""
    url = hub.settings.public_url + path
    signature = RequestValidator(token).compute_signature(signed_url or url, params)
    sent = {"X-Twilio-Signature": signature} if headers is None else headers
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=sent) as resp:
        return resp.status, await resp.text()


async def until(probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    """The first truthy result of `probe`, polled; fails after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        assert loop.time() < deadline, f"nothing within {timeout_s}s"
        await asyncio.sleep(0.05)


async def receipt(db: asyncpg.Connection, sid: str) -> asyncpg.Record:
    """The receipt of message `sid`, once it was taken into a conversation."""

    async def handled() -> asyncpg.Record | None:
        row: asyncpg.Record | None = await db.fetchrow(
            "SELECT * FROM webhook_receipts WHERE sid = $1 AND handled_at IS NOT NULL", sid
        )
        return row

    found: asyncpg.Record = await until(handled)
    return found


@pytest.fixture
async def db(hub: LiveHub) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(hub.settings.database_url)
    yield conn
    await conn.close()


async def test_sms_reaches_an_agent_and_the_reply_goes_out_through_twilio(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    params = fake.incoming(customer, OUR_SMS, "Hello, my parcel is late")
    status, body = await post(hub, "/twilio/messaging", params)
    assert status == 200 and "<Response" in body

    offer = await agent.expect("offer")
    contact = offer["contact"]
    assert contact["channel"] == "sms"
    assert [m["body"] for m in contact["messages"]] == ["Hello, my parcel is late"]
    contact_id = contact["contact_id"]
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await agent.expect("assigned")
    assert (await agent.command("send", contact_id=contact_id, text="Let me check"))[
        "type"
    ] == "ack"

    sent = await asyncio.wait_for(fake.created.get(), 10)
    request = fake.requests[-1]
    assert request.auth_user == ACCOUNT_SID
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (request.form["To"], request.form["From"], request.form["Body"]) == (
        customer,
        OUR_SMS,
        "Let me check",
    )
    row = await until(
        lambda: db.fetchrow(
            "SELECT * FROM messages WHERE external_id = $1 AND delivery_status = 'queued'",
            sent["sid"],
        )
    )
    assert request.form["StatusCallback"].endswith(
        f"/twilio/messaging/status?message_id={row['id']}"
    )

    # Delivery status moves the message forward, never back, and the console hears of it.
    assert (await fake.send_status(sent["sid"], "delivered"))[0] == 204
    assert (await fake.send_status(sent["sid"], "sent"))[0] == 204
    status_now = await db.fetchval("SELECT delivery_status FROM messages WHERE id = $1", row["id"])
    assert status_now == "delivered"
    news = await agent.expect("message_status", message_id=str(row["id"]), status="delivered")
    assert news["contact_id"] == contact_id

    # The customer's next SMS continues the same conversation, live on the console.
    await post(hub, "/twilio/messaging", fake.incoming(customer, OUR_SMS, "Thanks!"))
    got = await agent.expect("message", contact_id=contact_id)
    while got["message"]["body"] != "Thanks!":
        got = await agent.expect("message", contact_id=contact_id)
    assert len(fake.messages) == 1
    await agent.close()


async def test_a_duplicate_delivery_stores_one_message(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    params = fake.incoming(customer, OUR_SMS, "only once please")
    answers = await asyncio.gather(*(post(hub, "/twilio/messaging", params) for _ in range(3)))
    assert [status for status, _ in answers] == [200, 200, 200]
    first = await receipt(db, params["MessageSid"])
    assert (await post(hub, "/twilio/messaging", params))[0] == 200  # a late retry
    following = fake.incoming(customer, OUR_SMS, "next")
    await post(hub, "/twilio/messaging", following)
    assert (await receipt(db, following["MessageSid"]))["contact_id"] == first["contact_id"]
    rows = await db.fetch(
        "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at", first["contact_id"]
    )
    assert [r["body"] for r in rows] == ["only once please", "next"]
    contacts = await db.fetchval(
        "SELECT count(*) FROM contacts c JOIN identities i ON i.customer_id = c.customer_id"
        " WHERE i.kind = 'phone' AND i.value = $1",
        customer,
    )
    assert contacts == 1


async def test_messages_arriving_together_from_a_new_number_open_one_contact_in_order(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    burst = [fake.incoming(customer, OUR_SMS, f"part {i}") for i in range(5)]
    for params in burst:  # one after another, as Twilio would post them
        assert (await post(hub, "/twilio/messaging", params))[0] == 200
    taken = [await receipt(db, params["MessageSid"]) for params in burst]
    assert len({r["contact_id"] for r in taken}) == 1
    rows = await db.fetch(
        "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at",
        taken[0]["contact_id"],
    )
    assert [r["body"] for r in rows] == [f"part {i}" for i in range(5)]


async def test_sms_continue_the_open_contact_within_the_window_and_start_a_new_one_after(
    settings: HubSettings, redis: Any, twilio: TwilioSettings, fake: FakeTwilio, customer: str
) -> None:
    offset_ms = 0
    live, runner = await start_twilio_hub(
        messaging_settings(settings), twilio, clock=lambda: wall_clock_ms() + offset_ms
    )
    db = await asyncpg.connect(settings.database_url)
    try:
        sids = []
        for text in ("first", "second"):
            params = fake.incoming(customer, OUR_SMS, text)
            assert (await post(live, "/twilio/messaging", params))[0] == 200
            sids.append(params["MessageSid"])
        first, second = [await receipt(db, sid) for sid in sids]
        assert first["contact_id"] == second["contact_id"]

        offset_ms = 2 * 3_600_000  # two hours on: past the one-hour window
        params = fake.incoming(customer, OUR_SMS, "third")
        assert (await post(live, "/twilio/messaging", params))[0] == 200
        third = await receipt(db, params["MessageSid"])
        assert third["contact_id"] != first["contact_id"]
        state = await db.fetchval("SELECT state FROM contacts WHERE id = $1", third["contact_id"])
        assert state == "queued"
        old_state = await until(
            lambda: db.fetchval(
                "SELECT state FROM contacts WHERE id = $1 AND state = 'abandoned'",
                first["contact_id"],
            )
        )
        assert old_state == "abandoned"
    finally:
        await db.close()
        await runner.cleanup()


async def test_media_are_kept_as_links(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    media = [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg"),
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
            "application/pdf",
        ),
    ]
    params = fake.incoming(customer, OUR_SMS, "the damaged box", media=media)
    assert (await post(hub, "/twilio/messaging", params))[0] == 200
    found = await receipt(db, params["MessageSid"])
    row = await db.fetchrow("SELECT * FROM messages WHERE id = $1", found["message_id"])
    assert json.loads(row["media"]) == [{"url": u, "content_type": t} for u, t in media]
    assert row["external_id"] == params["MessageSid"] and row["delivery_status"] == "received"
    assert row["body"].splitlines() == ["the damaged box"] + [f"[{t}] {u}" for u, t in media]


async def test_whatsapp_replies_go_to_the_whatsapp_address_and_name_the_customer(
    hub: LiveHub, fake: FakeTwilio, customer: str
) -> None:
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    params = fake.incoming(
        f"whatsapp:{customer}", f"whatsapp:{OUR_WHATSAPP}", "hola", profile_name="Dana W"
    )
    assert (await post(hub, "/twilio/messaging", params))[0] == 200
    offer = await agent.expect("offer")
    assert offer["contact"]["channel"] == "whatsapp"
    assert offer["contact"]["customer"]["name"] == "Dana W"
    contact_id = offer["contact"]["contact_id"]
    await agent.command("accept", contact_id=contact_id)
    await agent.command("send", contact_id=contact_id, text="Hi Dana")
    await asyncio.wait_for(fake.created.get(), 10)
    form = fake.requests[-1].form
    assert (form["To"], form["From"]) == (f"whatsapp:{customer}", f"whatsapp:{OUR_WHATSAPP}")
    await agent.close()


async def test_forged_and_unsigned_webhooks_get_403_and_change_nothing(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    params = fake.incoming(customer, OUR_SMS, "let me in")
    status_params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    for path, form in (("/twilio/messaging", params), ("/twilio/messaging/status", status_params)):
        attempts = [
            await post(hub, path, form, headers={}),  # unsigned
            await post(hub, path, form, token="not-our-token"),  # another account's token
            await post(hub, path, form, signed_url="https://elsewhere.example" + path),
        ]
        tampered = dict(form)
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            hub.settings.public_url + path, form
        )
        tampered["MessageSid"] = "SM" + "b" * 32
        attempts.append(await post(hub, path, tampered, headers={"X-Twilio-Signature": signature}))
        for status, body in attempts:
            assert status == 403, body
            assert json.loads(body)["error_id"] == "twilio.signature_invalid"
    sids = [params["MessageSid"], status_params["MessageSid"], "SM" + "b" * 32]
    assert await db.fetchval("SELECT count(*) FROM webhook_receipts WHERE sid = ANY($1)", sids) == 0
    assert await db.fetchval("SELECT count(*) FROM identities WHERE value = $1", customer) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"From": None}, "From"),
        ({"MessageSid": "not-a-sid"}, "MessageSid"),
        ({"NumMedia": "1"}, "MediaUrl0"),
        ({"From": "whatsapp:+14155550123"}, "To"),
        ({"From": "12"}, "From"),
    ],
)
async def test_bad_messages_get_400_with_an_error_id_and_change_nothing(
    hub: LiveHub,
    fake: FakeTwilio,
    db: asyncpg.Connection,
    change: dict[str, Any],
    field: str,
    customer: str,
) -> None:
    params = fake.incoming(customer, OUR_SMS, "hi")
    for key, value in change.items():
        if value is None:
            del params[key]
        else:
            params[key] = value
    status, body = await post(hub, "/twilio/messaging", params)
    assert status == 400, body
    error = json.loads(body)
    assert error["error_id"] == "channel.invalid_delivery"
    assert field in error["details"]["missing"] + error["details"]["invalid"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM webhook_receipts WHERE sid = $1", params["MessageSid"]
        )
        == 0
    )


async def test_bad_status_callbacks_get_400_and_change_nothing(
    hub: LiveHub, db: asyncpg.Connection
) -> None:
    sid = "SM" + "c" * 32
    status, body = await post(hub, "/twilio/messaging/status", {"MessageSid": sid})
    assert status == 400 and json.loads(body)["details"]["missing"] == ["MessageStatus"]
    path = "/twilio/messaging/status?message_id=nope"
    status, body = await post(hub, path, {"MessageSid": sid, "MessageStatus": "sent"})
    assert status == 400 and json.loads(body)["error_id"] == "channel.invalid_delivery"
    assert await db.fetchval("SELECT count(*) FROM messages WHERE external_id = $1", sid) == 0


async def connected_sms(hub: LiveHub, fake: FakeTwilio, customer: str) -> tuple[AgentClient, str]:
    """Alice in conversation with an SMS customer."""
    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    await post(hub, "/twilio/messaging", fake.incoming(customer, OUR_SMS, "hello"))
    contact_id: str = (await agent.expect("offer"))["contact"]["contact_id"]
    await agent.command("accept", contact_id=contact_id)
    await agent.expect("assigned")
    return agent, contact_id


async def test_a_refused_send_marks_the_message_failed_and_is_not_repeated(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    agent, contact_id = await connected_sms(hub, fake, customer)
    fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    await agent.command("send", contact_id=contact_id, text="are you there?")
    row = await until(
        lambda: db.fetchrow(
            "SELECT * FROM messages WHERE contact_id = $1 AND delivery_status = 'failed'",
            uuid.UUID(contact_id),
        )
    )
    assert row["delivery_error"] == "21610" and row["body"] == "are you there?"
    await agent.command("send", contact_id=contact_id, text="second try")
    await asyncio.wait_for(fake.created.get(), 10)
    assert [r.form["Body"] for r in fake.requests] == ["are you there?", "second try"]
    await agent.close()


async def test_an_undelivered_status_keeps_twilios_error_code(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    agent, contact_id = await connected_sms(hub, fake, customer)
    await agent.command("send", contact_id=contact_id, text="hello?")
    sent = await asyncio.wait_for(fake.created.get(), 10)
    assert (await fake.send_status(sent["sid"], "undelivered", "30003"))[0] == 204
    row = await until(
        lambda: db.fetchrow(
            "SELECT * FROM messages WHERE external_id = $1 AND delivery_status = 'undelivered'",
            sent["sid"],
        )
    )
    assert row["delivery_error"] == "30003"
    await agent.close()


async def test_a_redelivered_event_never_sends_a_message_twice(
    hub: LiveHub, fake: FakeTwilio, db: asyncpg.Connection, customer: str
) -> None:
    agent, contact_id = await connected_sms(hub, fake, customer)
    await agent.command("send", contact_id=contact_id, text="once")
    first = await asyncio.wait_for(fake.created.get(), 10)
    row = await db.fetchrow(
        "SELECT * FROM messages WHERE contact_id = $1 AND body = 'once'", uuid.UUID(contact_id)
    )
    again = MessageSent(
        at_ms=wall_clock_ms(),
        contact_id=contact_id,
        message_id=str(row["id"]),
        sender="agent",
        agent_id=agent.agent_id,
        body="once",
    )
    await hub.app[BUS].publish(again)  # at least once: the stream may carry it again
    await agent.command("send", contact_id=contact_id, text="after")
    after = await asyncio.wait_for(fake.created.get(), 10)
    assert (first["body"], after["body"]) == ("once", "after")
    assert [r.form["Body"] for r in fake.requests] == ["once", "after"]
    await agent.close()


async def test_unreachable_twilio_is_retried_then_the_message_marked_failed(
    settings: HubSettings, redis: Any, twilio: TwilioSettings, fake: FakeTwilio, customer: str
) -> None:
    await fake.close()  # nothing listens on its port any more
    live, runner = await start_twilio_hub(messaging_settings(settings), twilio)
    db = await asyncpg.connect(settings.database_url)
    try:
        agent, contact_id = await connected_sms(live, fake, customer)
        await agent.command("send", contact_id=contact_id, text="anyone?")
        row = await until(
            lambda: db.fetchrow(
                "SELECT * FROM messages WHERE contact_id = $1 AND delivery_status = 'failed'",
                uuid.UUID(contact_id),
            )
        )
        assert row["delivery_error"] == "unreachable"
        await agent.close()
    finally:
        await db.close()
        await runner.cleanup()


async def test_without_credentials_the_twilio_channels_are_off_and_the_hub_works(
    settings: HubSettings, redis: Any, customer: str
) -> None:
    with structlog.testing.capture_logs() as logs:
        live, runner = await start_twilio_hub(messaging_settings(settings), TwilioSettings())
    try:
        assert any(entry["event"] == "twilio_channels_off" for entry in logs)
        params = {"MessageSid": "SM" + "d" * 32, "From": customer, "To": OUR_SMS, "Body": "x"}
        status, body = await post(live, "/twilio/messaging", params)
        assert status == 503 and json.loads(body)["error_id"] == "twilio.not_configured"
        async with aiohttp.ClientSession() as http, http.get(live.base_url + "/healthz") as resp:
            assert resp.status == 200
        agent = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await agent.go_available()
        await agent.close()
    finally:
        await runner.cleanup()
