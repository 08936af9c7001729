"""The hub's memory with consoles that read nothing, beside the same consoles reading.

What is measured: the resident memory (RSS) of one hub process (`contactcenter serve`, role
all, the shipped config) and the sockets it keeps for its consoles, while alice holds a
conversation with a long transcript (`--transcript` messages of 1,000 characters, written
straight into PostgreSQL) and its customer writes `--messages` messages of 4,000 characters,
each reaching every console of alice:

- **reading** (the baseline): `--consoles` consoles of alice that read everything connect,
  the traffic flows, and they leave;
- **stuck**: as many consoles that read nothing (a small receive buffer, a client that stops
  reading after one frame) connect, the same traffic flows, and they stay connected, still
  reading nothing.

For each phase: RSS before, at its peak, and `--settle-s` seconds after the traffic; and how
many of the stuck consoles' sockets the hub still holds then. With `--hub-source DIR` the hub
process runs the code of another checkout (its `config/` too), to compare a change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
import websockets
from websockets.asyncio.client import ClientConnection

from bench._common import (
    ROOT,
    STORAGE_EPILOG,
    BenchBroken,
    delete_redis_keys,
    free_port,
    positive_int,
    progress,
    run_bench,
    scratch_database,
)
from bench._worker import worker_process
from tests.e2e.clients import AgentClient, ChatClient, login

MIB = 1024 * 1024
BODY = "z" * 3990


@dataclass
class Phase:
    label: str
    before: int
    peak: int
    after: int
    held_after: int  # the hub's sockets to this phase's consoles, after settling

    def line(self) -> str:
        return (
            f"{self.label:8s} RSS before {self.before / MIB:7.1f} MiB, peak {self.peak / MIB:7.1f}"
            f" MiB (+{(self.peak - self.before) / MIB:.1f}), after {self.after / MIB:7.1f} MiB"
            f" (+{(self.after - self.before) / MIB:.1f}); consoles' sockets still held:"
            f" {self.held_after}"
        )


class RssWatch:
    """Samples a process's RSS every 100 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> int:
        return int(self.proc.memory_info().rss)

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.1)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        self.peak = self.now()
        self._task = asyncio.create_task(self._sample())
        try:
            yield
        finally:
            self._task.cancel()


def sockets_from(pid: int, port: int, client_ports: set[int]) -> int:
    """The hub's TCP sockets on `port` whose far end is one of `client_ports`."""
    conns = psutil.Process(pid).net_connections("tcp")
    return sum(1 for c in conns if c.laddr[1] == port and c.raddr and c.raddr[1] in client_ports)


async def stuck_console(base_url: str, port: int, token: str) -> ClientConnection:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return await websockets.connect(
        base_url.replace("http", "ws", 1) + "/ws/agent",
        sock=sock,
        max_queue=1,
        max_size=None,
        additional_headers={"Authorization": f"Bearer {token}"},
    )


async def reading_console(base_url: str, token: str) -> tuple[ClientConnection, asyncio.Task[int]]:
    ws = await websockets.connect(
        base_url.replace("http", "ws", 1) + "/ws/agent",
        max_size=None,
        additional_headers={"Authorization": f"Bearer {token}"},
    )

    async def drain() -> int:
        n = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _frame in ws:
                n += 1
        return n

    return ws, asyncio.create_task(drain())


async def traffic(customer: ChatClient, alice: AgentClient, contact_id: str, n: int) -> None:
    for i in range(n):
        await customer.say(f"{i} {BODY}")
        await customer.expect("message")
        await alice.expect("message", contact_id=contact_id)


async def long_transcript(database_url: str, contact_id: str, n: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO messages (id, contact_id, sender, body, created_at)"
            " SELECT gen_random_uuid(), $1::uuid, 'customer', repeat('t', 1000),"
            " now() - interval '1 hour' + (g * interval '1 ms') FROM generate_series(1, $2) g",
            contact_id,
            n,
        )
    finally:
        await conn.close()


async def run(redis_url: str, admin_url: str, args: argparse.Namespace) -> list[Phase]:
    password = secrets.token_urlsafe(12)
    domain = f"bench{secrets.token_hex(6)}"
    port = free_port()
    source = Path(args.hub_source) if args.hub_source else ROOT
    async with scratch_database(admin_url) as database_url:
        env = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "CC_ROLE": "all",
            "CC_ROUTING_DOMAIN": domain,
            "CC_DEMO_SEED": "true",
            "CC_DEMO_PASSWORD": password,
            "CC_CONFIG_DIR": str(source / "config"),
            "CC_WIDGET_MESSAGES_PER_VISITOR_PER_MIN": "1000000000",
            "CC_WIDGET_MESSAGES_PER_IP_PER_MIN": "1000000000",
            "CC_WIDGET_CONNECTIONS_PER_IP_PER_MIN": "1000000000",
        }
        if args.hub_source:
            env["PYTHONPATH"] = str(source)
        try:
            async with worker_process(env, port) as hub:
                return await phases(hub.proc.pid, port, database_url, password, args)
        finally:
            await delete_redis_keys(redis_url, f"cc:{{{domain}}}:*")


async def phases(
    pid: int, port: int, database_url: str, password: str, args: argparse.Namespace
) -> list[Phase]:
    base = f"http://127.0.0.1:{port}"
    alice = await AgentClient.connect(base, "alice", password)
    await alice.go_available()
    customer = await ChatClient.connect(base, "Rowan")
    await customer.say("hello")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await alice.expect("offer", timeout_s=30)
    if (await alice.command("accept", contact_id=contact_id))["type"] != "ack":
        raise BenchBroken("alice could not accept the chat")
    await long_transcript(database_url, contact_id, args.transcript)
    token = await login(base, "alice", password)
    watch = RssWatch(pid)
    out: list[Phase] = []

    # reading: the baseline
    before = watch.now()
    progress(f"reading: {args.consoles} consoles that read, {args.messages} messages")
    async with watch.watching():
        readers = [await reading_console(base, token) for _ in range(args.consoles)]
        await traffic(customer, alice, contact_id, args.messages)
        for ws, _task in readers:
            await ws.close()
        for _ws, task in readers:
            await task
    await asyncio.sleep(args.settle_s)
    out.append(Phase("reading", before, watch.peak, watch.now(), 0))
    progress(out[-1].line())

    # stuck
    before = watch.now()
    progress(f"stuck: {args.consoles} consoles that read nothing, {args.messages} messages")
    async with watch.watching():
        stuck = [await stuck_console(base, port, token) for _ in range(args.consoles)]
        ports = {ws.local_address[1] for ws in stuck}
        await traffic(customer, alice, contact_id, args.messages)
        await asyncio.sleep(args.settle_s)
    out.append(Phase("stuck", before, watch.peak, watch.now(), sockets_from(pid, port, ports)))
    progress(out[-1].line())
    for ws in stuck:
        ws.transport.abort()
    await alice.close()
    await customer.close()
    return out


DESCRIPTION = __doc__ or ""
EPILOG = (
    STORAGE_EPILOG
    + """

examples:
  .venv/bin/python -m bench.slow_consoles
  .venv/bin/python -m bench.slow_consoles --consoles 30 --transcript 6000 --messages 1500
  .venv/bin/python -m bench.slow_consoles --hub-source /tmp/old-checkout
"""
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slow_consoles",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--consoles", type=positive_int, default=30, help="default 30")
    parser.add_argument(
        "--transcript",
        type=positive_int,
        default=6000,
        help="messages of 1,000 characters already in the conversation (default 6000)",
    )
    parser.add_argument(
        "--messages",
        type=positive_int,
        default=1500,
        help="messages of 4,000 characters the customer writes in each phase (default 1500)",
    )
    parser.add_argument(
        "--settle-s", type=float, default=10.0, help="wait after the traffic (default 10)"
    )
    parser.add_argument("--hub-source", help="run the hub from this checkout instead")
    args = parser.parse_args(argv)
    if args.hub_source:
        args.hub_source = str(Path(args.hub_source).resolve())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    outcome = run_bench(
        "slow_consoles",
        lambda found, _tally: asyncio.run(run(found.redis_url, found.admin_database_url, args)),
    )
    if isinstance(outcome, int):
        return outcome
    phases_run, _tally = outcome
    progress("")
    for phase in phases_run:
        progress(phase.line())
    progress(f"slow_consoles: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
