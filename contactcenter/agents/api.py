"""The administration API (docs/admin.md): agents, teams, the audit log, one's own password.

Every operation is in the OpenAPI document with the role it needs. Scope is applied by the
services: a supervisor asking for an agent or team outside their teams gets 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from contactcenter.agents import audit
from contactcenter.agents import schemas as s
from contactcenter.agents.accounts import AgentFilter
from contactcenter.agents.appkeys import ADMIN, TEAMS
from contactcenter.agents.audit import Actor
from contactcenter.agents.service import NewAgent
from contactcenter.agents.validation import ROLES, known_skills
from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import BadCredentials, HubError
from contactcenter.web.appkeys import AGENTS
from contactcenter.web.http import session_token
from contactcenter.web.login_limits import LOGIN_LIMITER, TooManyLoginAttempts
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.origins import client_ip
from contactcenter.web.session_api import too_many_attempts
from routing.model import CHANNELS

E404 = (404,)


async def _scope_and_actor(call: Call) -> tuple[Any, Actor]:
    return await call.request.app[ADMIN].scope(call.agent), Actor.of(call.agent)


# --- agents ----------------------------------------------------------------------------------


async def list_agents(call: Call) -> Any:
    q = call.query_as(s.AgentSearch)
    admin = call.request.app[ADMIN]
    active = {"true": True, "false": False, "any": None}[q.active]
    f = AgentFilter(q.search, q.team_id, q.skill, q.role, active)
    page, total = await admin.list_agents(await admin.scope(call.agent), f, q.window())
    return {**page.wire(lambda a: a.public()), "total": total}


async def create_agent(call: Call) -> Any:
    body = call.body_as(s.NewAgentBody)
    new = NewAgent(**body.model_dump())
    account = await call.request.app[ADMIN].create_agent(Actor.of(call.agent), new)
    return account.public()


async def get_agent(call: Call) -> Any:
    scope, _ = await _scope_and_actor(call)
    return (await call.request.app[ADMIN].get_agent(scope, call.path("agent_id"))).public()


async def update_agent(call: Call) -> Any:
    changes = call.body_as(s.AgentChanges).model_dump(exclude_unset=True)
    scope, actor = await _scope_and_actor(call)
    admin = call.request.app[ADMIN]
    return (await admin.update_agent(actor, scope, call.path("agent_id"), changes)).public()


async def deactivate_agent(call: Call) -> Any:
    account = await call.request.app[ADMIN].set_active(
        Actor.of(call.agent), call.path("agent_id"), False
    )
    return account.public()


async def reactivate_agent(call: Call) -> Any:
    account = await call.request.app[ADMIN].set_active(
        Actor.of(call.agent), call.path("agent_id"), True
    )
    return account.public()


async def set_password(call: Call) -> Any:
    body = call.body_as(s.PasswordBody)
    await call.request.app[ADMIN].set_password(
        Actor.of(call.agent),
        call.path("agent_id"),
        body.password,
        must_change=body.must_change_password,
    )
    return {"ok": True}


async def change_own_password(call: Call) -> Any:
    """Within the login limits (contactcenter/web/login_limits.py): a wrong current password
    counts as a failed login of the account, so that a session cannot be used to guess it."""
    body = call.body_as(s.OwnPasswordBody)
    request, app = call.request, call.request.app
    token = session_token(request)
    assert token is not None  # the caller is authenticated
    limiter = app[LOGIN_LIMITER]
    forwarded = request.headers.get("X-Forwarded-For")
    address = client_ip(request.remote, forwarded, limiter.policy.trust_forwarded_for)
    try:
        attempt = await limiter.begin(call.agent.username, address)
    except TooManyLoginAttempts as exc:
        return too_many_attempts(exc)
    try:
        await app[ADMIN].change_own_password(
            call.agent, token, body.current_password, body.new_password,
            app[AGENTS].check_password,
        )  # fmt: skip
    except BadCredentials:
        await limiter.failed(attempt)
        raise
    except HubError:  # the current password was right; the new one was refused
        await limiter.succeeded(attempt)
        raise
    await limiter.succeeded(attempt)
    return {"ok": True}


async def catalogue(call: Call) -> Any:
    settings = call.request.app[ADMIN].settings()
    return {
        "skills": sorted(known_skills(settings)),
        "channels": list(CHANNELS),
        "roles": list(ROLES),
        "queues": [q.name for q in settings.queues],
    }


# --- teams -----------------------------------------------------------------------------------


async def list_teams(call: Call) -> Any:
    scope, _ = await _scope_and_actor(call)
    return {"items": [t.public() for t in await call.request.app[TEAMS].list_teams(scope)]}


async def create_team(call: Call) -> Any:
    body = call.body_as(s.NewTeamBody)
    team = await call.request.app[TEAMS].create_team(
        Actor.of(call.agent),
        body.name,
        members=body.members,
        supervisors=body.supervisors,
        queues=body.queues,
    )
    return team.public()


async def get_team(call: Call) -> Any:
    scope, _ = await _scope_and_actor(call)
    return (await call.request.app[TEAMS].get_team(scope, call.path("team_id"))).public()


async def update_team(call: Call) -> Any:
    changes = call.body_as(s.TeamChanges).model_dump(exclude_unset=True)
    team = await call.request.app[TEAMS].update_team(
        Actor.of(call.agent), call.path("team_id"), **changes
    )
    return team.public()


async def delete_team(call: Call) -> Any:
    await call.request.app[TEAMS].delete_team(Actor.of(call.agent), call.path("team_id"))
    return web.Response(status=204)


# --- audit -----------------------------------------------------------------------------------


async def audit_log(call: Call) -> Any:
    q = call.query_as(s.AuditQuery)
    items = await audit.entries(
        call.request.app[POOL],
        target_kind=q.target_kind,
        target_id=q.target_id,
        before_id=q.before_id,
        limit=q.limit,
    )
    return {"items": items}


ADMIN_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/agents", "list_agents", "Agents in the caller's scope, by login,"
              " filtered by search, team, skill, role and whether active", "supervisor", "admin",
              answer=list_agents, query=s.AgentSearch, response=s.AgentPage),
    Operation("POST", "/api/agents", "create_agent", "Create an agent (by default with a"
              " one-time password to change at first login)", "admin", "admin",
              answer=create_agent, body=s.NewAgentBody, response=s.AgentOut, status=201,
              errors=(404, 409)),
    Operation("GET", "/api/agents/{agent_id}", "get_agent", "One agent's account", "supervisor",
              "admin", answer=get_agent, response=s.AgentOut, errors=E404),
    Operation("PATCH", "/api/agents/{agent_id}", "update_agent", "Change an agent's account;"
              " takes effect in routing at once. Supervisors: skills, languages, capacity of"
              " their teams' agents", "supervisor", "admin", answer=update_agent,
              body=s.AgentChanges, response=s.AgentOut, errors=E404),
    Operation("POST", "/api/agents/{agent_id}/deactivate", "deactivate_agent", "Deactivate:"
              " sessions end, consoles close, work goes back to the queues; history stays",
              "admin", "admin", answer=deactivate_agent, response=s.AgentOut, errors=E404),
    Operation("POST", "/api/agents/{agent_id}/reactivate", "reactivate_agent", "Let a"
              " deactivated agent log in again", "admin", "admin", answer=reactivate_agent,
              response=s.AgentOut, errors=E404),
    Operation("PUT", "/api/agents/{agent_id}/password", "set_agent_password", "Set (reset) an"
              " agent's password, by default one to change at next login; their sessions end",
              "admin", "admin", answer=set_password, body=s.PasswordBody, response=s.Done,
              errors=E404),
    Operation("POST", "/api/me/password", "change_own_password", "Choose one's own password"
              " (the current one is asked, within the login limits); one's other sessions"
              " end", "agent", "session", answer=change_own_password, body=s.OwnPasswordBody,
              response=s.Done, errors=(429,)),
    Operation("GET", "/api/skills", "admin_catalogue", "What an agent's account may name:"
              " skills, channels, roles, queues", "supervisor", "admin", answer=catalogue,
              response=s.Catalogue),
    Operation("GET", "/api/teams", "list_teams", "Teams in the caller's scope", "supervisor",
              "admin", answer=list_teams, response=s.TeamList),
    Operation("POST", "/api/teams", "create_team", "Create a team with its members,"
              " supervisors and queues", "admin", "admin", answer=create_team,
              body=s.NewTeamBody, response=s.TeamOut, status=201, errors=(409,)),
    Operation("GET", "/api/teams/{team_id}", "get_team", "One team", "supervisor", "admin",
              answer=get_team, response=s.TeamOut, errors=E404),
    Operation("PATCH", "/api/teams/{team_id}", "update_team", "Rename a team, or replace its"
              " members, supervisors or queues", "admin", "admin", answer=update_team,
              body=s.TeamChanges, response=s.TeamOut, errors=(404, 409)),
    Operation("DELETE", "/api/teams/{team_id}", "delete_team", "Delete a team (its agents"
              " stay)", "admin", "admin", answer=delete_team, status=204, errors=E404),
    Operation("GET", "/api/audit", "audit_log", "Administrative changes, newest first: who,"
              " what, before, after, when", "admin", "admin", answer=audit_log,
              query=s.AuditQuery, response=s.AuditPage, errors=(403,)),
)  # fmt: skip
