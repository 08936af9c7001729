"""The conversation service: what customers and agents can do, as the gateways call it.

Each operation validates against the live routing state, changes the stores (PostgreSQL for
what was said, Redis scripts for routing), and lets the event stream tell everyone else.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any

import structlog

from contactcenter.conversations.agent_work import AgentWork
from contactcenter.conversations.base import OPEN_STATES, message_sent_event
from contactcenter.conversations.transcript_pages import latest_page, no_page
from contactcenter.core import events as ev
from contactcenter.core.errors import (
    ConversationClosed,
    QueueClosed,
    QueueFull,
)
from contactcenter.crm.context import customer_context
from contactcenter.crm.customers import CustomerStore, IdentityInUse
from contactcenter.crm.merge_reviews import ReviewStore
from contactcenter.crm.store import StoredMessage
from routing.core import eligible_agents
from routing.estimates import estimate_wait
from routing.hours import is_open, next_opening_ms
from routing.model import AgentView
from routing.rules import ContactAttributes, route
from routing.status import (
    EnqueueStatus,
)

log = structlog.get_logger("contactcenter.conversations.service")


class ConversationService(AgentWork):
    """Every operation on conversations: the customers' side here, the agents' in
    AgentWork (agent_work.py), the shared state in ConversationBase (base.py)."""

    # --- customers -------------------------------------------------------------------------

    async def identify_visitor(
        self,
        visitor_id: str,
        name: str,
        email: str | None = None,
        *,
        verified_user_id: str | None = None,
    ) -> str:
        """The customer behind a web chat visitor (docs/widget.md, "Who the visitor is").

        With `verified_user_id` (the embedding site signed it), the customer holding that
        external id, created if new. Otherwise the visitor id's own customer: a visitor id
        is the hub's random token, and only this browser holds it.

        An `email` typed with it is a claim, never proof: free, it becomes one of this
        customer's identities; another customer's, the pair goes to the merge review list
        (reason `unverified_claim`) and the chat goes on with this customer alone, without
        the other's conversations or history."""
        region = self.settings.crm.default_phone_region
        customers = CustomerStore(self.crm.pool, default_region=region)
        if email is not None:
            customers.normalise("email", email)  # bad input is refused before any write
        if verified_user_id is not None:
            found = await customers.resolve("external", verified_user_id, display_name=name)
        else:
            found = await customers.resolve("visitor", visitor_id, display_name=name)
        if email is not None:
            await self._claim_identity(customers, found.customer_id, "email", email)
        return found.customer_id

    async def _claim_identity(
        self, customers: CustomerStore, customer_id: str, kind: str, raw: str
    ) -> None:
        try:
            await customers.add_identity(customer_id, kind, raw)
            return
        except IdentityInUse:
            holder = (await customers.resolve(kind, raw)).customer_id
        if holder == customer_id:
            return
        evidence = {"reason": f"a web chat visitor typed the {kind} of another customer"}
        reviews = ReviewStore(self.crm.pool)
        outcome = await reviews.auto_merge(customer_id, holder, evidence, claimed=True)
        log.info("identity_claimed", customer_id=customer_id, kind=kind, outcome=outcome.outcome)

    async def open_contact(self, customer_id: str, channel: str) -> tuple[str, str] | None:
        """The customer's open contact on `channel` and its live state, if there is one."""
        record = await self.crm.latest_open_contact(customer_id, channel)
        if record is None:
            return None
        live = await self._live(record.contact_id)
        if live is None or live.state not in OPEN_STATES:
            return None
        return record.contact_id, live.state

    async def start_contact(
        self,
        customer_id: str,
        customer_name: str,
        channel: str,
        first_text: str,
        client_msg_id: str | None,
        attributes: ContactAttributes | None = None,
        *,
        identity_proof: str | None = None,
    ) -> str:
        """A new contact with its first message, queued where the routing rules send it.
        What the channel did not tell of the customer (tier, language, an open complaint)
        comes from the CRM. `identity_proof` says how the channel proved who the customer
        is ('site', 'twilio'); None: a claim (the agent sees which)."""
        facts = attributes or ContactAttributes(channel=channel)
        if self.classify is not None and facts.language is None:
            # A pre-chat topic is an intent, not a language: the words still tell that.
            language, intents = self.classify(first_text)
            facts = replace(facts, language=language, intents=facts.intents or intents)
        known = await self.crm.customer_facts(customer_id, self.settings.crm.no_orders_tier)
        facts = replace(
            facts,
            tier=facts.tier or known.tier,
            language=facts.language or known.language,
            open_complaint=facts.open_complaint or known.open_complaint,
        )
        routed = route(
            facts, self.settings.rules, self._default_route(), self.settings.channels_served
        )
        queue = self.settings.queue(routed.target.queue)
        priority = queue.priority if routed.target.priority is None else routed.target.priority
        now_ms = self.clock()
        if queue.hours is not None and queue.when_closed == "refuse":
            if not is_open(queue.hours, now_ms):
                raise QueueClosed(
                    queue.closed_message,
                    queue=queue.name,
                    opens_at_ms=next_opening_ms(queue.hours, now_ms),
                )
        contact_id, first = await self.crm.create_contact_with_message(
            customer_id=customer_id,
            channel=channel,
            queue=queue.name,
            arrived_at_ms=now_ms,
            text=first_text,
            client_msg_id=client_msg_id,
            routing_domain=self.settings.routing_domain,
            priority=priority,
            required_skills=routed.target.skills,
            language=facts.language,
            identity_proof=identity_proof,
        )
        if not first.created:
            return await self._first_message_again(contact_id, first, queue.name)
        arrived = ev.ContactArrived(
            at_ms=now_ms,
            contact_id=contact_id,
            customer_id=customer_id,
            channel=channel,
            queue=queue.name,
            customer_name=customer_name,
        )
        await self.bus.publish_many([arrived, message_sent_event(first, None)])
        status = await self.routing.enqueue(
            contact_id=contact_id,
            queue=queue.name,
            channel=channel,
            customer_id=customer_id,
            priority=priority,
            now_ms=now_ms,
            aging_ms=int(queue.aging_s * 1000) if queue.aging_s else None,
            required_skills=routed.target.skills,
            language=facts.language,
            preferred_agent_id=known.preferred_agent_id,
            max_length=queue.max_length,
        )
        if status is EnqueueStatus.QUEUE_FULL:
            await self.crm.set_state(contact_id, "refused")
            raise QueueFull(
                "every agent is busy and the queue is full; try again later", queue=queue.name
            )
        log.info(
            "contact_queued",
            contact_id=contact_id,
            queue=queue.name,
            channel=channel,
            rule=routed.rule,
        )
        return contact_id

    async def _first_message_again(self, contact_id: str, first: StoredMessage, queue: str) -> str:
        """A first message sent again (its answer was lost): the contact it opened, queued
        again if the first attempt died before queueing it; no second contact."""
        live = await self._live(contact_id)
        if live is None and (record := await self.crm.contact(contact_id)) is not None:
            if record.state == "refused":
                raise QueueFull(
                    "every agent is busy and the queue is full; try again later", queue=queue
                )
        await self.bus.publish(message_sent_event(first, None))  # consumers de-duplicate
        log.info("contact_first_message_again", contact_id=contact_id)
        return contact_id

    async def customer_message(self, contact_id: str, text: str, client_msg_id: str | None) -> None:
        live = await self._live(contact_id)
        if live is None or live.state not in OPEN_STATES:
            raise ConversationClosed("this conversation is over", contact_id=contact_id)
        agent = live.agent_id if live.state in ("offered", "assigned") else None
        await self._store_and_publish(contact_id, "customer", text, agent, client_msg_id)

    async def customer_leave(self, contact_id: str) -> None:
        now_ms = self.clock()
        live = await self.routing.contact(contact_id)
        if live is None:
            return
        if live.state in ("queued", "offered"):
            await self.routing.abandon(contact_id, now_ms)
            log.info("contact_abandoned", contact_id=contact_id, queue=live.queue, why="left")
        elif live.state == "assigned":
            await self.routing.end_conversation(contact_id, None, now_ms)
            log.info("conversation_ended", contact_id=contact_id, by="customer")

    async def wait_status(self, contact_id: str, *, fresh: bool = True) -> dict[str, Any] | None:
        """Position and estimated wait of a waiting contact (docs/routing.md), or None."""
        contact = await self.routing.contact_view(contact_id)
        if contact is None:
            return None
        placed = await self.routing.position(contact_id, contact.queue)
        if placed is None:
            return None
        queue, position = placed
        now_ms = self.clock()
        policies = self.settings.policies
        agents = eligible_agents(
            await self._agents_view(fresh), contact, policies, now_ms, with_room=False
        )
        est = estimate_wait(
            position, agents, contact.channel, await self._average_handle_ms(queue, now_ms)
        )
        wait = est.estimated_wait_ms
        return {
            "contact_id": contact_id,
            "queue": queue,
            "position": est.position,
            "estimated_wait_s": None if wait is None else math.ceil(wait / 1000),
        }

    async def _agents_view(self, fresh: bool) -> dict[str, AgentView]:
        """Every agent as routing sees them: a read at most a fifth of a second old when
        `fresh` (a customer's first estimate), else up to a second old, so that the periodic
        estimates for many waiting customers share one read."""
        return await self.routing.agents(max_age_ms=200 if fresh else 1000)

    async def _average_handle_ms(self, queue: str, now_ms: int) -> int | None:
        """The queue's average handle time, read at most every 10 s: it moves slowly."""
        cached = self._aht_cache.get(queue)
        if cached is None or now_ms - cached[0] >= 10_000:
            cached = self._aht_cache[queue] = (now_ms, await self.crm.average_handle_ms(queue))
        return cached[1]

    async def contact_view(
        self, contact_id: str, *, with_messages: bool, with_context: bool = False
    ) -> dict[str, Any] | None:
        """A contact object as docs/protocol.md describes it; with `with_context`, its
        customer's context (docs/crm.md) as `customer.context`."""
        # The latest page of the transcript only (docs/protocol.md, "Long transcripts").
        (record, _), page = await asyncio.gather(
            self.crm.contact_with_transcript(contact_id, messages=False),
            latest_page(self.crm.pool, contact_id, self.settings) if with_messages else no_page(),
        )
        if record is None:
            return None
        live = await self.routing.contact(contact_id)
        # Routing moves a contact between queues (a transfer, an overflow) at once; the
        # record follows when the history writer stores the event, which may be later.
        queue_name = live.queue if live else record.queue
        queue = next((q for q in self.settings.queues if q.name == queue_name), None)
        view: dict[str, Any] = {
            "contact_id": contact_id,
            "queue": queue_name,
            # What wrap-up offers and requires: the queue's (config/queues.toml).
            "dispositions": list(queue.dispositions) if queue else [],
            "disposition_required": queue.disposition_required if queue else False,
            "channel": record.channel,
            "state": live.state if live else record.state,
            "customer": {
                "customer_id": record.customer_id,
                "name": record.customer_name,
                "verified": record.identity_proof is not None,
                "verified_by": record.identity_proof,
            },
            "messages": [m.wire() for m in page.messages],
        }
        if with_messages:
            view["more_messages"] = page.more
        if live is not None and live.state == "offered":
            view["deadline_ms"] = live.deadline_ms
        if with_context:
            view["customer"]["context"] = await customer_context(self.crm.pool, record.customer_id)
        return view
