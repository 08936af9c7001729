"""What agents do to conversations, as the console gateway calls it: tell routing who they are,
change state (giving work back when they confirm), accept or reject an offer, write, end,
wrap up, transfer; and what supervisors do to a waiting contact's priority."""

from __future__ import annotations

import structlog

from contactcenter.agents.scope import scope_of
from contactcenter.conversations.base import ConversationBase
from contactcenter.core.errors import (
    AgentHoldsWork,
    AgentUnavailable,
    ContactNotAssigned,
    ContactNotWaiting,
    DispositionRequired,
    Forbidden,
    OfferGone,
    UnknownAgent,
    UnknownDisposition,
    UnknownQueue,
)
from contactcenter.web.auth import Principal
from routing.release import give_back_work
from routing.status import (
    AcceptStatus,
    EndStatus,
    ReprioritizeStatus,
    RequeueStatus,
    TransferStatus,
    WrapUpStatus,
)

log = structlog.get_logger("contactcenter.conversations.service")


class AgentWork(ConversationBase):
    # --- agents ----------------------------------------------------------------------------

    async def prepare_agent(self, agent: Principal) -> None:
        """Tell routing who the agent is (skills, languages, capacity); no event if unchanged."""
        await self.routing.set_agent_profile(
            agent.agent_id,
            skills=agent.skills,
            capacity=agent.capacity,
            languages=agent.languages,
            voice_blocks_chat=agent.voice_blocks_chat,
            now_ms=self.clock(),
        )

    async def set_state(
        self,
        agent: Principal,
        state: str,
        reason: str | None = None,
        *,
        release_work: bool = False,
        next_state: bool = False,
    ) -> None:
        """The agent's presence. An away `reason` must be one of the catalogue's
        (`agent.unknown_reason`, nothing changed). Going offline with work in hand is refused
        (`agent.holds_work`, naming it) unless `release_work`: then offers are withdrawn,
        wrap-ups closed and conversations sent back to their queues, ahead of the line
        (docs/routing.md, "Going offline with work"). Away keeps the work in hand.

        With `next_state`, the state ("away" or "offline") waits until the contacts the agent
        holds are over, and nothing new is offered meanwhile (docs/states.md); a state set
        at once drops a next state waiting."""
        reasons = self.settings.reasons
        if reason is not None:
            reasons.require(reason)
        productive = reasons.productive(state, reason)
        await self.prepare_agent(agent)
        if next_state:
            status = await self.routing.set_next_state(
                agent.agent_id, state, now_ms=self.clock(), reason=reason, productive=productive
            )
            log.info("agent_next_state", agent_id=agent.agent_id, state=state, status=status.name)
            return
        held = await self.routing.agent_contact_ids(agent.agent_id) if state == "offline" else set()
        in_hand = await self._in_hand(agent.agent_id, held)
        if in_hand and not release_work:
            raise AgentHoldsWork(
                "you still hold contacts: transfer them, or go offline and put them back in"
                " their queues",
                contact_ids=in_hand,
            )
        now_ms = self.clock()
        await self.routing.set_agent_state(
            agent.agent_id, state, now_ms=now_ms, reason=reason, productive=productive
        )
        if held:
            policies = self.settings.policies
            moved = await give_back_work(
                self.routing, agent.agent_id, policies, now_ms, chosen=True
            )
            log.info("agent_released_work", agent_id=agent.agent_id, contacts_moved=moved)

    async def cancel_next_state(self, agent: Principal) -> None:
        """Take back the agent's next state; nothing happens when none waits."""
        await self.routing.cancel_next_state(agent.agent_id, now_ms=self.clock())

    async def _in_hand(self, agent_id: str, held: set[str]) -> list[str]:
        """Of the contacts an agent holds, those in conversation or wrap-up with them (pending
        offers are simply withdrawn)."""
        out = []
        for contact_id in sorted(held):
            live = await self.routing.contact(contact_id)
            if live is not None and live.agent_id == agent_id:
                if live.state in ("assigned", "wrapup"):
                    out.append(contact_id)
        return out

    async def accept(self, agent: Principal, contact_id: str) -> None:
        status = await self.routing.accept(contact_id, agent.agent_id, self.clock())
        if status is not AcceptStatus.ACCEPTED:
            log.info("offer_accept_refused", contact_id=contact_id, agent_id=agent.agent_id)
            raise OfferGone(
                "this offer is no longer yours", contact_id=contact_id, why=status.name.lower()
            )
        log.info("offer_accepted", contact_id=contact_id, agent_id=agent.agent_id)

    async def reject(self, agent: Principal, contact_id: str) -> None:
        live = await self.routing.contact(contact_id)
        status = RequeueStatus.NO_SUCH_OFFER
        if live is not None:
            status = await self.routing.requeue(
                contact_id, agent.agent_id, live.queue, self.clock(), expired=False
            )
        if status is not RequeueStatus.REQUEUED:
            raise OfferGone("this offer is no longer yours", contact_id=contact_id)
        log.info("offer_rejected", contact_id=contact_id, agent_id=agent.agent_id)

    async def agent_message(
        self, agent: Principal, contact_id: str, text: str, client_msg_id: str | None
    ) -> None:
        live = await self._live(contact_id)
        if live is None or live.agent_id != agent.agent_id or live.state != "assigned":
            raise ContactNotAssigned("not in conversation with you", contact_id=contact_id)
        await self._store_and_publish(contact_id, "agent", text, agent.agent_id, client_msg_id)

    async def end(self, agent: Principal, contact_id: str) -> None:
        await self._live(contact_id)  # restored first if Redis forgot it
        status = await self.routing.end_conversation(contact_id, agent.agent_id, self.clock())
        if status is not EndStatus.ENDED:
            raise ContactNotAssigned("not in conversation with you", contact_id=contact_id)
        log.info("conversation_ended", contact_id=contact_id, agent_id=agent.agent_id, by="agent")

    async def wrap_up(
        self, agent: Principal, contact_id: str, disposition: str | None, notes: str
    ) -> None:
        live = await self._live(contact_id)
        if live is None or live.agent_id != agent.agent_id or live.state != "wrapup":
            raise ContactNotAssigned("not in wrap-up with you", contact_id=contact_id)
        queue = self.settings.queue(live.queue)
        if disposition is None and queue.disposition_required:
            raise DispositionRequired("choose a disposition", choices=list(queue.dispositions))
        if disposition is not None and disposition not in queue.dispositions:
            raise UnknownDisposition(
                f"unknown disposition {disposition!r}", choices=list(queue.dispositions)
            )
        status = await self.routing.wrap_up(
            contact_id, agent.agent_id, disposition, notes, self.clock()
        )
        if status is not WrapUpStatus.CLOSED:
            raise ContactNotAssigned("not in wrap-up with you", contact_id=contact_id)
        log.info(
            "wrapup_done", contact_id=contact_id, agent_id=agent.agent_id, disposition=disposition
        )

    async def transfer(
        self, agent: Principal, contact_id: str, to_queue: str | None, to_agent: str | None
    ) -> None:
        """Hand a contact in conversation to a queue (arrival time kept) or a named agent."""
        await self._live(contact_id)  # restored first if Redis forgot it
        now_ms = self.clock()
        if to_queue is not None:
            queue = next((q for q in self.settings.queues if q.name == to_queue), None)
            if queue is None:
                raise UnknownQueue(
                    f"no queue named {to_queue!r}", queues=[q.name for q in self.settings.queues]
                )
            status = await self.routing.transfer_to_queue(
                contact_id,
                agent.agent_id,
                queue.name,
                now_ms,
                aging_ms=int(queue.aging_s * 1000) if queue.aging_s else None,
            )
        else:
            assert to_agent is not None
            target = await self.agents.by_username(to_agent)
            if target is None:
                raise UnknownAgent(f"no agent named {to_agent!r}")
            live = await self.routing.contact(contact_id)
            timeout_s = self.settings.queue(live.queue).offer_timeout_s if live else 20.0
            status = await self.routing.transfer_to_agent(
                contact_id,
                agent.agent_id,
                target.agent_id,
                now_ms + int(timeout_s * 1000),
                now_ms,
            )
        if status is TransferStatus.NOT_ASSIGNED:
            raise ContactNotAssigned("not in conversation with you", contact_id=contact_id)
        if status in (TransferStatus.TARGET_NOT_AVAILABLE, TransferStatus.TARGET_FULL):
            raise AgentUnavailable(f"{to_agent} cannot take it now", why=status.name.lower())
        if status is TransferStatus.SAME_AGENT:
            raise UnknownAgent("that is you")
        log.info(
            "contact_transferred",
            contact_id=contact_id,
            agent_id=agent.agent_id,
            to_queue=to_queue,
            to_agent=to_agent,
        )

    async def reprioritize(self, who: Principal, contact_id: str, priority: int) -> None:
        if not who.is_supervisor:
            raise Forbidden("supervisors only")
        live = await self.routing.contact(contact_id)
        if live is not None and who.role == "supervisor":  # their teams' queues only
            scope = await scope_of(self.crm.pool, who)
            if not scope.sees_queue(live.queue):
                live = None  # as unknown as a contact that is not waiting
        queue = self.settings.queue(live.queue) if live else None
        if live is None:
            raise ContactNotWaiting("the contact is not waiting", contact_id=contact_id)
        status = await self.routing.reprioritize(
            contact_id,
            priority,
            self.clock(),
            aging_ms=int(queue.aging_s * 1000) if queue and queue.aging_s else None,
        )
        if status is not ReprioritizeStatus.CHANGED:
            raise ContactNotWaiting("the contact is not waiting", contact_id=contact_id)
