"""The `contactcenter teams` commands (docs/admin.md, "Command line and CSV import"): teams
with their members, supervisors and queues, administered from the command line through the
service the REST API uses (contactcenter/agents/team_service.py), acting as `audit.CLI`.
Team names and logins on the command line, ids inside. Help and parsers: cli_agents.py."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from contactcenter.agents import teams as team_store
from contactcenter.agents.accounts import AgentNotFound
from contactcenter.agents.audit import CLI
from contactcenter.agents.scope import EVERYTHING
from contactcenter.agents.service import AdminService
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.agents.teams import Team
from contactcenter.cli_admin import with_admin
from contactcenter.cli_agents_commands import team_ids_by_name
from contactcenter.core.errors import InvalidInput
from contactcenter.site_settings import SiteSettings


def describe_team(t: Team) -> str:
    members = [m.login for m in t.members if not m.supervises]
    supervisors = [m.login for m in t.members if m.supervises]
    return (
        f"{t.name}\n  supervisors: {', '.join(supervisors) or '-'}\n"
        f"  members: {', '.join(members) or '-'}\n  queues: {', '.join(t.queues) or '-'}"
    )


async def _ids(admin: AdminService, logins: Iterable[str], field: str) -> dict[str, str]:
    """Agent ids by login; an unknown login is refused, naming the option."""
    wanted = list(dict.fromkeys(logins))
    rows = await admin.pool.fetch(
        "SELECT username, id::text AS id FROM agents WHERE username = ANY($1::text[])", wanted
    )
    found = {r["username"]: r["id"] for r in rows}
    for login in wanted:
        if login not in found:
            raise AgentNotFound(f"no agent has the login {login!r}", field=field, login=login)
    return found


async def _team(admin: AdminService, name: str) -> Team:
    team_id = (await team_ids_by_name(admin, [name], "name"))[0]
    return await team_store.fetch(admin.pool, team_id)


def list_teams(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(_: AdminService, team_admin: TeamAdmin) -> list[Team]:
        return await team_admin.list_teams(EVERYTHING)

    found = with_admin(settings, work)
    if args.json:
        print(json.dumps([t.public() for t in found], indent=2))
    else:
        for team in found:
            print(describe_team(team))
        print(f"{len(found)} team(s)")
    return 0


def add_team(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(admin: AdminService, team_admin: TeamAdmin) -> Team:
        members = await _ids(admin, args.member, "member")
        supervisors = await _ids(admin, args.supervisor, "supervisor")
        return await team_admin.create_team(
            CLI, args.name, members=list(members.values()),
            supervisors=list(supervisors.values()), queues=args.queue,
        )  # fmt: skip

    print("created " + describe_team(with_admin(settings, work)))
    return 0


def _changes(args: argparse.Namespace, before: Team, ids: dict[str, str]) -> dict[str, Any]:
    """What `update_team` is given: the whole lists that the options change."""
    changes: dict[str, Any] = {}
    if args.new_name is not None:
        changes["name"] = args.new_name
    if args.member or args.supervisor or args.no_member or args.no_supervisor:
        people = {m.login: m.supervises for m in before.members}
        people |= {login: people.get(login, False) for login in args.member}
        people |= {login: True for login in args.supervisor}
        for login in args.no_supervisor:
            if not people.get(login):
                raise InvalidInput(
                    f"{login} does not supervise {before.name}", field="no_supervisor"
                )
            people[login] = False
        for login in args.no_member:
            if people.pop(login, None) is None:
                raise InvalidInput(f"{login} is not in {before.name}", field="no_member")
        ids |= {m.login: m.agent_id for m in before.members}
        changes["members"] = [ids[login] for login, boss in people.items() if not boss]
        changes["supervisors"] = [ids[login] for login, boss in people.items() if boss]
    if args.queue or args.no_queue:
        for queue in args.no_queue:
            if queue not in before.queues:
                raise InvalidInput(f"{before.name} does not answer {queue}", field="no_queue")
        queues = [*before.queues, *args.queue]
        changes["queues"] = [q for q in dict.fromkeys(queues) if q not in args.no_queue]
    if not changes:
        raise InvalidInput("nothing to change: give at least one option (see --help)")
    return changes


def set_team(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(admin: AdminService, team_admin: TeamAdmin) -> Team:
        before = await _team(admin, args.name)
        ids = await _ids(admin, args.member, "member")
        ids |= await _ids(admin, args.supervisor, "supervisor")
        changes = _changes(args, before, ids)
        return await team_admin.update_team(CLI, before.team_id, **changes)

    print("updated " + describe_team(with_admin(settings, work)))
    return 0


def delete_team(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(admin: AdminService, team_admin: TeamAdmin) -> Team:
        team = await _team(admin, args.name)
        await team_admin.delete_team(CLI, team.team_id)
        return team

    team = with_admin(settings, work)
    print(f"deleted team {team.name}; its {len(team.members)} member(s) stay")
    return 0
