"""The live routing store: Redis state changed only through atomic Lua scripts.

Each method runs one script, which checks that the transition still holds (the contact still
waits, the agent still has room, the offer is still this agent's) and, if so, makes the change
and appends its event to the stream in the same step. The script's status comes back as an
enum; a refusal is an expected outcome, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from contactcenter.core import events as ev
from routing.agent_states import AgentStates
from routing.model import CHANNELS, AgentView, ContactView, OfferContact, queue_score
from routing.moves import ContactMoves
from routing.snapshot import contact_view
from routing.state import RoutingState
from routing.status import (
    AbandonStatus,
    AcceptStatus,
    EndStatus,
    EnqueueStatus,
    OfferStatus,
    ProfileStatus,
    RequeueStatus,
    WrapUpStatus,
)


class RoutingStore(AgentStates, ContactMoves):
    """Atomic transitions of one routing domain's live state in Redis (agents' presence and
    next state: routing/agent_states.py)."""

    async def enqueue(
        self,
        *,
        contact_id: str,
        queue: str,
        channel: str,
        customer_id: str,
        priority: int,
        now_ms: int,
        enqueued_at_ms: int | None = None,
        aging_ms: int | None = None,
        required_skills: Iterable[str] = (),
        language: str | None = None,
        preferred_agent_id: str | None = None,
        max_length: int = 0,
    ) -> EnqueueStatus:
        """Queue a new contact; `enqueued_at_ms` (default now) fixes its place, so a contact
        restored after a loss keeps the place it had. A contact already known is left as it
        is (DUPLICATE); a queue at `max_length` takes nothing more (QUEUE_FULL)."""
        arrived_ms = now_ms if enqueued_at_ms is None else enqueued_at_ms
        skills = sorted(set(required_skills))
        event = ev.ContactQueued(
            at_ms=now_ms,
            contact_id=contact_id,
            queue=queue,
            channel=channel,
            priority=priority,
            enqueued_at_ms=arrived_ms,
            required_skills=skills,
            language=language,
            preferred_agent_id=preferred_agent_id,
        )
        k = self.keys
        status = await self._run(
            "enqueue",
            [k.contact(contact_id), k.queue(queue), k.queues, k.events],
            [
                contact_id,
                queue,
                channel,
                priority,
                arrived_ms,
                queue_score(priority, arrived_ms, aging_ms),
                customer_id,
                json.dumps(skills),
                language or "",
                preferred_agent_id or "",
                max_length,
                *self._event_args(event),
            ],
        )
        return EnqueueStatus(status)

    def _offer_call(self, d: OfferContact, now_ms: int) -> tuple[list[str], list[str]]:
        event = ev.ContactOffered(
            at_ms=now_ms,
            contact_id=d.contact_id,
            agent_id=d.agent_id,
            queue=d.queue,
            deadline_ms=d.deadline_ms,
            reason=dict(d.reason),
        )
        k = self.keys
        keys = [
            k.contact(d.contact_id),
            k.queue(d.queue),
            k.agent(d.agent_id),
            k.offers,
            k.agent_contacts(d.agent_id),
            k.events,
        ]
        args = [d.contact_id, d.agent_id, str(d.deadline_ms), str(now_ms), *self._event_args(event)]
        return keys, args

    async def offer(self, decision: OfferContact, now_ms: int) -> OfferStatus:
        keys, args = self._offer_call(decision, now_ms)
        return OfferStatus(await self._run("offer", keys, args))

    async def offer_many(self, decisions: Sequence[OfferContact], now_ms: int) -> list[OfferStatus]:
        """Several offers in one round trip, run in order, each still its own atomic script."""
        calls = [self._offer_call(d, now_ms) for d in decisions]
        return [OfferStatus(r) for r in await self._run_many("offer", calls)]

    async def accept(self, contact_id: str, agent_id: str, now_ms: int) -> AcceptStatus:
        live = await self.contact(contact_id)
        if live is not None and live.broadcast:
            return await self.accept_broadcast(contact_id, agent_id, live.queue, now_ms)
        event = ev.OfferAccepted(
            at_ms=now_ms,
            contact_id=contact_id,
            agent_id=agent_id,
            queue=live.queue if live else "",
        )
        k = self.keys
        return AcceptStatus(
            await self._run(
                "accept",
                [k.contact(contact_id), k.offers, k.agent(agent_id), k.events],
                [contact_id, agent_id, now_ms, *self._event_args(event)],
            )
        )

    async def requeue(
        self,
        contact_id: str,
        agent_id: str,
        queue: str,
        now_ms: int,
        *,
        expired: bool,
        withdraw: bool = False,
        max_misses: int = 0,
    ) -> RequeueStatus:
        """Take an offer back (rejected, expired, or withdrawn from an agent going offline).
        With `max_misses`, the agent's misses in a row are counted and they are set away at
        that many."""
        mode = "withdraw" if withdraw else "expire" if expired else "reject"
        kind = ev.OfferWithdrawn if withdraw else ev.OfferExpired if expired else ev.OfferRejected
        event = kind(at_ms=now_ms, contact_id=contact_id, agent_id=agent_id, queue=queue)
        away = ev.AgentStateChanged(
            at_ms=now_ms, agent_id=agent_id, state="away", reason="missed-offers"
        )
        k = self.keys
        status = RequeueStatus(
            await self._run(
                "requeue",
                [
                    k.contact(contact_id),
                    k.queue(queue),
                    k.agent(agent_id),
                    k.offers,
                    k.agent_contacts(agent_id),
                    k.declined(contact_id),
                    k.events,
                ],
                [
                    contact_id,
                    agent_id,
                    now_ms,
                    mode,
                    queue,
                    max_misses,
                    *self._event_args(event),
                    *self._event_args(away),
                ],
            )
        )
        if status is RequeueStatus.IS_BROADCAST:
            return await self.requeue_broadcast(
                contact_id, agent_id, queue, now_ms, expired=expired, withdraw=withdraw
            )
        return status

    async def abandon(
        self, contact_id: str, now_ms: int, reason: str | None = None
    ) -> AbandonStatus:
        """The customer left before being served (`reason` "customer-left": their page went
        away without a word); retried while a racing offer moves it."""
        for _ in range(5):
            live = await self.contact(contact_id)
            if live is None:
                return AbandonStatus.NOT_WAITING
            if live.broadcast and live.state == "offered":
                status = await self.abandon_broadcast(contact_id, live.queue, now_ms)
                if status is AbandonStatus.ABANDONED:
                    return status
                continue
            agent_id = live.agent_id if live.state == "offered" else None
            event = ev.ContactAbandoned(
                at_ms=now_ms,
                contact_id=contact_id,
                queue=live.queue,
                agent_id=agent_id,
                reason=reason,
            )
            k = self.keys
            status = AbandonStatus(
                await self._run(
                    "abandon",
                    [
                        k.contact(contact_id),
                        k.queue(live.queue),
                        k.agent(agent_id or "-"),
                        k.offers,
                        k.agent_contacts(agent_id or "-"),
                        k.declined(contact_id),
                        k.events,
                    ],
                    [contact_id, agent_id or "", now_ms, live.queue, *self._event_args(event)],
                )
            )
            if status is not AbandonStatus.OFFER_MOVED:
                return status
        return AbandonStatus.OFFER_MOVED

    async def end_conversation(
        self, contact_id: str, agent_id: str | None, now_ms: int
    ) -> EndStatus:
        live = await self.contact(contact_id)
        if live is None or live.agent_id is None:
            return EndStatus.NOT_ASSIGNED
        event = ev.ConversationEnded(
            at_ms=now_ms,
            contact_id=contact_id,
            agent_id=live.agent_id,
            queue=live.queue,
            ended_by="agent" if agent_id else "customer",
        )
        k = self.keys
        return EndStatus(
            await self._run(
                "end_conversation",
                [k.contact(contact_id), k.events],
                [contact_id, agent_id or "", now_ms, *self._event_args(event)],
            )
        )

    async def wrap_up(
        self, contact_id: str, agent_id: str, disposition: str | None, notes: str, now_ms: int
    ) -> WrapUpStatus:
        live = await self.contact(contact_id)
        event = ev.WrapUpCompleted(
            at_ms=now_ms,
            contact_id=contact_id,
            agent_id=agent_id,
            queue=live.queue if live else "",
            disposition=disposition,
            notes=notes,
        )
        k = self.keys
        return WrapUpStatus(
            await self._run(
                "wrapup",
                [
                    k.contact(contact_id),
                    k.agent(agent_id),
                    k.agent_contacts(agent_id),
                    k.declined(contact_id),
                    k.events,
                ],
                [contact_id, agent_id, now_ms, *self._event_args(event)],
            )
        )

    async def set_agent_profile(
        self,
        agent_id: str,
        *,
        skills: dict[str, int],
        capacity: dict[str, int],
        languages: Iterable[str] = (),
        voice_blocks_chat: bool = True,
        now_ms: int,
    ) -> ProfileStatus:
        langs = sorted(set(languages))
        event = ev.AgentProfileChanged(
            at_ms=now_ms,
            agent_id=agent_id,
            skills=skills,
            capacity=dict(capacity),
            languages=langs,
            voice_blocks_chat=voice_blocks_chat,
        )
        k = self.keys
        return ProfileStatus(
            await self._run(
                "agent_profile",
                [k.agent(agent_id), k.agents, k.events],
                [
                    agent_id,
                    json.dumps(skills, sort_keys=True),
                    json.dumps(langs),
                    "1" if voice_blocks_chat else "0",
                    *(capacity.get(ch, 0) for ch in CHANNELS),
                    *self._event_args(event),
                ],
            )
        )

    async def heartbeat(
        self, agent_ids: Iterable[str], console_seen_ms: int, *, left: bool = False
    ) -> int:
        """Mark these agents' consoles as seen at `console_seen_ms`; with `left`, as closed
        then (their last console on the calling process went away)."""
        keys = [self.keys.agent(a) for a in agent_ids]
        if not keys:
            return 0
        return await self._run("heartbeat", keys, [console_seen_ms, "1" if left else "0"])

    async def customer_heartbeat(self, contact_ids: Iterable[str], customer_seen_ms: int) -> int:
        """Mark the customers of these contacts (web chats) as present at `customer_seen_ms`."""
        keys = [self.keys.contact(c) for c in contact_ids]
        if not keys:
            return 0
        return await self._run("customer_seen", keys, [customer_seen_ms])

    async def agent_contact_ids(self, agent_id: str) -> set[str]:
        return set(await self.redis.smembers(self.keys.agent_contacts(agent_id)))  # type: ignore[misc]

    async def agent_fields(self, agent_id: str) -> dict[str, str]:
        return dict(await self.redis.hgetall(self.keys.agent(agent_id)))  # type: ignore[misc]

    async def contact_view(self, contact_id: str) -> ContactView | None:
        """The contact as routing sees it, wherever it is in its queue."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.contact(contact_id))
        pipe.smembers(self.keys.declined(contact_id))
        pipe.smembers(self.keys.offered_to(contact_id))
        h, declined, offered = await pipe.execute()
        if not h:
            return None
        return contact_view(h, set(declined), set(offered))

    async def snapshot(self, queue_names: Iterable[str], head: int = 100) -> RoutingState:
        """The live state routing decides on: every agent, each queue's first `head` waiting
        contacts and every pending offer and wrap-up. Not one atomic read: the scripts
        re-check."""
        return await self._snapshots.read(queue_names, head)

    async def agents(self, max_age_ms: float = 0) -> dict[str, AgentView]:
        """Every agent as routing sees them, in one atomic read; or as this process's last
        read saw them, if that was at most `max_age_ms` ago (the routing worker reads them
        on every pass, so estimates for many customers share its reads)."""
        return await self._snapshots.agents(max_age_ms)
