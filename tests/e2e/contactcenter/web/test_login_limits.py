"""Login attempts are limited per account and per client address, with a wait that doubles
after a few free failures; the counts live in Redis, so every hub process applies them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import structlog
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, free_port, start_hub
from tests.e2e.clients import AgentClient
from tests.e2e.contactcenter.test_multiprocess import expect_where


class ManualClock:
    """The hub's clock (epoch ms), moved by the test: waits are checked without sleeping."""

    def __init__(self) -> None:
        self.now_ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def hub(settings: HubSettings, redis: Redis, clock: ManualClock) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(settings, clock=clock)
    yield live
    await runner.cleanup()


async def attempt(base_url: str, username: str, password: str) -> tuple[int, dict[str, Any], str]:
    """(status, body, Retry-After header or '') of one login attempt."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/api/login", json={"username": username, "password": password}
        ) as resp,
    ):
        return resp.status, await resp.json(), resp.headers.get("Retry-After", "")


async def fail_times(base_url: str, username: str, times: int) -> None:
    for i in range(times):
        status, body, _ = await attempt(base_url, username, f"wrong-{i}")
        assert (status, body["error_id"]) == (401, "auth.bad_credentials"), (i, body)


async def test_the_right_password_is_refused_while_the_account_is_locked(hub: LiveHub) -> None:
    await fail_times(hub.base_url, "alice", 5)  # the free failures
    status, body, retry_after = await attempt(hub.base_url, "alice", "wrong-again")
    assert (status, body["error_id"], retry_after) == (429, "auth.too_many_attempts", "1")
    assert body["details"]["retry_after_s"] == 1
    status, body, retry_after = await attempt(hub.base_url, "alice", hub.demo_password)
    assert (status, body["error_id"], retry_after) == (429, "auth.too_many_attempts", "1")
    # Another account from the same address is not locked by alice's failures.
    assert (await attempt(hub.base_url, "bob", hub.demo_password))[0] == 200


async def test_the_wait_doubles_after_each_failure_and_a_success_resets_it(
    hub: LiveHub, clock: ManualClock
) -> None:
    await fail_times(hub.base_url, "alice", 5)
    for wait_s in (1, 2, 4, 8):
        status, _, retry_after = await attempt(hub.base_url, "alice", "wrong")
        assert (status, retry_after) == (429, str(wait_s))
        clock.advance(wait_s - 0.5)
        assert (await attempt(hub.base_url, "alice", hub.demo_password))[0] == 429
        clock.advance(0.5)
        if wait_s < 8:
            await fail_times(hub.base_url, "alice", 1)
    status, body, _ = await attempt(hub.base_url, "alice", hub.demo_password)
    assert status == 200, body
    # Counted afresh: five free failures again.
    await fail_times(hub.base_url, "alice", 5)
    assert (await attempt(hub.base_url, "alice", "wrong"))[0] == 429


async def test_the_wait_is_capped(settings: HubSettings, redis: Redis, clock: ManualClock) -> None:
    capped = replace(settings, login_max_delay_s=3.0)
    live, runner = await start_hub(capped, clock=clock)
    try:
        await fail_times(live.base_url, "alice", 5)
        for wait_s in (1, 2, 3, 3):
            assert (await attempt(live.base_url, "alice", "wrong"))[2] == str(wait_s)
            clock.advance(wait_s)
            await fail_times(live.base_url, "alice", 1)
    finally:
        await runner.cleanup()


async def test_one_address_trying_many_accounts_is_slowed(
    settings: HubSettings, redis: Redis, clock: ManualClock
) -> None:
    few = replace(settings, login_free_failures_per_address=3)
    live, runner = await start_hub(few, clock=clock)
    try:
        for name in ("nobody-1", "nobody-2", "alice"):
            await fail_times(live.base_url, name, 1)
        status, body, retry_after = await attempt(live.base_url, "bob", live.demo_password)
        assert (status, body["error_id"], retry_after) == (429, "auth.too_many_attempts", "1")
        assert body["details"]["limit"] == "address"
        clock.advance(1)
        # The address waited: bob gets in, and his success does not clear the address.
        assert (await attempt(live.base_url, "bob", live.demo_password))[0] == 200
    finally:
        await runner.cleanup()


async def test_an_unknown_username_is_limited_like_a_real_one(hub: LiveHub) -> None:
    await fail_times(hub.base_url, "no-such-agent", 5)
    status, body, _ = await attempt(hub.base_url, "no-such-agent", "x")
    assert (status, body["error_id"]) == (429, "auth.too_many_attempts")


async def test_failures_on_one_hub_process_count_on_another(
    settings: HubSettings, redis: Redis, clock: ManualClock
) -> None:
    first, first_runner = await start_hub(settings, clock=clock)
    second, second_runner = await start_hub(replace(settings, port=free_port()), clock=clock)
    try:
        await fail_times(first.base_url, "alice", 5)
        status, body, _ = await attempt(second.base_url, "alice", second.demo_password)
        assert (status, body["error_id"]) == (429, "auth.too_many_attempts")
    finally:
        await second_runner.cleanup()
        await first_runner.cleanup()


async def test_supervisors_are_told_when_an_account_is_under_attack(hub: LiveHub) -> None:
    supervisor = await AgentClient.connect(hub.base_url, "sam", hub.demo_password)
    alice_id = (await AgentClient.connect(hub.base_url, "alice", hub.demo_password)).agent_id
    with structlog.testing.capture_logs() as logs:
        for i in range(5):
            await attempt(hub.base_url, "alice", f"secret-guess-{i}")
    frame = await expect_where(
        supervisor, "event", lambda f: f["event"]["type"] == "LoginThrottled"
    )
    event = frame["event"]
    assert (event["scope"], event["agent_id"], event["username"]) == ("account", alice_id, "alice")
    assert (event["failures"], event["retry_after_s"]) == (5, 1)
    assert "secret-guess" not in json.dumps(frame)
    throttled = [e for e in logs if e["event"] == "login_throttled"]
    assert throttled and throttled[0]["agent_id"] == alice_id
    assert "secret-guess" not in repr(logs)


async def test_a_refused_attempt_does_not_lengthen_the_wait(
    hub: LiveHub, clock: ManualClock
) -> None:
    await fail_times(hub.base_url, "alice", 5)
    for _ in range(10):
        assert (await attempt(hub.base_url, "alice", "wrong"))[2] == "1"
    clock.advance(1)
    assert (await attempt(hub.base_url, "alice", hub.demo_password))[0] == 200
