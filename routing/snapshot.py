"""Reading the live routing state out of Redis into the core's views."""

from __future__ import annotations

import json
from collections.abc import Iterable

from contactcenter.redisconn import RedisClient
from routing.core import RoutingState
from routing.keys import Keys
from routing.model import CHANNELS, AgentView, ContactView

_LIVE = ("queued", "offered", "wrapup")


async def read_snapshot(
    redis: RedisClient, keys: Keys, queue_names: Iterable[str], head: int = 100
) -> RoutingState:
    """Every agent, each queue's first `head` waiting contacts, every pending offer, and the
    contacts agents hold in wrap-up. Not one atomic read: the scripts re-check."""
    agent_ids = sorted(await redis.smembers(keys.agents))  # type: ignore[misc]
    queue_names = list(queue_names)
    pipe = redis.pipeline(transaction=False)
    for a in agent_ids:
        pipe.hgetall(keys.agent(a))
        pipe.smembers(keys.agent_contacts(a))
    for q in queue_names:
        pipe.zrange(keys.queue(q), 0, head - 1)
    pipe.zrange(keys.offers, 0, -1)
    replies = await pipe.execute()
    n = 2 * len(agent_ids)
    agents = [_agent_view(h) for h in replies[:n:2] if h and "agent_id" in h]
    contact_ids: list[str] = []
    for held in replies[1:n:2]:
        contact_ids.extend(held)
    for ids in replies[n:]:
        contact_ids.extend(ids)
    contact_ids = list(dict.fromkeys(contact_ids))
    pipe = redis.pipeline(transaction=False)
    for c in contact_ids:
        pipe.hgetall(keys.contact(c))
        pipe.smembers(keys.declined(c))
        pipe.smembers(keys.offered_to(c))
    replies = await pipe.execute()
    contacts = [
        contact_view(h, d, o)
        for h, d, o in zip(replies[::3], replies[1::3], replies[2::3], strict=True)
        if h
    ]
    return RoutingState(
        agents={a.agent_id: a for a in agents},
        contacts={c.contact_id: c for c in contacts if c.state in _LIVE},
    )


def _int(h: dict[str, str], key: str) -> int:
    value = h.get(key)
    return int(value) if value else 0


def _agent_view(h: dict[str, str]) -> AgentView:
    return AgentView(
        agent_id=h["agent_id"],
        state=h.get("state", "offline"),
        skills=json.loads(h.get("skills", "{}")),
        capacity={ch: _int(h, f"cap:{ch}") for ch in CHANNELS},
        load={ch: _int(h, f"load:{ch}") for ch in CHANNELS if _int(h, f"load:{ch}")},
        last_offer_ms=_int(h, "last_offer_ms"),
        idle_since_ms=_int(h, "idle_since_ms"),
        console_seen_ms=_int(h, "console_seen_ms"),
        languages=frozenset(json.loads(h.get("languages", "[]"))),
        voice_blocks_chat=h.get("voice_blocks", "1") == "1",
        misses=_int(h, "misses"),
    )


def contact_view(
    h: dict[str, str], declined: set[str], offered_to: set[str] | None = None
) -> ContactView:
    deadline = h.get("deadline_ms")
    ended = h.get("ended_at_ms")
    return ContactView(
        contact_id=h["contact_id"],
        queue=h["queue"],
        priority=_int(h, "priority"),
        enqueued_at_ms=_int(h, "enqueued_at_ms"),
        channel=h.get("channel") or "chat",
        state=h.get("state", "queued"),
        agent_id=h.get("agent_id") or None,
        deadline_ms=int(deadline) if deadline else None,
        declined_by=frozenset(declined),
        required_skills=frozenset(json.loads(h.get("required_skills") or "[]")),
        language=h.get("language") or None,
        preferred_agent_id=h.get("preferred_agent_id") or None,
        escalation_step=_int(h, "step"),
        ended_at_ms=int(ended) if ended else None,
        offered_to=frozenset(offered_to or ()),
    )
