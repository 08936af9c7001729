"""Demo accounts: two agents, a supervisor and an admin in one team, so a fresh hub can be
tried at once. They are made as an operator would make them (contactcenter/agents/service.py),
with no powers of their own."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from contactcenter.agents import accounts
from contactcenter.agents.accounts import LoginTaken
from contactcenter.agents.audit import Actor
from contactcenter.agents.scope import EVERYTHING
from contactcenter.agents.service import AdminService, NewAgent
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.agents.teams import TeamNameTaken
from contactcenter.agents.validation import WeakPassword, known_skills
from contactcenter.core.errors import ConfigError

DEMO_AGENTS = (
    ("alice", "Alice Martin", "agent", ("en", "fr")),
    ("bob", "Bob Okafor", "agent", ("en",)),
    ("sam", "Sam Rivera", "supervisor", ("en", "es")),
    ("admin", "Ada Admin", "admin", ("en",)),
)
DEMO_TEAM = "Support"


def demo_password(data_dir: Path, given: str | None) -> str:
    """The demo accounts' password: the one given, else one generated once and kept in the
    data folder (never in the repository)."""
    if given:
        return given
    path = data_dir / "demo-password"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from the start
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


async def seed_demo(
    admin: AdminService, teams: TeamAdmin, password: str, chat_capacity: int
) -> dict[str, str]:
    """The demo accounts and their team, created through the same services as an operator's
    (unless they exist); returns their ids by login. Hub processes starting together may both
    try: the loser finds the winner's accounts."""
    actor = Actor(None, "demo-data")
    known = known_skills(admin.settings())
    skills = {"support": 50} if "support" in known else {}
    ids: dict[str, str] = {}
    for login, name, role, languages in DEMO_AGENTS:
        found = await accounts.fetch_by_login(admin.pool, login)
        if found is None:
            new = NewAgent(
                login=login,
                display_name=name,
                password=password,
                role=role,
                skills=skills if role != "admin" else {},
                languages=list(languages),
                capacity={"chat": chat_capacity},
                must_change_password=False,
            )
            try:
                found = await admin.create_agent(actor, new)
            except WeakPassword as exc:
                raise ConfigError("CC_DEMO_PASSWORD", str(exc)) from None
            except LoginTaken:
                found = await accounts.fetch_by_login(admin.pool, login)
                assert found is not None
        ids[login] = found.agent_id
    if not any(t.name == DEMO_TEAM for t in await teams.list_teams(EVERYTHING)):
        with contextlib.suppress(TeamNameTaken):
            await teams.create_team(
                actor,
                DEMO_TEAM,
                members=[ids[login] for login, _, role, _ in DEMO_AGENTS if role == "agent"],
                supervisors=[
                    ids[login] for login, _, role, _ in DEMO_AGENTS if role == "supervisor"
                ],
                queues=[q.name for q in admin.settings().queues],
            )
    return ids
