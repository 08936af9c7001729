"""Real hub processes for multi-process tests: `python -m contactcenter serve`, one per port.

Each hub is spawned with its own free port and data folder, pointed at the test session's Redis
and PostgreSQL and at the test's routing domain, so several hubs share live state exactly as
they would behind a load balancer. Its stdout and stderr go to a log file whose tail is printed
at teardown (pytest shows it when the test failed).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.conftest import ROOT, TEST_PASSWORD, Servers, free_port

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# Variables of the parent's environment that would change what the hub does; the spawner
# sets the ones it needs explicitly.
_SCRUBBED = ("REDIS_URL", "DATABASE_URL")


def make_config_dir(dest: Path, *, offer_timeout_s: float | None = None) -> Path:
    """A copy of the repository's `config/` in `dest`, with the given queue offer timeout."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in (ROOT / "config").iterdir():
        if src.is_file():
            shutil.copy(src, dest / src.name)
    if offer_timeout_s is not None:
        path = dest / "queues.toml"
        text, n = re.subn(
            r"(?m)^offer_timeout_s\s*=.*$",
            f"offer_timeout_s = {offer_timeout_s:g}",
            path.read_text(),
        )
        assert n >= 1, "queues.toml has no offer_timeout_s line to change"
        path.write_text(text)
    return dest


@dataclass
class HubProcess:
    """One running `contactcenter serve` process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def wait_healthy(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Poll `GET /healthz` until it answers 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(
                        f"hub {self.name} exited with {self.proc.returncode} while starting:\n"
                        f"{self.tail()}"
                    )
                try:
                    async with http.get(f"{self.base_url}/healthz") as resp:
                        if resp.status == 200:
                            return
                        last = f"HTTP {resp.status}: {await resp.text()}"
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise AssertionError(
            f"hub {self.name} not healthy within {timeout_s:g}s ({last}):\n{self.tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: the process dies at once, nothing cleaned up (a crash)."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, a bounded wait for a clean exit, then SIGKILL."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, timeout_s)
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self.proc.wait, timeout_s)


def spawn_hub(
    name: str,
    *,
    servers: Servers,
    database_url: str,
    routing_domain: str,
    workdir: Path,
    config_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> HubProcess:
    """Start a hub process (without waiting for it to be ready)."""
    port = free_port()
    data_dir = workdir / f"hub-{name}"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = config_dir or make_config_dir(workdir / "config")
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("CC_")}
    env.update(
        {
            "REDIS_URL": servers.redis_url,
            "DATABASE_URL": database_url,
            "CC_HOST": "127.0.0.1",
            "CC_PORT": str(port),
            "CC_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CC_ROUTING_DOMAIN": routing_domain,
            "CC_DEMO_PASSWORD": TEST_PASSWORD,
            "CC_DATA_DIR": str(data_dir),
            "CC_CONFIG_DIR": str(config),
            "CC_LOG_FORMAT": "json",
            "CC_ROUTING_TICK_MS": "50",
            # Consoles of a dead hub count as gone after 3 heartbeats (0.9 s), and their
            # agents go offline after 3 s without a console.
            "CC_CONSOLE_HEARTBEAT_S": "0.3",
            "CC_OFFLINE_AFTER_S": "3",
            "CC_DB_POOL_SIZE": "4",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    log_path = workdir / f"hub-{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "contactcenter", "serve"],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return HubProcess(name, port, proc, log_path, env)


class HubFactory:
    """Spawns hubs for one test and stops every one of them at teardown."""

    def __init__(
        self, servers: Servers, database_url: str, routing_domain: str, workdir: Path
    ) -> None:
        self.servers = servers
        self.database_url = database_url
        self.routing_domain = routing_domain
        self.workdir = workdir
        self.hubs: list[HubProcess] = []

    async def start(
        self,
        *names: str,
        config_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> list[HubProcess]:
        """Start one hub per name, all at once, and wait until each is healthy."""
        started = [
            spawn_hub(
                n,
                servers=self.servers,
                database_url=self.database_url,
                routing_domain=self.routing_domain,
                workdir=self.workdir,
                config_dir=config_dir,
                extra_env=extra_env,
            )
            for n in names
        ]
        self.hubs.extend(started)
        await asyncio.gather(*(h.wait_healthy() for h in started))
        return started

    async def stop_all(self) -> None:
        await asyncio.gather(*(h.stop() for h in self.hubs))
        for h in self.hubs:
            # Captured by pytest and shown only when the test failed.
            print(
                f"\n----- hub {h.name} (pid {h.pid}, port {h.port}, "
                f"exit {h.proc.returncode}) log tail -----\n{h.tail()}"
            )
