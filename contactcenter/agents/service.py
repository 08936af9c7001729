"""Administration of agents (docs/admin.md): what admins and supervisors may do to accounts,
as the REST API, the CLI, the CSV import and the demo data all call it.

Each change is checked first (contactcenter/agents/validation.py), then written with its
audit entry in one transaction, then announced: `AgentAccountChanged` on the event stream,
and, when it changes what routing knows, the agent's new profile through the routing store
(its `AgentProfileChanged` is what routing folds), so it takes effect at the next decision.
Deactivating an agent ends their sessions (their consoles close everywhere) and gives back
all the work they hold, to its queues.

Who may do what: an admin, everything; a supervisor, read the agents of their teams and set
their skills, languages and capacity; an agent, their own password. Out of scope is as
unknown as absent (404).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import structlog

from contactcenter.agents import accounts, audit, teams, validation
from contactcenter.agents.accounts import Account, AgentFilter, AgentNotFound
from contactcenter.agents.audit import Actor
from contactcenter.agents.scope import EVERYTHING, Scope, scope_of
from contactcenter.core import events as ev
from contactcenter.core.errors import BadCredentials, Forbidden
from contactcenter.core.eventbus import EventBus
from contactcenter.settings.hub import HubSettings
from contactcenter.web.auth import Principal, hash_password, session_hash
from contactcenter.web.pagination import Page, Window
from routing.model import DEFAULT_CAPACITY
from routing.release import give_back_work
from routing.store import RoutingStore

log = structlog.get_logger("contactcenter.agents.service")

ROUTING_FIELDS = frozenset(("skills", "languages", "capacity", "voice_blocks_chat"))
# What a supervisor may change of an agent in their teams.
SUPERVISOR_FIELDS = frozenset(("skills", "languages", "capacity"))


@dataclass(frozen=True)
class NewAgent:
    login: str
    display_name: str
    password: str
    role: str = "agent"
    email: str | None = None
    skills: dict[str, int] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    capacity: dict[str, int] = field(default_factory=dict)
    voice_blocks_chat: bool = True
    voice_to: str = "client"
    team_ids: list[str] = field(default_factory=list)
    must_change_password: bool = True


class AdminService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        routing: RoutingStore,
        bus: EventBus,
        settings: Callable[[], HubSettings],
        clock: Callable[[], int],
    ) -> None:
        self.pool = pool
        self.routing = routing
        self.bus = bus
        self.settings = settings  # the current settings: queues and skills reload live
        self.clock = clock

    async def scope(self, who: Principal) -> Scope:
        return await scope_of(self.pool, who)

    # --- reading --------------------------------------------------------------------------

    async def list_agents(
        self, scope: Scope, f: AgentFilter, window: Window
    ) -> tuple[Page[Account], int]:
        if not scope.everything:
            f = replace(f, agent_ids=scope.agent_ids)
        return await accounts.search(self.pool, f, window)

    async def get_agent(self, scope: Scope, agent_id: str) -> Account:
        if not scope.sees_agent(agent_id):
            raise AgentNotFound("no such agent", agent_id=agent_id)
        return await accounts.fetch(self.pool, agent_id)

    # --- writing --------------------------------------------------------------------------

    def _checked(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """`changes` with every value checked and normalised; unknown names are a bug."""
        known = validation.known_skills(self.settings())
        checks: dict[str, Callable[[Any], Any]] = {
            "display_name": validation.check_display_name,
            "role": validation.check_role,
            "email": validation.check_email,
            "skills": lambda v: validation.check_skills(v, known),
            "languages": validation.check_languages,
            "capacity": lambda v: validation.check_capacity(v, base=DEFAULT_CAPACITY),
            "voice_to": validation.check_voice_to,
            "voice_blocks_chat": bool,
        }
        return {name: checks[name](value) for name, value in changes.items()}

    async def create_agent(self, actor: Actor, new: NewAgent) -> Account:
        """Create an account (admins; the CLI and the demo data act as admins)."""
        validation.check_login(new.login)
        validation.check_password(new.password, new.login)
        values = self._checked(
            {
                "display_name": new.display_name,
                "role": new.role,
                "email": new.email,
                "skills": new.skills,
                "languages": new.languages,
                "capacity": new.capacity,
                "voice_to": new.voice_to,
            }
        )
        password_hash = await hash_password(new.password)
        async with self.pool.acquire() as conn, conn.transaction():
            missing = set(new.team_ids) - await teams.existing(conn, new.team_ids)
            if missing:
                raise teams.TeamNotFound("no such team", field="team_ids", team_id=min(missing))
            agent_id = await accounts.insert(
                conn,
                login=new.login,
                password_hash=password_hash,
                must_change_password=new.must_change_password,
                voice_blocks_chat=new.voice_blocks_chat,
                **values,
            )
            await teams.set_agent_teams(conn, agent_id, new.team_ids)
            created = await accounts.fetch(conn, agent_id)
            await audit.record(
                conn, actor, "agent.create", "agent", agent_id, None, created.audited()
            )
        await self._announce(agent_id, "created", actor)
        log.info("agent_created", agent_id=agent_id, role=created.role, by=actor.name)
        return created

    async def update_agent(
        self, actor: Actor, scope: Scope, agent_id: str, changes: Mapping[str, Any]
    ) -> Account:
        """Change some fields of an account; `team_ids` replaces the agent's teams."""
        if not scope.sees_agent(agent_id):
            raise AgentNotFound("no such agent", agent_id=agent_id)
        if not scope.everything and set(changes) - SUPERVISOR_FIELDS:
            raise Forbidden(
                "supervisors may change skills, languages and capacity only",
                fields=sorted(set(changes) - SUPERVISOR_FIELDS),
            )
        team_ids = changes.get("team_ids")
        values = self._checked({k: v for k, v in changes.items() if k != "team_ids"})
        async with self.pool.acquire() as conn, conn.transaction():
            before = await accounts.fetch(conn, agent_id, lock=True)
            if actor.agent_id == agent_id and values.get("role", before.role) != before.role:
                # so that the last admin cannot lock everyone out of administration
                raise Forbidden("you cannot change your own role", field="role")
            if "capacity" in values:  # a partial capacity keeps the other channels
                values["capacity"] = validation.check_capacity(
                    {**before.capacity, **values["capacity"]}, before.capacity
                )
            if team_ids is not None:
                missing = set(team_ids) - await teams.existing(conn, team_ids)
                if missing:
                    raise teams.TeamNotFound("no such team", field="team_ids", team_id=min(missing))
                await teams.set_agent_teams(conn, agent_id, team_ids)
            if values:
                await accounts.update(conn, agent_id, values)
            after = await accounts.fetch(conn, agent_id)
            if before.audited() != after.audited():  # a change that changes nothing is none
                await audit.record(
                    conn, actor, "agent.update", "agent", agent_id, before.audited(),
                    after.audited(),
                )  # fmt: skip
        was, now = before.audited(), after.audited()
        # `team_ids` is shown as `teams`: compare what the account shows.
        shown = {k: "teams" if k == "team_ids" else k for k in changes}
        changed = sorted(k for k in changes if was.get(shown[k]) != now.get(shown[k]))
        if changed:
            await self._announce(agent_id, "updated", actor, changed)
        if after.active and ROUTING_FIELDS & set(changed):
            await self.tell_routing(after)
        return after

    async def set_active(self, actor: Actor, agent_id: str, active: bool) -> Account:
        """Deactivate (sessions ended, consoles closed, work given back) or reactivate."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = await accounts.fetch(conn, agent_id, lock=True)
            if actor.agent_id == agent_id and not active:
                raise Forbidden("you cannot deactivate your own account", field="active")
            if before.active == active:  # already so: nothing to change, nothing to record
                return before
            await accounts.update(conn, agent_id, {"active": active})
            ended = [] if active else await accounts.end_sessions(conn, agent_id)
            after = await accounts.fetch(conn, agent_id)
            action = "agent.reactivate" if active else "agent.deactivate"
            await audit.record(
                conn, actor, action, "agent", agent_id, before.audited(), after.audited()
            )
        if not active:
            await self._sign_out(agent_id, ended, why="deactivated")
        await self._announce(agent_id, "reactivated" if active else "deactivated", actor)
        log.info("agent_active_set", agent_id=agent_id, active=active, by=actor.name)
        return after

    async def set_password(
        self, actor: Actor, agent_id: str, password: str, *, must_change: bool = True
    ) -> None:
        """An admin sets (resets) an agent's password: by default a one-time password the
        agent changes at their next login. Their sessions end."""
        account = await accounts.fetch(self.pool, agent_id)
        validation.check_password(password, account.login)
        password_hash = await hash_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            await accounts.set_password(conn, agent_id, password_hash, must_change=must_change)
            ended = await accounts.end_sessions(conn, agent_id)
            await audit.record(
                conn, actor, "agent.password", "agent", agent_id, None,
                {"must_change_password": must_change},
            )  # fmt: skip
        await self._sign_out(agent_id, ended, why="password")
        await self._announce(agent_id, "password_set", actor)

    async def change_own_password(
        self, who: Principal, token: str, current: str, new: str, check: Callable[..., Any]
    ) -> None:
        """The agent chooses their own password (`check` verifies the current one). Their
        other sessions end; this one stays."""
        if not await check(who.agent_id, current):
            raise BadCredentials("the current password is wrong", field="current_password")
        validation.check_password(new, who.username, field="new_password")
        if new == current:
            raise validation.WeakPassword("choose a new password", field="new_password")
        password_hash = await hash_password(new)
        keep = session_hash(token)
        async with self.pool.acquire() as conn, conn.transaction():
            await accounts.set_password(conn, who.agent_id, password_hash, must_change=False)
            rows = await conn.fetch(
                "DELETE FROM sessions WHERE agent_id = $1::uuid AND token_hash <> $2"
                " RETURNING token_hash",
                who.agent_id,
                keep,
            )
            await audit.record(
                conn, Actor.of(who), "agent.own_password", "agent", who.agent_id, None, None
            )
        await self._sign_out(who.agent_id, [r["token_hash"] for r in rows], why="password")

    # --- effects --------------------------------------------------------------------------

    async def _announce(
        self, agent_id: str, change: str, actor: Actor, fields: list[str] | None = None
    ) -> None:
        await self.bus.publish(
            ev.AgentAccountChanged(
                at_ms=self.clock(),
                agent_id=agent_id,
                change=change,
                by_agent_id=actor.agent_id,
                fields=fields or [],
            )
        )

    async def tell_routing(self, account: Account) -> None:
        """Routing's copy of the profile, if routing knows the agent (one who never logged
        in gets theirs when their console connects)."""
        if not await self.routing.agent_fields(account.agent_id):
            return
        await self.routing.set_agent_profile(
            account.agent_id,
            skills=account.skills,
            capacity=account.capacity,
            languages=account.languages,
            voice_blocks_chat=account.voice_blocks_chat,
            now_ms=self.clock(),
        )

    async def _sign_out(self, agent_id: str, token_hashes: list[str], *, why: str) -> None:
        """Close the ended sessions' consoles on every hub process; a deactivated agent also
        goes offline, giving back all their work."""
        now_ms = self.clock()
        for token_hash in token_hashes:
            await self.bus.publish(
                ev.SessionEnded(at_ms=now_ms, agent_id=agent_id, token_hash=token_hash, why=why)
            )
        if why != "deactivated" or not await self.routing.agent_fields(agent_id):
            return
        await self.routing.set_agent_state(agent_id, "offline", now_ms=now_ms, reason=why)
        # As one who chose to go offline: a deactivated agent is not coming back for the
        # conversations a queue's on_agent_lost = "keep" would hold for a lost console.
        moved = await give_back_work(
            self.routing, agent_id, self.settings().policies, now_ms, chosen=True
        )
        log.info("deactivated_agent_work_given_back", agent_id=agent_id, contacts_moved=moved)


__all__ = ["EVERYTHING", "AdminService", "NewAgent"]
