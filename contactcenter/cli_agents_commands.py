"""The `contactcenter agents` commands other than import (help and parsers: cli_agents.py):
list, add, set, deactivate, reactivate and password, through the services the REST API uses
(contactcenter/agents/service.py), acting as `audit.CLI`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from contactcenter.agents import accounts, teams, validation
from contactcenter.agents.accounts import Account, AgentFilter, AgentNotFound
from contactcenter.agents.audit import CLI
from contactcenter.agents.csv_rows import numbers, one_time_password
from contactcenter.agents.scope import EVERYTHING
from contactcenter.agents.service import AdminService, NewAgent
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.cli_admin import with_admin
from contactcenter.core.errors import InvalidInput
from contactcenter.site_settings import SiteSettings
from contactcenter.web.pagination import Window
from routing.model import DEFAULT_CAPACITY


async def agent_by_login(admin: AdminService, login: str, field: str = "login") -> Account:
    found = await accounts.fetch_by_login(admin.pool, login)
    if found is None:
        raise AgentNotFound(f"no agent has the login {login!r}", field=field, login=login)
    return found


async def team_ids_by_name(admin: AdminService, names: Iterable[str], field: str) -> list[str]:
    by_name = {t.name: t.team_id for t in await teams.all_teams(admin.pool)}
    for name in names:
        if name not in by_name:
            raise teams.TeamNotFound(f"no team named {name!r}", field=field, name=name)
    return [by_name[name] for name in names]


def describe(a: Account) -> str:
    state = "active" if a.active else "deactivated"
    lines = [
        f"{a.login}  {a.display_name}" + (f"  <{a.email}>" if a.email else ""),
        f"  role {a.role}, {state}"
        + ("; must change password at next login" if a.must_change_password else ""),
        "  teams: "
        + (", ".join(t.name + (" (supervises)" if t.supervises else "") for t in a.teams) or "-"),
        f"  skills: {pairs(a.skills, sort=True) or '-'}",
        f"  languages: {', '.join(a.languages) or '-'}",
        f"  capacity: {pairs(a.capacity)}"
        + ("" if a.voice_blocks_chat else "; a call does not block chats")
        + ("" if a.voice_to == "client" else f"; calls to {a.voice_to}"),
    ]
    return "\n".join(lines)


def pairs(values: Mapping[str, int], *, sort: bool = False) -> str:
    items = sorted(values.items()) if sort else values.items()
    return ", ".join(f"{k}={v}" for k, v in items)


def _one_time_password(args: argparse.Namespace, login: str) -> tuple[str, bool]:
    """(password, whether it was generated)."""
    if args.password_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
        if not given:
            raise validation.WeakPassword("no password on standard input", field="password")
    elif sys.stdin.isatty():
        given = getpass.getpass(f"one-time password for {login} (Enter: generate one): ")
        if given and getpass.getpass("the same again: ") != given:
            raise validation.WeakPassword("the two passwords differ", field="password")
    else:
        given = ""
    if not given:
        return one_time_password(login), True
    return validation.check_password(given, login), False


def _said_password(login: str, password: str, generated: bool) -> str:
    if generated:
        return f"one-time password for {login}: {password}  (shown once; changed at first login)"
    return f"{login}'s password is set; they choose their own at first login"


def list_agents(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(admin: AdminService, _: TeamAdmin) -> list[Account]:
        team = (await team_ids_by_name(admin, [args.team], "team"))[0] if args.team else None
        f = AgentFilter(args.search, team, args.skill, args.role, None if args.all else True)
        found: list[Account] = []
        window = Window(limit=200)
        while True:
            page, _total = await admin.list_agents(EVERYTHING, f, window)
            found += page.items
            if page.next is None:
                return found
            window = Window(limit=200, cursor=str(page.next))

    found = with_admin(settings, work)
    if args.json:
        print(json.dumps([a.public() for a in found], indent=2))
        return 0
    rows = [("LOGIN", "NAME", "ROLE", "TEAMS", "SKILLS", "LANGUAGES", "CAPACITY", "ACTIVE")]
    for a in found:
        skills = pairs(a.skills, sort=True).replace(" ", "") or "-"
        capacity = pairs({k: v for k, v in a.capacity.items() if v}).replace(" ", "")
        rows.append((a.login, a.display_name, a.role, ",".join(t.name for t in a.teams) or "-",
                     skills, ",".join(a.languages) or "-", capacity,
                     "yes" if a.active else "no"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print(f"{len(found)} agent(s)")
    return 0


def add_agent(settings: SiteSettings, args: argparse.Namespace) -> int:
    validation.check_login(args.login)
    password, generated = _one_time_password(args, args.login)

    given = numbers(args.capacity, "capacity")
    # whole, as `set` sends it, so that one channel may be 0 while the others keep the
    # defaults (the service checks a partial capacity as if it were all)
    capacity = {**DEFAULT_CAPACITY, **given} if given else {}

    async def work(admin: AdminService, _: TeamAdmin) -> Account:
        new = NewAgent(
            login=args.login, display_name=args.name, password=password,
            role=args.role or "agent", email=args.email,
            skills=numbers(args.skill, "skills"), languages=list(args.language),
            capacity=capacity,
            voice_blocks_chat=args.voice_blocks_chat is not False,
            voice_to=args.voice_to or "client",
            team_ids=await team_ids_by_name(admin, args.team, "team"),
        )  # fmt: skip
        return await admin.create_agent(CLI, new)

    account = with_admin(settings, work)
    print("created " + describe(account))
    print(_said_password(account.login, password, generated))
    return 0


def _set_changes(args: argparse.Namespace, before: Account, team_ids: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    named = {"name": "display_name", "role": "role", "email": "email", "voice_to": "voice_to"}
    for option, name in {**named, "voice_blocks_chat": "voice_blocks_chat"}.items():
        if getattr(args, option) is not None:
            changes[name] = getattr(args, option)
    if args.skill or args.no_skill:
        skills = {**before.skills, **numbers(args.skill, "skills")}
        for skill in args.no_skill:
            if skills.pop(skill, None) is None:
                raise validation.InvalidAgent(
                    f"{before.login} has no skill {skill!r}", field=f"skills.{skill}"
                )
        changes["skills"] = skills
    if args.language or args.no_language:
        languages = [code for code in before.languages if code not in args.no_language]
        changes["languages"] = languages + [c for c in args.language if c not in languages]
    if args.capacity:  # whole, so that one channel may go to 0 while others stay open
        changes["capacity"] = {**before.capacity, **numbers(args.capacity, "capacity")}
    if args.team or args.no_team:
        changes["team_ids"] = team_ids
    if not changes:
        raise InvalidInput("nothing to change: give at least one option (see --help)")
    return changes


def set_agent(settings: SiteSettings, args: argparse.Namespace) -> int:
    async def work(admin: AdminService, _: TeamAdmin) -> tuple[Account, Account]:
        before = await agent_by_login(admin, args.login)
        leave = await team_ids_by_name(admin, args.no_team, "no_team")
        for name, team_id in zip(args.no_team, leave, strict=True):
            if team_id not in {t.team_id for t in before.teams}:
                raise InvalidInput(f"{before.login} is not in {name}", field="no_team")
        join = await team_ids_by_name(admin, args.team, "team")
        kept = [t.team_id for t in before.teams if t.team_id not in leave]
        changes = _set_changes(args, before, kept + [t for t in join if t not in kept])
        return before, await admin.update_agent(CLI, EVERYTHING, before.agent_id, changes)

    before, after = with_admin(settings, work)
    was, now = before.audited(), after.audited()
    changed = sorted(k for k in now if was.get(k) != now.get(k))
    print(f"updated {after.login}: {', '.join(changed)}" if changed else "nothing changed")
    print(describe(after))
    return 0


def set_active(settings: SiteSettings, args: argparse.Namespace, active: bool) -> int:
    async def work(admin: AdminService, _: TeamAdmin) -> tuple[Account, Account]:
        before = await agent_by_login(admin, args.login)
        return before, await admin.set_active(CLI, before.agent_id, active)

    before, after = with_admin(settings, work)
    word = "reactivated" if active else "deactivated"
    if before.active == after.active:
        print(f"{after.login} was already {word}; nothing changed")
    elif active:
        print(f"{after.login} is reactivated: they may log in again")
    else:
        print(f"{after.login} is deactivated: sessions ended, consoles closed, work given back")
    return 0


def set_password(settings: SiteSettings, args: argparse.Namespace) -> int:
    password, generated = _one_time_password(args, args.login)

    async def work(admin: AdminService, _: TeamAdmin) -> None:
        account = await agent_by_login(admin, args.login)
        await admin.set_password(CLI, account.agent_id, password, must_change=True)

    with_admin(settings, work)
    print(_said_password(args.login, password, generated))
    print(f"{args.login}'s sessions are ended")
    return 0
