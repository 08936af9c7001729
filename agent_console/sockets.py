"""What both websocket handlers share: opening a socket, the loop that reads frames and
answers bad ones with an `error` frame.

A connection's typing and read signals: agent_console/customers/live_signals.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiohttp import WSMsgType, web

from agent_console import protocol as p
from agent_console.hub import Connection
from contactcenter.core.errors import HubError, Internal
from contactcenter.core.store_errors import is_store_failure, store_unavailable

log = structlog.get_logger("agent_console.customers.chat_socket")


C = TypeVar("C", p.AgentCommand, p.ChatCommand)

CLOSE_TRY_LATER = 1013  # RFC 6455 section 7.4.1 registry: "Try Again Later"
MINUTE_MS = 60_000
DAY_MS = 86_400_000


async def open_socket(request: web.Request, max_frame_bytes: int) -> web.WebSocketResponse:
    # No permessage-deflate: frames are small JSON, and deflating each one cost the hub more
    # CPU than anything else it does per frame (docs/decisions.md).
    ws = web.WebSocketResponse(max_msg_size=max_frame_bytes, heartbeat=30.0, compress=False)
    await ws.prepare(request)
    return ws


async def serve_frames(
    ws: web.WebSocketResponse,
    conn: Connection,
    parse: Callable[[str | bytes], C],
    handle: Callable[[C], Awaitable[None]],
) -> None:
    """Parse and handle each frame until the socket closes; a refusal becomes an error frame
    and the connection lives on. So does a store that did not answer (`store.unavailable`:
    nothing was changed, the client may try again) and, logged, any other failure."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        ref = None
        try:
            cmd = parse(msg.data)
            ref = cmd.ref
            await handle(cmd)
        except HubError as exc:
            conn.send(p.error_frame(exc, ref))
        except Exception as exc:
            conn.send(p.error_frame(_unexpected(exc, conn), ref))


def _unexpected(exc: Exception, conn: Connection) -> HubError:
    if is_store_failure(exc):
        log.warning("frame_store_unavailable", kind=conn.kind, error=type(exc).__name__)
        return store_unavailable(exc)
    log.exception("frame_failed", kind=conn.kind)
    return Internal("internal error")
