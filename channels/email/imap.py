"""Incoming email from an IMAP mailbox (docs/email.md): the standard library's imaplib, run in
a worker thread (`asyncio.to_thread`) so that the hub's loop never waits on the mailbox.

Each poll asks the size of every unseen email first (RFC822.SIZE, one command for them all
but very many), then reads each without marking it (BODY.PEEK), stores it through the same
intake as the SMTP server, and only then marks it seen (or deletes it): an email the hub
failed to store stays unseen and is read again at the next poll, without holding up the
emails after it. An email refused as bad input is marked seen and flagged, for a person to
look at; it is never stored. One larger than the size limit is refused so on its size alone,
its body never fetched: a 200 MB email in the mailbox costs a line of the size reply, not
200 MB of memory.

Logs carry error types and IMAP response codes (RFC 5530), never the server's free text,
which may quote the username.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import ssl
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

import structlog

from channels.email.message import EmailDelivery, EmailRejected, MessageTooLarge
from channels.email.settings import ImapSettings

log = structlog.get_logger("channels.email")

# A response code: "NO [AUTHENTICATIONFAILED] Authentication failed." (RFC 9051 §7.1).
_RESPONSE_CODE = re.compile(r"\[([A-Za-z][A-Za-z0-9-]*)")
# The data items of one message in a FETCH reply: "12 (UID 40 RFC822.SIZE 2048)", any order.
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
# Runs of UIDs per command: keeps a command line under 8 KiB, which every server takes.
MAX_RUNS_PER_COMMAND = 300


def response_code(reply: object) -> str | None:
    """The IMAP response code in a server's reply text, or in the imaplib error carrying it
    (`AUTHENTICATIONFAILED`); None when there is none."""
    if isinstance(reply, BaseException):
        reply = reply.args[0] if reply.args else ""
    text = reply.decode("ascii", "replace") if isinstance(reply, bytes) else str(reply)
    found = _RESPONSE_CODE.search(text)
    return found.group(1).upper() if found else None


def error_name(exc: BaseException) -> str:
    """A name for the log: imaplib's `error` and `abort` say nothing without their class."""
    kind = type(exc)
    return f"imaplib.{kind.__qualname__}" if kind.__module__ == "imaplib" else kind.__name__


def uid_sets(uids: list[bytes], most: int = MAX_RUNS_PER_COMMAND) -> list[str]:
    """IMAP sequence sets (RFC 9051 §9, `3:5,9`) naming exactly `uids`, each of at most `most`
    runs of consecutive UIDs: one command each."""
    runs: list[tuple[int, int]] = []
    for uid in sorted({int(u) for u in uids}):
        if runs and runs[-1][1] == uid - 1:
            runs[-1] = (runs[-1][0], uid)
        else:
            runs.append((uid, uid))
    named = [f"{a}" if a == b else f"{a}:{b}" for a, b in runs]
    return [",".join(named[i : i + most]) for i in range(0, len(named), most)]


class ImapLoginRefused(Exception):
    """The server refused our login: the username, the password, or login without TLS."""

    def __init__(self, code: str | None) -> None:
        super().__init__(f"IMAP login refused ({code or 'no response code'})")
        self.code = code


class Mailbox(Protocol):
    """The few IMAP operations the poller needs; blocking (they run in a thread). `sizes` is
    asked only by a poller given a size limit."""

    def unseen(self) -> list[bytes]: ...
    def sizes(self, uids: list[bytes]) -> dict[bytes, int]: ...
    def fetch(self, uid: bytes) -> bytes: ...
    def done(self, uid: bytes) -> None: ...
    def refused(self, uid: bytes) -> None: ...
    def close(self) -> None: ...


class ImapMailbox:
    """A logged-in IMAP session on one folder (RFC 9051 commands, by UID). The connection is
    closed on every way out: a failed login or SELECT, and `close`."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        s = settings
        if s.security == "ssl":
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout_s
            )
        else:
            self.imap = imaplib.IMAP4(s.host, s.port, timeout=s.timeout_s)
        self.deleted = False
        try:
            if s.security == "starttls":
                self.imap.starttls(ssl.create_default_context())
            try:
                self.imap.login(s.username, s.password)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:  # a tagged NO or BAD to LOGIN
                raise ImapLoginRefused(response_code(exc)) from None
            self._check(self.imap.select(s.mailbox), "SELECT")
        except BaseException:
            self._drop()
            raise

    @staticmethod
    def _check(reply: tuple[str, list[Any]], command: str) -> list[Any]:
        status, data = reply
        if status != "OK":
            # Only the response code: the rest of the server's text is not ours to log.
            code = response_code(data[0] if data else b"")
            raise imaplib.IMAP4.error(
                f"{command} replied {status}" + (f" [{code}]" if code else "")
            )
        return data

    def unseen(self) -> list[bytes]:
        data = self._check(self.imap.uid("SEARCH", "UNSEEN"), "SEARCH")
        first = data[0] if data else b""
        return bytes(first).split() if isinstance(first, bytes) else []

    def sizes(self, uids: list[bytes]) -> dict[bytes, int]:
        """Each email's size in bytes, as the server counts it (RFC822.SIZE: the bytes that
        BODY[] would return), by UID; one that went away since `unseen` is left out."""
        found: dict[bytes, int] = {}
        for uid_set in uid_sets(uids):
            reply = self.imap.uid("FETCH", uid_set, "(RFC822.SIZE)")
            for item in self._check(reply, "FETCH"):
                # Lines only (no literal here); FETCH news of other messages lack a size.
                line = item[0] if isinstance(item, tuple) else item
                named = _FETCH_UID.search(line) if isinstance(line, bytes) else None
                size = _FETCH_SIZE.search(line) if isinstance(line, bytes) else None
                if named and size:
                    found[named.group(1)] = int(size.group(1))
        return found

    def fetch(self, uid: bytes) -> bytes:
        for item in self._check(self.imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])"), "FETCH"):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        raise imaplib.IMAP4.error("FETCH returned no message")

    def done(self, uid: bytes) -> None:
        flag = r"(\Deleted)" if self.settings.after == "delete" else r"(\Seen)"
        self._check(self.imap.uid("STORE", uid.decode(), "+FLAGS", flag), "STORE")
        self.deleted = self.deleted or self.settings.after == "delete"

    def refused(self, uid: bytes) -> None:
        self._check(self.imap.uid("STORE", uid.decode(), "+FLAGS", r"(\Seen \Flagged)"), "STORE")

    def close(self) -> None:
        """Expunge what `done` deleted and log out, as far as the connection allows; never
        raises: what is left undone (a deleted email not expunged) is found again next poll,
        and the intake stores an email once however often it is read."""
        try:
            if self.deleted:
                self._check(self.imap.expunge(), "EXPUNGE")
            self._check(self.imap.close(), "CLOSE")
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            self._drop()

    def _drop(self) -> None:
        with suppress(OSError):
            self.imap.shutdown()


class ImapPoller:
    """Polls one mailbox every `poll_interval_s`, storing through `deliver`; see the module.
    With `max_message_bytes` (the hub passes `email.max_message_bytes`, the intake's own
    limit), an unseen email larger than that is refused by its size alone, never fetched;
    without it, every email is fetched and the intake judges its size."""

    def __init__(
        self,
        settings: ImapSettings,
        deliver: Callable[[EmailDelivery], Awaitable[object]],
        open_mailbox: Callable[[ImapSettings], Mailbox] = ImapMailbox,
        *,
        max_message_bytes: int | None = None,
    ) -> None:
        self.settings = settings
        self.deliver = deliver
        self.open_mailbox = open_mailbox
        self.max_message_bytes = max_message_bytes

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and the next one tries again."""
        s = self.settings
        while True:
            try:
                await self.poll_once()
            except ImapLoginRefused as exc:
                # Host and port, not the username: it is often an email address.
                log.error(
                    "email_imap_login_refused",
                    host=s.host,
                    port=s.port,
                    code=exc.code,
                    retry_in_s=s.poll_interval_s,
                )
            except Exception as exc:  # mailbox away, connection dropped: next poll tries again
                log.warning(
                    "email_imap_poll_failed",
                    error=error_name(exc),
                    code=response_code(exc),
                    retry_in_s=s.poll_interval_s,
                )
            await asyncio.sleep(s.poll_interval_s)

    async def poll_once(self) -> int:
        """Store what is unseen; returns how many emails were stored or refused. An email
        the intake fails to store is left unseen and the poll goes on with the next one; a
        failure of the mailbox itself ends the poll (raised). With a size limit, the sizes
        come first and an email over the limit is refused without being fetched."""
        box = await asyncio.to_thread(self.open_mailbox, self.settings)
        handled = failed = 0
        try:
            uids = await asyncio.to_thread(box.unseen)
            limit = self.max_message_bytes
            sizes = await asyncio.to_thread(box.sizes, uids) if uids and limit is not None else {}
            for uid in uids:
                size = sizes.get(uid)  # None: gone since, or not said; fetched as before
                if limit is not None and size is not None and size > limit:
                    # Refused unread, as the intake would refuse it read: flagged for a
                    # person, and the emails after it are not held up by its download.
                    self._refused(MessageTooLarge.error_id, size)
                    await asyncio.to_thread(box.refused, uid)
                    handled += 1
                elif await self._take(box, uid):
                    handled += 1
                else:
                    failed += 1
        finally:
            await asyncio.to_thread(box.close)
        if handled or failed:
            log.info("email_imap_polled", handled=handled, failed=failed)
        return handled

    async def _take(self, box: Mailbox, uid: bytes) -> bool:
        """Fetch one email and store it, then mark it done (or refused); False when the
        intake failed to store it, which leaves it unseen for the next poll."""
        content = await asyncio.to_thread(box.fetch, uid)
        try:
            await self.deliver(EmailDelivery(content))
        except EmailRejected as exc:
            self._refused(exc.error_id, len(content))
            await asyncio.to_thread(box.refused, uid)
        except Exception as exc:  # storage away, or this email trips a bug
            log.warning("email_imap_store_failed", error=error_name(exc))
            return False
        else:
            await asyncio.to_thread(box.done, uid)
        return True

    @staticmethod
    def _refused(why: str, size_bytes: int) -> None:
        # As the SMTP server logs a refusal: why and how large, never who or what about.
        log.info("email_refused", why=why, size_bytes=size_bytes, source="imap")
