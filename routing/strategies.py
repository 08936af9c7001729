"""How a queue picks among the agents eligible for a contact.

Each strategy ranks agents by a tuple, smallest first; the parts are named so that every
offer can say why its agent won. Ties always end on the agent id, so choices are
deterministic.

- longest-idle (default): the agent with the least on hand, then the one free the longest
  (since their last contact ended, they went available, or their last offer, whichever is
  latest).
- least-occupied: the lowest share of the channel's capacity in use, then longest idle.
- most-skilled: the highest sum of levels in the skills the queue's eligibility names, then
  longest idle.
- round-robin: the agent whose last offer is oldest, whatever they hold.
- sticky: the contact's preferred agent (last agent or account manager) while they are
  eligible, within the queue's sticky time; anyone else by longest idle.
"""

from __future__ import annotations

from routing.expr import skills_of
from routing.model import AgentView, ContactView, QueuePolicy

Rank = tuple[tuple[str, float | int | str], ...]


def _last_activity(agent: AgentView) -> int:
    return max(agent.idle_since_ms, agent.last_offer_ms)


def rank_key(
    strategy: str, agent: AgentView, contact: ContactView, policy: QueuePolicy
) -> tuple[float | int | str, ...]:
    """The values of `rank` without their names: what ordering needs, built for speed (a
    routing pass computes it for every eligible agent). Equal to `rank`'s values."""
    last = agent.idle_since_ms if agent.idle_since_ms > agent.last_offer_ms else agent.last_offer_ms
    if strategy == "round-robin":
        return (agent.last_offer_ms, agent.agent_id)
    load = sum(agent.load.values())
    if strategy == "least-occupied":
        cap = agent.capacity.get(contact.channel, 0) or 1
        share = round(agent.load.get(contact.channel, 0) / cap, 6)
        return (share, load, last, agent.agent_id)
    if strategy == "most-skilled":
        named = skills_of(policy.base_eligibility) | contact.required_skills
        return (-sum(agent.skills.get(s, 0) for s in named), load, last, agent.agent_id)
    if strategy == "sticky":
        preferred = 0 if agent.agent_id == contact.preferred_agent_id else 1
        return (preferred, load, last, agent.agent_id)
    return (load, last, agent.agent_id)


def rank(strategy: str, agent: AgentView, contact: ContactView, policy: QueuePolicy) -> Rank:
    """The agent's rank for `contact` under `strategy`: smaller wins."""
    idle = (("load", agent.total_load), ("last_activity_ms", _last_activity(agent)))
    if strategy == "least-occupied":
        cap = agent.capacity.get(contact.channel, 0) or 1
        share = round(agent.load.get(contact.channel, 0) / cap, 6)
        return (("occupancy", share), *idle, ("agent", agent.agent_id))
    if strategy == "most-skilled":
        named = skills_of(policy.base_eligibility) | contact.required_skills
        level = sum(agent.skills.get(s, 0) for s in named)
        return (("skill_level", -level), *idle, ("agent", agent.agent_id))
    if strategy == "round-robin":
        return (("last_offer_ms", agent.last_offer_ms), ("agent", agent.agent_id))
    if strategy == "broadcast":  # who is asked first among many: the longest idle
        return (*idle, ("agent", agent.agent_id))
    if strategy == "sticky":
        preferred = 0 if agent.agent_id == contact.preferred_agent_id else 1
        return (("not_preferred", preferred), *idle, ("agent", agent.agent_id))
    return (*idle, ("agent", agent.agent_id))


def sticky_hold(
    contact: ContactView, policy: QueuePolicy, agent_ids: set[str], now_ms: int
) -> bool:
    """Whether a sticky contact should keep waiting for its preferred agent: they are among
    `agent_ids` (those who could take it: available and eligible, busy or not) and the
    sticky time has not run out."""
    return (
        policy.strategy == "sticky"
        and contact.preferred_agent_id is not None
        and contact.preferred_agent_id in agent_ids
        and now_ms - contact.enqueued_at_ms < policy.sticky_ms
    )
