"""A hub worker process for benchmarks: `python -m contactcenter serve --role worker`.

The benchmark's own process serves clients (role web); this one runs routing, the history
writer, intake and the senders on the same Redis, PostgreSQL and routing domain, as an
operator running web and worker processes side by side would (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench._common import ROOT, BenchBroken

STARTUP_TIMEOUT_S = 60.0


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def cpu_s(self) -> float | None:
        """User + system CPU seconds the worker has used (Linux /proc; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def _wait_healthy(worker: WorkerProcess, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                raise BenchBroken(f"worker process exited while starting:\n{worker.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise BenchBroken(f"worker process not healthy in {STARTUP_TIMEOUT_S:g} s:\n{worker.tail()}")


def _spawn(env: Mapping[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "contactcenter", "serve"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.asynccontextmanager
async def worker_process(env: Mapping[str, str], port: int) -> AsyncIterator[WorkerProcess]:
    """A worker-role hub with `env` (CC_* and storage variables), healthy on `port`; stopped
    (SIGTERM, then SIGKILL) on the way out."""
    with tempfile.TemporaryDirectory(prefix="cc-bench-worker-") as tmp:
        log_path = Path(tmp) / "worker.log"
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CC_", "TWILIO_"))},
            "CC_ROLE": "worker",
            "CC_HOST": "127.0.0.1",
            "CC_PORT": str(port),
            "CC_DATA_DIR": tmp,
            "CC_CONFIG_DIR": str(ROOT / "config"),
            "CC_DEMO_SEED": "false",
            "CC_LOG_LEVEL": "warning",
            "CC_LOG_FORMAT": "json",
            **env,
        }
        proc = _spawn(full_env, Path(tmp), log_path)
        worker = WorkerProcess(proc, log_path)
        try:
            await _wait_healthy(worker, f"http://127.0.0.1:{port}/healthz")
            yield worker
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait, 10)
