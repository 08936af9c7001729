"""Broadcast offers: one contact offered to several agents at once; the first to accept wins.

Each offer holds one unit of its agent's capacity, so nobody goes over capacity whoever wins.
Accepting withdraws the others in the same step; a reject or an agent going offline releases
just that agent (the last one sends the contact back to its queue at its place); expiry and
abandon release them all.
"""

from __future__ import annotations

from contactcenter.core import events as ev
from routing.model import BroadcastContact
from routing.scripts import ScriptStore
from routing.status import AbandonStatus, AcceptStatus, BroadcastStatus, RequeueStatus


class BroadcastMoves(ScriptStore):
    def _agent_keys(self, agent_ids: list[str]) -> list[str]:
        keys: list[str] = []
        for a in agent_ids:
            keys += [self.keys.agent(a), self.keys.agent_contacts(a)]
        return keys

    async def broadcast(self, d: BroadcastContact, now_ms: int) -> BroadcastStatus:
        event = ev.ContactBroadcast(
            at_ms=now_ms,
            contact_id=d.contact_id,
            agent_ids=list(d.agent_ids),
            queue=d.queue,
            deadline_ms=d.deadline_ms,
            reason=dict(d.reason),
        )
        k = self.keys
        agents = list(d.agent_ids)
        status = await self._run(
            "broadcast",
            [
                k.contact(d.contact_id),
                k.queue(d.queue),
                k.offers,
                k.offered_to(d.contact_id),
                k.events,
                *self._agent_keys(agents),
            ],
            [d.contact_id, d.deadline_ms, now_ms, len(agents), *agents, *self._event_args(event)],
        )
        return BroadcastStatus.OFFERED if status > 0 else BroadcastStatus(status)

    async def _offered_to(self, contact_id: str) -> list[str]:
        return sorted(await self.redis.smembers(self.keys.offered_to(contact_id)))  # type: ignore[misc]

    async def accept_broadcast(
        self, contact_id: str, agent_id: str, queue: str, now_ms: int
    ) -> AcceptStatus:
        k = self.keys
        for _ in range(5):
            others = [a for a in await self._offered_to(contact_id) if a != agent_id]
            event = ev.OfferAccepted(
                at_ms=now_ms,
                contact_id=contact_id,
                agent_id=agent_id,
                queue=queue,
                released=others,
            )
            status = await self._run(
                "broadcast_accept",
                [
                    k.contact(contact_id),
                    k.offers,
                    k.offered_to(contact_id),
                    k.agent(agent_id),
                    k.events,
                    *self._agent_keys(others),
                ],
                [contact_id, agent_id, now_ms, len(others), *others, *self._event_args(event)],
            )
            if status != -3:  # -3: another agent let go meanwhile; read the set again
                return AcceptStatus(status)
        return AcceptStatus.NO_SUCH_OFFER

    async def release_broadcast(
        self,
        contact_id: str,
        queue: str,
        mode: str,
        now_ms: int,
        *,
        agent_id: str | None = None,
        withdraw: bool = False,
    ) -> int:
        """Release one agent (`mode` 'one'), or all ('expire', 'abandon'); the script's
        status (see routing/lua/broadcast_release.lua)."""
        k = self.keys
        for _ in range(5):
            agents = (
                [agent_id] if mode == "one" and agent_id else await self._offered_to(contact_id)
            )
            event: ev.Event
            if mode == "one":
                kind = ev.OfferWithdrawn if withdraw else ev.OfferRejected
                event = kind(at_ms=now_ms, contact_id=contact_id, agent_id=agents[0], queue=queue)
            else:
                why = "expired" if mode == "expire" else "abandoned"
                event = ev.BroadcastEnded(
                    at_ms=now_ms, contact_id=contact_id, queue=queue, released=agents, why=why
                )
            status = await self._run(
                "broadcast_release",
                [
                    k.contact(contact_id),
                    k.queue(queue),
                    k.offers,
                    k.offered_to(contact_id),
                    k.declined(contact_id),
                    k.events,
                    *self._agent_keys(agents),
                ],
                [contact_id, mode, now_ms, len(agents), *agents, *self._event_args(event)],
            )
            if status != -3:
                return status
        return -3

    async def requeue_broadcast(
        self,
        contact_id: str,
        agent_id: str,
        queue: str,
        now_ms: int,
        *,
        expired: bool,
        withdraw: bool,
    ) -> RequeueStatus:
        if expired and not withdraw and not agent_id:
            status = await self.release_broadcast(contact_id, queue, "expire", now_ms)
        else:
            status = await self.release_broadcast(
                contact_id, queue, "one", now_ms, agent_id=agent_id, withdraw=withdraw
            )
        if status > 0:
            return RequeueStatus.REQUEUED
        return RequeueStatus.NOT_YET_EXPIRED if status == -2 else RequeueStatus.NO_SUCH_OFFER

    async def abandon_broadcast(self, contact_id: str, queue: str, now_ms: int) -> AbandonStatus:
        status = await self.release_broadcast(contact_id, queue, "abandon", now_ms)
        return AbandonStatus.ABANDONED if status == 3 else AbandonStatus.OFFER_MOVED
