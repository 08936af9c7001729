"""The embedded servers' data folder: who may read it, what it keeps, who runs it now.

    data_dir/embedded.json        the servers' passwords and the ports this folder uses (0600)
    data_dir/embedded.lock        locked (flock) by the process running the servers, while it runs
    data_dir/embedded.owner.json  that process's pid, command and ports, once its servers answer

Everything in the folder is private to the account running the hub (0700 folders, 0600 files).
When PostgreSQL runs as another account (the hub runs as root), that account's group may only
pass through the top folder (0710) into its own PGDATA.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

HOST = "127.0.0.1"
STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
OWNER_FILE = "embedded.owner.json"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or reached; the message says why and what to do."""


@dataclass(frozen=True)
class ServerState:
    """What the folder remembers of one server: its password, and the port it last used
    together with the port the settings asked for then (a changed setting wins)."""

    password: str
    port: int | None = None
    configured_port: int | None = None


@dataclass(frozen=True)
class FolderState:
    redis: ServerState
    postgres: ServerState


@dataclass(frozen=True)
class Owner:
    """The process running the folder's servers, as it recorded itself."""

    pid: int
    command: str
    redis_port: int | None
    postgres_port: int | None


def make_private(data_dir: Path, pass_through_gid: int | None = None) -> None:
    """Create `data_dir` if needed and take group and other access away from it and everything
    in it (folders of earlier versions were world-readable). With `pass_through_gid`, that group
    may enter the top folder, and only enter it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            _chmod_private(Path(folder, name))
    if pass_through_gid is None:
        os.chmod(data_dir, 0o700)
    else:
        os.chown(data_dir, -1, pass_through_gid)
        os.chmod(data_dir, 0o710)


def _chmod_private(path: Path) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    except PermissionError:
        raise EmbeddedServerError(
            f"cannot make {path} private: it belongs to another account (uid {st.st_uid}); "
            "run the hub as the account that made the data folder, or give it that folder"
        ) from None


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `text` atomically, readable by its owner only (`owner`: uid, gid)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_state(data_dir: Path, *, create: bool = True) -> FolderState:
    """The folder's passwords and ports. With `create`, passwords are generated and saved on
    first use, which is also how a folder of an earlier version, which had none, gets them."""
    path = data_dir / STATE_FILE
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        state = FolderState(ServerState(**raw["redis"]), ServerState(**raw["postgres"]))
    except FileNotFoundError:
        if not create:
            raise EmbeddedServerError(f"{path} is missing") from None
        state = FolderState(ServerState(_new_password()), ServerState(_new_password()))
        save_state(data_dir, state)
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddedServerError(
            f"{path} is damaged ({exc}); restore it, or delete it to give the servers new passwords"
        ) from exc
    return state


def save_state(data_dir: Path, state: FolderState) -> None:
    write_private(data_dir / STATE_FILE, json.dumps(asdict(state), indent=2) + "\n")


def _new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: goes into redis:// and postgresql:// as is


def choose_port(configured: int, remembered: ServerState, what: str, data_dir: Path) -> int:
    """The port a server should use: the one this folder used last (unless the setting changed
    since), else the configured one, else, when that is taken, any free one, said in the log."""
    preferred = configured
    if remembered.port and remembered.configured_port == configured:
        preferred = remembered.port
    if preferred and port_is_free(preferred):
        return preferred
    port = free_port()
    if preferred:
        logger.warning(
            f"port {preferred} on {HOST} is taken by another program: the embedded {what} "
            f"uses port {port} instead, and will again next time "
            f"(remembered in {data_dir / STATE_FILE})",
            server=what,
            taken_port=preferred,
            port=port,
        )
    return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class FolderLock:
    """The right to run a data folder's servers: an exclusive flock held for the owner's
    lifetime. The kernel drops it when the owner dies, however it dies."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if no live process holds it; False if one does."""
        fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        # A few tries: `folder_is_locked` in another process holds a shared lock for a moment.
        for attempt in range(5):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 4:
                    os.close(fd)
                    return False
                time.sleep(0.05)
        self._fd = fd
        (self._dir / OWNER_FILE).unlink(missing_ok=True)  # left by an owner that was killed
        return True

    def publish(self, owner: Owner) -> None:
        """Tell other processes that the servers answer, where, and who runs them."""
        write_private(self._dir / OWNER_FILE, json.dumps(asdict(owner)) + "\n")

    def release(self) -> None:
        if self._fd is None:
            return
        (self._dir / OWNER_FILE).unlink(missing_ok=True)
        os.close(self._fd)  # closing the only descriptor releases the flock
        self._fd = None


def folder_is_locked(data_dir: Path) -> bool:
    """Whether a live process holds the folder's lock."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if we got it
    return False


def read_owner(data_dir: Path) -> Owner | None:
    """The owner record, if one is there and whole."""
    try:
        return Owner(**json.loads((data_dir / OWNER_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
