"""Reading the live routing state out of Redis into the core's views."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from redis.commands.core import AsyncScript

from routing.keys import Keys
from routing.model import CHANNELS, AgentView, ContactView
from routing.state import RoutingState

_LIVE = ("queued", "offered", "wrapup")


def _split(template: str) -> list[str]:
    """A key built around a marker id, as the (before, after) pair the script joins."""
    before, after = template.split("\x00")
    return [before, after]


class SnapshotReader:
    """Reads the live routing state in one script call, and keeps the views it built: a
    pass that finds most agents and contacts unchanged parses only what changed. The memo
    holds just what the last read returned, so it stays the size of the live state."""

    def __init__(self, script: AsyncScript, keys: Keys) -> None:
        self._script = script
        self._keys = keys
        marker = "\x00"
        self._templates = [
            *_split(keys.agent(marker)),
            *_split(keys.agent_contacts(marker)),
            *_split(keys.contact(marker)),
            *_split(keys.declined(marker)),
            *_split(keys.offered_to(marker)),
        ]
        # Keyed by the packed hash as read: an unchanged hash finds its view again.
        self._agents: dict[str, AgentView] = {}
        self._contacts: dict[str, ContactView] = {}
        self._last_agents: tuple[float, dict[str, AgentView]] | None = None

    async def agents(self, max_age_ms: float = 0) -> dict[str, AgentView]:
        """Every agent; the agents of a read made at most `max_age_ms` ago, if any."""
        last = self._last_agents
        if last is not None and (time.monotonic() - last[0]) * 1000 <= max_age_ms:
            return last[1]
        return (await self.read((), agents_only=True)).agents

    async def read(
        self, queue_names: Iterable[str], head: int = 100, *, agents_only: bool = False
    ) -> RoutingState:
        """Every agent; unless `agents_only`, each queue's first `head` waiting contacts,
        every pending offer, and the contacts agents hold in wrap-up. One atomic read."""
        keys = [self._keys.agents, self._keys.offers]
        keys.extend(self._keys.queue(q) for q in queue_names)
        args = [head, "1" if agents_only else "0", *self._templates]
        read_at = time.monotonic()
        raw_agents, raw_contacts = await self._script(keys=keys, args=args)
        seen_agents: dict[str, AgentView] = {}
        for packed in raw_agents:
            view = self._agents.get(packed)
            if view is None:
                flat = packed.split("\0")
                if "agent_id" not in flat[::2]:
                    continue
                view = _agent_view(dict(zip(flat[::2], flat[1::2], strict=True)))
            seen_agents[packed] = view
        seen_contacts: dict[str, ContactView] = {}
        for packed in raw_contacts:
            cview = self._contacts.get(packed)
            if cview is None:
                hash_part, declined, offered = packed.split("\1")
                flat = hash_part.split("\0")
                h = dict(zip(flat[::2], flat[1::2], strict=True))
                cview = contact_view(h, _ids(declined), _ids(offered))
            seen_contacts[packed] = cview
        self._agents = seen_agents
        if not agents_only:  # an agents-only read says nothing of the contacts
            self._contacts = seen_contacts
        agents = {a.agent_id: a for a in seen_agents.values()}
        self._last_agents = (read_at, agents)
        return RoutingState(
            agents=dict(agents),
            contacts={c.contact_id: c for c in seen_contacts.values() if c.state in _LIVE},
        )


def _ids(packed: str) -> set[str]:
    return set(packed.split("\0")) if packed else set()


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
        console_left_ms=_int(h, "console_left_ms"),
        reason=h.get("reason", ""),
        languages=frozenset(json.loads(h.get("languages", "[]"))),
        voice_blocks_chat=h.get("voice_blocks", "1") == "1",
        misses=_int(h, "misses"),
        next_state=h.get("next_state", ""),
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
        customer_seen_ms=_int(h, "customer_seen_ms"),
    )
