"""The clients of part 2 of bench.routing: agents' consoles and customers' chats.

They speak docs/protocol.md over real `websockets` connections and run, by default, in a
process of their own (`run_clients`), so that the hub process under test spends its one
event loop on the hub alone. Send and receive times are `time.perf_counter_ns()`, which on
Linux reads CLOCK_MONOTONIC: one clock for every process of the machine, so a time taken
here compares with one taken in the hub's process.

- Agents log in with POST /api/login, open /ws/agent, go available, accept every offer at
  once, end the conversation after a random hold and wrap up with a disposition.
- Customers arrive on a fixed schedule (open loop): each opens /ws/chat a little ahead of
  its time and says hello, then at its time sends its first `message`, whose text carries
  its number and the send time, and reads its frames until the agent ends the chat.
- The time stops when the `offer` frame reaches the agent's socket; the offer's contact
  carries the customer's first message, which gives the number and the send time back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import websockets
from websockets.asyncio.client import ClientConnection

from bench._common import BenchBroken, Run, own_cpu_s, paced_run, progress, stamp, unstamp

Mark = Callable[[str], None]


# --- plans and results (pickled between processes) -------------------------------------------


@dataclass(frozen=True)
class HubLoad:
    base_url: str
    usernames: tuple[str, ...]
    password: str
    rate: float
    arrivals: int
    warmup: int
    hold_s: tuple[float, float]
    lead_s: float
    seed: int
    drain_s: float = 30.0  # after the last arrival, at most, while offers keep coming
    stall_s: float = 10.0  # no offer for this long while some are due: broken


@dataclass
class HubLoadResult:
    latencies_ms: list[float]  # arrival order, warm-up excluded
    still_waiting: int  # of those, not offered when the run stopped (a lower bound)
    send_lag_max_ms: float
    wall_s: float  # first send to last offer (or to the stop, with some still waiting)
    arrivals_s: float  # first arrival to last
    offers: int
    client_cpu_s: float
    agent_frames: dict[str, int]
    customer_frames: dict[str, int]
    errors: list[str]
    reoffers: int
    late_offers: int  # offers that reached the agent after their deadline (offer.gone)
    wrapped_up: int
    customers_done: int
    hello_ms_max: float  # slowest connect + hello of a customer
    # Per arrival, for the breakdown by stage against the event stream's entry times:
    contact_ids: list[str | None]
    sent_wall_ms: list[int | None]
    offered_wall_ms: list[int | None]


@dataclass(frozen=True)
class BaselineLoad:
    ws_base: str
    warmup: int
    messages: int
    rate: float


Job = HubLoad | BaselineLoad


# --- running them, here or in a process of their own -----------------------------------------


async def drive(job: Job, mark: Mark) -> HubLoadResult | Run:
    if isinstance(job, HubLoad):
        return await drive_hub(job, mark)
    return await drive_baseline(job, mark)


def _child(conn: Connection, job: Job) -> None:
    def mark(what: str) -> None:
        conn.send(("mark", what))

    try:
        conn.send(("done", asyncio.run(drive(job, mark))))
    except BenchBroken as exc:
        conn.send(("broken", str(exc)))
    except BaseException as exc:  # report anything to the parent, which exits non-zero
        conn.send(("broken", f"client process: {exc!r}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _receive(conn: Connection) -> tuple[Any, ...] | None:
    try:
        message: tuple[Any, ...] = conn.recv()
        return message
    except EOFError:
        return None


async def run_clients(job: Job, mark: Mark, *, in_process: bool) -> HubLoadResult | Run:
    """Run `job`'s clients in this event loop, or in a spawned process (the default)."""
    if in_process:
        return await drive(job, mark)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, job), name="bench-clients", daemon=True)
    proc.start()
    sender.close()
    try:
        while True:
            message = await asyncio.to_thread(_receive, receiver)
            if message is None:
                raise BenchBroken(f"the client process died (exit code {proc.exitcode})")
            if message[0] == "mark":
                mark(message[1])
            elif message[0] == "done":
                result: HubLoadResult | Run = message[1]
                return result
            else:
                raise BenchBroken(message[1])
    finally:
        await asyncio.to_thread(proc.join, 10)
        if proc.is_alive():
            proc.kill()
        receiver.close()


# --- the baseline's clients ------------------------------------------------------------------


def _customer_frame(i: int, sent_ns: int) -> str:
    return json.dumps({"type": "message", "text": stamp(i, sent_ns), "client_msg_id": f"b{i}"})


def _baseline_extract(raw: str | bytes) -> tuple[int, int] | None:
    return unstamp(json.loads(raw)["text"])


async def drive_baseline(job: BaselineLoad, mark: Mark) -> Run:
    """bench.relay's baseline clients: one sender socket, one receiver socket, same frames."""
    async with (
        websockets.connect(f"{job.ws_base}/recv") as receiver,
        websockets.connect(f"{job.ws_base}/send") as sender,
    ):
        await asyncio.sleep(0.1)  # let the receiver's handler register it
        mark("begin")
        run = await paced_run(
            "baseline",
            sender.send,
            receiver.recv,
            _customer_frame,
            _baseline_extract,
            warmup=job.warmup,
            messages=job.messages,
            rate=job.rate,
        )
        mark("end")
        return run


# --- the hub's clients -----------------------------------------------------------------------


@dataclass
class _Book:
    """What every client of the run has seen."""

    total: int
    sent_ns: list[int | None]
    offered_ns: list[int | None]
    contact_ids: list[str | None]
    sent_wall_ms: list[int | None]
    offered_wall_ms: list[int | None]
    offers: int = 0
    reoffers: int = 0
    late_offers: int = 0
    wrapped_up: int = 0
    customers_done: int = 0
    send_lag_max_ns: int = 0
    hello_ns_max: int = 0
    agent_frames: Counter[str] = field(default_factory=Counter)
    customer_frames: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    all_offered: asyncio.Event = field(default_factory=asyncio.Event)
    all_wrapped: asyncio.Event = field(default_factory=asyncio.Event)
    customer_sockets: set[ClientConnection] = field(default_factory=set)


def _read(raw: str | bytes, who: str, last_seq: int, book: _Book) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(raw)
    if frame.get("seq") != last_seq + 1:
        raise BenchBroken(f"{who}: sequence gap {last_seq} -> {frame.get('seq')}")
    if frame["type"] == "error":
        if frame.get("error_id") == "offer.gone":
            # An accept sent at once, refused: the offer reached the agent after its deadline.
            book.late_offers += 1
        else:
            book.errors.append(f"{who}: {frame.get('error_id')} {frame.get('message')}")
    return frame


class _Agent:
    """One console: accepts every offer, ends after a random hold, wraps up."""

    def __init__(self, ws: ClientConnection, who: str, book: _Book, job: HubLoad) -> None:
        self.ws = ws
        self.who = who
        self.book = book
        self.rng = random.Random(f"{job.seed}-{who}")
        self.hold_s = job.hold_s
        self.last_seq = 0
        self.available = asyncio.Event()
        self.pending: set[asyncio.Task[None]] = set()

    async def send(self, **frame: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps(frame))

    async def read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter_ns()
            frame = _read(raw, self.who, self.last_seq, self.book)
            self.last_seq = frame["seq"]
            kind = frame["type"]
            self.book.agent_frames[kind] += 1
            if kind == "offer":
                await self._offered(frame, now)
            elif kind == "ack" and frame.get("ref") == "available":
                self.available.set()
            elif kind == "assigned":
                task = asyncio.create_task(self._end_later(frame["contact"]["contact_id"]))
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
            elif kind == "conversation_ended":
                await self.send(
                    type="wrapup", contact_id=frame["contact_id"], disposition="resolved"
                )
            elif kind == "wrapup_done":
                self.book.wrapped_up += 1
                if self.book.wrapped_up == self.book.total:
                    self.book.all_wrapped.set()

    async def _offered(self, frame: dict[str, Any], now_ns: int) -> None:
        contact = frame["contact"]
        found = next((unstamp(m["body"]) for m in contact["messages"] if unstamp(m["body"])), None)
        if found is None:
            self.book.errors.append(f"{self.who}: an offer without a bench message: {contact}")
            return
        i, sent_ns = found
        if self.book.offered_ns[i] is None:
            self.book.offered_ns[i] = now_ns
            self.book.offered_wall_ms[i] = time.time_ns() // 1_000_000
            self.book.contact_ids[i] = contact["contact_id"]
            self.book.sent_ns[i] = sent_ns
            self.book.offers += 1
            if self.book.offers == self.book.total:
                self.book.all_offered.set()
        else:
            self.book.reoffers += 1
        await self.send(type="accept", contact_id=contact["contact_id"])

    async def _end_later(self, contact_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.hold_s))
        await self.send(type="end", contact_id=contact_id)


async def _login(http: aiohttp.ClientSession, base_url: str, username: str, pw: str) -> str:
    async with http.post(
        f"{base_url}/api/login", json={"username": username, "password": pw}
    ) as resp:
        if resp.status != 200:
            raise BenchBroken(f"login of {username}: HTTP {resp.status} {await resp.text()}")
        token: str = (await resp.json())["token"]
        return token


async def _connect_agents(
    job: HubLoad, book: _Book
) -> tuple[list[_Agent], list[asyncio.Task[None]]]:
    ws_url = job.base_url.replace("http", "ws", 1) + "/ws/agent"
    limit = asyncio.Semaphore(20)

    async def one(username: str, http: aiohttp.ClientSession) -> _Agent:
        async with limit:
            token = await _login(http, job.base_url, username, job.password)
            ws = await websockets.connect(
                ws_url, additional_headers={"Authorization": f"Bearer {token}"}, close_timeout=2
            )
            return _Agent(ws, username, book, job)

    async with aiohttp.ClientSession() as http:
        agents = await asyncio.gather(*(one(u, http) for u in job.usernames))
    readers = [asyncio.create_task(a.read(), name=f"agent-{a.who}") for a in agents]
    for a in agents:
        await a.send(type="set_state", state="available", ref="available")
    await asyncio.wait_for(asyncio.gather(*(a.available.wait() for a in agents)), 30)
    return agents, readers


async def _customer(i: int, due_ns: int, job: HubLoad, book: _Book) -> None:
    who = f"customer {i}"
    started = time.perf_counter_ns()
    url = job.base_url.replace("http", "ws", 1) + "/ws/chat"
    async with websockets.connect(url, close_timeout=2) as ws:
        await ws.send(json.dumps({"type": "hello", "name": f"Bench Customer {i}"}))
        book.customer_sockets.add(ws)
        frame = _read(await ws.recv(), who, 0, book)
        last_seq = frame["seq"]
        book.customer_frames[frame["type"]] += 1
        now = time.perf_counter_ns()
        book.hello_ns_max = max(book.hello_ns_max, now - started)
        if due_ns > now:
            await asyncio.sleep((due_ns - now) / 1e9)
        now = time.perf_counter_ns()
        book.send_lag_max_ns = max(book.send_lag_max_ns, now - due_ns)
        book.sent_wall_ms[i] = time.time_ns() // 1_000_000
        sent = time.perf_counter_ns()
        book.sent_ns[i] = sent
        text = stamp(i, sent)
        await ws.send(json.dumps({"type": "message", "text": text, "client_msg_id": f"c{i}"}))
        async for raw in ws:
            frame = _read(raw, who, last_seq, book)
            last_seq = frame["seq"]
            book.customer_frames[frame["type"]] += 1
            if frame["type"] == "queued":
                book.contact_ids[i] = frame["contact_id"]
            elif frame["type"] == "ended":
                book.customers_done += 1
                book.customer_sockets.discard(ws)
                return


async def _wait_bounded(what: Awaitable[Any], timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(what, timeout_s)
        return True
    except TimeoutError:
        return False


async def _drain(job: HubLoad, book: _Book) -> None:
    """Wait for the offers still due while they keep coming: at most `drain_s` after the last
    arrival, and no longer than `stall_s` without a new one."""
    deadline = time.perf_counter() + job.drain_s
    seen, seen_at = book.offers, time.perf_counter()
    while not book.all_offered.is_set() and time.perf_counter() < deadline:
        await _wait_bounded(book.all_offered.wait(), 1.0)
        if book.offers != seen:
            seen, seen_at = book.offers, time.perf_counter()
            progress(f"hub: draining, {book.offers}/{book.total} offers received")
        elif time.perf_counter() - seen_at > job.stall_s:
            progress(f"hub: no offer for {job.stall_s:.0f} s; not waiting longer")
            return


async def drive_hub(job: HubLoad, mark: Mark) -> HubLoadResult:
    total = job.arrivals
    book = _Book(
        total,
        sent_ns=[None] * total,
        offered_ns=[None] * total,
        contact_ids=[None] * total,
        sent_wall_ms=[None] * total,
        offered_wall_ms=[None] * total,
    )
    progress(f"hub: {len(job.usernames)} agents logging in")
    agents, readers = await _connect_agents(job, book)
    progress(f"hub: {len(agents)} agents available; {total} customers at {job.rate:g}/s")
    customers: set[asyncio.Task[None]] = set()
    failures: list[str] = []

    def done(task: asyncio.Task[None]) -> None:
        customers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(repr(task.exception()))

    period_ns = int(1e9 / job.rate)
    lead_ns = int(job.lead_s * 1e9)
    every = max(1, int(job.rate * 5))
    start = time.perf_counter_ns() + lead_ns
    mark("begin")
    cpu_start = own_cpu_s()
    try:
        for i in range(total):
            due = start + i * period_ns
            wake = due - lead_ns - time.perf_counter_ns()
            if wake > 0:
                await asyncio.sleep(wake / 1e9)
            task = asyncio.create_task(_customer(i, due, job, book), name=f"customer-{i}")
            customers.add(task)
            task.add_done_callback(done)
            if (i + 1) % every == 0:
                progress(
                    f"hub: {i + 1}/{total} customers arrived, {book.offers} offers received,"
                    f" {len(customers)} chats open"
                )
            if failures:
                raise BenchBroken(f"hub: a customer failed: {failures[0]}")
        await _drain(job, book)
        stop_ns = time.perf_counter_ns()
        mark("end")
        cpu_s = own_cpu_s() - cpu_start
        if book.all_offered.is_set():
            progress(f"hub: every customer offered; waiting for {len(customers)} chats to end")
            await _wait_bounded(asyncio.gather(*customers), job.hold_s[1] + 15)
            await _wait_bounded(book.all_wrapped.wait(), 10)
        if failures:
            raise BenchBroken(f"hub: a customer failed: {failures[0]}")
    finally:
        # Chats still open (customers never offered): close them cleanly, then stop.
        await asyncio.gather(*(ws.close() for ws in book.customer_sockets))
        await _wait_bounded(asyncio.gather(*customers, return_exceptions=True), 5)
        for task in list(customers):
            task.cancel()
        for a in agents:
            for t in list(a.pending):
                t.cancel()
        await asyncio.gather(*(a.ws.close() for a in agents))
        for r in readers:
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await r
    for r in readers:
        if not r.cancelled() and r.exception() is not None:
            raise BenchBroken(f"hub: an agent's console failed: {r.exception()!r}")
    latencies, waiting = [], 0
    for i in range(job.warmup, total):
        offered, sent = book.offered_ns[i], book.sent_ns[i]
        if offered is None:  # still waiting: it waited at least this long
            waiting += 1
            offered = stop_ns
        latencies.append((offered - (sent or start + i * period_ns)) / 1e6)
    last_ns = max((t for t in book.offered_ns if t is not None), default=stop_ns)
    return HubLoadResult(
        latencies_ms=latencies,
        still_waiting=waiting,
        send_lag_max_ms=book.send_lag_max_ns / 1e6,
        wall_s=(max(last_ns, stop_ns if waiting else last_ns) - start) / 1e9,
        arrivals_s=(total - 1) * period_ns / 1e9,
        offers=book.offers,
        client_cpu_s=cpu_s,
        agent_frames=dict(book.agent_frames),
        customer_frames=dict(book.customer_frames),
        errors=book.errors,
        reoffers=book.reoffers,
        late_offers=book.late_offers,
        wrapped_up=book.wrapped_up,
        customers_done=book.customers_done,
        hello_ms_max=book.hello_ns_max / 1e6,
        contact_ids=book.contact_ids,
        sent_wall_ms=book.sent_wall_ms,
        offered_wall_ms=book.offered_wall_ms,
    )
