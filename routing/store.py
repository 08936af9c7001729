"""The live routing store: Redis state changed only through atomic Lua scripts.

Each method runs one script, which checks that the transition still holds (the contact still
waits, the agent still has room, the offer is still this agent's) and, if so, makes the change
and appends its event to the stream in the same step. The script's status comes back as an
enum; a refusal is an expected outcome, never an exception.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from contactcenter import events as ev
from routing.core import AgentView, ContactView, OfferContact, RoutingState, queue_score
from routing.keys import Keys


class EnqueueStatus(enum.IntEnum):
    QUEUED = 1
    DUPLICATE = 0


class OfferStatus(enum.IntEnum):
    OFFERED = 1
    CONTACT_NOT_WAITING = -1
    AGENT_NOT_AVAILABLE = -2
    AGENT_FULL = -3


class AcceptStatus(enum.IntEnum):
    ACCEPTED = 1
    NO_SUCH_OFFER = -1
    LEASE_EXPIRED = -2


class RequeueStatus(enum.IntEnum):
    REQUEUED = 1
    NO_SUCH_OFFER = -1
    NOT_YET_EXPIRED = -2
    OTHER_QUEUE = -3


class AbandonStatus(enum.IntEnum):
    ABANDONED = 1
    NOT_WAITING = -1
    OFFER_MOVED = -2


class EndStatus(enum.IntEnum):
    ENDED = 1
    NOT_ASSIGNED = -1


class WrapUpStatus(enum.IntEnum):
    CLOSED = 1
    NOT_IN_WRAPUP = -1


class AgentStateStatus(enum.IntEnum):
    CHANGED = 1
    UNCHANGED = 0


_SCRIPTS = (
    "enqueue",
    "offer",
    "accept",
    "requeue",
    "abandon",
    "end_conversation",
    "wrapup",
    "agent_state",
    "heartbeat",
)


def _script_source(name: str) -> str:
    lua = resources.files("routing.lua")
    return lua.joinpath("_event.lua").read_text() + "\n" + lua.joinpath(f"{name}.lua").read_text()


@dataclass(frozen=True)
class LiveContact:
    """A contact's live routing fields as stored."""

    contact_id: str
    queue: str
    state: str
    agent_id: str | None
    channel: str
    customer_id: str

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> LiveContact:
        return cls(
            h["contact_id"],
            h["queue"],
            h["state"],
            h.get("agent_id") or None,
            h.get("channel", ""),
            h.get("customer_id", ""),
        )


class RoutingStore:
    """Atomic transitions of one routing domain's live state in Redis."""

    def __init__(self, redis: Redis, domain: str, *, stream_maxlen: int = 100_000) -> None:
        self.redis = redis
        self.keys = Keys(domain)
        self.stream_maxlen = stream_maxlen
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_script_source(name)) for name in _SCRIPTS
        }

    def _event_args(self, event: ev.Event) -> list[str]:
        f = ev.encode_event(event)
        return [f["id"], f["type"], f["at_ms"], f["data"], str(self.stream_maxlen)]

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> int:
        return int(await self._scripts[name](keys=list(keys), args=[str(a) for a in args]))

    async def enqueue(
        self,
        *,
        contact_id: str,
        queue: str,
        skill: str,
        channel: str,
        customer_id: str,
        priority: int,
        now_ms: int,
        enqueued_at_ms: int | None = None,
    ) -> EnqueueStatus:
        """Queue a new contact; `enqueued_at_ms` (default now) fixes its place, so a contact
        restored after a loss keeps the place it had. A contact already known is left as it
        is (DUPLICATE)."""
        arrived_ms = now_ms if enqueued_at_ms is None else enqueued_at_ms
        event = ev.ContactQueued(
            at_ms=now_ms,
            contact_id=contact_id,
            queue=queue,
            skill=skill,
            channel=channel,
            priority=priority,
            enqueued_at_ms=arrived_ms,
        )
        k = self.keys
        status = await self._run(
            "enqueue",
            [k.contact(contact_id), k.queue(queue), k.queues, k.events],
            [
                contact_id,
                queue,
                skill,
                channel,
                priority,
                arrived_ms,
                queue_score(priority, arrived_ms),
                customer_id,
                *self._event_args(event),
            ],
        )
        return EnqueueStatus(status)

    async def offer(self, decision: OfferContact, now_ms: int) -> OfferStatus:
        event = ev.ContactOffered(
            at_ms=now_ms,
            contact_id=decision.contact_id,
            agent_id=decision.agent_id,
            queue=decision.queue,
            deadline_ms=decision.deadline_ms,
            reason=dict(decision.reason),
        )
        k = self.keys
        status = await self._run(
            "offer",
            [
                k.contact(decision.contact_id),
                k.queue(decision.queue),
                k.agent(decision.agent_id),
                k.offers,
                k.agent_contacts(decision.agent_id),
                k.events,
            ],
            [
                decision.contact_id,
                decision.agent_id,
                decision.deadline_ms,
                now_ms,
                *self._event_args(event),
            ],
        )
        return OfferStatus(status)

    async def accept(self, contact_id: str, agent_id: str, now_ms: int) -> AcceptStatus:
        live = await self.contact(contact_id)
        queue = live.queue if live else ""
        event = ev.OfferAccepted(
            at_ms=now_ms, contact_id=contact_id, agent_id=agent_id, queue=queue
        )
        k = self.keys
        status = await self._run(
            "accept",
            [k.contact(contact_id), k.offers, k.events],
            [contact_id, agent_id, now_ms, *self._event_args(event)],
        )
        return AcceptStatus(status)

    async def requeue(
        self, contact_id: str, agent_id: str, queue: str, now_ms: int, *, expired: bool
    ) -> RequeueStatus:
        cls = ev.OfferExpired if expired else ev.OfferRejected
        event = cls(at_ms=now_ms, contact_id=contact_id, agent_id=agent_id, queue=queue)
        k = self.keys
        status = await self._run(
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
                "expire" if expired else "reject",
                queue,
                *self._event_args(event),
            ],
        )
        return RequeueStatus(status)

    async def abandon(self, contact_id: str, now_ms: int) -> AbandonStatus:
        """The customer left before being served; retried while a racing offer moves it."""
        for _ in range(5):
            live = await self.contact(contact_id)
            if live is None:
                return AbandonStatus.NOT_WAITING
            agent_id = live.agent_id if live.state == "offered" else None
            event = ev.ContactAbandoned(
                at_ms=now_ms, contact_id=contact_id, queue=live.queue, agent_id=agent_id
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
                    [contact_id, agent_id or "", now_ms, *self._event_args(event)],
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

    async def set_agent_state(
        self,
        agent_id: str,
        state: str,
        *,
        skills: dict[str, int],
        capacity: int,
        now_ms: int,
        from_console: bool = True,
    ) -> AgentStateStatus:
        """Set presence; a change made from a console also counts as a sign of that console."""
        event = ev.AgentStateChanged(
            at_ms=now_ms, agent_id=agent_id, state=state, skills=skills, capacity=capacity
        )
        k = self.keys
        return AgentStateStatus(
            await self._run(
                "agent_state",
                [k.agent(agent_id), k.agents, k.events],
                [
                    agent_id,
                    state,
                    now_ms,
                    json.dumps(skills, sort_keys=True),
                    capacity,
                    now_ms if from_console else "",
                    *self._event_args(event),
                ],
            )
        )

    async def heartbeat(self, agent_ids: Iterable[str], console_seen_ms: int) -> int:
        """Mark these agents' consoles as seen at `console_seen_ms`."""
        keys = [self.keys.agent(a) for a in agent_ids]
        if not keys:
            return 0
        return await self._run("heartbeat", keys, [console_seen_ms])

    async def contact(self, contact_id: str) -> LiveContact | None:
        h = await self.redis.hgetall(self.keys.contact(contact_id))  # type: ignore[misc]
        return LiveContact.from_hash(h) if h else None

    async def agent_contact_ids(self, agent_id: str) -> set[str]:
        return set(await self.redis.smembers(self.keys.agent_contacts(agent_id)))  # type: ignore[misc]

    async def agent_fields(self, agent_id: str) -> dict[str, str]:
        return dict(await self.redis.hgetall(self.keys.agent(agent_id)))  # type: ignore[misc]

    async def snapshot(self, queue_names: Iterable[str], head: int = 100) -> RoutingState:
        """The live state routing decides on: every agent, each queue's first `head` waiting
        contacts and every pending offer. Not one atomic read: the scripts re-check."""
        k = self.keys
        queue_names = list(queue_names)
        agent_ids = sorted(await self.redis.smembers(k.agents))  # type: ignore[misc]
        pipe = self.redis.pipeline(transaction=False)
        for a in agent_ids:
            pipe.hgetall(k.agent(a))
        for q in queue_names:
            pipe.zrange(k.queue(q), 0, head - 1)
        pipe.zrange(k.offers, 0, -1)
        replies = await pipe.execute()
        agents = [_agent_view(h) for h in replies[: len(agent_ids)] if h]
        contact_ids: list[str] = []
        for ids in replies[len(agent_ids) :]:
            contact_ids.extend(ids)
        pipe = self.redis.pipeline(transaction=False)
        for c in contact_ids:
            pipe.hgetall(k.contact(c))
            pipe.smembers(k.declined(c))
        replies = await pipe.execute()
        contacts = [
            _contact_view(h, d) for h, d in zip(replies[::2], replies[1::2], strict=True) if h
        ]
        return RoutingState(
            agents={a.agent_id: a for a in agents},
            contacts={c.contact_id: c for c in contacts if c.state in ("queued", "offered")},
        )


def _agent_view(h: dict[str, str]) -> AgentView:
    return AgentView(
        agent_id=h["agent_id"],
        state=h.get("state", "offline"),
        skills=json.loads(h.get("skills", "{}")),
        capacity=int(h.get("capacity", "0")),
        load=int(h.get("load", "0")),
        last_offer_ms=int(h.get("last_offer_ms", "0")),
        console_seen_ms=int(h.get("console_seen_ms", "0")),
    )


def _contact_view(h: dict[str, str], declined: set[str]) -> ContactView:
    deadline = h.get("deadline_ms")
    return ContactView(
        contact_id=h["contact_id"],
        queue=h["queue"],
        skill=h.get("skill", ""),
        priority=int(h.get("priority", "0")),
        enqueued_at_ms=int(h["enqueued_at_ms"]),
        state=h.get("state", "queued"),
        agent_id=h.get("agent_id") or None,
        deadline_ms=int(deadline) if deadline else None,
        declined_by=frozenset(declined),
    )
