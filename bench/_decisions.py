"""Part 1 of bench.routing: routing decisions per second of one worker, on a backlog.

A fresh routing domain on real Redis gets agents with random skills, levels, languages and
capacities (all available, each with a console), queues with skills or eligibility
expressions under every strategy, and a backlog of waiting contacts. Then
`RoutingWorker.run_pass()` runs again and again until the backlog is offered. Between two
passes, outside the timed span, every contact just offered is accepted, ended and wrapped up
through the store's own scripts, so the next pass finds its agents free again: agents who
accept at once and never keep anyone.

Decisions per second = offers carried out (OfferStatus.OFFERED) / wall time spent in passes.
Inside the passes, probes time the snapshot read, `routing.core.decide` and the offer
scripts, which tells where a pass's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis

import routing.snapshot
import routing.worker
from bench._common import (
    CpuMeter,
    delete_redis_keys,
    percentile,
    progress,
    redis_server_cpu_s,
)
from routing.expr import parse
from routing.model import EscalationStep, Liveness, OfferContact, QueuePolicy
from routing.status import AcceptStatus, EndStatus, OfferStatus, WrapUpStatus
from routing.store import RoutingStore
from routing.worker import RoutingWorker, wall_clock_ms

T = TypeVar("T")

SKILLS = (
    "billing",
    "support",
    "sales",
    "tech",
    "returns",
    "shipping",
    "accounts",
    "fraud",
    "loyalty",
    "onboarding",
)
STRATEGY_CYCLE = ("longest-idle", "least-occupied", "most-skilled", "round-robin", "sticky")
# (name, eligibility, the language its contacts speak or None for the usual mix)
EXPRESSION_QUEUES = (
    ("billing-fr", 'billing >= 40 and language in ("fr")', "fr"),
    ("vip", "accounts >= 70 or loyalty >= 70", None),
    ("tech-senior", "tech >= 60", None),
    ("sales-es", 'sales and language == "es"', "es"),
    ("returns-shipping", "returns or shipping", None),
    ("fraud-review", "fraud >= 50 and not onboarding", None),
    ("support-de", 'support and language in ("de", "en")', "de"),
    ("onboarding-any", "onboarding or support >= 80", None),
    ("billing-tech", "billing and tech", None),
    ("loyalty-sales", '(loyalty >= 30 or sales >= 60) and language != "de"', None),
)
# Which channel a contact comes on, weighted: chat mostly.
CHANNEL_MIX = (("chat", 7), ("email", 2), ("sms", 1))
# The hub's own liveness with the shipped settings (2 s heartbeat, offline after 60 s).
HUB_LIVENESS = Liveness(console_timeout_ms=6_000, offline_after_ms=60_000)
HEARTBEAT_EVERY_S = 2.0


# --- the population --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    capacity: dict[str, int]


def make_agents(rng: random.Random, count: int) -> list[AgentSpec]:
    """Two to four skills each at levels 10..100; English for nine in ten, other languages
    by chance; a chat capacity of 2 to 5 and room for email and SMS."""
    agents = []
    for i in range(count):
        skills = {s: rng.randint(10, 100) for s in rng.sample(SKILLS, rng.randint(2, 4))}
        langs = {lang for lang in ("fr", "es", "de") if rng.random() < 0.25}
        if rng.random() < 0.9 or not langs:
            langs.add("en")
        capacity = {"voice": 1, "chat": rng.randint(2, 5), "sms": 3, "whatsapp": 3, "email": 5}
        agents.append(AgentSpec(f"bench-agent-{i:04d}", skills, tuple(sorted(langs)), capacity))
    return agents


def make_queues() -> dict[str, QueuePolicy]:
    """Ten queues by skill and ten by expression, the five strategies in turn, some with
    aging, a weight or an escalation step."""
    queues: dict[str, QueuePolicy] = {}
    specs = [(s, s, None) for s in SKILLS] + [(n, None, e) for n, e, _ in EXPRESSION_QUEUES]
    for i, (name, skill, expression) in enumerate(specs):
        escalation: tuple[EscalationStep, ...] = ()
        if i % 3 == 0:
            escalation = (EscalationStep(after_ms=30_000, any_language=True),)
        elif i % 3 == 1:
            escalation = (EscalationStep(after_ms=45_000, overflow=("support",)),)
        queues[name] = QueuePolicy(
            name=name,
            skill=skill,
            offer_timeout_ms=20_000,
            eligibility=parse(expression) if expression else None,
            strategy=STRATEGY_CYCLE[i % len(STRATEGY_CYCLE)],
            aging_ms=60_000 if i % 2 == 0 else None,
            weight=1.5 if i % 4 == 0 else 1.0,
            sticky_ms=30_000,
            escalation=escalation,
        )
    return queues


@dataclass(frozen=True)
class ContactSpec:
    contact_id: str
    queue: str
    channel: str
    priority: int
    enqueued_at_ms: int
    aging_ms: int | None
    required_skills: tuple[str, ...]
    language: str | None
    preferred_agent_id: str | None


def make_contacts(
    rng: random.Random,
    count: int,
    queues: dict[str, QueuePolicy],
    agents: list[AgentSpec],
    now_ms: int,
) -> list[ContactSpec]:
    """Spread over every queue, arrived in the last minute (so that some have reached an
    escalation step), one in ten with a higher priority, one in twenty needing a second
    skill, and a preferred agent for half of the sticky queues' contacts."""
    names = list(queues)
    language_of = {n: lang for n, _, lang in EXPRESSION_QUEUES}
    channels = [c for c, _ in CHANNEL_MIX]
    weights = [w for _, w in CHANNEL_MIX]
    out = []
    for _ in range(count):
        queue = queues[rng.choice(names)]
        language = language_of.get(queue.name) or rng.choice(("en",) * 6 + (None,))
        preferred = None
        if queue.strategy == "sticky" and rng.random() < 0.5:
            preferred = rng.choice(agents).agent_id
        out.append(
            ContactSpec(
                contact_id=str(uuid.uuid4()),
                queue=queue.name,
                channel=rng.choices(channels, weights)[0],
                priority=5 if rng.random() < 0.1 else 0,
                enqueued_at_ms=now_ms - rng.randint(0, 60_000),
                aging_ms=queue.aging_ms,
                required_skills=(rng.choice(SKILLS),) if rng.random() < 0.05 else (),
                language=language,
                preferred_agent_id=preferred,
            )
        )
    return out


async def gather_chunked(
    items: Iterable[T], work: Callable[[T], Awaitable[Any]], chunk: int = 200
) -> list[Any]:
    """Run `work` on every item, at most `chunk` at a time (so Redis sees a busy client, not
    one round trip after another)."""
    out: list[Any] = []
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == chunk:
            out += await asyncio.gather(*(work(x) for x in batch))
            batch = []
    if batch:
        out += await asyncio.gather(*(work(x) for x in batch))
    return out


async def set_up_agents(store: RoutingStore, agents: list[AgentSpec]) -> None:
    async def one(a: AgentSpec) -> None:
        now = wall_clock_ms()
        await store.set_agent_profile(
            a.agent_id, skills=a.skills, capacity=a.capacity, languages=a.languages, now_ms=now
        )
        await store.set_agent_state(a.agent_id, "available", now_ms=now, from_console=True)

    await gather_chunked(agents, one)


async def enqueue(store: RoutingStore, contacts: list[ContactSpec]) -> None:
    async def one(c: ContactSpec) -> None:
        await store.enqueue(
            contact_id=c.contact_id,
            queue=c.queue,
            channel=c.channel,
            customer_id=f"bench-customer-{c.contact_id[:8]}",
            priority=c.priority,
            now_ms=wall_clock_ms(),
            enqueued_at_ms=c.enqueued_at_ms,
            aging_ms=c.aging_ms,
            required_skills=c.required_skills,
            language=c.language,
            preferred_agent_id=c.preferred_agent_id,
        )

    await gather_chunked(contacts, one)


async def serve(store: RoutingStore, offered: list[OfferContact]) -> list[str]:
    """The agents accept each offer at once, end the conversation and wrap up, which frees
    their capacity. Returns what went wrong (nothing, normally)."""

    async def one(d: OfferContact) -> str | None:
        now = wall_clock_ms()
        if (s := await store.accept(d.contact_id, d.agent_id, now)) is not AcceptStatus.ACCEPTED:
            return f"accept {s.name}"
        if (e := await store.end_conversation(d.contact_id, d.agent_id, now)) is not (
            EndStatus.ENDED
        ):
            return f"end {e.name}"
        if (w := await store.wrap_up(d.contact_id, d.agent_id, "resolved", "", now)) is not (
            WrapUpStatus.CLOSED
        ):
            return f"wrap-up {w.name}"
        return None

    return [p for p in await gather_chunked(offered, one) if p is not None]


# --- probes inside a pass --------------------------------------------------------------------


@dataclass
class Probes:
    """Time spent in each part of the worker's passes, and the offers they carried out."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    offered: list[OfferContact] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.offered.clear()
        self.statuses.clear()


def _timed_sync(probes: Probes, name: str, fn: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            probes.add(name, time.perf_counter() - t)

    return wrapper


@contextlib.contextmanager
def probed(store: RoutingStore, probes: Probes) -> Iterator[None]:
    """Time `decide`, the snapshot read (and, inside it, the building of views from the
    replies) and the offer scripts, by wrapping them for this process only. Nothing of the
    source changes; the wrappers cost well under a microsecond per call."""
    snapshot, offer, offer_many = store.snapshot, store.offer, store.offer_many

    async def timed_snapshot(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await snapshot(*args, **kwargs)
        finally:
            probes.add("snapshot", time.perf_counter() - t)

    async def timed_offer(decision: OfferContact, now_ms: int) -> OfferStatus:
        t = time.perf_counter()
        try:
            status = await offer(decision, now_ms)
        finally:
            probes.add("offer", time.perf_counter() - t)
        probes.statuses[status.name] = probes.statuses.get(status.name, 0) + 1
        if status is OfferStatus.OFFERED:
            probes.offered.append(decision)
        return status

    async def timed_offer_many(decisions: list[OfferContact], now_ms: int) -> list[OfferStatus]:
        t = time.perf_counter()
        try:
            statuses = await offer_many(decisions, now_ms)
        finally:
            probes.add("offer", time.perf_counter() - t)
        for decision, status in zip(decisions, statuses, strict=True):
            probes.statuses[status.name] = probes.statuses.get(status.name, 0) + 1
            if status is OfferStatus.OFFERED:
                probes.offered.append(decision)
        return statuses

    # Wrapped where present: a renamed helper loses its line in the output, not the run.
    targets = (
        (routing.worker, "decide", "decide"),
        (routing.snapshot, "_agent_view", "views"),
        (routing.snapshot, "contact_view", "views"),
    )
    originals = [(m, n, getattr(m, n)) for m, n, _ in targets if hasattr(m, n)]
    store.snapshot = timed_snapshot  # type: ignore[method-assign]
    store.offer = timed_offer  # type: ignore[method-assign]
    store.offer_many = timed_offer_many  # type: ignore[method-assign]
    for module, name, probe in targets:
        if hasattr(module, name):
            setattr(module, name, _timed_sync(probes, probe, getattr(module, name)))
    try:
        yield
    finally:
        del store.snapshot, store.offer, store.offer_many
        for module, name, original in originals:
            setattr(module, name, original)


# --- the measurement -------------------------------------------------------------------------


@dataclass
class PassStats:
    wall_s: float
    offered: int
    cpu_s: float
    redis_cpu_s: float
    machine_cpu_s: float | None  # every core of the machine, busy CPU seconds


@dataclass
class DecisionsResult:
    agents: int
    queues: int
    backlog: int
    passes: list[PassStats]
    seconds: dict[str, float]  # probe name -> seconds inside passes
    left_waiting: int
    out_of_budget: bool
    problems: list[str]
    setup_s: float
    enqueue_s: float
    single_ms: list[float]  # wall time of passes that each find one new contact
    single_offered: int
    profile: str | None

    @property
    def offered(self) -> int:
        return sum(p.offered for p in self.passes)

    @property
    def pass_s(self) -> float:
        return sum(p.wall_s for p in self.passes)

    @property
    def decisions_per_s(self) -> float:
        return self.offered / self.pass_s if self.pass_s else 0.0

    def lines(self) -> list[str]:
        total = self.pass_s or 1.0
        sec = self.seconds

        def share(name: str) -> float:
            return 100 * sec.get(name, 0.0) / total

        snapshot_io = max(0.0, sec.get("snapshot", 0.0) - sec.get("views", 0.0))
        other = total - sec.get("snapshot", 0.0) - sec.get("decide", 0.0) - sec.get("offer", 0.0)
        cpu = sum(p.cpu_s for p in self.passes)
        redis_cpu = sum(p.redis_cpu_s for p in self.passes)
        machine = [p.machine_cpu_s for p in self.passes]
        busy = (
            ""
            if any(m is None for m in machine)
            else f", whole machine {sum(m or 0.0 for m in machine) / total:.2f} of"
            f" {os.cpu_count()} cores busy"
        )
        walls = sorted(p.wall_s * 1000 for p in self.passes)
        offers = sorted(float(p.offered) for p in self.passes)
        out = [
            f"decisions: {self.offered} offered in {len(self.passes)} passes,"
            f" {self.pass_s:.2f} s inside passes -> {self.decisions_per_s:.0f} decisions/s",
            f"decisions: time inside passes: decide {share('decide'):.1f}%,"
            f" snapshot read {share('snapshot'):.1f}% (Redis round trips and redis-py"
            f" {100 * snapshot_io / total:.1f}%, building views {share('views'):.1f}%),"
            f" offer scripts {share('offer'):.1f}%, rest {100 * other / total:.1f}%",
            f"decisions: per pass: p50 {percentile(walls, 50):.0f} ms and"
            f" {percentile(offers, 50):.0f} offers, slowest {walls[-1]:.0f} ms;"
            f" {1e6 * total / max(1, self.offered):.0f} us per decision, of which decide"
            f" {1e6 * sec.get('decide', 0.0) / max(1, self.offered):.0f} us",
            f"decisions: CPU inside passes: this process {cpu / total:.2f} cores,"
            f" Redis server {redis_cpu / total:.2f} cores{busy}",
        ]
        if self.single_ms:
            s = sorted(self.single_ms)
            mean = sum(s) / len(s)
            out.append(
                f"decisions: one new contact per pass ({len(s)} passes, {self.single_offered}"
                f" offered): p50={percentile(s, 50):.1f} p99={percentile(s, 99):.1f}"
                f" mean={mean:.1f} ms per pass -> at most {1000 / mean:.0f} passes/s"
            )
        if self.out_of_budget:
            out.append(
                f"decisions: passes stopped at their time budget (--pass-budget-s) with"
                f" {self.left_waiting} of {self.backlog} contacts still waiting"
            )
        elif self.left_waiting:
            out.append(f"decisions: {self.left_waiting} contacts no agent could take were left")
        return out


async def _timed_pass(worker: RoutingWorker, redis: Redis) -> tuple[PassStats, int]:
    redis_before = await redis_server_cpu_s(redis)
    meter = CpuMeter()
    t = time.perf_counter()
    result = await worker.run_pass()
    wall = time.perf_counter() - t
    cpu = meter.stop()
    redis_cpu = await redis_server_cpu_s(redis) - redis_before
    machine = None if cpu.machine_cores is None else cpu.machine_cores * cpu.wall_s
    return PassStats(wall, result.offered, cpu.own_cpu_s, redis_cpu, machine), result.refused


@contextlib.asynccontextmanager
async def _domain(redis_url: str) -> AsyncIterator[tuple[Redis, RoutingStore]]:
    domain = f"benchr{uuid.uuid4().hex[:12]}"
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield redis, RoutingStore(redis, domain)
    finally:
        await redis.aclose()
        await delete_redis_keys(redis_url, f"cc:{{{domain}}}:*")


async def decisions_phase(redis_url: str, args: argparse.Namespace) -> DecisionsResult:
    rng = random.Random(args.seed)
    agents = make_agents(rng, args.agents)
    queues = make_queues()
    async with _domain(redis_url) as (redis, store):
        t = time.perf_counter()
        await set_up_agents(store, agents)
        setup_s = time.perf_counter() - t
        contacts = make_contacts(rng, args.backlog, queues, agents, wall_clock_ms())
        t = time.perf_counter()
        await enqueue(store, contacts)
        enqueue_s = time.perf_counter() - t
        progress(
            f"decisions: {len(agents)} agents set up in {setup_s:.1f} s, {len(contacts)}"
            f" contacts queued in {enqueue_s:.1f} s; passes until the backlog is offered"
        )
        worker = RoutingWorker(store, queues, liveness=HUB_LIVENESS)
        agent_ids = [a.agent_id for a in agents]
        probes = Probes()
        passes: list[PassStats] = []
        problems: list[str] = []
        last_beat = 0.0
        last_note = time.perf_counter()
        idle_passes = 0

        async def beat() -> None:
            # What the hub's heartbeat task does every 2 s: these consoles are connected.
            nonlocal last_beat
            if time.perf_counter() - last_beat >= HEARTBEAT_EVERY_S:
                await store.heartbeat(agent_ids, wall_clock_ms())
                last_beat = time.perf_counter()

        with probed(store, probes):
            while (
                sum(p.offered for p in passes) < len(contacts)
                and idle_passes < 2
                and sum(p.wall_s for p in passes) < args.pass_budget_s
            ):
                await beat()
                stats, refused = await _timed_pass(worker, redis)
                passes.append(stats)
                idle_passes = idle_passes + 1 if stats.offered == 0 else 0
                if refused:
                    problems.append(f"pass {len(passes)}: {refused} commands refused")
                problems += await serve(store, probes.offered)
                probes.offered.clear()
                if time.perf_counter() - last_note >= 5:
                    last_note = time.perf_counter()
                    done = sum(p.offered for p in passes)
                    progress(f"decisions: {len(passes)} passes, {done}/{len(contacts)} offered")
            seconds = dict(probes.seconds)
            left = len(contacts) - sum(p.offered for p in passes)
            out_of_budget = left > 0 and sum(p.wall_s for p in passes) >= args.pass_budget_s
            # What the budget left of the backlog goes, so that the passes below find only
            # the one contact each that they are about.
            await redis.delete(*(store.keys.queue(q) for q in queues))

            # The hub's usual case: each arrival wakes the worker, and a pass finds one contact.
            single_ms: list[float] = []
            probes.reset()
            for _ in range(args.single_passes):
                await beat()
                await enqueue(store, make_contacts(rng, 1, queues, agents, wall_clock_ms()))
                stats, _ = await _timed_pass(worker, redis)
                single_ms.append(stats.wall_s * 1000)
                problems += await serve(store, probes.offered)
                probes.offered.clear()
            single_offered = probes.statuses.get("OFFERED", 0)

        profile = None
        if args.profile:
            profile = await _profile(store, worker, rng, queues, agents, args, beat)
    return DecisionsResult(
        len(agents),
        len(queues),
        len(contacts),
        passes,
        seconds,
        left,
        out_of_budget,
        problems,
        setup_s,
        enqueue_s,
        single_ms,
        single_offered,
        profile,
    )


async def _profile(
    store: RoutingStore,
    worker: RoutingWorker,
    rng: random.Random,
    queues: dict[str, QueuePolicy],
    agents: list[AgentSpec],
    args: argparse.Namespace,
    beat: Callable[[], Awaitable[None]],
) -> str:
    """cProfile over passes on a fresh backlog (a fifth of the measured one, at least 2000):
    the functions with the most own time, then the ones routing spends its time under."""
    count = max(2000, args.backlog // 5)
    progress(f"decisions: profiling passes over {count} more contacts (cProfile)")
    await enqueue(store, make_contacts(rng, count, queues, agents, wall_clock_ms()))
    profiler = cProfile.Profile()
    probes = Probes()
    done = 0
    with probed(store, probes):
        for _ in range(100):
            await beat()
            profiler.enable()
            result = await worker.run_pass()
            profiler.disable()
            done += result.offered
            await serve(store, probes.offered)
            probes.offered.clear()
            if result.offered == 0 or done >= count:
                break
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.profile)
    stats.sort_stats("cumulative").print_stats(r"/routing/|redis/asyncio/client", args.profile)
    return out.getvalue()
