"""The agents of bench.faults: consoles (docs/protocol.md, `/ws/agent`) that live through
faults as the browser console does (agent_console/static/shared/socket.js).

Each agent accepts every offer, replies once, waits until it has every message of the
customer, ends the chat after a short pause and wraps it up. When the socket drops, the
console reconnects to the other hub with the console's backoff and the same session token,
and takes up what its snapshot says it holds. A command that got no answer, or
`store.unavailable`, is sent again a second later (the reply under the same client_msg_id,
so it is stored once); `contact.not_assigned` is tried again a few times, as a person
clicking again would. A `state` frame other than available (the hub set the agent away or
offline) is answered by going available again, as a person back at the desk would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench._faults_book import (
    COMMAND_TIMEOUT_S,
    RETRY_S,
    Book,
    Hold,
    Reconnect,
    Sent,
    backoff_s,
    read_frame,
)
from bench._faults_customers import RETRIED

ACK_TO_FRAME_S = 10.0  # an ack is followed by the frame of what it did within this
NOT_MINE_TRIES = 3  # contact.not_assigned: tried again this many times, a second apart


@dataclass(frozen=True)
class AgentPlan:
    password: str
    tag: str
    messages: int  # per customer: the agent waits for them all before ending
    pause_s: tuple[float, float]  # after the customer's last message, before ending
    max_wait_s: float  # for the customer's messages, at most


@dataclass
class _Contact:
    """What one console knows of one contact it holds."""

    all_seen: asyncio.Event = field(default_factory=asyncio.Event)  # every customer message
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    wrapped: asyncio.Event = field(default_factory=asyncio.Event)


class Agent:
    def __init__(self, name: str, home: int, urls: list[str], book: Book, plan: AgentPlan):
        self.name = name
        self.home = home
        self.urls = urls
        self.book = book
        self.plan = plan
        self.rng = random.Random(f"{plan.tag}-{name}")
        self.token: str | None = None
        self.ws: ClientConnection | None = None
        self.hub = home
        self.ready = asyncio.Event()
        self.pending: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.contacts: dict[str, _Contact] = {}
        self.handlers: dict[str, asyncio.Task[None]] = {}
        self.chores: set[asyncio.Task[None]] = set()
        self.accepting: set[str] = set()
        self.going_available = False
        self.moving = False
        self.closing = False
        self.welcomed = False
        self.state = "offline"  # as the console last heard it

    # --- connection ----------------------------------------------------------------------------

    async def login(self) -> None:
        body = {"username": self.name, "password": self.plan.password}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
            http.post(f"{self.urls[self.hub]}/api/login", json=body) as resp,
        ):
            if resp.status != 200:
                raise OSError(f"login of {self.name}: HTTP {resp.status}")
            self.token = (await resp.json())["token"]

    async def run(self) -> None:
        attempt = 0
        while not self.closing:
            self.welcomed = False
            try:
                if self.token is None:
                    await self.login()
                url = self.urls[self.hub].replace("http", "ws", 1) + "/ws/agent"
                headers = {"Authorization": f"Bearer {self.token}"}
                self.ws = await websockets.connect(
                    url, additional_headers=headers, open_timeout=5, close_timeout=1
                )
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    self.token = None
                self.ws = None
            except (OSError, InvalidHandshake, TimeoutError, aiohttp.ClientError):
                self.ws = None
            if self.ws is not None:
                try:
                    await self._session(self.ws)
                except (ConnectionClosed, Reconnect) as exc:
                    if isinstance(exc, Reconnect):
                        self.book.anomaly(self.name, str(exc))
                        await self.ws.close()
                finally:
                    self._lost()
                if self.closing:
                    return
                if self.moving:  # a clean move home: no backoff
                    self.moving, self.hub, attempt = False, self.home, 0
                    continue
                self.book.dropped("agent")
                if self.welcomed:
                    attempt = 0
            self.hub = 1 - self.hub
            await asyncio.sleep(backoff_s(attempt))
            attempt += 1

    def _lost(self) -> None:
        self.ready.clear()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_result(None)

    async def move_home(self) -> bool:
        """Reconnect to the agent's home hub if it is on the other one."""
        if self.hub == self.home or self.ws is None:
            return False
        self.moving = True
        await self.ws.close()
        return True

    async def close(self) -> None:
        self.closing = True
        for task in [*self.handlers.values(), *self.chores]:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)

    async def _session(self, ws: ClientConnection) -> None:
        last_seq = 0
        async for raw in ws:
            frame = read_frame(raw, last_seq)
            last_seq = frame["seq"]
            if frame["type"] == "snapshot":
                self._snapshot(frame)
                self.welcomed = True
                self.ready.set()
            else:
                self._on_frame(frame)

    def _chore(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.chores.add(task)
        task.add_done_callback(self._chore_done)

    def _chore_done(self, task: asyncio.Task[None]) -> None:
        self.chores.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.book.crashes.append(f"{self.name}: {task.exception()!r}")

    # --- frames --------------------------------------------------------------------------------

    def _snapshot(self, frame: dict[str, Any]) -> None:
        held = {c["contact_id"]: c for c in frame["contacts"]}
        for contact_id in list(self.handlers):
            if contact_id not in held:
                self.book.anomaly(self.name, f"{contact_id}: gone from the snapshot")
                self.handlers[contact_id].cancel()
        for contact_id, c in held.items():
            self._saw(contact_id, c["messages"])
            if c["state"] == "offered":  # an offer whose frame this console may never have had
                self.book.offers.append((self.book.now(), self.name, contact_id))
                self._chore(self._accept(contact_id))
            elif c["state"] in ("assigned", "wrapup"):
                if c["state"] == "wrapup":
                    self._contact(contact_id).ended.set()
                self._handle(contact_id)
        self.state = frame["agent"]["state"]
        self.book.agent_ids[self.name] = frame["agent"]["agent_id"]
        if self.state != "available":
            self._chore(self._available())

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in ("ack", "error"):
            fut = self.pending.get(frame.get("ref", ""))
            if fut is not None and not fut.done():
                fut.set_result(frame)
            elif kind == "error":
                self.book.anomaly(self.name, f"error without a command: {frame.get('error_id')}")
        elif kind == "offer":
            contact_id = frame["contact"]["contact_id"]
            self.book.offers.append((self.book.now(), self.name, contact_id))
            self._saw(contact_id, frame["contact"]["messages"])
            self._chore(self._accept(contact_id))
        elif kind == "assigned":
            contact_id = frame["contact"]["contact_id"]
            self._saw(contact_id, frame["contact"]["messages"])
            self._handle(contact_id)
        elif kind == "message":
            self._saw(frame["contact_id"], [frame["message"]])
        elif kind == "conversation_ended":
            self._contact(frame["contact_id"]).ended.set()
        elif kind == "wrapup_done":
            self._contact(frame["contact_id"]).wrapped.set()
        elif kind == "transferred":
            task = self.handlers.get(frame["contact_id"])
            if task is not None:
                task.cancel()
        elif kind == "offer_withdrawn":
            self.book.withdrawn[frame.get("why", "?")] += 1
        elif kind == "state":
            self.state = frame["state"]
            if self.state != "available":
                self.book.agent_states[f"{frame['state']} ({frame.get('reason')})"] += 1
                self._chore(self._available())

    def _contact(self, contact_id: str) -> _Contact:
        return self.contacts.setdefault(contact_id, _Contact())

    def _saw(self, contact_id: str, messages: list[dict[str, Any]]) -> None:
        self.book.seen_by_agents(contact_id, messages)
        seen = self.book.agent_seen.get(contact_id, set())
        if len(seen) >= self.plan.messages:  # seen by any console: the agent's, on record
            self._contact(contact_id).all_seen.set()

    # --- commands ------------------------------------------------------------------------------

    async def _command(self, kind: str, **fields: Any) -> dict[str, Any] | None:
        """The ack or error answering the command; None when the connection was lost or
        nothing answered in time."""
        try:
            await asyncio.wait_for(self.ready.wait(), COMMAND_TIMEOUT_S)
        except TimeoutError:
            return None
        ws, ref = self.ws, uuid.uuid4().hex[:12]
        assert ws is not None
        fut: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self.pending[ref] = fut
        try:
            await ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
            return await asyncio.wait_for(fut, COMMAND_TIMEOUT_S)
        except (ConnectionClosed, TimeoutError):
            return None
        finally:
            self.pending.pop(ref, None)

    async def _until_done(
        self, kind: str, about: str | None, done: asyncio.Event | None = None, **fields: Any
    ) -> str | None:
        """Send the command until it is acked (None) or refused for good (its error id).
        `contact.not_assigned` is tried again a few times, as a person clicking again would;
        not once `done` is set (what the command asked for has happened)."""
        not_mine = 0
        while not self.closing:
            answer = await self._command(kind, **fields)
            if answer is not None and answer["type"] == "ack":
                return None
            if answer is not None:
                error_id = str(answer.get("error_id"))
                self.book.refuse(self.name, kind, error_id, about)
                if done is not None and done.is_set():
                    return error_id
                if error_id == "contact.not_assigned" and not_mine < NOT_MINE_TRIES:
                    not_mine += 1
                elif error_id not in RETRIED:
                    return error_id
            await asyncio.sleep(RETRY_S)
        return "closing"

    async def _available(self) -> None:
        if self.going_available:
            return
        self.going_available = True
        try:
            refused = await self._until_done("set_state", None, state="available")
            if refused is None:
                self.state = "available"
            else:
                self.book.anomaly(self.name, f"set_state available refused: {refused}")
        finally:
            self.going_available = False

    async def _accept(self, contact_id: str) -> None:
        if contact_id in self.accepting or contact_id in self.handlers:
            return
        self.accepting.add(contact_id)
        try:
            await self._until_done("accept", contact_id, contact_id=contact_id)
        finally:
            self.accepting.discard(contact_id)

    # --- one conversation ----------------------------------------------------------------------

    def _handle(self, contact_id: str) -> None:
        if contact_id not in self.handlers:
            task = asyncio.create_task(self._conversation(contact_id))
            task.add_done_callback(self._chore_done)
            self.handlers[contact_id] = task

    async def _conversation(self, contact_id: str) -> None:
        hold = Hold(self.name, contact_id, self.book.now())
        self.book.holds.append(hold)
        state = self._contact(contact_id)
        try:
            if not state.ended.is_set():
                refused = await self._reply(contact_id)
                if refused:
                    hold.how_ended = f"reply refused: {refused}"
                    return
                await self._wait_last(contact_id, state)
                await asyncio.sleep(self.rng.uniform(*self.plan.pause_s))
                if not await self._step("end", contact_id, state.ended):
                    hold.how_ended = "end refused"
                    return
            if await self._step("wrapup", contact_id, state.wrapped, disposition="resolved"):
                hold.how_ended = "wrapped up"
            else:
                hold.how_ended = "wrap-up refused"
        except asyncio.CancelledError:
            hold.how_ended = hold.how_ended or "taken away"
            raise
        finally:
            hold.end_s = self.book.now()
            self.handlers.pop(contact_id, None)
            self.contacts.pop(contact_id, None)

    async def _reply(self, contact_id: str) -> str | None:
        c = f"{self.plan.tag}-{self.name}-{contact_id[:8]}-r"
        sent = self.book.sent.setdefault(
            c, Sent(c, "agent", self.name, "Hello, I am looking into it now.", contact_id)
        )
        sent.first_sent_s = sent.first_sent_s or self.book.now()
        sent.attempts += 1
        refused = await self._until_done(
            "send", contact_id, contact_id=contact_id, text=sent.text, client_msg_id=c
        )
        if refused is None:
            sent.confirmed_s = sent.confirmed_s or self.book.now()
        return refused

    async def _wait_last(self, contact_id: str, state: _Contact) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (state.all_seen, state.ended)]
        try:
            done, _ = await asyncio.wait(
                waits, timeout=self.plan.max_wait_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waits:
                w.cancel()
        if not done:
            self.book.anomaly(
                self.name,
                f"{contact_id}: not all the customer's messages in {self.plan.max_wait_s:g} s",
            )

    async def _step(self, kind: str, contact_id: str, done: asyncio.Event, **fields: Any) -> bool:
        """End or wrap up; True once done (its frame came, or it had happened already)."""
        if done.is_set():
            return True
        refused = await self._until_done(kind, contact_id, done, contact_id=contact_id, **fields)
        if refused is not None:
            return done.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), ACK_TO_FRAME_S)
        if not done.is_set():
            self.book.anomaly(self.name, f"{contact_id}: {kind} acked, its frame never came")
        return True
