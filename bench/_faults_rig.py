"""The rig of bench.faults: a Redis server of its own (so that FLUSHALL is a real one and
touches nobody else's data), PostgreSQL reached through a proxy that can be cut or hung, two
hub processes on fixed ports, and a recorder of the whole event stream.

Every process started here is stopped by `Rig.close()`, which the benchmark calls in a
`finally`, so a Ctrl-C or an error leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis

from bench._common import ROOT, BenchBroken, free_port, progress
from routing.keys import Keys

STOP_TIMEOUT_S = 10.0

# Every process this run started, for a last sweep should the run end abruptly.
_STARTED: list[subprocess.Popen[bytes]] = []


def kill_leftovers() -> None:
    """SIGKILL whatever process of this run is still running (the orderly stop is
    `Run.close`; this is the net under it)."""
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT_S)


# --- Redis ------------------------------------------------------------------------------------


def redis_binary() -> str:
    """The machine's redis-server, else the Valkey the hub embeds."""
    found = shutil.which("redis-server")
    if found:
        return found
    from contactcenter.embedded.servers import _valkey_binary

    return str(_valkey_binary())


@dataclass
class OwnRedis:
    """A redis-server on a free loopback port, without persistence: FLUSHALL empties it."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def spawn(self) -> None:
        folder = self.workdir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(folder)]
        args += ["--logfile", str(folder / "redis.log")]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        _STARTED.append(self.proc)

    async def wait_ready(self) -> None:
        assert self.proc is not None
        client = Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    await client.ping()  # type: ignore[misc]
                    return
                except OSError:
                    pass
                except Exception as exc:  # redis-py wraps refusals in its own errors
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise BenchBroken(f"redis-server did not start: {exc}") from exc
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def stop(self) -> None:
        _terminate(self.proc)


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- PostgreSQL through a faulty proxy ----------------------------------------------------------


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1:`port`."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@dataclass
class Proxy:
    """bench/_faults_proxy.py, a process of its own, driven through its stdin."""

    proc: asyncio.subprocess.Process
    port: int
    mode: str = "pass"

    @classmethod
    async def start(cls, database_url: str) -> Proxy:
        parts = urlsplit(database_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._faults_proxy",
            parts.hostname or "127.0.0.1",
            str(parts.port or 5432),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"port "):
            proc.kill()
            raise BenchBroken(f"the PostgreSQL proxy did not start: {line!r}")
        return cls(proc, int(line.split()[1]))

    async def command(self, what: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what}\n".encode())
        await self.proc.stdin.drain()
        answer = (await asyncio.wait_for(self.proc.stdout.readline(), 10)).decode().strip()
        if not answer.startswith("ok "):
            raise BenchBroken(f"the PostgreSQL proxy refused {what!r}: {answer!r}")
        self.mode = answer[3:]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# --- hubs ---------------------------------------------------------------------------------------


def hub_env(args: Any, port: int) -> dict[str, str]:
    """What each hub process runs with beyond the shipped config: its fixed port, the liveness
    settings of the run, and the web chat's per-address limits out of the way (every simulated
    customer comes from 127.0.0.1)."""
    unlimited = str(10**9)
    return {
        "CC_PORT": str(port),
        "CC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CC_CONSOLE_HEARTBEAT_S": f"{args.heartbeat_s:g}",
        "CC_OFFLINE_AFTER_S": f"{args.offline_after_s:g}",
        "CC_ROUTING_TICK_MS": str(args.routing_tick_ms),
        "CC_DB_POOL_SIZE": str(args.db_pool_size),
        "CC_DB_STATEMENT_TIMEOUT_S": f"{args.statement_timeout_s:g}",
        "CC_LOG_LEVEL": "info",
        "CC_DEMO_SEED": "false",
        "CC_WIDGET_MESSAGES_PER_VISITOR_PER_MIN": unlimited,
        "CC_WIDGET_MESSAGES_PER_IP_PER_MIN": unlimited,
        "CC_WIDGET_CONNECTIONS_PER_IP_PER_MIN": unlimited,
    }


@dataclass
class Hubs:
    """Two hub processes, A and B, each on a port of its own that a restart keeps."""

    redis_url: str
    database_url: str  # through the proxy
    domain: str
    workdir: Path
    args: Any
    ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    procs: list[Any] = field(default_factory=lambda: [None, None])
    lives: list[int] = field(default_factory=lambda: [0, 0])
    logs: list[Path] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def _spawn(self, i: int) -> Any:
        from tests.conftest import Servers
        from tests.e2e.processes import make_config_dir, spawn_hub

        self.lives[i] += 1
        name = "AB"[i] + ("" if self.lives[i] == 1 else f"-life{self.lives[i]}")
        hub = spawn_hub(
            name,
            servers=Servers(self.redis_url, self.database_url),
            database_url=self.database_url,
            routing_domain=self.domain,
            workdir=self.workdir,
            config_dir=make_config_dir(self.workdir / "config"),
            extra_env=hub_env(self.args, self.ports[i]),
        )
        _STARTED.append(hub.proc)
        hub = replace(hub, port=self.ports[i])  # spawn_hub's own port is overridden
        self.logs.append(hub.log_path)
        self.procs[i] = hub
        return hub

    async def start(self, *which: int) -> None:
        started = [self._spawn(i) for i in which]
        await asyncio.gather(*(h.wait_healthy() for h in started))

    def kill(self, i: int) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        self.procs[i].kill()

    async def stop_all(self) -> None:
        await asyncio.gather(*(h.stop() for h in self.procs if h is not None))

    def kill_all(self) -> None:
        for h in self.procs:
            if h is not None and h.alive():
                h.kill()


# --- the event stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    entry_id: str
    fields: dict[str, str]


@dataclass
class Flush:
    """Where in the stream Redis lost everything."""

    at_mono_s: float
    index: int  # entries recorded before it


class StreamRecorder:
    """Reads every entry of the domain's event stream, in stream order, into memory.

    FLUSHALL is done here, in one MULTI with a read of the entries not recorded yet, so that
    nothing the hubs appended before the loss escapes the record; after it the new stream is
    read from its start."""

    def __init__(self, redis_url: str, domain: str) -> None:
        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self.stream = Keys(domain).events
        self.entries: list[Entry] = []
        self.flushes: list[Flush] = []
        self.last_id = "0-0"
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        while True:
            async with self._lock:
                try:
                    reply = await self.redis.xread(
                        {self.stream: self.last_id}, count=1000, block=100
                    )
                except Exception as exc:  # the server is ours: say so and go on
                    progress(f"stream recorder: {exc!r}")
                    await asyncio.sleep(0.2)
                    continue
                for _name, items in reply or []:
                    self._add(items)

    def _add(self, items: list[tuple[str, dict[str, str]]]) -> None:
        for entry_id, fields in items:
            self.entries.append(Entry(entry_id, fields))
            self.last_id = entry_id

    async def flushall(self) -> float:
        """FLUSHALL, with what was appended since the last read recorded first; returns the
        monotonic time it ran at."""
        async with self._lock:
            pipe = self.redis.pipeline(transaction=True)
            pipe.xrange(self.stream, f"({self.last_id}", "+")
            pipe.flushall()
            at_s = time.monotonic()
            items, _ok = await pipe.execute()
            self._add(items)
            self.flushes.append(Flush(at_s, len(self.entries)))
            self.last_id = "0-0"
        return at_s

    async def close(self) -> None:
        await self.redis.aclose()


def hub_log_findings(paths: list[Path]) -> list[tuple[float, str, str, str]]:
    """(wall time s, hub, level, event) of every warning and error in the hubs' JSON logs."""
    from datetime import datetime

    found = []
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            level = str(record.get("level", ""))
            if level not in ("warning", "error", "critical"):
                continue
            try:
                at = datetime.fromisoformat(str(record["timestamp"])).timestamp()
            except (KeyError, ValueError):
                continue
            found.append((at, path.stem, level, str(record.get("event", "?"))))
    return found
