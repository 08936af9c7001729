"""One connection's typing, read and presence signals, sent to the other side of a
conversation through the widget's live channel (agent_console/customers/live_channel.py).
Used by both the customers' chat socket and the agents' console socket."""

from __future__ import annotations

from agent_console.customers.live_frames import Side, live_signal
from agent_console.customers.settings import WidgetSettings
from agent_console.customers.widget import Widget
from agent_console.hub import ConsoleHub
from agent_console.rate_limits import FrameThrottle
from contactcenter.conversations.service import ConversationService
from contactcenter.conversations.widget_store import WidgetStore


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
