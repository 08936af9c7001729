"""Part 2 of bench.routing: a contact's arrival to the offer on the agent's socket, through a
real hub in this process, at a sustained arrival rate; and bench.relay's baseline beside it.

    customer `message` (first of the chat) -> contact stored in PostgreSQL -> ContactArrived,
    MessageSent, ContactQueued on the stream -> the routing worker wakes, reads a snapshot,
    decides, runs the offer script -> ContactOffered on the stream -> the hub's stream tail
    -> the offer enriched from PostgreSQL and Redis -> the agent's websocket `offer` frame

The clients (bench/_arrival_clients.py) run in a process of their own unless
--clients-in-process is given; this process then holds the hub alone, and its CPU use is the
hub's. The baseline is bench.relay's bare aiohttp app (websocket -> XADD -> XREAD ->
websocket) on the same Redis, driven the same way from the same kind of process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher

import contactcenter.web.auth
import routing.worker
from bench._arrival_clients import BaselineLoad, HubLoad, HubLoadResult, run_clients
from bench._common import (
    BenchBroken,
    CpuMeter,
    CpuUse,
    LogTally,
    Run,
    delete_redis_keys,
    free_port,
    hub_settings,
    percentile,
    progress,
    serve,
)
from bench.relay import baseline_app

T = TypeVar("T")

AGENT_SKILLS = {"support": 50}
AGENT_LANGUAGES = ("en",)


@dataclass
class Phase:
    """One phase's latencies as a bench._common.Run (CPU of this process: the server's), and
    what the clients' process used."""

    run: Run
    server_cpu: CpuUse
    client_cpu_s: float
    detail: list[str]


def _marks(meter: CpuMeter, tally: LogTally | None = None) -> Callable[[str], None]:
    """What the clients tell: the measured span begins, or ends (what the code under test
    logs after it, while the clients close, is counted apart)."""
    label = tally.phase if tally else ""

    def mark(what: str) -> None:
        if what == "begin":
            meter.start()
        elif what == "end":
            meter.stop()
            if tally is not None:
                tally.phase = f"{label}, after the measured span"

    return mark


def _run(
    label: str, latencies: list[float], lag_ms: float, wall_s: float, cpu: CpuUse, sent: int
) -> Run:
    """`sent`: every message of the phase, warm-up included (the CPU is for all of them)."""
    total = max(1, sent)
    return Run(
        label,
        latencies,
        lag_ms,
        wall_s,
        cpu.own_cpu_s * 1000 / total,
        cpu.own_cores,
        cpu.machine_cores,
    )


# --- the baseline ----------------------------------------------------------------------------


async def baseline_phase(redis_url: str, args: argparse.Namespace) -> Phase:
    stream = f"cc-bench:baseline:{uuid.uuid4().hex[:12]}"
    runner, base = await serve(baseline_app(redis_url, stream))
    meter = CpuMeter()
    try:
        job = BaselineLoad(
            base.replace("http", "ws", 1), args.warmup, args.arrivals - args.warmup, args.rate
        )
        result = await run_clients(job, _marks(meter), in_process=args.clients_in_process)
    finally:
        await runner.cleanup()
        await delete_redis_keys(redis_url, stream)
    assert isinstance(result, Run)
    cpu = meter.use()
    client_cpu_s = result.cpu_ms_per_message * args.arrivals / 1000
    run = _run(
        "baseline", result.latencies_ms, result.send_lag_max_ms, result.wall_s, cpu, args.arrivals
    )
    return Phase(run, cpu, client_cpu_s, [])


# --- the hub ---------------------------------------------------------------------------------

# The stages of an arrival, as the event stream's entry ids time them (Redis's clock, in ms).
STAGES = ("ContactArrived", "ContactQueued", "ContactOffered")


async def stage_lines(redis: Any, stream: str, result: HubLoadResult, warmup: int) -> list[str]:
    """Where an arrival's time goes: from the customer's send to each stage's entry on the
    stream (its id is the Redis server's clock in ms), and on to the offer frame.
    Millisecond resolution; the machine's one wall clock for every process."""
    at: dict[tuple[str, str], int] = {}
    last = "-"
    while True:
        entries = await redis.xrange(stream, min=last, count=5000)
        for entry_id, fields in entries:
            if fields.get("type") in STAGES:
                contact_id = json.loads(fields["data"]).get("contact_id", "")
                at.setdefault((fields["type"], contact_id), int(entry_id.split("-")[0]))
        if len(entries) < 5000:
            break
        last = "(" + entries[-1][0]
    spans: dict[str, list[float]] = {}
    stuck: dict[str, int] = {"no contact yet": 0, **{stage: 0 for stage in STAGES}}
    names = ["send -> ContactArrived", "-> ContactQueued", "-> ContactOffered", "-> offer frame"]
    for i in range(warmup, len(result.contact_ids)):
        cid, sent, offered = (
            result.contact_ids[i],
            result.sent_wall_ms[i],
            result.offered_wall_ms[i],
        )
        if offered is None:  # still waiting: how far did it get?
            reached = [stage for stage in STAGES if cid is not None and (stage, cid) in at]
            stuck[reached[-1] if reached else "no contact yet"] += 1
            continue
        if cid is None or sent is None:
            continue
        times = [sent, *(at.get((stage, cid)) for stage in STAGES), offered]
        if any(t is None for t in times):
            continue
        for name, a, b in zip(names, times, times[1:], strict=False):
            spans.setdefault(name, []).append(float((b or 0) - (a or 0)))
    parts = []
    for name in names:
        s = sorted(spans.get(name, []))
        if s:
            parts.append(f"{name} p50={percentile(s, 50):.0f} p99={percentile(s, 99):.0f}")
    out = ["hub: stages (ms, from the stream's entry times): " + (", ".join(parts) or "none")]
    if result.still_waiting:
        out.append(
            "hub: customers still waiting for an offer, by the last stage on the stream: "
            + ", ".join(f"{name} {n}" for name, n in stuck.items())
        )
    return out


@contextlib.contextmanager
def cheap_password_hashes() -> Iterator[None]:
    """Hash the bench agents' passwords with argon2's cheapest parameters. A hash carries its
    own parameters, so their logins verify cheaply too: 200 logins take a moment, not the
    half minute the shipped parameters would, and login is not what is measured here."""
    original = contactcenter.web.auth._hasher
    contactcenter.web.auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        yield
    finally:
        contactcenter.web.auth._hasher = original


@dataclass
class HubProbe:
    """Counts and times, in the hub, the routing worker's passes (its calls of `decide`) and
    every snapshot read from Redis: the worker's, and the agents-only reads of the waiting
    customers' position updates (`wait_status`, when routing's last read is too old)."""

    passes: int = 0
    decide_s: float = 0.0
    offers_decided: int = 0
    waiting_seen: int = 0
    worker_snapshots: int = 0
    worker_snapshot_s: float = 0.0
    position_snapshots: int = 0
    position_snapshot_s: float = 0.0

    def lines(self, wall_s: float) -> list[str]:
        passes = max(1, self.passes)
        worker_ms = 1000 * self.worker_snapshot_s / max(1, self.worker_snapshots)
        position_ms = 1000 * self.position_snapshot_s / max(1, self.position_snapshots)
        return [
            f"hub: routing worker {self.passes} passes ({self.passes / wall_s:.0f}/s),"
            f" {self.waiting_seen / passes:.1f} contacts waiting and"
            f" {self.offers_decided / passes:.2f} offers decided per pass;"
            f" decide {1000 * self.decide_s / passes:.2f} ms, snapshot {worker_ms:.2f} ms"
            f" per pass",
            f"hub: position updates read every agent {self.position_snapshots} times"
            f" ({position_ms:.2f} ms each, {self.position_snapshot_s / wall_s:.2f} s per s)",
        ]


@contextlib.contextmanager
def probe_hub(store: Any, probe: HubProbe) -> Iterator[None]:
    original_decide = routing.worker.decide  # type: ignore[attr-defined]
    reader = store._snapshots
    snapshot: Callable[..., Awaitable[Any]] = reader.read

    def decide(state: Any, queues: Any, now_ms: int, liveness: Any = None) -> Any:
        t = time.perf_counter()
        out = original_decide(state, queues, now_ms, liveness)
        probe.decide_s += time.perf_counter() - t
        probe.passes += 1
        probe.waiting_seen += sum(1 for c in state.contacts.values() if c.state == "queued")
        probe.offers_decided += sum(1 for d in out if type(d).__name__ == "OfferContact")
        return out

    async def timed_snapshot(queue_names: Any, *args: Any, **kwargs: Any) -> Any:
        names = list(queue_names)
        t = time.perf_counter()
        try:
            return await snapshot(names, *args, **kwargs)
        finally:
            spent = time.perf_counter() - t
            if not kwargs.get("agents_only"):
                probe.worker_snapshots += 1
                probe.worker_snapshot_s += spent
            else:
                probe.position_snapshots += 1
                probe.position_snapshot_s += spent

    routing.worker.decide = decide  # type: ignore[attr-defined]
    reader.read = timed_snapshot
    try:
        yield
    finally:
        routing.worker.decide = original_decide  # type: ignore[attr-defined]
        del reader.read


async def _cancel_leftovers() -> str:
    """Tasks still running once the hub has stopped (handlers past aiohttp's shutdown
    timeout): cancel them, so that none touches the scratch database after it is dropped,
    and say which they were. Only the hub runs in this loop besides this coroutine (and,
    with --clients-in-process, clients that have finished)."""
    here = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not here and not t.done()]
    kinds = Counter(getattr(t.get_coro(), "__qualname__", "?") for t in left)
    for t in left:
        t.cancel()
    if left:
        await asyncio.wait(left, timeout=5)
    if not left:
        return ""
    top = ", ".join(f"{n} x {name}" for name, n in kinds.most_common(4))
    return f"; {len(left)} of its tasks were still running and were cancelled ({top})"


async def hub_phase(
    redis_url: str, database_url: str, args: argparse.Namespace, tally: LogTally
) -> Phase:
    from contactcenter.app import init
    from contactcenter.conversations.appkeys import ROUTING
    from contactcenter.core.appkeys import REDIS
    from contactcenter.web.appkeys import AGENTS

    settings = hub_settings(redis_url, database_url, free_port())
    domain, password = settings.routing_domain, settings.demo_password or ""
    app = init(settings)
    runner, base = await serve(app, settings.port, shutdown_timeout_s=5.0)
    meter = CpuMeter()
    probe = HubProbe()
    try:
        usernames = tuple(f"bench-agent-{i:04d}" for i in range(args.hub_agents))
        started = time.perf_counter()
        with cheap_password_hashes():
            for name in usernames:
                await app[AGENTS].create_agent(
                    name,
                    password,
                    display_name=name.replace("-", " ").title(),
                    skills=AGENT_SKILLS,
                    chat_capacity=settings.chat_capacity,
                    languages=AGENT_LANGUAGES,
                )
        progress(f"hub: {len(usernames)} agents created in {time.perf_counter() - started:.1f} s")
        job = HubLoad(
            base,
            usernames,
            password,
            args.rate,
            args.arrivals,
            args.warmup,
            (args.hold_min_s, args.hold_max_s),
            lead_s=0.5,
            seed=args.seed,
            drain_s=args.drain_s,
        )
        with probe_hub(app[ROUTING], probe):
            result = await run_clients(
                job, _marks(meter, tally), in_process=args.clients_in_process
            )
        assert isinstance(result, HubLoadResult)
        stages = await stage_lines(app[REDIS], app[ROUTING].keys.events, result, args.warmup)
    finally:
        stopping = time.perf_counter()
        await runner.cleanup()
        left = await _cancel_leftovers()
        await delete_redis_keys(redis_url, f"cc:{{{domain}}}:*")
        progress(f"hub: stopped in {time.perf_counter() - stopping:.1f} s{left}")
    assert isinstance(result, HubLoadResult)
    if result.errors:
        raise BenchBroken(f"hub: {len(result.errors)} error frames, first: {result.errors[:3]}")
    cpu = meter.use()
    run = _run(
        "hub", result.latencies_ms, result.send_lag_max_ms, result.wall_s, cpu, args.arrivals
    )
    behind = ""
    if result.still_waiting:
        behind = (
            f"; {result.still_waiting} of {len(result.latencies_ms)} measured customers were"
            f" still waiting for an offer when the run stopped, counted with the wait so far:"
            f" the percentiles are lower bounds"
        )
    detail = [
        f"hub: {result.offers} offers received over {result.wall_s:.1f} s"
        f" ({result.offers / max(result.wall_s, 1e-9):.0f}/s) for {args.arrivals} arrivals"
        f" over {result.arrivals_s:.1f} s{behind}",
        f"hub: agents received {result.agent_frames}",
        f"hub: customers received {result.customer_frames}",
        f"hub: {result.reoffers} offers made again, {result.late_offers} came after their"
        f" deadline (offer.gone on accept), {result.wrapped_up}/{args.arrivals}"
        f" wrapped up, {result.customers_done}/{args.arrivals} chats ended;"
        f" slowest customer connect + hello {result.hello_ms_max:.0f} ms",
        *probe.lines(max(cpu.wall_s, 1e-9)),
        *stages,
    ]
    return Phase(run, cpu, result.client_cpu_s, detail)
