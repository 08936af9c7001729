"""Moving contacts around: transfers to a queue or an agent, re-prioritisation, positions."""

from __future__ import annotations

from collections.abc import Sequence

from contactcenter.core import events as ev
from routing.broadcast import BroadcastMoves
from routing.model import MAX_PRIORITY, queue_score
from routing.status import EscalateStatus, ReprioritizeStatus, RestoreStatus, TransferStatus


class ContactMoves(BroadcastMoves):
    async def transfer_to_queue(
        self,
        contact_id: str,
        agent_id: str,
        to_queue: str,
        now_ms: int,
        *,
        aging_ms: int | None = None,
        front: bool = False,
        reason: str | None = None,
    ) -> TransferStatus:
        """Hand a contact in conversation back to `to_queue`, keeping its arrival time; with
        `front`, ahead of every contact but those of top priority."""
        h = await self.redis.hgetall(self.keys.contact(contact_id))  # type: ignore[misc]
        if not h or h.get("state") != "assigned" or h.get("agent_id") != agent_id:
            return TransferStatus.NOT_ASSIGNED
        priority = MAX_PRIORITY if front else int(h["priority"])
        score = queue_score(priority, int(h["enqueued_at_ms"]), aging_ms)
        event = ev.ContactTransferred(
            reason=reason,
            at_ms=now_ms,
            contact_id=contact_id,
            from_agent_id=agent_id,
            from_queue=h["queue"],
            to_queue=to_queue,
        )
        k = self.keys
        return TransferStatus(
            await self._run(
                "transfer_queue",
                [
                    k.contact(contact_id),
                    k.queue(to_queue),
                    k.agent(agent_id),
                    k.agent_contacts(agent_id),
                    k.queues,
                    k.declined(contact_id),
                    k.events,
                ],
                [contact_id, agent_id, to_queue, score, now_ms, *self._event_args(event)],
            )
        )

    async def transfer_to_agent(
        self, contact_id: str, agent_id: str, to_agent_id: str, deadline_ms: int, now_ms: int
    ) -> TransferStatus:
        """Offer a contact in conversation to a named agent until `deadline_ms`."""
        live = await self.contact(contact_id)
        queue = live.queue if live else ""
        moved = ev.ContactTransferred(
            at_ms=now_ms,
            contact_id=contact_id,
            from_agent_id=agent_id,
            from_queue=queue,
            to_queue=queue,
            to_agent_id=to_agent_id,
        )
        offered = ev.ContactOffered(
            at_ms=now_ms,
            contact_id=contact_id,
            agent_id=to_agent_id,
            queue=queue,
            deadline_ms=deadline_ms,
            reason={"strategy": "transfer", "from_agent": agent_id},
        )
        k = self.keys
        return TransferStatus(
            await self._run(
                "transfer_agent",
                [
                    k.contact(contact_id),
                    k.agent(agent_id),
                    k.agent_contacts(agent_id),
                    k.agent(to_agent_id),
                    k.agent_contacts(to_agent_id),
                    k.offers,
                    k.events,
                ],
                [
                    contact_id,
                    agent_id,
                    to_agent_id,
                    deadline_ms,
                    now_ms,
                    *self._event_args(moved),
                    *self._event_args(offered),
                ],
            )
        )

    async def reprioritize(
        self, contact_id: str, priority: int, now_ms: int, *, aging_ms: int | None = None
    ) -> ReprioritizeStatus:
        h = await self.redis.hgetall(self.keys.contact(contact_id))  # type: ignore[misc]
        if not h:
            return ReprioritizeStatus.NOT_WAITING
        score = queue_score(priority, int(h["enqueued_at_ms"]), aging_ms)
        event = ev.ContactReprioritized(
            at_ms=now_ms, contact_id=contact_id, queue=h["queue"], priority=priority
        )
        k = self.keys
        return ReprioritizeStatus(
            await self._run(
                "reprioritize",
                [k.contact(contact_id), k.queue(h["queue"]), k.events],
                [contact_id, priority, score, h["queue"], *self._event_args(event)],
            )
        )

    async def position(self, contact_id: str, queue: str | None = None) -> tuple[str, int] | None:
        """The contact's queue and 1-based place in it, while it waits there (`queue`, when
        the caller knows it, saves a read)."""
        if queue is None:
            queue = await self.redis.hget(self.keys.contact(contact_id), "queue")  # type: ignore[misc]
        if not queue:
            return None
        rank = await self.redis.zrank(self.keys.queue(queue), contact_id)
        return None if rank is None else (queue, int(rank) + 1)

    async def queue_length(self, queue: str) -> int:
        return int(await self.redis.zcard(self.keys.queue(queue)))

    async def restore(
        self,
        *,
        contact_id: str,
        queue: str,
        channel: str,
        priority: int,
        enqueued_at_ms: int,
        customer_id: str,
        state: str,
        agent_id: str,
        ended_at_ms: int | None,
        now_ms: int,
        aging_ms: int | None = None,
    ) -> RestoreStatus:
        """Rebuild a contact an agent holds, from the record (see routing/lua/restore.lua)."""
        event = ev.ContactRestored(
            at_ms=now_ms,
            contact_id=contact_id,
            queue=queue,
            channel=channel,
            agent_id=agent_id,
            state=state,
            priority=priority,
            enqueued_at_ms=enqueued_at_ms,
        )
        k = self.keys
        return RestoreStatus(
            await self._run(
                "restore",
                [k.contact(contact_id), k.agent(agent_id), k.agent_contacts(agent_id), k.events],
                [
                    contact_id,
                    queue,
                    channel,
                    priority,
                    enqueued_at_ms,
                    queue_score(priority, enqueued_at_ms, aging_ms),
                    customer_id,
                    state,
                    agent_id,
                    "" if ended_at_ms is None else ended_at_ms,
                    *self._event_args(event),
                ],
            )
        )

    async def overflow(
        self,
        contact_id: str,
        from_queue: str,
        to_queue: str,
        now_ms: int,
        *,
        aging_ms: int | None = None,
    ) -> bool:
        """Move a waiting contact to `to_queue`, keeping its arrival time; False if it no
        longer waits in `from_queue`."""
        h = await self.redis.hgetall(self.keys.contact(contact_id))  # type: ignore[misc]
        if not h:
            return False
        score = queue_score(int(h["priority"]), int(h["enqueued_at_ms"]), aging_ms)
        event = ev.ContactOverflowed(
            at_ms=now_ms, contact_id=contact_id, from_queue=from_queue, to_queue=to_queue
        )
        k = self.keys
        return 1 == await self._run(
            "overflow",
            [k.contact(contact_id), k.queue(from_queue), k.queue(to_queue), k.queues, k.events],
            [contact_id, from_queue, to_queue, score, *self._event_args(event)],
        )

    async def escalate(self, contact_id: str, queue: str, step: int, now_ms: int) -> EscalateStatus:
        (status,) = await self.escalate_many([(contact_id, queue, step)], now_ms)
        return status

    async def escalate_many(
        self, steps: Sequence[tuple[str, str, int]], now_ms: int
    ) -> list[EscalateStatus]:
        """Contacts' (contact_id, queue, step) escalations, in one round trip."""
        k = self.keys
        calls = []
        for contact_id, queue, step in steps:
            event = ev.ContactEscalated(at_ms=now_ms, contact_id=contact_id, queue=queue, step=step)
            calls.append(
                ([k.contact(contact_id), k.events], [contact_id, step, *self._event_args(event)])
            )
        return [EscalateStatus(r) for r in await self._run_many("escalate", calls)]
