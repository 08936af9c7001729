"""The embedded PostgreSQL's set-up: the account it runs as, its cluster, its password login and
what its log may hold (the process itself is started by contactcenter.embedded.servers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import structlog

from contactcenter.embedded.folder import HOST, EmbeddedServerError, write_private
from contactcenter.embedded.processes import PG_USER, spawn

logger = structlog.get_logger(__name__)

UNPRIVILEGED_USER = "nobody"
_SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)
_HBA_MARK = "# Written by contactcenter; password "

# The server's log is about the server. Errors in the hub's queries quote the rows and values
# involved (a constraint's "Failing row contains (...)", a value that failed a cast, the
# statement with its parameters): they go back to the hub, which logs them without customer
# data, and are kept out of this log. Start, stop, checkpoints, refused logins and crashes stay.
LOG_SETTINGS = (
    "log_min_messages=log",  # drops WARNING and ERROR, which rank below LOG for the server log
    "log_error_verbosity=terse",  # no DETAIL, HINT, QUERY or CONTEXT on what is still logged
    "log_min_error_statement=panic",  # never the statement that failed
    "log_statement=none",
    "log_min_duration_statement=-1",
    "log_parameter_max_length=0",
    "log_parameter_max_length_on_error=0",
)


def postgres_account(bin_dir: Path) -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: None (ours) unless we are root, then `nobody`."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise EmbeddedServerError(
            "PostgreSQL refuses to run as root and this system has no unprivileged "
            f"'{UNPRIVILEGED_USER}' user; run the hub as a regular user or set DATABASE_URL"
        ) from None
    logger.info("PostgreSQL runs as nobody because the hub runs as root", user=user.pw_name)
    return user


def check_reachable(user: pwd.struct_passwd, data_dir: Path, bin_dir: Path) -> None:
    """Raise unless `user` can enter every folder down to the data folder and the binaries."""
    for needed in (data_dir, bin_dir):
        for folder in [*reversed(needed.parents), needed]:
            st = folder.stat()
            if st.st_uid == user.pw_uid:
                bit = stat.S_IXUSR
            else:
                bit = stat.S_IXGRP if st.st_gid == user.pw_gid else stat.S_IXOTH
            if not st.st_mode & bit:
                raise EmbeddedServerError(
                    f"PostgreSQL must run as '{UNPRIVILEGED_USER}' because the hub runs as "
                    f"root, but that user cannot enter {folder} (on the way to {needed}); "
                    f"use a folder it can reach or allow it in (chmod o+x {folder})"
                )


def run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen keywords that run a PostgreSQL program as `user` (nothing when it is us)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def initdb_args(bin_dir: Path, pgdata: Path) -> list[str]:
    """initdb for a new cluster. Trust is only for the moment before `secure_login` gives the
    role its password: the server is not started in between."""
    # The builtin C.UTF-8 locale keeps the cluster independent of the host's locales.
    args = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", PG_USER, "--auth=trust"]
    args += ["--encoding=UTF8", "--locale=C", "--locale-provider=builtin"]
    return [*args, "--builtin-locale=C.UTF-8", "--no-instructions"]


def server_args(bin_dir: Path, pgdata: Path, port: int) -> list[str]:
    args = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port)]
    args += ["-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories="]
    args += ["-c", "password_encryption=scram-sha-256"]
    for setting in LOG_SETTINGS:
        args += ["-c", setting]
    return args


def secure_login(
    bin_dir: Path,
    pgdata: Path,
    password: str,
    env: dict[str, str],
    popen_as: dict[str, Any],
    owner: tuple[int, int] | None,
) -> None:
    """Give the role `password` and allow only password (SCRAM) logins over loopback TCP,
    unless pg_hba.conf says that was done for this password. Runs with the server stopped.

    This is also how a cluster of an earlier version, which trusted every local login, is
    brought over: its data stays, its role gets the folder's password."""
    hba = pgdata / "pg_hba.conf"
    mark = f"{_HBA_MARK}{_fingerprint(password)}\n"
    try:
        if hba.read_text().startswith(mark):
            return
    except FileNotFoundError:
        pass
    # Single-user mode reads the statement from its stdin, so no login is needed and no
    # socket is open meanwhile. The statement carries a SCRAM verifier, not the password.
    sql = f"ALTER ROLE {PG_USER} PASSWORD '{scram_verifier(password)}';\n"
    done = subprocess.run(
        [str(bin_dir / "postgres"), "--single", "-D", str(pgdata), "postgres"],
        input=sql, capture_output=True, text=True, env=env, timeout=120, umask=0o077,
        **popen_as,
    )  # fmt: skip
    if done.returncode != 0 or "ERROR:" in done.stderr:
        raise EmbeddedServerError(
            f"setting the embedded PostgreSQL's password failed ({done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
    rules = (
        "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
        f"host    all       all   {HOST}/32  scram-sha-256\n"
    )
    write_private(hba, mark + rules, owner)
    logger.info("embedded PostgreSQL now takes password logins only", pg_hba=str(hba))


def _fingerprint(password: str) -> str:
    # Says which password pg_hba.conf was written for; a 64-bit digest of a random
    # 192-bit password gives nothing away.
    return hashlib.sha256(f"contactcenter pg_hba {password}".encode()).hexdigest()[:16]


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 section 3,
    RFC 7677; PostgreSQL's format `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`).
    Our passwords are ASCII, which SASLprep leaves as they are."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def prepare_pgdata(
    bin_dir: Path,
    pgdata: Path,
    log: Path,
    env: dict[str, str],
    account: pwd.struct_passwd | None,
    popen_as: dict[str, Any],
) -> None:
    """Make PGDATA usable by the account PostgreSQL runs as, running initdb on first start."""
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if account is not None and pgdata.stat().st_uid != account.pw_uid:
        for folder, dirs, files in os.walk(pgdata):
            for name in (".", *dirs, *files):
                os.chown(
                    os.path.join(folder, name),
                    account.pw_uid,
                    account.pw_gid,
                    follow_symlinks=False,
                )
    if not (pgdata / "PG_VERSION").exists():
        initdb = spawn(initdb_args(bin_dir, pgdata), log, pgdata.parent, None, env, popen_as)
        try:
            initdb.wait(timeout=120)
        except subprocess.TimeoutExpired:
            initdb.kill()
        if initdb.wait() != 0:
            raise EmbeddedServerError(f"initdb failed ({initdb.returncode}); see {log}")
