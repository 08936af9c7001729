"""What the IMAP tests share (tests/e2e/test_email_imap*.py): a hub with the email channel and
a folder of its own in the real Dovecot (tests/e2e/dovecot.py), and `Wire`, a record of what
the real ImapMailbox sent to the server and received from it.

`Wire` wraps the sessions of the real ImapMailbox, not the server: each command line is
recorded as it goes out on the socket, and the size of each literal (the server's message
bodies) as it comes in. The `polled` hub's own poller, made by the hub's own wiring
(channels/email/channel.py), reads through one.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from channels.email import channel as email_channel
from channels.email.channel import EMAIL_CHANNEL, EmailChannel
from channels.email.imap import ImapMailbox, ImapPoller, Mailbox
from channels.email.message import EmailDelivery
from channels.email.settings import EmailSettings, ImapSettings, RelaySettings, SmtpServerSettings
from contactcenter.settings.hub import HubSettings
from tests.conftest import free_port
from tests.e2e.channels.email.test_email_channel import (
    MAX_MESSAGE_BYTES,
    OURS,
    start_email_hub,
    until,
)
from tests.e2e.dovecot import HOST, PASSWORD, USER, Dovecot

SEEN, REFUSED = {"\\Seen"}, {"\\Seen", "\\Flagged"}
_TAG = re.compile(r"^[A-Z]+\d+ ")  # imaplib's command tags: "KLMB12 "


def uids_in(uid_set: str) -> set[int]:
    """The UIDs an IMAP sequence set names (`3:5,9`), without `*`."""
    found: set[int] = set()
    for part in uid_set.split(","):
        first, _, last = part.partition(":")
        found.update(range(int(first), int(last or first) + 1))
    return found


@dataclass
class Wire:
    """What real ImapMailbox sessions sent and got, after their login: command lines (without
    their tag) and the sizes of the literals received, the only way a body comes."""

    commands: list[str] = field(default_factory=list)
    literals: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def open(self, settings: ImapSettings) -> ImapMailbox:
        """A real ImapMailbox (logged in, folder selected), its socket's traffic recorded."""
        box = ImapMailbox(settings)
        imap = box.imap
        send, read = imap.send, imap.read

        def sending(data: bytes) -> None:
            with self.lock:
                self.commands.append(_TAG.sub("", data.decode("ascii", "replace")).rstrip())
            send(data)

        def reading(size: int) -> bytes:
            data = read(size)  # imaplib reads a literal's bytes, and nothing else, with it
            with self.lock:
                self.literals.append(len(data))
            return data

        imap.send = sending  # type: ignore[method-assign]
        imap.read = reading  # type: ignore[method-assign]
        return box

    def poller(
        self,
        settings: ImapSettings,
        deliver: Callable[[EmailDelivery], Awaitable[object]],
        open_mailbox: Callable[[ImapSettings], Mailbox] = ImapMailbox,
        **options: Any,
    ) -> ImapPoller:
        """Stands in for the ImapPoller class where the hub makes its own: that poller, as
        the hub configures it, on recorded sessions."""
        assert open_mailbox is ImapMailbox
        return ImapPoller(settings, deliver, self.open, **options)

    def uid_commands(self, verb: str, items: str = "") -> list[tuple[set[int], str]]:
        """The UIDs and items of each `UID <verb>` sent, e.g. ("FETCH", "(BODY.PEEK[])")."""
        with self.lock:
            sent = list(self.commands)
        found = []
        for line in sent:
            words = line.split(" ", 3)
            if words[:2] == ["UID", verb] and len(words) == 4 and items in words[3]:
                found.append((uids_in(words[2]), words[3]))
        return found

    def bodies_fetched(self) -> list[int]:
        """The UIDs whose bodies were asked for, in order, once per FETCH."""
        return [u for uids, _ in self.uid_commands("FETCH", "BODY") for u in sorted(uids)]

    def sizes_asked(self) -> list[set[int]]:
        return [uids for uids, _ in self.uid_commands("FETCH", "RFC822.SIZE")]


@dataclass
class MailboxHub:
    """A hub with the email channel, and the test's folder in Dovecot."""

    channel: EmailChannel
    database_url: str
    dovecot: Dovecot
    folder: str
    wire: Wire

    def imap(self, **changes: Any) -> ImapSettings:
        return imap_settings(self.dovecot, self.folder, **changes)

    def poller(
        self, deliver: Callable[[EmailDelivery], Awaitable[object]] | None = None, **imap: Any
    ) -> ImapPoller:
        """An ImapPoller of the test's folder made as the hub makes its own (the hub's size
        limit), on the recorded wire; storing through the hub's intake unless `deliver`."""
        return ImapPoller(
            self.imap(**imap),
            deliver or self.channel.intake.deliver,
            self.wire.open,
            max_message_bytes=self.channel.settings.max_message_bytes,
        )

    def cut_after_storing(self) -> ImapPoller:
        """A poller whose session the server drops right after each email is stored, before
        the poller marks it: what a crash or a lost connection at the worst moment does."""
        intake = self.channel.intake

        async def store_then_cut(delivery: EmailDelivery) -> object:
            outcome = await intake.deliver(delivery)
            await asyncio.to_thread(self.dovecot.kick)  # the server drops the poller's session
            return outcome

        return self.poller(store_then_cut)

    async def append(self, msg: EmailMessage | bytes, user: str = USER, flags: str = "") -> int:
        content = msg if isinstance(msg, bytes) else msg.as_bytes()
        return await asyncio.to_thread(self.dovecot.append, self.folder, content, user, flags)

    async def flags_become(
        self, wanted: dict[int, set[str]], user: str = USER, timeout_s: float = 10.0
    ) -> dict[int, set[str]]:
        """The folder's flags by UID once they are `wanted` (or when `timeout_s` is up)."""
        found: dict[int, set[str]] = {}

        async def check() -> bool:
            nonlocal found
            found = await asyncio.to_thread(self.dovecot.flags, self.folder, user)
            return found == wanted

        await until(check, timeout_s)
        return found

    async def stored(self, msg: EmailMessage, timeout_s: float = 10.0) -> asyncpg.Record:
        """The email row of `msg`, once the hub has stored it."""
        conn = await asyncpg.connect(self.database_url)
        try:
            row = await until(
                lambda: conn.fetchrow(
                    "SELECT * FROM email_messages WHERE rfc_message_id = $1", msg["Message-ID"]
                ),
                timeout_s,
            )
        finally:
            await conn.close()
        assert row is not None, f"{msg['Message-ID']} not stored within {timeout_s} s"
        return row

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


def imap_settings(dovecot: Dovecot, folder: str, **changes: Any) -> ImapSettings:
    """Settings for a poller of `folder`, over plain loopback unless `changes` say."""
    base = ImapSettings(
        enabled=True,
        host=HOST,
        port=dovecot.port,
        security="none",
        username=USER,
        password=PASSWORD,
        mailbox=folder,
        poll_interval_s=0.1,
        timeout_s=5.0,
    )
    return replace(base, **changes)


async def start_mailbox_hub(
    settings: HubSettings,
    dovecot: Dovecot,
    folder: str,
    poll: bool,
    wire: Wire | None = None,
    **imap: Any,
) -> tuple[MailboxHub, web.AppRunner]:
    """A hub whose own poller reads `folder` when `poll`; else the test runs pollers itself.
    `wire` is where the test's pollers record; the hub's own poller records there only when
    the test has put `wire.poller` in place of the hub's ImapPoller (the `polled` fixture)."""
    support = replace(settings.queues[0], channels=("chat", "email"))
    settings = replace(settings, queues=(support, *settings.queues[1:]))
    email_settings = EmailSettings(
        enabled=True,
        from_address=OURS,
        max_message_bytes=MAX_MESSAGE_BYTES,
        accept_recipients=(OURS,),
        smtp_server=SmtpServerSettings(enabled=False),  # IMAP is the only way in
        relay=RelaySettings(port=free_port()),
        imap=imap_settings(dovecot, folder, **imap) if poll else ImapSettings(),
    )
    live, runner = await start_email_hub(settings, email_settings)
    hub = MailboxHub(
        live.app[EMAIL_CHANNEL], settings.database_url, dovecot, folder, wire or Wire()
    )
    return hub, runner


@pytest.fixture(name="polled")
async def polled_fixture(
    settings: HubSettings, redis: Any, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MailboxHub]:
    """A hub polling a fresh folder every 0.1 s with its own ImapPoller, made by the hub's
    own wiring; its sessions are recorded in `polled.wire`."""
    wire = Wire()
    monkeypatch.setattr(email_channel, "ImapPoller", wire.poller)
    folder = await asyncio.to_thread(dovecot.new_folder)
    hub, runner = await start_mailbox_hub(settings, dovecot, folder, poll=True, wire=wire)
    yield hub
    await runner.cleanup()


@pytest.fixture(name="unpolled")
async def unpolled_fixture(
    settings: HubSettings, redis: Any, dovecot: Dovecot
) -> AsyncIterator[MailboxHub]:
    """A hub that does not poll: the test drives ImapPollers on its intake itself."""
    folder = await asyncio.to_thread(dovecot.new_folder)
    hub, runner = await start_mailbox_hub(settings, dovecot, folder, poll=False)
    yield hub
    await runner.cleanup()
