"""Pieces the benchmarks share: storage for a run, paced open-loop sending, percentiles, and
a tally of the warnings and errors the code under test logs while it is measured.

Nothing here judges a figure: a benchmark prints what it measured beside its baseline and
exits 0; only something broken (a lost message, a server that will not start) is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog
from aiohttp import web
from redis.asyncio import Redis

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


class BenchBroken(RuntimeError):
    """Something is broken (not slow): the benchmark reports it and exits non-zero."""


STORAGE_EPILOG = """\
Storage: REDIS_URL and DATABASE_URL from the environment when both are set (the run creates
and drops a scratch database cc_bench_<random> on that PostgreSQL server and deletes its
Redis keys afterwards); otherwise embedded servers are started in a temporary folder."""


def hub_settings(redis_url: str, database_url: str, port: int) -> Any:
    """The shipped config (no CC_* overrides) on these servers, in a fresh routing domain,
    with a random demo password; the web chat's rate limits raised out of the way, since
    every simulated customer comes from one loopback address."""
    import secrets
    from dataclasses import replace

    from contactcenter.site_settings import load_settings

    shipped = load_settings(ROOT / "config", {})
    unlimited = 10**9
    return replace(
        shipped,
        port=port,
        redis_url=redis_url,
        database_url=database_url,
        routing_domain=f"bench{uuid.uuid4().hex[:12]}",
        demo_password=secrets.token_urlsafe(12),
        widget=replace(
            shipped.widget,
            messages_per_visitor_per_min=unlimited,
            messages_per_ip_per_min=unlimited,
            connections_per_ip_per_min=unlimited,
        ),
    )


def progress(text: str) -> None:
    print(text, flush=True)


# --- storage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    redis_url: str
    admin_database_url: str  # a database to connect to for CREATE / DROP DATABASE
    embedded: bool


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """The environment's REDIS_URL and DATABASE_URL, or embedded servers started here.

    Runs outside the event loop, on the main thread: the embedded servers are tied to the
    thread that starts them, and their start-up blocks.
    """
    redis_url, database_url = os.environ.get("REDIS_URL"), os.environ.get("DATABASE_URL")
    if redis_url and database_url:
        yield Servers(redis_url, database_url, embedded=False)
        return
    from contactcenter.embedded.servers import EmbeddedServices

    # A fresh folder of our own under /tmp: as root, PostgreSQL runs as `nobody`, who must be
    # able to enter it (a pytest-style 0700 parent would lock it out).
    data_dir = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    progress(f"starting embedded Redis-compatible server and PostgreSQL in {data_dir}")
    started = time.perf_counter()
    try:
        with EmbeddedServices(
            data_dir, start_redis=not redis_url, start_postgres=not database_url
        ) as urls:
            progress(f"embedded servers up in {time.perf_counter() - started:.1f} s")
            yield Servers(
                redis_url or urls.redis_url or "",
                database_url or urls.database_url or "",
                embedded=True,
            )
    finally:
        for line in _server_log_findings(data_dir):
            progress(line)
        shutil.rmtree(data_dir, ignore_errors=True)


# Lines every embedded start and stop writes: not about the run.
_BENIGN = (
    "Memory overcommit must be enabled",  # the host's vm.overcommit_memory
    "ready to exit, bye bye",  # valkey's normal shutdown
    'database "contactcenter" does not exist',  # the start-up check before createdb
)


def _server_log_findings(data_dir: Path, keep: int = 5) -> list[str]:
    """Warnings and errors in the embedded servers' logs, which go with their folder."""
    found: list[str] = []
    logs = (
        (data_dir / "redis" / "valkey.log", (" # ",)),  # valkey marks warnings with '#'
        (data_dir / "postgres.log", ("WARNING:", "ERROR:", "FATAL:", "PANIC:")),
    )
    for log, marks in logs:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        hits = [
            line
            for line in lines
            if any(m in line for m in marks) and not any(b in line for b in _BENIGN)
        ]
        if hits:
            found.append(f"{log.name}: {len(hits)} warning or error lines, the last ones:")
            found += [f"  {line[:200]}" for line in hits[-keep:]]
    return found


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str) -> AsyncIterator[str]:
    """A new, empty database `cc_bench_<random>` on the server of `admin_url`, dropped after."""
    name = f"cc_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def delete_redis_keys(redis_url: str, *patterns: str) -> int:
    """Delete every key matching one of `patterns`; returns how many went."""
    client = Redis.from_url(redis_url, decode_responses=True)
    deleted = 0
    try:
        for pattern in patterns:
            keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
            if keys:
                deleted += await client.delete(*keys)
    finally:
        await client.aclose()
    return deleted


# --- logs of the code under test -------------------------------------------------------------


@dataclass
class LogTally:
    """Warnings and errors logged (structlog or stdlib), counted by phase and event name."""

    phase: str = "setup"
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def note(self, level: str, event: str) -> None:
        self.counts[(self.phase, level, event)] += 1

    def lines(self) -> list[str]:
        return [
            f"  {phase}: {n} x {level} {event}"
            for (phase, level, event), n in sorted(self.counts.items())
        ]


class _CountingHandler(logging.Handler):
    def __init__(self, tally: LogTally) -> None:
        super().__init__(level=logging.WARNING)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self.tally.note(record.levelname.lower(), f"{record.name}: {record.getMessage()[:80]}")


def capture_logs(tally: LogTally) -> None:
    """Send the hub's logs to stderr at warning level and count each warning and error.

    stdout stays for the benchmark's own progress and its result line.
    """
    from contactcenter.core.logs import configure_logging

    configure_logging(level="warning", fmt="json")
    processors = list(structlog.get_config()["processors"])

    def count(
        _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        tally.note(method, str(event_dict.get("event", "?")))
        return event_dict

    structlog.configure(processors=[count, *processors])
    logging.getLogger().addHandler(_CountingHandler(tally))


# --- measuring -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending, non-empty list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Run:
    """The latencies of one paced run, in message order (warm-up excluded)."""

    label: str
    latencies_ms: list[float]  # index 0 is the first measured message
    send_lag_max_ms: float  # how far the sender fell behind its schedule, at worst
    wall_s: float
    cpu_ms_per_message: float  # this process (server and clients alike), user + system
    own_cores: float  # this process's CPU use, in cores
    machine_cores: float | None  # the whole machine's, from /proc/stat (None elsewhere)

    def pct(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def summary(self) -> str:
        s = sorted(self.latencies_ms)
        mean = sum(s) / len(s)
        return (
            f"{self.label}: n={len(s)} p50={percentile(s, 50):.3f} p90={percentile(s, 90):.3f}"
            f" p99={percentile(s, 99):.3f} p99.9={percentile(s, 99.9):.3f}"
            f" max={s[-1]:.3f} mean={mean:.3f} ms"
        )

    def load(self) -> str:
        machine = (
            ""
            if self.machine_cores is None
            else (f", whole machine {self.machine_cores:.2f} of {os.cpu_count()} cores busy")
        )
        return (
            f"{self.label}: {self.wall_s:.1f} s; this process {self.own_cores:.2f} cores"
            f" ({self.cpu_ms_per_message:.2f} ms CPU per message){machine};"
            f" sender at worst {self.send_lag_max_ms:.1f} ms behind schedule"
        )

    def outliers(self, count: int = 5) -> str:
        worst = sorted(enumerate(self.latencies_ms), key=lambda p: p[1], reverse=True)[:count]
        return f"{self.label}: slowest " + ", ".join(f"#{i}={ms:.1f}ms" for i, ms in worst)


@dataclass(frozen=True)
class _Usage:
    at_s: float
    own_cpu_s: float
    machine_busy_s: float | None  # CPU seconds all cores spent busy since boot

    @classmethod
    def now(cls) -> _Usage:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(time.perf_counter(), usage.ru_utime + usage.ru_stime, _machine_busy_s())

    def cores_since(self, start: _Usage) -> tuple[float, float | None]:
        wall = self.at_s - start.at_s
        own = (self.own_cpu_s - start.own_cpu_s) / wall
        if self.machine_busy_s is None or start.machine_busy_s is None:
            return own, None
        return own, (self.machine_busy_s - start.machine_busy_s) / wall


def _machine_busy_s() -> float | None:
    """Busy CPU time of the whole machine: /proc/stat's first line less idle and iowait."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def stamp(i: int, sent_ns: int) -> str:
    """The text a benchmark message carries: its number and its send time."""
    return f"bench i={i} t={sent_ns}"


def unstamp(text: str) -> tuple[int, int] | None:
    if not text.startswith("bench i="):
        return None
    i, t = text[len("bench ") :].split(" ")
    return int(i[2:]), int(t[2:])


Send = Callable[[str], Awaitable[None]]
Recv = Callable[[], Awaitable[str | bytes]]
Extract = Callable[[str | bytes], tuple[int, int] | None]


async def paced_run(
    label: str,
    send: Send,
    recv: Recv,
    frame_for: Callable[[int, int], str],
    extract: Extract,
    *,
    warmup: int,
    messages: int,
    rate: float,
    drain_timeout_s: float = 30.0,
) -> Run:
    """Send warmup + messages frames at `rate` per second (open loop, on a fixed schedule)
    and time each from just before its send to its arrival on the other socket.

    `frame_for(i, now_ns)` builds frame i; `extract(raw)` finds (i, sent_ns) in a received
    frame, or None for a frame that is not one of ours. Raises BenchBroken if a message is
    lost or arrives twice.
    """
    total = warmup + messages
    arrived_ns: list[int | None] = [None] * total
    sent_ns: list[int] = [0] * total
    received = 0
    all_in = asyncio.Event()

    async def receive() -> None:
        nonlocal received
        while True:
            raw = await recv()
            now = time.perf_counter_ns()
            found = extract(raw)
            if found is None:
                continue
            i, t = found
            if arrived_ns[i] is not None:
                raise BenchBroken(f"{label}: message {i} arrived twice")
            arrived_ns[i] = now
            sent_ns[i] = t
            received += 1
            if received == total:
                all_in.set()

    receiver = asyncio.create_task(receive(), name=f"{label}-receiver")
    period_ns = int(1e9 / rate)
    every = max(1, int(rate * 5))  # a progress line about every 5 s
    start = time.perf_counter_ns()
    usage_start = _Usage.now()
    lag_max_ns = 0
    try:
        for i in range(total):
            due = start + i * period_ns
            now = time.perf_counter_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                now = time.perf_counter_ns()
            if i >= warmup:
                lag_max_ns = max(lag_max_ns, now - due)
            await send(frame_for(i, time.perf_counter_ns()))
            if receiver.done():
                receiver.result()  # raises what broke it
            if (i + 1) % every == 0:
                progress(f"{label}: sent {i + 1}/{total}, received {received}")
        done = asyncio.create_task(all_in.wait())
        finished, _ = await asyncio.wait(
            {done, receiver}, timeout=drain_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        done.cancel()
        if receiver in finished:
            receiver.result()
        if not all_in.is_set():
            missing = [i for i, t in enumerate(arrived_ns) if t is None]
            raise BenchBroken(
                f"{label}: {len(missing)} of {total} messages never arrived within"
                f" {drain_timeout_s:.0f} s of the last send (first: {missing[:5]})"
            )
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, BenchBroken):
            await receiver
    wall_s = (time.perf_counter_ns() - start) / 1e9
    usage_end = _Usage.now()
    own_cores, machine_cores = usage_end.cores_since(usage_start)
    cpu_ms = (usage_end.own_cpu_s - usage_start.own_cpu_s) * 1000 / total
    latencies = [((arrived_ns[i] or 0) - sent_ns[i]) / 1e6 for i in range(warmup, total)]
    return Run(label, latencies, lag_max_ns / 1e6, wall_s, cpu_ms, own_cores, machine_cores)


# --- CPU use over a span of a run ------------------------------------------------------------


@dataclass(frozen=True)
class CpuUse:
    """CPU used between two readings: this process's, in CPU seconds and in cores, and the
    whole machine's in cores (None where /proc/stat is missing)."""

    wall_s: float
    own_cpu_s: float
    own_cores: float
    machine_cores: float | None


class CpuMeter:
    """Readings of this process's and the machine's CPU time, from `start()` to `stop()`."""

    def __init__(self) -> None:
        self._start = _Usage.now()
        self._end: _Usage | None = None

    def start(self) -> None:
        self._start = _Usage.now()
        self._end = None

    def stop(self) -> CpuUse:
        self._end = _Usage.now()
        return self.use()

    def use(self) -> CpuUse:
        """From start to stop (or to now, while not stopped)."""
        end = self._end or _Usage.now()
        own, machine = end.cores_since(self._start)
        return CpuUse(
            end.at_s - self._start.at_s, end.own_cpu_s - self._start.own_cpu_s, own, machine
        )


def own_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def redis_server_cpu_s(client: Redis) -> float:
    """CPU seconds (user + system) the Redis server has used since it started."""
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_bench(name: str, work: Callable[[Servers, LogTally], T]) -> tuple[T, LogTally] | int:
    """The frame every benchmark runs in: logs of the code under test counted, the machine's
    load said first, storage found or started, a broken run or Ctrl-C told apart from a
    result (then the exit status is returned instead), the log tally and run time said last.
    `work` runs on the main thread, outside any event loop."""
    tally = LogTally()
    capture_logs(tally)  # the code under test logs to stderr, warnings and errors only
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    progress(f"machine: {os.cpu_count()} cores, load average {load} before the run")
    started = time.perf_counter()
    try:
        with servers() as found:
            where = "embedded servers" if found.embedded else "REDIS_URL / DATABASE_URL"
            progress(f"storage: {where}")
            result = work(found, tally)
    except BenchBroken as exc:
        print(f"{name}: broken: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # storage was cleaned up on the way out
        print(f"{name}: interrupted", file=sys.stderr, flush=True)
        return 130
    progress(f"warnings and errors logged: {sum(tally.counts.values())}")
    for line in tally.lines():
        progress(line)
    progress(f"total run time {time.perf_counter() - started:.1f} s")
    return result, tally


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(
    app: web.Application, port: int | None = None, *, shutdown_timeout_s: float = 60.0
) -> tuple[web.AppRunner, str]:
    """`app` served on loopback (on `port`, else a free one); its runner and base URL. An
    overloaded hub's benchmark passes a short `shutdown_timeout_s`: when the clients give up,
    it has many handlers still busy, which aiohttp would otherwise wait for."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    port = free_port() if port is None else port
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
