"""Candidate pools: the agents eligible for one kind of contact, best first, within a pass.

Contacts of the same queue, escalation step, channel, language need and required skills
have the same eligible agents, so a routing pass computes that set once and keeps it as a
heap in the queue's strategy order. Offers made during the pass only ever make an agent a
worse pick (more load, a later last offer) or leave them without room, so a stale heap entry
is re-ranked when it comes to the top and an agent without room drops out. Choosing stays
the strategy's best (smallest rank), without ranking every candidate per contact.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from routing.model import AgentView, ContactView, QueuePolicy
from routing.strategies import Rank, rank, rank_key

Key = tuple[object, ...]


@dataclass
class Pool:
    """Agents statically eligible for one kind of contact, as a lazily re-ranked heap."""

    strategy: str
    policy: QueuePolicy
    sample: ContactView  # a contact of this kind: what ranks depend on
    members: frozenset[str]
    heap: list[tuple[Key, str]] = field(default_factory=list)

    @classmethod
    def of(cls, agents: list[AgentView], contact: ContactView, policy: QueuePolicy) -> Pool:
        # Sticky ranks the preferred agent first, then by idleness: that part is per contact,
        # so the pool orders by idleness and the caller checks the preferred agent first.
        strategy = (
            "longest-idle" if policy.strategy in ("sticky", "broadcast") else (policy.strategy)
        )
        pool = cls(strategy, policy, contact, frozenset(a.agent_id for a in agents))
        pool.heap = [(rank_key(strategy, a, contact, policy), a.agent_id) for a in agents]
        heapq.heapify(pool.heap)
        return pool

    def rank_of(self, agent: AgentView) -> Rank:
        return rank(self.strategy, agent, self.sample, self.policy)

    def key_of(self, agent: AgentView) -> Key:
        return rank_key(self.strategy, agent, self.sample, self.policy)

    def take(
        self, agents: Mapping[str, AgentView], declined: frozenset[str], n: int = 1
    ) -> list[tuple[AgentView, Rank]]:
        """Up to `n` best agents with room, passing over `declined` unless nobody else is
        left. The taken agents leave the heap: `give_back` them once their load changed."""
        chosen: list[tuple[AgentView, Rank]] = []
        aside: list[tuple[Key, str]] = []
        channel = self.sample.channel
        while self.heap and len(chosen) < n:
            key, agent_id = heapq.heappop(self.heap)
            agent = agents[agent_id]
            if agent.room(channel) <= 0:
                continue  # no more room in this pass
            current = self.key_of(agent)
            if current != key:
                heapq.heappush(self.heap, (current, agent_id))
                continue
            if agent_id in declined:
                aside.append((key, agent_id))
                continue
            chosen.append((agent, self.rank_of(agent)))
        if not chosen and aside:  # nobody else: those who let it go are asked again
            for _stale, agent_id in aside[:n]:
                chosen.append((agents[agent_id], self.rank_of(agents[agent_id])))
            aside = aside[n:]
        for item in aside:
            heapq.heappush(self.heap, item)
        return chosen

    def give_back(self, agent: AgentView) -> None:
        if agent.room(self.sample.channel) > 0:
            heapq.heappush(self.heap, (self.key_of(agent), agent.agent_id))
