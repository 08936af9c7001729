"""PostgreSQL down or hung under a running hub process: REST answers 503 `store.unavailable`,
sockets get an error frame and stay open (or are closed with 1013 and may reconnect),
/healthz answers within 2 s, and everything works again once PostgreSQL is back.

The hub is a real process whose DATABASE_URL goes through a loopback proxy that the test
cuts or hangs (tests/e2e/tcp_proxy.py): the PostgreSQL other tests share is never touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import websockets
from redis.asyncio import Redis
from websockets.exceptions import InvalidStatus

from tests.conftest import TEST_PASSWORD, Servers
from tests.e2e.clients import AgentClient, ChatClient, login
from tests.e2e.contactcenter.test_multiprocess import accept, expect_message, expect_offer, say
from tests.e2e.processes import HubFactory, HubProcess
from tests.e2e.tcp_proxy import FaultyProxy


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[FaultyProxy]:
    parts = urlsplit(database_url)
    faulty = FaultyProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await faulty.start()
    yield faulty
    await faulty.close()


@pytest.fixture
async def hub(
    servers: Servers,
    database_url: str,
    routing_domain: str,
    redis: Redis,
    proxy: FaultyProxy,
    tmp_path: Path,
) -> AsyncIterator[HubProcess]:
    factory = HubFactory(servers, _through(database_url, proxy.port), routing_domain, tmp_path)
    try:
        (started,) = await factory.start("P", extra_env={"CC_DB_STATEMENT_TIMEOUT_S": "2"})
        yield started
    finally:
        proxy.heal()
        await factory.stop_all()


async def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, headers=headers) as r:
        return r.status, await r.json()


async def test_rest_answers_503_store_unavailable_while_postgres_is_down(
    hub: HubProcess, proxy: FaultyProxy
) -> None:
    token = await login(hub.base_url, "alice", TEST_PASSWORD)
    proxy.cut()
    status, body = await _get(f"{hub.base_url}/api/me", token)
    assert (status, body["error_id"]) == (503, "store.unavailable"), body
    status, body = await _get(f"{hub.base_url}/api/customers?limit=1", token)
    assert (status, body["error_id"]) == (503, "store.unavailable"), body
    proxy.heal()
    status, body = await _get(f"{hub.base_url}/api/me", token)
    assert status == 200, body


async def test_healthz_answers_503_instead_of_hanging_when_postgres_hangs(
    hub: HubProcess, proxy: FaultyProxy
) -> None:
    proxy.hang()
    # It answers: a hung probe is given up (HEALTH_TIMEOUT_S in
    # contactcenter/web/session_api.py), where it used to wait on the hung server. How long
    # it takes is for a benchmark to measure.
    status, body = await _get(f"{hub.base_url}/healthz")
    assert status == 503 and body["down"] == ["postgres"], body
    proxy.heal()
    status, _ = await _get(f"{hub.base_url}/healthz")
    assert status == 200


async def test_consoles_and_chats_get_an_error_frame_and_stay_connected_then_carry_on(
    hub: HubProcess, proxy: FaultyProxy
) -> None:
    alice = await AgentClient.connect(hub.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    customer = await ChatClient.connect(hub.base_url, "Oda Outage")
    await say(customer, "hello")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await expect_offer(alice, contact_id)
    await accept(alice, contact_id)

    proxy.cut()
    refused = await alice.command("send", contact_id=contact_id, text="lost?")
    assert refused["error_id"] == "store.unavailable", refused
    await customer.send(type="message", text="are you there?", ref="r1")
    error = await customer.expect("error", timeout_s=15)
    assert (error["error_id"], error.get("ref")) == ("store.unavailable", "r1")
    # Both sockets are still open.
    await alice.send(type="ping")
    await alice.expect("pong")
    await customer.send(type="ping")
    await customer.expect("pong")

    proxy.heal()
    ack = await alice.command("send", contact_id=contact_id, text="back again")
    assert ack["type"] == "ack", ack
    await expect_message(customer, "back again", "agent")
    await say(customer, "great")
    await expect_message(alice, "great", "customer")


async def test_a_console_opening_during_the_outage_gets_503_and_can_reconnect_after(
    hub: HubProcess, proxy: FaultyProxy
) -> None:
    token = await login(hub.base_url, "alice", TEST_PASSWORD)
    proxy.cut()
    url = hub.base_url.replace("http", "ws", 1) + "/ws/agent"
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    assert refused.value.response.status_code == 503
    proxy.heal()
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        first = await ws.recv()
        assert '"snapshot"' in str(first)
