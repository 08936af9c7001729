"""One websocket of the hub and what waits to be written to it.

A connection's outbound frames wait in a queue drained by its own writer task, so a slow
client never stalls the hub. What may wait is bounded twice, in frames and in bytes
(`OutboundLimits`): past either bound the client counts as too slow, everything waiting for it
is let go at once, and it is closed with code 1013 (try again later); a client that does not
read even the close frame is cut off after `close_grace_s`. Its console recovers through a
fresh snapshot on reconnect (docs/protocol.md).

An agent's connection starts closed to everything but its `snapshot`: frames that come before
it (events the hub pushed while the snapshot was being read) are held, and sent after it in
their order, but for messages the snapshot's transcripts already show. Those are not sent
again for as long as the connection lives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from agent_console.protocol import Sequencer

log = structlog.get_logger("agent_console.hub")

CLOSE_TOO_SLOW = 1013  # RFC 6455 section 7.4.1 registry: "Try Again Later"

FrameObserver = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class OutboundLimits:
    """What one connection may have waiting to be written before it counts as too slow.

    One frame always fits when nothing else waits, whatever its size: a snapshot larger than
    `max_bytes` still reaches a console that reads."""

    max_frames: int = 256
    max_bytes: int = 1_048_576
    # How long a client dropped as too slow has to take the close frame before its
    # connection is cut (what the operating system still buffers for it goes with it).
    close_grace_s: float = 5.0


def shown_message_ids(snapshot: Mapping[str, Any]) -> frozenset[str]:
    """The ids of the messages a snapshot's contacts carry."""
    ids: set[str] = set()
    for contact in snapshot.get("contacts") or ():
        for message in contact.get("messages") or ():
            message_id = message.get("message_id") if isinstance(message, Mapping) else None
            if isinstance(message_id, str):
                ids.add(message_id)
    return frozenset(ids)


def _message_id(frame: Mapping[str, Any]) -> str | None:
    if frame.get("type") != "message":
        return None
    message = frame.get("message")
    return message.get("message_id") if isinstance(message, Mapping) else None


class Connection:
    """One websocket and its outbound queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        kind: str,
        key: str,
        limits: OutboundLimits,
        observe: FrameObserver | None = None,
        *,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.kind = kind  # "agent", "supervisor" or "customer"
        # A supervisor's scope (contactcenter/agents/scope.py): the agents and queues of the
        # teams they supervise, read when the console connects; None: everything (admins).
        self.scope: tuple[frozenset[str], frozenset[str]] | None = None
        self.key = key  # agent id, or contact id ('' until a customer has a contact)
        self.limits = limits
        self.seq = Sequencer()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.pending_frames = 0  # queued or being written
        self.pending_bytes = 0
        self.dropped = False
        self._transport = transport
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        # Sees every frame queued here, the snapshot included (the hub learns from it).
        self._observe = observe
        # Until the snapshot goes, what comes is held here, with the size counted for it.
        self._held: list[tuple[dict[str, Any], int]] | None = (
            [] if kind in ("agent", "supervisor") else None
        )
        self._shown: frozenset[str] = frozenset()  # message ids the snapshot carried

    def sees(self, agents: frozenset[str], queues: frozenset[str]) -> bool:
        """Whether this supervisor's scope covers an event naming `agents` and `queues`."""
        if self.scope is None:
            return True
        return bool(agents & self.scope[0] or queues & self.scope[1])

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    @property
    def opened(self) -> bool:
        """Whether the snapshot went (or none is awaited): frames are no longer held."""
        return self._held is None

    def send(self, frame: dict[str, Any]) -> bool:
        """Queue a frame (or hold it until the snapshot); a client with too much waiting is
        dropped, never waited for. False when the frame will not be sent."""
        if self.dropped:
            return False
        if frame.get("type") == "snapshot" and self._held is not None:
            return self._open(frame)
        if self._shown and _message_id(frame) in self._shown:
            return False
        if self._observe is not None:
            self._observe(frame)
        if self._held is not None:
            size = len(json.dumps(frame, separators=(",", ":")))
            if not self._reserve(size):
                return False
            self._held.append((frame, size))
            return True
        text = self.seq.encode(frame)
        if not self._reserve(len(text)):
            return False
        self.queue.put_nowait(text)
        return True

    def _open(self, snapshot: dict[str, Any]) -> bool:
        """The snapshot first, then what was held, less the messages it shows."""
        held, self._held = self._held or [], None
        self._shown = shown_message_ids(snapshot)
        if self._observe is not None:
            self._observe(snapshot)
        text = self.seq.encode(snapshot)
        self.pending_frames += 1
        self.pending_bytes += len(text)
        self.queue.put_nowait(text)
        for frame, size in held:
            self.pending_frames -= 1
            self.pending_bytes -= size
            if _message_id(frame) not in self._shown:
                text = self.seq.encode(frame)
                self.pending_frames += 1
                self.pending_bytes += len(text)
                self.queue.put_nowait(text)
        return True

    def _reserve(self, size: int) -> bool:
        fits = self.pending_frames == 0 or (
            self.pending_frames < self.limits.max_frames
            and self.pending_bytes + size <= self.limits.max_bytes
        )
        if not fits:
            self._drop(size)
            return False
        self.pending_frames += 1
        self.pending_bytes += size
        return True

    def _drop(self, size: int) -> None:
        self.dropped = True
        log.warning(
            "console_too_slow",
            kind=self.kind,
            waiting_frames=self.pending_frames,
            waiting_bytes=self.pending_bytes + size,
        )
        # What waits for this client goes now, not when its socket finally does.
        self._held = None
        while not self.queue.empty():
            self.queue.get_nowait()
        self.pending_frames = self.pending_bytes = 0
        # The writer is left to finish: cancelled while it waits for the socket to drain, it
        # would cancel the wait the close below shares with it.
        self._closer = asyncio.create_task(
            self.close(CLOSE_TOO_SLOW, b"too slow", self.limits.close_grace_s)
        )

    async def close(self, code: int, reason: bytes, grace_s: float) -> None:
        """Close with `code`; cut the connection if, by the end of the grace, the client has
        not taken what waits for it: a socket holding unsent bytes stays open, closing or
        not, for as long as the client reads nothing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        try:
            async with asyncio.timeout_at(deadline):
                await self.ws.close(code=code, message=reason)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the hub is stopping
            # else a wait inside the close was cancelled under it: cut the connection below
        transport = self._transport
        if transport is None:
            return
        if transport.get_write_buffer_size():  # the rest of the grace to take them
            await asyncio.sleep(max(0.0, deadline - loop.time()))
        if transport.get_write_buffer_size() or not transport.is_closing():
            transport.abort()

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            finally:
                if not self.dropped:
                    self.pending_frames -= 1
                    self.pending_bytes -= len(text)

    async def stop(self) -> None:
        self._held = None
        if self._writer is not None:
            if not self.dropped:
                try:
                    self.queue.put_nowait(None)
                    await asyncio.wait_for(asyncio.shield(self._writer), timeout=1.0)
                except TimeoutError:
                    pass
            self._writer.cancel()
