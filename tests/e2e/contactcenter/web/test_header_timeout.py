"""A client has `server.header_timeout_s` to send a request's headers, then is cut off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient
from tests.e2e.processes import HubFactory

TIMEOUT_S = 1.0
SLACK_S = 3.0  # the hub's timer, the loop and a busy machine
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


@pytest.fixture
async def strict_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    live, runner = await start_hub(replace(settings, header_timeout_s=TIMEOUT_S))
    yield live
    await runner.cleanup()


async def _open(hub: LiveHub) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", hub.settings.port)


async def _closed_after_s(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from `started` until the hub closed the connection (everything it sends
    before, such as nothing or a 400, is read and dropped)."""
    async with asyncio.timeout(TIMEOUT_S + SLACK_S + 5):
        while await reader.read(4096):
            pass
    return time.monotonic() - started


async def test_partial_headers_are_cut_off_after_the_timeout(strict_hub: LiveHub) -> None:
    started = time.monotonic()
    conns = [await _open(strict_hub) for _ in range(200)]
    for _reader, writer in conns:
        writer.write(PARTIAL)
    closed = await asyncio.gather(*(_closed_after_s(r, started) for r, _w in conns))
    assert max(closed) < TIMEOUT_S + SLACK_S, max(closed)
    for _reader, writer in conns:
        writer.close()


async def test_a_client_trickling_its_headers_is_cut_off_too(strict_hub: LiveHub) -> None:
    """The timeout is a deadline for the whole header, not for each byte."""
    reader, writer = await _open(strict_hub)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in PARTIAL:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    took = await _closed_after_s(reader, started)
    trickling.cancel()
    assert took < TIMEOUT_S + SLACK_S, took
    writer.close()


async def test_a_silent_connection_is_cut_off(strict_hub: LiveHub) -> None:
    reader, writer = await _open(strict_hub)
    assert await _closed_after_s(reader, time.monotonic()) < TIMEOUT_S + SLACK_S
    writer.close()


async def test_requests_and_open_websockets_are_not_affected(strict_hub: LiveHub) -> None:
    hub = strict_hub
    reader, writer = await _open(hub)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line.startswith(b"HTTP/1.1 200"), status_line
    writer.close()
    console = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await asyncio.sleep(TIMEOUT_S * 2)  # the point: longer than the timeout
    await console.send(type="ping")
    await console.expect("pong")
    await console.close()


async def test_the_served_hub_cuts_off_partial_headers_too(hubs: HubFactory) -> None:
    """`contactcenter serve`, in a process of its own, its timeout from the environment."""
    (proc,) = await hubs.start("slow-headers", extra_env={"CC_HEADER_TIMEOUT_S": str(TIMEOUT_S)})
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
    writer.write(PARTIAL)
    assert await _closed_after_s(reader, started) < TIMEOUT_S + SLACK_S
    writer.close()
