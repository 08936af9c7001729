"""Every Redis key of the hub, built in one place.

All keys of a routing domain carry the hash tag `{domain}`, so the keys a Lua script touches
always live in one hash slot and the scripts run unchanged on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    domain: str

    @property
    def prefix(self) -> str:
        return f"cc:{{{self.domain}}}"

    def queue(self, name: str) -> str:
        """Sorted set of waiting contact ids, scored by `routing.core.queue_score`."""
        return f"{self.prefix}:queue:{name}"

    def contact(self, contact_id: str) -> str:
        """Hash: a live contact's routing state."""
        return f"{self.prefix}:contact:{contact_id}"

    def declined(self, contact_id: str) -> str:
        """Set of agent ids who let this contact's offer go."""
        return f"{self.prefix}:declined:{contact_id}"

    def offered_to(self, contact_id: str) -> str:
        """Set of agent ids a contact is offered to at once (the broadcast strategy)."""
        return f"{self.prefix}:offered:{contact_id}"

    def agent(self, agent_id: str) -> str:
        """Hash: an agent's presence, skills, capacity and load."""
        return f"{self.prefix}:agent:{agent_id}"

    def agent_contacts(self, agent_id: str) -> str:
        """Set of contact ids an agent holds (offered, assigned or in wrap-up)."""
        return f"{self.prefix}:agent:{agent_id}:contacts"

    @property
    def agents(self) -> str:
        """Set of ids of agents known to routing."""
        return f"{self.prefix}:agents"

    @property
    def offers(self) -> str:
        """Sorted set of offered contact ids, scored by the offer's deadline (epoch ms)."""
        return f"{self.prefix}:offers"

    @property
    def queues(self) -> str:
        """Set of queue names that have had contacts."""
        return f"{self.prefix}:queues"

    @property
    def events(self) -> str:
        """The event stream."""
        return f"{self.prefix}:events"

    @property
    def epoch(self) -> str:
        """String: a random mark set once per life of the domain's live state; when it is
        gone or changed, Redis lost its data (contactcenter/core/healing.py)."""
        return f"{self.prefix}:epoch"
