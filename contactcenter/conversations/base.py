"""What every part of the conversation service shares: its stores and clock, the live state
of a contact (restored from the record when Redis forgot it), and storing then publishing a
message. The operations are in service.py (customers, views) and agent_work.py (agents)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from contactcenter.conversations.recovery import (
    requeue_orphans,
    restore_agents,
    restore_conversations,
)
from contactcenter.core import events as ev
from contactcenter.core.eventbus import EventBus
from contactcenter.crm.store import CrmStore, StoredMessage
from contactcenter.settings.hub import HubSettings
from contactcenter.web.auth import AgentStore
from routing.rules import RuleTarget
from routing.status import (
    LiveContact,
)
from routing.store import RoutingStore

log = structlog.get_logger("contactcenter.conversations.service")

OPEN_STATES = ("queued", "offered", "assigned")


class ConversationBase:
    def __init__(
        self,
        settings: HubSettings,
        crm: CrmStore,
        agents: AgentStore,
        routing: RoutingStore,
        bus: EventBus,
        clock: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.crm = crm
        self.agents = agents
        self.routing = routing
        self.bus = bus
        self.clock = clock
        # Language and intents of a text contact's first words (channels/language.py).
        self.classify: Callable[[str], tuple[str | None, frozenset[str]]] | None = None
        self._aht_cache: dict[str, tuple[int, int | None]] = {}

    async def _live(self, contact_id: str) -> LiveContact | None:
        """The contact's live state; one open on record but unknown to Redis (a hub died in
        between, or Redis lost its data) is restored from the record first, so that nobody's
        message is refused because Redis forgot (docs/decisions.md)."""
        live = await self.routing.contact(contact_id)
        if live is not None:
            return live
        ids = [contact_id]
        now_ms = self.clock()
        pool = self.crm.pool
        record = await self.crm.contact(contact_id)
        if record is None or record.state not in ("queued", "assigned", "wrapup"):
            return None
        if record.agent_id is not None:  # the agent first: Redis may have lost them too
            await restore_agents(pool, self.agents, self.routing, now_ms, only=record.agent_id)
        restored = await restore_conversations(pool, self.routing, self.settings, now_ms, ids)
        restored += await requeue_orphans(pool, self.routing, self.settings, now_ms, ids)
        return await self.routing.contact(contact_id) if restored else None

    # --- shared ----------------------------------------------------------------------------

    def _default_route(self) -> RuleTarget:
        return self.settings.default_route or RuleTarget(self.settings.queues[0].name)

    async def _store_and_publish(
        self,
        contact_id: str,
        sender: str,
        text: str,
        agent_id: str | None,
        client_msg_id: str | None,
    ) -> None:
        msg = await self.crm.add_message(
            contact_id,
            sender,
            text,
            agent_id=agent_id if sender == "agent" else None,
            client_msg_id=client_msg_id,
        )
        # Published even for a retry already stored: the first attempt may have died between
        # the insert and the publish. Consumers de-duplicate on message_id.
        await self.bus.publish(message_sent_event(msg, agent_id))


def message_sent_event(msg: StoredMessage, agent_id: str | None) -> ev.MessageSent:
    return ev.MessageSent(
        at_ms=msg.at_ms,
        contact_id=msg.contact_id,
        message_id=msg.message_id,
        sender=msg.sender,
        agent_id=agent_id,
        body=msg.body,
        client_msg_id=msg.client_msg_id,
    )
