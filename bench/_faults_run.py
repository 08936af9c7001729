"""One run of bench.faults: the rig started, agents at their desks, customers arriving on
schedule through the phases and their faults, then a drain until the chats are over."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from bench._common import BenchBroken, CpuMeter, progress
from bench._faults_agents import Agent, AgentPlan
from bench._faults_book import Book, CustomerLog
from bench._faults_checks import Phase
from bench._faults_customers import ChatPlan, Customer, cmid
from bench._faults_rig import Hubs, OwnRedis, Proxy, StreamRecorder, through
from routing.keys import Keys

TICK_S = 5.0  # a progress line this often
STALL_S = 20.0  # the drain gives up after this long with no chat finishing


@dataclass(frozen=True)
class RunPlan:
    args: argparse.Namespace
    database_url: str  # the scratch database, reached directly (the hubs go through the proxy)
    domain: str
    password: str
    tag: str
    workdir: Path


async def _sleep_until(at_s: float) -> None:
    wait = at_s - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


class Run:
    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.args = plan.args
        self.redis = OwnRedis(plan.workdir)
        self.proxy: Proxy | None = None
        self.hubs: Hubs | None = None
        self.recorder: StreamRecorder | None = None
        self.book = Book()
        self.agents: list[Agent] = []
        self.background: list[asyncio.Task[None]] = []
        self.customers: set[asyncio.Task[None]] = set()
        self.failures: list[str] = []
        self.phases: list[Phase] = []
        self.wall_offset_s = time.time() - time.monotonic()
        self.live: dict[str, dict[str, str]] = {}  # Redis's view of unfinished contacts
        self.now_doing = "setup"

    # --- the whole run -------------------------------------------------------------------------

    async def go(self) -> None:
        self.redis.spawn()
        await self.redis.wait_ready()
        progress(f"redis-server of this run on port {self.redis.port}")
        names = await self._prepare_database()
        self.proxy = await Proxy.start(self.plan.database_url)
        self.recorder = StreamRecorder(self.redis.url, self.plan.domain)
        self.background.append(asyncio.create_task(self.recorder.run(), name="recorder"))
        self.hubs = Hubs(
            self.redis.url,
            through(self.plan.database_url, self.proxy.port),
            self.plan.domain,
            self.plan.workdir,
            self.args,
        )
        started = time.monotonic()
        await self.hubs.start(0, 1)
        progress(
            f"hubs A and B up in {time.monotonic() - started:.1f} s on ports {self.hubs.ports};"
            f" PostgreSQL through the proxy on port {self.proxy.port}"
        )
        await self._agents_ready(names)
        await self._timeline()
        await self._drain()
        await self._history_settled()
        self.live = await self._live_view()
        crashed = self.failures + self.book.crashes
        if crashed:
            raise BenchBroken(f"{len(crashed)} client tasks crashed; the first: {crashed[0]}")

    async def close(self) -> None:
        self.book.stop.set()
        await asyncio.gather(*(a.close() for a in self.agents), return_exceptions=True)
        for task in [*self.customers, *self.background]:
            task.cancel()
        await asyncio.gather(*self.customers, *self.background, return_exceptions=True)
        if self.hubs is not None:
            await self.hubs.stop_all()
        if self.recorder is not None:
            await self.recorder.close()
        if self.proxy is not None:
            await self.proxy.stop()
        self.redis.stop()

    async def _prepare_database(self) -> list[str]:
        """The schema, and the agents (skill support, English, the run's chat capacity)."""
        from contactcenter.core.db import create_pool, migrate
        from contactcenter.web.auth import AgentStore

        pool = await create_pool(self.plan.database_url, size=2)
        names = [f"fault-agent-{i + 1}" for i in range(self.args.agents)]
        try:
            await migrate(pool)
            store = AgentStore(pool)
            for name in names:
                await store.create_agent(
                    name,
                    self.plan.password,
                    display_name=name.replace("-", " ").title(),
                    skills={"support": 50},
                    chat_capacity=self.args.capacity,
                    languages=("en",),
                )
        finally:
            await pool.close()
        return names

    async def _agents_ready(self, names: list[str]) -> None:
        assert self.hubs is not None
        plan = AgentPlan(
            password=self.plan.password,
            tag=self.plan.tag,
            messages=self.args.messages,
            pause_s=(0.2, 1.0),
            max_wait_s=40.0,  # past a hung PostgreSQL and the retries after it
        )
        for i, name in enumerate(names):
            agent = Agent(name, i % 2, self.hubs.urls, self.book, plan)
            self.agents.append(agent)
            self.background.append(asyncio.create_task(agent.run(), name=name))
        deadline = time.monotonic() + 30
        while not all(a.state == "available" for a in self.agents):
            if time.monotonic() > deadline:
                raise BenchBroken("the agents did not all go available within 30 s")
            await asyncio.sleep(0.1)
        progress(f"{len(names)} agents available, half on each hub")

    # --- phases --------------------------------------------------------------------------------

    def _specs(self) -> list[tuple[str, str, float]]:
        a = self.args
        specs = [("baseline", "baseline", a.baseline_s)]
        titles = {
            "kill": (f"kill -9 hub A (back after {a.restart_after_s:g} s)", a.restart_after_s),
            "flush": ("FLUSHALL", 0.0),
            "pgcut": (f"PostgreSQL cut off {a.outage_s:g} s", a.outage_s),
            "pghang": (f"PostgreSQL hung {a.hang_s:g} s", a.hang_s),
        }
        for key in a.faults:
            title, lasting_s = titles[key]
            specs.append((key, title, a.lead_s + lasting_s + a.settle_s))
        return specs

    async def _timeline(self) -> None:
        specs = self._specs()
        total_s = sum(d for _k, _t, d in specs)
        t0 = time.monotonic() + 1.0
        progress(
            f"{len(specs)} phases over {total_s:.0f} s, {self.args.rate:g} new chats/s:"
            f" {', '.join(t for _k, t, _d in specs)}"
        )
        arrivals = asyncio.create_task(self._arrivals(t0, total_s))
        ticker = asyncio.create_task(self._ticker())
        try:
            start = t0
            for key, title, duration_s in specs:
                await _sleep_until(start)
                phase = Phase(key, title, start, start + duration_s)
                self.phases.append(phase)
                self.now_doing = title
                meter = CpuMeter()
                await self._fault(phase)
                await _sleep_until(phase.end_s)
                phase.machine_cores = meter.stop().machine_cores
                start = phase.end_s
            await arrivals
        finally:
            arrivals.cancel()
            ticker.cancel()

    async def _fault(self, p: Phase) -> None:
        assert self.hubs is not None and self.proxy is not None and self.recorder is not None
        if p.key == "baseline":
            return
        await _sleep_until(p.start_s + self.args.lead_s)
        if p.key == "kill":
            self.hubs.kill(0)
            p.fault_s = time.monotonic()
            progress("fault: hub A killed (SIGKILL)")
            await _sleep_until(p.fault_s + self.args.restart_after_s)
            await self.hubs.start(0)
            p.heal_s = time.monotonic()
            moved = [await a.move_home() for a in self.agents]
            progress(
                f"fault over: hub A up again {p.heal_s - p.fault_s:.1f} s after its death;"
                f" {sum(moved)} agents back to it"
            )
        elif p.key == "flush":
            p.fault_s = await self.recorder.flushall()
            progress("fault: FLUSHALL")
        else:
            mode = "cut" if p.key == "pgcut" else "hang"
            await self.proxy.command(mode)
            p.fault_s = time.monotonic()
            progress(f"fault: PostgreSQL {'cut off' if mode == 'cut' else 'hung'}")
            lasting_s = self.args.outage_s if mode == "cut" else self.args.hang_s
            await _sleep_until(p.fault_s + lasting_s)
            await self.proxy.command("heal")
            p.heal_s = time.monotonic()
            progress("fault over: PostgreSQL reachable again")

    async def _arrivals(self, t0: float, total_s: float) -> None:
        assert self.hubs is not None
        rate = self.args.rate
        chat = ChatPlan(messages=self.args.messages, gap_s=(0.3, 0.8))
        for i in range(int(total_s * rate)):
            due = t0 + i / rate
            await _sleep_until(due - 0.5)
            log = CustomerLog(i, due, cmid(self.plan.tag, i, 1))
            self.book.customers.append(log)
            customer = Customer(log, self.hubs.urls, self.book, chat, self.plan.tag)
            task = asyncio.create_task(customer.run(), name=f"customer-{i}")
            self.customers.add(task)
            task.add_done_callback(self._customer_done)

    def _customer_done(self, task: asyncio.Task[None]) -> None:
        self.customers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(repr(task.exception()))

    async def _ticker(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            progress(f"{time.monotonic() - started:5.0f} s  {self.now_doing}: {self.status()}")

    def status(self) -> str:
        logs = self.book.customers
        done = sum(1 for c in logs if c.over_s is not None)
        talking = sum(1 for c in logs if c.joined_s is not None and c.over_s is None)
        waiting = sum(1 for c in logs if c.joined_s is None and c.over_s is None)
        drops = sum(1 for _t, k in self.book.drops if k == "customer")
        return (
            f"{len(logs)} customers arrived, {done} done, {talking} talking, {waiting} waiting;"
            f" {len(self.book.offers)} offers; {len(self.book.refusals)} refusals;"
            f" {drops} chat and {len(self.book.drops) - drops} console connections dropped"
        )

    # --- the end -------------------------------------------------------------------------------

    async def _drain(self) -> None:
        self.now_doing = "drain"
        deadline = time.monotonic() + self.args.drain_s
        left, changed = len(self.customers), time.monotonic()
        while self.customers and time.monotonic() < deadline:
            await asyncio.wait(set(self.customers), timeout=1.0)
            if len(self.customers) != left:
                left, changed = len(self.customers), time.monotonic()
            elif time.monotonic() - changed > STALL_S:
                progress(f"drain: no chat finished for {STALL_S:.0f} s; not waiting longer")
                break
        progress(f"drain: {len(self.customers)} chats still open; stopping the customers")
        self.book.stop.set()
        if self.customers:
            await asyncio.wait(set(self.customers), timeout=10)
        for _ in range(50):  # at most 25 s for the agents to wrap up what they hold
            if not any(a.handlers for a in self.agents):
                break
            await asyncio.sleep(0.5)

    async def _history_settled(self, timeout_s: float = 15.0) -> None:
        """Wait (bounded) until the history writer has stored every event recorded since the
        last FLUSHALL (those before it that it had not read are lost for good)."""
        assert self.recorder is not None
        since = self.recorder.flushes[-1].index if self.recorder.flushes else 0
        ids = [e.fields.get("id", "") for e in self.recorder.entries[since:]]
        conn = await asyncpg.connect(self.plan.database_url)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                stored = await conn.fetchval(
                    "SELECT count(*) FROM events WHERE event_id = ANY($1)", ids
                )
                if stored >= len(ids):
                    return
                await asyncio.sleep(0.5)
            progress(f"history: {len(ids) - stored} events not stored after {timeout_s:.0f} s")
        finally:
            await conn.close()

    async def _live_view(self) -> dict[str, dict[str, str]]:
        """Redis's hash of every contact whose chat did not end: where it got stuck."""
        unfinished = [
            c
            for log in self.book.customers
            if log.outcome not in ("ended", "ended-while-away")
            for c in log.contact_ids
        ]
        client = Redis.from_url(self.redis.url, decode_responses=True)
        keys = Keys(self.plan.domain)
        out: dict[str, dict[str, str]] = {}
        try:
            for contact_id in unfinished:
                fields = await client.hgetall(keys.contact(contact_id))  # type: ignore[misc]
                out[contact_id] = dict(fields)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        return out
