"""Administration of teams (docs/admin.md, "Teams"): admins create, rename and delete teams
and set their members, supervisors and queues; supervisors read the teams they supervise.
Each change is written with its audit entry in one transaction, then announced
(`TeamChanged`). A supervisor's scope follows at once: it is read from the record on every
request."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

import asyncpg

from contactcenter.agents import audit, teams
from contactcenter.agents.audit import Actor
from contactcenter.agents.scope import Scope
from contactcenter.agents.teams import InvalidTeam, Team, TeamNotFound
from contactcenter.core import events as ev
from contactcenter.core.eventbus import EventBus
from contactcenter.settings.hub import HubSettings


class TeamAdmin:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: EventBus,
        settings: Callable[[], HubSettings],
        clock: Callable[[], int],
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings
        self.clock = clock

    async def list_teams(self, scope: Scope) -> list[Team]:
        return await teams.all_teams(self.pool, None if scope.everything else scope.team_ids)

    async def get_team(self, scope: Scope, team_id: str) -> Team:
        if not scope.sees_team(team_id):
            raise TeamNotFound("no such team", team_id=team_id)
        return await teams.fetch(self.pool, team_id)

    async def create_team(
        self,
        actor: Actor,
        name: str,
        *,
        members: Sequence[str] = (),
        supervisors: Sequence[str] = (),
        queues: Sequence[str] = (),
    ) -> Team:
        name = teams.check_name(name)
        async with self.pool.acquire() as conn, conn.transaction():
            team_id = await teams.insert(conn, name)
            await self._set(conn, team_id, members, supervisors, queues)
            created = await teams.fetch(conn, team_id)
            await audit.record(conn, actor, "team.create", "team", team_id, None, created.public())
        await self._announce(team_id, "created", actor)
        return created

    async def update_team(
        self,
        actor: Actor,
        team_id: str,
        *,
        name: str | None = None,
        members: Sequence[str] | None = None,
        supervisors: Sequence[str] | None = None,
        queues: Sequence[str] | None = None,
    ) -> Team:
        """Change what is given; `members` and `supervisors` replace the team's people (a
        supervisor is a member who supervises), `queues` its queues."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = await teams.fetch(conn, team_id)
            if name is not None:
                await teams.rename(conn, team_id, teams.check_name(name))
            if members is not None or supervisors is not None:
                keep_members = [m.agent_id for m in before.members if not m.supervises]
                keep_supervisors = [m.agent_id for m in before.members if m.supervises]
                await self._set_people(
                    conn,
                    team_id,
                    keep_members if members is None else members,
                    keep_supervisors if supervisors is None else supervisors,
                )
            if queues is not None:
                await teams.set_queues(conn, team_id, self._queues(queues))
            after = await teams.fetch(conn, team_id)
            if before == after:  # a change that changes nothing is none
                return after
            await audit.record(
                conn, actor, "team.update", "team", team_id, before.public(), after.public()
            )
        await self._announce(team_id, "updated", actor)
        return after

    async def delete_team(self, actor: Actor, team_id: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            before = await teams.fetch(conn, team_id)
            await teams.delete(conn, team_id)
            await audit.record(conn, actor, "team.delete", "team", team_id, before.public(), None)
        await self._announce(team_id, "deleted", actor)

    # --- checks ---------------------------------------------------------------------------

    async def _set(
        self,
        conn: asyncpg.Connection,
        team_id: str,
        members: Sequence[str],
        supervisors: Sequence[str],
        queues: Sequence[str],
    ) -> None:
        await self._set_people(conn, team_id, members, supervisors)
        await teams.set_queues(conn, team_id, self._queues(queues))

    async def _set_people(
        self,
        conn: asyncpg.Connection,
        team_id: str,
        members: Iterable[str],
        supervisors: Iterable[str],
    ) -> None:
        people = {a: False for a in members} | {a: True for a in supervisors}
        ids = []
        for agent_id in people:
            try:
                ids.append(uuid.UUID(agent_id))
            except ValueError:
                raise InvalidTeam("not an agent id", field="members", agent_id=agent_id) from None
        rows = await conn.fetch("SELECT id, role FROM agents WHERE id = ANY($1::uuid[])", ids)
        roles = {str(r["id"]): r["role"] for r in rows}
        for agent_id, supervises in people.items():
            if agent_id not in roles:
                raise InvalidTeam("no such agent", field="members", agent_id=agent_id)
            if supervises and roles[agent_id] not in ("supervisor", "admin"):
                raise InvalidTeam(
                    "only a supervisor or an admin supervises a team",
                    field="supervisors",
                    agent_id=agent_id,
                )
        await teams.set_members(conn, team_id, people)

    def _queues(self, queues: Iterable[str]) -> list[str]:
        configured = {q.name for q in self.settings().queues}
        for queue in queues:
            if queue not in configured:
                raise InvalidTeam(
                    f"no queue {queue!r} in config/queues.toml", field="queues", queue=queue
                )
        return sorted(set(queues))

    async def _announce(self, team_id: str, change: str, actor: Actor) -> None:
        await self.bus.publish(
            ev.TeamChanged(
                at_ms=self.clock(), team_id=team_id, change=change, by_agent_id=actor.agent_id
            )
        )
