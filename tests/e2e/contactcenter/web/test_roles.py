"""Web and worker processes side by side (`serve --role web|worker`, docs/architecture.md).

Every hub here is a real `python -m contactcenter serve` process sharing the test's Redis,
PostgreSQL and routing domain. The web process answers Twilio's webhooks and serves the
consoles; the worker process takes what the webhooks recorded into conversations, routes
them and sends the replies. A killed worker loses nothing: another one takes over.
"""

from __future__ import annotations

import aiohttp
import asyncpg

from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import AgentClient
from tests.e2e.contactcenter.test_multiprocess import accept, eventually, expect_offer
from tests.e2e.processes import HubFactory
from tests.e2e.twilio_support import AUTH_TOKEN, unique_phone
from tests.support.fake_twilio import FakeTwilio, signed_post

OUR_NUMBER = "+14155550100"


def twilio_env(fake: FakeTwilio, role: str) -> dict[str, str]:
    return {
        "CC_TWILIO_INTAKE_LEASE_S": "2",  # a killed worker's claims return soon
        "CC_ROLE": role,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE": fake.base_url,
        "CC_TWILIO_SMS_NUMBERS": OUR_NUMBER,
    }


async def post_sms(http: aiohttp.ClientSession, base_url: str, params: dict[str, str]) -> None:
    status, body = await signed_post(http, f"{base_url}/twilio/messaging", params, AUTH_TOKEN)
    assert status == 200 and "<Response" in body, (status, body)


async def outcomes(database_url: str, sids: list[str]) -> dict[str, int]:
    """How the receipts of `sids` stand, and how many messages each became."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM webhook_receipts WHERE sid = ANY($1)"
            "  AND handled_at IS NULL) AS pending,"
            " (SELECT count(*) FROM messages WHERE external_id = ANY($1)) AS stored,"
            " (SELECT count(DISTINCT external_id) FROM messages"
            "  WHERE external_id = ANY($1)) AS distinct_stored",
            sids,
        )
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def test_the_web_process_records_sms_and_the_worker_takes_it_to_the_agent(
    hubs: HubFactory, fake: FakeTwilio, database_url: str
) -> None:
    (web,) = await hubs.start("web", extra_env=twilio_env(fake, "web"))
    alice = await AgentClient.connect(web.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    params = fake.incoming(unique_phone(), OUR_NUMBER, "Hello, my parcel has not arrived yet")
    async with aiohttp.ClientSession() as http:
        await post_sms(http, web.base_url, params)
        # No process runs workers yet: the message waits, recorded, for one.
        assert (await outcomes(database_url, [params["MessageSid"]]))["pending"] == 1

        await hubs.start("worker", extra_env=twilio_env(fake, "worker"))

        async def contact_of_the_sms() -> str | None:
            conn = await asyncpg.connect(database_url)
            try:
                found = await conn.fetchval(
                    "SELECT contact_id FROM messages WHERE external_id = $1",
                    params["MessageSid"],
                )
            finally:
                await conn.close()
            return None if found is None else str(found)

        contact_id = await eventually(contact_of_the_sms, timeout_s=20)
        assert contact_id, "the worker never took the recorded SMS into a conversation"
        offer = await expect_offer(alice, contact_id, timeout_s=20)
        assert [m["body"] for m in offer["contact"]["messages"]] == [params["Body"]]
        await accept(alice, contact_id)
        ack = await alice.command("send", contact_id=contact_id, text="It is on its way")
        assert ack["type"] == "ack", ack

        async def replies() -> list[dict[str, object]]:
            return list(fake.messages)

        assert await eventually(replies, timeout_s=20), (
            "the worker's sender never sent the agent's reply through Twilio"
        )
        assert [(m["to"], m["body"]) for m in fake.messages] == [
            (params["From"], "It is on its way")
        ]
    await alice.close()


async def test_a_worker_process_serves_its_health_check_and_refuses_clients(
    hubs: HubFactory, fake: FakeTwilio
) -> None:
    (worker,) = await hubs.start("worker", extra_env=twilio_env(fake, "worker"))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{worker.base_url}/healthz") as resp:
            assert resp.status == 200
        for method, path in (
            ("POST", "/api/login"),
            ("GET", "/console"),
            ("GET", "/ws/agent"),
            ("POST", "/twilio/messaging"),
        ):
            async with http.request(method, f"{worker.base_url}{path}") as resp:
                assert resp.status == 503, (path, resp.status)
                body = await resp.json()
                assert body["error_id"] == "hub.worker_role", body
                assert body["details"] == {"role": "worker"}


async def test_messages_recorded_while_a_worker_is_killed_are_each_taken_once(
    hubs: HubFactory, fake: FakeTwilio, database_url: str
) -> None:
    (web,) = await hubs.start("web", extra_env=twilio_env(fake, "web"))
    (first,) = await hubs.start("worker-1", extra_env=twilio_env(fake, "worker"))
    sids: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(30):
            params = fake.incoming(unique_phone(), OUR_NUMBER, f"Order question number {i}")
            sids.append(params["MessageSid"])
            await post_sms(http, web.base_url, params)
            if i == 9:
                first.kill()  # SIGKILL mid-stream: leases it held run out, nothing else
        await hubs.start("worker-2", extra_env=twilio_env(fake, "worker"))

        async def all_taken() -> bool:
            return (await outcomes(database_url, sids))["pending"] == 0

        assert await eventually(all_taken, timeout_s=60), await outcomes(database_url, sids)
    final = await outcomes(database_url, sids)
    assert final == {"pending": 0, "stored": 30, "distinct_stored": 30}
