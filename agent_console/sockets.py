"""What both websocket handlers share: opening a socket, the loop that reads frames and
answers bad ones with an `error` frame, and a connection's typing and read signals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiohttp import WSMsgType, web

from agent_console import protocol as p
from agent_console.fanout import Side, live_signal
from agent_console.hub import Connection, ConsoleHub
from agent_console.limits import FrameThrottle, WidgetSettings
from agent_console.widget import Widget
from contactcenter.conversations import ConversationService
from contactcenter.csat import WidgetStore
from contactcenter.errors import HubError, Internal
from contactcenter.store_errors import is_store_failure, store_unavailable

log = structlog.get_logger("agent_console.gateway")


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


class LiveSignals:
    """One connection's typing and read signals: throttled, read marks stored, both sent to
    the other side through the widget's live channel (when the widget is set up)."""

    def __init__(self, hub: ConsoleHub, widget: Widget | None, service: ConversationService):
        self.hub = hub
        self.widget = widget
        self.service = service
        self.store = WidgetStore(service.crm.pool)
        per_s = widget.settings.live_frames_per_s if widget else WidgetSettings.live_frames_per_s
        self.throttle = FrameThrottle(per_s, service.clock)

    async def typing(self, contact_id: str, side: Side, active: bool) -> None:
        self.throttle.allow()
        if self.widget is not None:
            signal = live_signal("typing", contact_id, side, self.service.clock(), active=active)
            await self.widget.live.publish(signal)

    async def presence(self, contact_id: str, present: bool) -> None:
        """The customer's chat page follows the contact (again), or the last one here left:
        the agents holding it see whether the customer is still there. Not throttled: it
        comes from connecting and closing, not from frames."""
        if self.widget is not None:
            signal = live_signal(
                "presence", contact_id, "customer", self.service.clock(), active=present
            )
            await self.widget.live.publish(signal)

    async def read(self, contact_id: str, side: Side, message_id: str) -> None:
        self.throttle.allow()
        moved = await self.store.mark_read(contact_id, side, message_id)
        if moved and self.widget is not None:
            signal = live_signal(
                "read", contact_id, side, self.service.clock(), message_id=message_id
            )
            await self.widget.live.publish(signal)
