"""One connection's outbound side: the snapshot first, and the bounds in frames and bytes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agent_console.connection import CLOSE_TOO_SLOW, Connection, OutboundLimits


class _Socket:
    """The little of a websocket a connection uses. Frames land in `sent`; with `stuck`, the
    first write never completes (a client that reads nothing)."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None
        self.stuck = stuck

    async def send_str(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(json.loads(text))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed, self.close_code = True, code
        return True


def _connection(ws: _Socket, kind: str = "agent", **limits: Any) -> Connection:
    conn = Connection(ws, kind, "a1", OutboundLimits(**limits))  # type: ignore[arg-type]
    conn.start()
    return conn


def _message(message_id: str) -> dict[str, Any]:
    return {"type": "message", "contact_id": "c1", "message": {"message_id": message_id}}


def _snapshot(*message_ids: str) -> dict[str, Any]:
    messages = [{"message_id": m} for m in message_ids]
    return {"type": "snapshot", "contacts": [{"contact_id": "c1", "messages": messages}]}


async def test_frames_before_the_snapshot_follow_it_in_order_less_the_messages_it_shows() -> None:
    ws = _Socket()
    conn = _connection(ws)
    conn.send(_message("m1"))
    conn.send({"type": "state", "state": "away"})
    conn.send(_message("m2"))
    await asyncio.sleep(0)
    assert ws.sent == []  # nothing before the snapshot
    conn.send(_snapshot("m0", "m1"))
    conn.send(_message("m1"))  # live, again: the snapshot showed it
    conn.send(_message("m3"))
    await conn.stop()
    assert [(f["seq"], f["type"]) for f in ws.sent] == [
        (1, "snapshot"),
        (2, "state"),
        (3, "message"),
        (4, "message"),
    ]
    assert [f["message"]["message_id"] for f in ws.sent if f["type"] == "message"] == ["m2", "m3"]


async def test_a_customer_connection_sends_at_once() -> None:
    ws = _Socket()
    conn = _connection(ws, kind="customer")
    conn.send({"type": "welcome"})
    await conn.stop()
    assert [f["type"] for f in ws.sent] == ["welcome"]


async def test_more_bytes_waiting_than_the_bound_drops_the_client_with_1013() -> None:
    ws = _Socket(stuck=True)
    conn = _connection(ws, max_frames=1000, max_bytes=1000)
    assert conn.send(_snapshot())
    sent = [conn.send({"type": "event", "pad": "x" * 300}) for _ in range(4)]
    # The snapshot (still being written: it counts) and two frames of 340 bytes fit in 1000.
    assert sent == [True, True, False, False]
    assert conn.dropped and (conn.pending_frames, conn.pending_bytes) == (0, 0)
    assert conn.queue.empty()  # what waited is let go at once
    await asyncio.sleep(0)
    assert (ws.closed, ws.close_code) == (True, CLOSE_TOO_SLOW)
    await conn.stop()


async def test_one_frame_larger_than_the_bound_goes_when_nothing_waits() -> None:
    ws = _Socket()
    conn = _connection(ws, max_bytes=100)
    assert conn.send(_snapshot("m" * 500))
    await conn.stop()
    assert not conn.dropped and [f["type"] for f in ws.sent] == ["snapshot"]


async def test_the_frame_bound_still_holds() -> None:
    ws = _Socket(stuck=True)
    conn = _connection(ws, max_frames=3)
    assert [conn.send(_snapshot())] + [conn.send({"type": "pong"}) for _ in range(3)] == [
        True,
        True,
        True,
        False,
    ]
    assert conn.dropped
    await conn.stop()
