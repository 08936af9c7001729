"""A real IMAP server for the email tests: Dovecot from Debian's packages (`dovecot-imapd`).

`Dovecot` writes its own configuration into a temporary folder (base_dir, state_dir, log,
users, maildirs and, when openssl is there, a throwaway CA and server certificate) and runs
`dovecot -F -c <that file>` as a child process on free loopback ports: one for plain IMAP and
STARTTLS, one for IMAPS. Users live in a passwd-file with plain-text passwords; login without
TLS is allowed (loopback only). As root, Dovecot's own processes run as Debian's `dovecot` and
`dovenull` users and the mailboxes belong to `nobody`; as anyone else, everything runs as that
user. `stop()` terminates the server's whole process group and waits for it.

Test modules call `require_dovecot()` first, so that they are skipped, not failed, on a machine
without Dovecot, and import `dovecot_fixture`: the `dovecot` fixture, one server a session.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from contactcenter.embedded.processes import die_with_parent
from tests.cluster import _free_ports

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
USER, PASSWORD = "hub", "mailbox-password-1"
DOVECOT_LIBEXEC = Path("/usr/lib/dovecot")  # Debian's; imap and imap-login live there
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")  # RFC 4315 (UIDPLUS)
_FETCH_FLAGS = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")


def dovecot_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")


def require_dovecot() -> None:
    """Skip the calling test module unless Dovecot's IMAP server and doveadm are installed."""
    if dovecot_binary() is None or shutil.which("doveadm") is None:
        pytest.skip("no Dovecot (apt-get install dovecot-imapd)", allow_module_level=True)
    if not (DOVECOT_LIBEXEC / "imap-login").exists():
        pytest.skip(
            f"no Dovecot IMAP server in {DOVECOT_LIBEXEC} (apt-get install dovecot-imapd)",
            allow_module_level=True,
        )


class DovecotStartError(RuntimeError):
    """Dovecot did not come up; the message names its log."""


class Dovecot:
    """One Dovecot for tests; a context manager. `port` speaks IMAP (and STARTTLS when
    `ca_file` is set), `ssl_port` IMAPS; `ca_file` is the CA that signed the server's
    certificate (for IP 127.0.0.1 and DNS localhost), None without openssl."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
        self.port, self.ssl_port = _free_ports(2)
        self.ca_file: Path | None = None
        self.users: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.dir / "dovecot.log"

    def start(self) -> None:
        """Write the configuration, start Dovecot, and return once it greets a client."""
        try:
            self._spawn()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not self._answers():
                assert self.proc is not None
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise DovecotStartError(f"Dovecot did not start:\n{self.log_tail()}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def _spawn(self) -> None:
        # Not pytest's tmp_path: the mail user (nobody, as root) must reach its maildir.
        self.dir.chmod(0o755)
        (self.dir / "mail").mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir / "mail", "nobody", "nogroup")
        self.ca_file = _make_certificates(self.dir) if shutil.which("openssl") else None
        self.set_password(USER, PASSWORD)
        self.conf.write_text(self._config())
        binary = dovecot_binary()
        assert binary is not None, "call require_dovecot() first"
        with open(self.dir / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.dir,
                start_new_session=True,  # its own process group: stop() ends every child
                preexec_fn=die_with_parent(signal.SIGTERM),
            )

    def stop(self) -> None:
        """SIGTERM to the server, then to whatever of its process group outlives it (a
        session still open keeps its imap process), SIGKILL after a bounded wait; then the
        folder is removed. Safe to call again."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        text = "".join(
            p.read_text(errors="replace")
            for p in (self.dir / "stderr.log", self.log_path)
            if p.exists()
        )
        return "\n".join(text.splitlines()[-lines:])

    def set_password(self, user: str, password: str) -> None:
        """Add `user` or change their password; returns once Dovecot takes it."""
        self.users[user] = password
        users = self.dir / "users"
        staged = users.with_suffix(".new")
        staged.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        staged.chmod(0o644)
        # Dovecot reads the file again when its mtime or size changed, looking at most once
        # a second (by its clock's whole seconds): a new mtime always, then the next second.
        previous = users.stat().st_mtime if users.exists() else 0.0
        written = time.time()
        stamp = max(written, previous + 1)
        os.utime(staged, (stamp, stamp))
        os.replace(staged, users)
        if self.proc is None:
            return
        while int(time.time()) <= int(written):
            time.sleep(0.02)
        # Then it should pass at once; doveadm asks the auth service (no IMAP login, so no
        # failed login counted against the user).
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._doveadm("auth", "test", user, password, check=False) is None:
            assert time.monotonic() < deadline, f"Dovecot never took {user}'s new password"
            time.sleep(0.05)

    def client(self, user: str = USER, password: str | None = None) -> imaplib.IMAP4:
        """A new logged-in IMAP session over plain loopback, as a mail client would open."""
        imap = imaplib.IMAP4(HOST, self.port, timeout=10)
        imap.login(user, self.users[user] if password is None else password)
        return imap

    def new_folder(self, user: str = USER) -> str:
        """A folder of its own for one test, created in `user`'s mailbox."""
        name = f"t{uuid.uuid4().hex[:12]}"
        imap = self.client(user)
        try:
            _ok(imap.create(name))
        finally:
            imap.logout()
        return name

    def append(self, folder: str, content: bytes, user: str = USER, flags: str = "") -> int:
        """APPEND `content` to `folder` (with `flags`, e.g. `\\Seen`), as a delivery agent or
        mail client would; its UID."""
        imap = self.client(user)
        try:
            data = _ok(imap.append(folder, flags, None, content))
        finally:
            imap.logout()
        found = _APPENDUID.search(data[0] if data and isinstance(data[0], bytes) else b"")
        assert found, f"no APPENDUID in {data!r}"
        return int(found.group(1))

    def flags(self, folder: str, user: str = USER) -> dict[int, set[str]]:
        """Each message's flags by UID, read over a session of our own (EXAMINE: read only,
        so that reading changes nothing). \\Recent, a per-session flag, is left out."""
        imap = self.client(user)
        try:
            _ok(imap.select(folder, readonly=True))
            data = _ok(imap.uid("FETCH", "1:*", "(UID FLAGS)"))
            imap.close()
        finally:
            imap.logout()
        found: dict[int, set[str]] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            match = _FETCH_FLAGS.search(line) if isinstance(line, bytes) else None
            if match:
                flags = set(match.group(2).decode().split()) - {"\\Recent"}
                found[int(match.group(1))] = flags
        return found

    def kick(self, user: str = USER) -> None:
        """Cut every IMAP session of `user` from the server's side, and wait until they are
        gone (`doveadm kick` only signals them)."""
        self._doveadm("kick", user)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(line.split()[:1] == [user] for line in self._sessions()):
            assert time.monotonic() < deadline, f"{user}'s sessions outlived the kick"
            time.sleep(0.05)

    def _sessions(self) -> list[str]:
        """`doveadm who`: a line per user with sessions, the user first."""
        return (self._doveadm("who") or "").splitlines()[1:]

    def _doveadm(self, *args: str, check: bool = True) -> str | None:
        """doveadm's output; None when it fails and not `check`."""
        done = subprocess.run(
            ["doveadm", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT_S,
            check=check,
        )
        return done.stdout if done.returncode == 0 else None

    def _answers(self) -> bool:
        try:
            imaplib.IMAP4(HOST, self.port, timeout=1).shutdown()
        except (OSError, imaplib.IMAP4.error):
            return False
        return True

    def _config(self) -> str:
        if os.geteuid() == 0:
            internal, internal_group, login = "dovecot", "dovecot", "dovenull"
            mail_uid, mail_gid = "nobody", "nogroup"
        else:
            internal = mail_uid = pwd.getpwuid(os.getuid()).pw_name
            internal_group = mail_gid = grp.getgrgid(os.getgid()).gr_name
            login = internal
        d = self.dir
        ssl = (
            f"ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\n"
            if self.ca_file
            else "ssl = no\n"
        )
        imaps = (
            f"  inet_listener imaps {{\n    address = {HOST}\n    port = {self.ssl_port}\n"
            "    ssl = yes\n  }\n"
            if self.ca_file
            else ""
        )
        return f"""# Written by tests/e2e/dovecot.py for one test session.
protocols = imap
listen = {HOST}
base_dir = {d}/run
state_dir = {d}/state
instance_name = cc-test-{self.port}
log_path = {self.log_path}
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
# Plain-text login without TLS: a test server on loopback only.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
{ssl}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
# No chroot: that needs root, and the tests may run without it.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
{imaps}}}
"""


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture() -> Iterator[Dovecot]:
    """One Dovecot for the test session; tests keep apart by folder (`new_folder`)."""
    with Dovecot() as server:
        yield server


def _ok(reply: tuple[str, list[object]]) -> list[object]:
    status, data = reply
    assert status == "OK", f"IMAP replied {status}: {data!r}"
    return data


def _make_certificates(folder: Path) -> Path:
    """A throwaway CA and a server certificate it signed (IP 127.0.0.1, DNS localhost), made
    with the openssl command; the CA's file, for clients to trust."""
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    (folder / "server.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    )
    commands = [
        f"req -x509 {ec} -keyout ca.key -out ca.pem -subj /CN=contactcenter-test-CA"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        f"req -new {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2"
        " -extfile server.ext -out server.pem",
    ]
    for args in commands:
        subprocess.run(["openssl", *args.split()], cwd=folder, check=True, capture_output=True)
    return folder / "ca.pem"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
