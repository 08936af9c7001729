"""What a principal may see and act on (docs/admin.md, "Teams and scope").

An admin sees everything. A supervisor sees the agents and queues of the teams they
supervise, and themselves. An agent sees only themselves. Every supervisor view and action,
REST and websocket, asks the same `Scope`: an agent or queue outside it is as unknown as one
that does not exist (404), so that a supervisor cannot learn what other teams hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from contactcenter.web.auth import Principal


@dataclass(frozen=True)
class Scope:
    """The agents and queues one principal may see; `everything` for an admin."""

    everything: bool
    agent_ids: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    team_ids: frozenset[str] = frozenset()

    def sees_agent(self, agent_id: str) -> bool:
        return self.everything or agent_id in self.agent_ids

    def sees_queue(self, queue: str) -> bool:
        return self.everything or queue in self.queues

    def sees_team(self, team_id: str) -> bool:
        return self.everything or team_id in self.team_ids


EVERYTHING = Scope(everything=True)

_SUPERVISED = """
SELECT t.team_id,
       array(SELECT m.agent_id::text FROM team_members m WHERE m.team_id = t.team_id) AS agents,
       array(SELECT q.queue FROM team_queues q WHERE q.team_id = t.team_id) AS queues
FROM team_members t
WHERE t.agent_id = $1 AND t.supervises
"""


async def scope_of(conn: asyncpg.Pool | asyncpg.Connection, who: Principal) -> Scope:
    """`who`'s scope as the record says now (one query)."""
    if who.role == "admin":
        return EVERYTHING
    if who.role != "supervisor":
        return Scope(everything=False, agent_ids=frozenset((who.agent_id,)))
    rows = await conn.fetch(_SUPERVISED, uuid.UUID(who.agent_id))
    agents = {who.agent_id}
    queues: set[str] = set()
    for row in rows:
        agents.update(row["agents"])
        queues.update(row["queues"])
    return Scope(
        everything=False,
        agent_ids=frozenset(agents),
        queues=frozenset(queues),
        team_ids=frozenset(str(r["team_id"]) for r in rows),
    )
