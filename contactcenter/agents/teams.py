"""Teams in PostgreSQL (docs/admin.md, "Teams"): a name, members, the members who supervise
it, and the queues it answers for. A supervisor's scope (contactcenter/agents/scope.py) is
the union of the teams they supervise."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from contactcenter.core.errors import Conflict, InvalidInput, NotFound


class TeamNotFound(NotFound):
    error_id = "teams.not_found"


class TeamNameTaken(Conflict):
    error_id = "teams.name_taken"


class InvalidTeam(InvalidInput):
    error_id = "teams.invalid"


@dataclass(frozen=True)
class Member:
    agent_id: str
    login: str
    display_name: str
    supervises: bool


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    members: list[Member] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "name": self.name,
            "members": [m.__dict__ for m in self.members],
            "queues": self.queues,
        }


def team_uuid(team_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(team_id)
    except ValueError:
        raise TeamNotFound("no such team", team_id=team_id) from None


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise InvalidTeam("a team's name is 1 to 80 characters", field="name")
    return name


_SELECT = """
SELECT t.id, t.name,
       coalesce((SELECT json_agg(json_build_object(
                   'agent_id', a.id::text, 'login', a.username,
                   'display_name', a.display_name, 'supervises', m.supervises)
                 ORDER BY a.username)
                 FROM team_members m JOIN agents a ON a.id = m.agent_id
                 WHERE m.team_id = t.id), '[]'::json) AS members,
       array(SELECT q.queue FROM team_queues q WHERE q.team_id = t.id ORDER BY q.queue) AS queues
FROM teams t
"""


def _team(row: asyncpg.Record) -> Team:
    members = row["members"]
    members = json.loads(members) if isinstance(members, str) else members
    return Team(
        team_id=str(row["id"]),
        name=row["name"],
        members=[Member(**m) for m in members],
        queues=list(row["queues"]),
    )


async def fetch(db: asyncpg.Pool | asyncpg.Connection, team_id: str) -> Team:
    row = await db.fetchrow(_SELECT + " WHERE t.id = $1", team_uuid(team_id))
    if row is None:
        raise TeamNotFound("no such team", team_id=team_id)
    return _team(row)


async def all_teams(
    db: asyncpg.Pool | asyncpg.Connection, only: Iterable[str] | None = None
) -> list[Team]:
    """Every team by name, or those of `only` (a supervisor's)."""
    if only is None:
        rows = await db.fetch(_SELECT + " ORDER BY t.name")
    else:
        ids = [team_uuid(t) for t in only]
        rows = await db.fetch(_SELECT + " WHERE t.id = ANY($1::uuid[]) ORDER BY t.name", ids)
    return [_team(r) for r in rows]


async def insert(conn: asyncpg.Connection, name: str) -> str:
    team_id = uuid.uuid4()
    try:
        await conn.execute("INSERT INTO teams (id, name) VALUES ($1, $2)", team_id, name)
    except asyncpg.UniqueViolationError:
        raise TeamNameTaken("a team has this name", field="name", name=name) from None
    return str(team_id)


async def rename(conn: asyncpg.Connection, team_id: str, name: str) -> None:
    try:
        await conn.execute("UPDATE teams SET name = $2 WHERE id = $1", team_uuid(team_id), name)
    except asyncpg.UniqueViolationError:
        raise TeamNameTaken("a team has this name", field="name", name=name) from None


async def delete(conn: asyncpg.Connection, team_id: str) -> None:
    await conn.execute("DELETE FROM teams WHERE id = $1", team_uuid(team_id))


async def set_members(conn: asyncpg.Connection, team_id: str, members: dict[str, bool]) -> None:
    """Make the team's members exactly `members` (agent id: supervises)."""
    tid = team_uuid(team_id)
    await conn.execute("DELETE FROM team_members WHERE team_id = $1", tid)
    await conn.executemany(
        "INSERT INTO team_members (team_id, agent_id, supervises) VALUES ($1, $2, $3)",
        [(tid, uuid.UUID(agent_id), supervises) for agent_id, supervises in members.items()],
    )


async def set_queues(conn: asyncpg.Connection, team_id: str, queues: Iterable[str]) -> None:
    tid = team_uuid(team_id)
    await conn.execute("DELETE FROM team_queues WHERE team_id = $1", tid)
    await conn.executemany(
        "INSERT INTO team_queues (team_id, queue) VALUES ($1, $2)",
        [(tid, q) for q in sorted(set(queues))],
    )


async def set_agent_teams(conn: asyncpg.Connection, agent_id: str, team_ids: Iterable[str]) -> None:
    """Make the agent a member of exactly `team_ids`, keeping their supervision of those they
    stay in."""
    aid = uuid.UUID(agent_id)
    keep = [team_uuid(t) for t in team_ids]
    await conn.execute(
        "DELETE FROM team_members WHERE agent_id = $1 AND NOT team_id = ANY($2::uuid[])", aid, keep
    )
    await conn.executemany(
        "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(t, aid) for t in keep],
    )


async def existing(conn: asyncpg.Connection, team_ids: Iterable[str]) -> set[str]:
    ids = [team_uuid(t) for t in team_ids]
    rows = await conn.fetch("SELECT id FROM teams WHERE id = ANY($1::uuid[])", ids)
    return {str(r["id"]) for r in rows}
