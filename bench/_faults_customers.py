"""The customers of bench.faults: web chats (docs/protocol.md, `/ws/chat`) that live through
faults as the widget does (agent_console/static/widget/socket.js and outbox.js).

Each customer arrives on schedule, opens a chat on one hub, sends its first message, and
once an agent has joined and replied, its other messages; then it waits for the agent to end
the chat. When its socket drops it reconnects to the other hub with the widget's backoff,
says hello with its visitor id, and sends again, under the same client_msg_id, every message
the hub has not confirmed (by an ack or the echo). Where the widget gives a message up on
`store.unavailable`, this customer sends it again a second later, as a person pressing
"retry" would: the benchmark wants to know whether what a hub accepts is kept, not how
patient people are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench._faults_book import (
    RETRY_S,
    Book,
    CustomerLog,
    Reconnect,
    Sent,
    backoff_s,
    read_frame,
)

RETRIED = ("store.unavailable", "chat.rate_limited", "queue.full", "internal")


@dataclass(frozen=True)
class ChatPlan:
    messages: int  # per customer, the first included
    gap_s: tuple[float, float]  # between a customer's own messages
    reply_wait_s: float = 5.0  # for the agent's first reply before going on


def cmid(tag: str, index: int, k: int) -> str:
    """The client_msg_id of customer `index`'s message k (1-based)."""
    return f"{tag}-c{index}-m{k}"


def text_of(index: int, k: int, n: int) -> str:
    if k == 1:
        return f"Hello, I need some help with my order number {index}, it has not arrived yet."
    return f"Thank you. A few more words about order {index}: message {k} of {n}."


class Customer:
    def __init__(
        self, log: CustomerLog, urls: list[str], book: Book, plan: ChatPlan, tag: str
    ) -> None:
        self.log = log
        self.urls = urls
        self.book = book
        self.plan = plan
        self.tag = tag
        self.who = f"customer {log.index}"
        self.rng = random.Random(f"{tag}-{log.index}")
        self.outbox: dict[str, Sent] = {}  # not confirmed yet, in sending order
        self.inflight: dict[str, str] = {}  # ref -> cmid, on the current connection
        self.retry_at: dict[str, float] = {}
        self.ready = asyncio.Event()  # welcomed on the current connection
        self.wake = asyncio.Event()
        self.joined = asyncio.Event()
        self.replied = asyncio.Event()
        self.over = asyncio.Event()
        self.ws: ClientConnection | None = None
        self.welcomed = False

    # --- the conversation ----------------------------------------------------------------------

    async def run(self) -> None:
        wait = self.log.due_s - self.book.now()
        if wait > 0:
            await asyncio.sleep(wait)
        connection = asyncio.create_task(self._connections(), name=self.who)
        try:
            self._queue(1)
            await self._until(self.joined)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until(self.replied), self.plan.reply_wait_s)
            for k in range(2, self.plan.messages + 1):
                if self.over.is_set() or self.book.stop.is_set():
                    break
                await asyncio.sleep(self.rng.uniform(*self.plan.gap_s))
                self._queue(k)
            await self._until(self.over)
        finally:
            if not self.over.is_set():
                self._finish("stopped")
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connection
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(), 2)

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`, or for the end of the conversation or of the run."""
        waits = [asyncio.ensure_future(e.wait()) for e in (event, self.over, self.book.stop)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _queue(self, k: int) -> None:
        c = cmid(self.tag, self.log.index, k)
        sent = Sent(c, "customer", self.who, text_of(self.log.index, k, self.plan.messages))
        sent.contact_id = self.log.contact_id
        self.book.sent[c] = sent
        self.outbox[c] = sent
        self.wake.set()

    def _finish(self, outcome: str) -> None:
        if not self.over.is_set():
            self.log.outcome = outcome
            self.log.over_s = self.book.now()
            self.over.set()

    # --- the connection ------------------------------------------------------------------------

    async def _connections(self) -> None:
        hub, attempt = self.log.index % 2, 0
        while not self.over.is_set():
            url = self.urls[hub].replace("http", "ws", 1) + "/ws/chat"
            try:
                self.ws = await websockets.connect(url, open_timeout=5, close_timeout=1)
            except (OSError, InvalidHandshake, TimeoutError):
                self.ws = None
            if self.ws is not None:
                self.log.connects += 1
                self.welcomed = False
                try:
                    await self._session(self.ws)
                except (ConnectionClosed, Reconnect) as exc:
                    if isinstance(exc, Reconnect):
                        self.book.anomaly(self.who, str(exc))
                        await self.ws.close()
                    if not self.over.is_set():
                        self.book.dropped("customer")
                finally:
                    self.ready.clear()
                    self.inflight.clear()
                if self.over.is_set():
                    return
                if self.welcomed:  # the connection worked: the backoff starts over
                    attempt = 0
            hub = 1 - hub
            delay = backoff_s(attempt) * self.rng.uniform(0.8, 1.2)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        hello: dict[str, Any] = {"type": "hello", "name": f"Faulty Customer {self.log.index}"}
        if self.log.visitor_id:
            hello["visitor_id"] = self.log.visitor_id
        await ws.send(json.dumps({**hello, "ref": "hello"}))
        pump = asyncio.create_task(self._pump(ws))
        last_seq = 0
        try:
            async for raw in ws:
                frame = read_frame(raw, last_seq)
                last_seq = frame["seq"]
                await self._on_frame(frame, ws, hello)
                if self.over.is_set():
                    return
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await pump

    async def _pump(self, ws: ClientConnection) -> None:
        """Send every message not confirmed and not on its way, in order, once welcomed."""
        while True:
            await self.ready.wait()
            now = self.book.now()
            busy = set(self.inflight.values())
            for c, sent in list(self.outbox.items()):
                if c in busy or self.retry_at.get(c, 0.0) > now:
                    continue
                ref = uuid.uuid4().hex[:12]
                self.inflight[ref] = c
                sent.attempts += 1
                sent.first_sent_s = sent.first_sent_s or now
                frame = {"type": "message", "text": sent.text, "client_msg_id": c, "ref": ref}
                await ws.send(json.dumps(frame))
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.25)

    # --- frames --------------------------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any], ws: ClientConnection, hello: Any) -> None:
        kind = frame["type"]
        if kind == "welcome":
            self._welcome(frame)
        elif kind == "queued":
            self._follow(frame["contact_id"])
        elif kind == "agent_joined":
            self._joined()
        elif kind == "message":
            self._message(frame["message"])
        elif kind == "ended":
            self._finish("ended")
        elif kind == "ack":
            c = self.inflight.pop(frame.get("ref", ""), None)
            if c is not None:
                self._confirm(c)
        elif kind == "error":
            await self._error(frame, ws, hello)

    def _welcome(self, frame: dict[str, Any]) -> None:
        self.log.visitor_id = frame["visitor_id"]
        status = frame["status"]
        if status in ("waiting", "connected"):
            self._follow(frame["contact_id"])
            for m in frame["messages"]:
                self._message(m)
            if status == "connected":
                self._joined()
        elif status == "ended" and self.log.contact_id is not None:
            self._finish("ended-while-away")
        elif status in ("new", "ended") and self.log.contact_id is not None:
            # The widget takes that for the end of its conversation, though none was told.
            first_confirmed = self.log.first_cmid not in self.outbox
            if first_confirmed:
                self.book.anomaly(self.who, f"welcome {status}: the hub forgot the conversation")
                self._finish("forgotten")
        self.welcomed = True
        self.ready.set()
        self.wake.set()

    def _follow(self, contact_id: str) -> None:
        if self.log.contact_id is not None and contact_id != self.log.contact_id:
            self.book.anomaly(self.who, f"a second contact {contact_id}")
        self.log.contact_id = contact_id
        self.log.contact_ids.add(contact_id)
        for sent in self.outbox.values():
            sent.contact_id = sent.contact_id or contact_id

    def _joined(self) -> None:
        if self.log.joined_s is None:
            self.log.joined_s = self.book.now()
        self.joined.set()

    def _message(self, m: dict[str, Any]) -> None:
        c = m.get("client_msg_id")
        if m["sender"] == "customer" and c in self.outbox:
            self._confirm(c)
        elif m["sender"] == "agent" and c:
            self.log.seen_agent_cmids.add(c)
            self.replied.set()

    def _confirm(self, c: str) -> None:
        sent = self.outbox.pop(c, None)
        if sent is not None:
            sent.confirmed_s = self.book.now()
            sent.contact_id = sent.contact_id or self.log.contact_id
        for ref in [r for r, x in self.inflight.items() if x == c]:
            del self.inflight[ref]

    async def _error(self, frame: dict[str, Any], ws: ClientConnection, hello: Any) -> None:
        error_id, ref = frame.get("error_id", "?"), frame.get("ref")
        if ref == "hello":
            self.book.refuse(self.who, "hello", error_id, self.log.contact_id)
            if error_id not in RETRIED:
                raise Reconnect(f"hello refused: {error_id}")
            await asyncio.sleep(RETRY_S)
            await ws.send(json.dumps({**hello, "ref": "hello"}))
            return
        c = self.inflight.pop(ref or "", None)
        self.book.refuse(self.who, "message" if c else "?", error_id, self.log.contact_id)
        if c is None:
            return
        if error_id in RETRIED:
            wait_s = float((frame.get("details") or {}).get("retry_after_s") or RETRY_S)
            self.retry_at[c] = self.book.now() + wait_s
        elif error_id == "conversation.closed":
            self.outbox.pop(c, None)
            self._finish("refused-closed")
        else:
            self.outbox.pop(c, None)
            self.book.anomaly(self.who, f"message {c} refused: {error_id}")
