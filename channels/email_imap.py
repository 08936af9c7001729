"""Incoming email from an IMAP mailbox (docs/email.md): the standard library's imaplib, run in
a worker thread (`asyncio.to_thread`) so that the hub's loop never waits on the mailbox.

Each poll reads the unseen emails without marking them (BODY.PEEK), stores each through the
same intake as the SMTP server, and only then marks it seen (or deletes it): an email the hub
failed to store stays unseen and is read again at the next poll. An email refused as bad
input is marked seen and flagged, for a person to look at; it is never stored.
"""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from channels.email_message import EmailDelivery, EmailRejected
from channels.email_settings import ImapSettings

log = structlog.get_logger("channels.email")


class Mailbox(Protocol):
    """The few IMAP operations the poller needs; blocking (they run in a thread)."""

    def unseen(self) -> list[bytes]: ...
    def fetch(self, uid: bytes) -> bytes: ...
    def done(self, uid: bytes) -> None: ...
    def refused(self, uid: bytes) -> None: ...
    def close(self) -> None: ...


class ImapMailbox:
    """A logged-in IMAP session on one folder (RFC 9051 commands, by UID)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        s = settings
        if s.security == "ssl":
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout_s
            )
        else:
            self.imap = imaplib.IMAP4(s.host, s.port, timeout=s.timeout_s)
            if s.security == "starttls":
                self.imap.starttls(ssl.create_default_context())
        self.imap.login(s.username, s.password)
        self._check(self.imap.select(s.mailbox))
        self.deleted = False

    @staticmethod
    def _check(reply: tuple[str, list[Any]]) -> list[Any]:
        status, data = reply
        if status != "OK":
            raise imaplib.IMAP4.error(f"IMAP replied {status}")
        return data

    def unseen(self) -> list[bytes]:
        data = self._check(self.imap.uid("SEARCH", "UNSEEN"))
        first = data[0] if data else b""
        return bytes(first).split() if isinstance(first, bytes) else []

    def fetch(self, uid: bytes) -> bytes:
        for item in self._check(self.imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        raise imaplib.IMAP4.error("FETCH returned no message")

    def done(self, uid: bytes) -> None:
        flag = r"(\Deleted)" if self.settings.after == "delete" else r"(\Seen)"
        self._check(self.imap.uid("STORE", uid.decode(), "+FLAGS", flag))
        self.deleted = self.deleted or self.settings.after == "delete"

    def refused(self, uid: bytes) -> None:
        self._check(self.imap.uid("STORE", uid.decode(), "+FLAGS", r"(\Seen \Flagged)"))

    def close(self) -> None:
        try:
            if self.deleted:
                self.imap.expunge()
            self.imap.close()
        finally:
            self.imap.logout()


class ImapPoller:
    def __init__(
        self,
        settings: ImapSettings,
        deliver: Callable[[EmailDelivery], Awaitable[object]],
        open_mailbox: Callable[[ImapSettings], Mailbox] = ImapMailbox,
    ) -> None:
        self.settings = settings
        self.deliver = deliver
        self.open_mailbox = open_mailbox

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # mailbox or storage away: next poll tries again
                log.warning("email_imap_poll_failed", error=type(exc).__name__)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def poll_once(self) -> int:
        """Store what is unseen; returns how many emails were stored or refused."""
        box = await asyncio.to_thread(self.open_mailbox, self.settings)
        handled = 0
        try:
            for uid in await asyncio.to_thread(box.unseen):
                content = await asyncio.to_thread(box.fetch, uid)
                try:
                    await self.deliver(EmailDelivery(content))
                except EmailRejected as exc:
                    log.info("email_refused", why=exc.error_id, source="imap")
                    await asyncio.to_thread(box.refused, uid)
                else:
                    await asyncio.to_thread(box.done, uid)
                handled += 1
        finally:
            await asyncio.to_thread(box.close)
        if handled:
            log.info("email_imap_polled", handled=handled)
        return handled
