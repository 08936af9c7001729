"""`contactcenter teams ...` as real processes: a team made, changed and deleted by names and
logins, each change audited and announced; refusals name the field and change nothing."""

from __future__ import annotations

import json
from typing import Any

from contactcenter.core.events import TeamChanged
from tests.e2e.contactcenter.agents.conftest import Cli, unique


async def _team(cli: Cli, name: str) -> dict[str, Any] | None:
    teams = json.loads(await cli.ok("teams", "list", "--json"))
    found = [t for t in teams if t["name"] == name]
    return found[0] if found else None


def _people(team: dict[str, Any]) -> dict[str, bool]:
    return {m["login"]: m["supervises"] for m in team["members"]}


async def test_a_team_is_made_changed_and_deleted_by_names_and_logins(cli: Cli) -> None:
    amy, ben, sue = unique("amy"), unique("ben"), unique("sue")
    for login, role in ((amy, "agent"), (ben, "agent"), (sue, "supervisor")):
        await cli.ok("agents", "add", login, "--name", login.title(), "--role", role)
    name = unique("Team ")
    out = await cli.ok("teams", "add", name, "--member", amy, "--supervisor", sue,
                       "--queue", "support")  # fmt: skip
    assert f"supervisors: {sue}" in out and f"members: {amy}" in out
    team = await _team(cli, name)
    assert team is not None
    assert _people(team) == {amy: False, sue: True} and team["queues"] == ["support"]
    team_id = team["team_id"]

    renamed = unique("Renamed ")
    await cli.ok("teams", "set", name, "--name", renamed, "--member", ben, "--no-member", amy,
                 "--queue", "billing")  # fmt: skip
    team = await _team(cli, renamed)
    assert team is not None and team["team_id"] == team_id
    assert _people(team) == {ben: False, sue: True}
    assert team["queues"] == ["billing", "support"]
    await cli.ok("teams", "set", renamed, "--no-supervisor", sue, "--no-queue", "support")
    team = await _team(cli, renamed)
    assert team is not None and _people(team) == {ben: False, sue: False}
    assert team["queues"] == ["billing"]
    listed = json.loads(await cli.ok("agents", "list", "--team", renamed, "--json"))
    assert sorted(a["login"] for a in listed) == sorted([ben, sue])

    said = await cli.ok("teams", "delete", renamed)
    assert "2 member(s) stay" in said
    assert await _team(cli, renamed) is None
    assert len(await cli.fetch("SELECT 1 FROM agents WHERE username = ANY($1)", [amy, ben])) == 2
    changes = [e.change for e in await cli.events(TeamChanged, team_id=team_id)]
    assert changes == ["created", "updated", "updated", "deleted"]
    actions = await cli.fetch(
        "SELECT actor, action FROM audit_log WHERE target_id = $1 ORDER BY id", team_id
    )
    assert [(r["actor"], r["action"]) for r in actions] == [
        ("cli", "team.create"), ("cli", "team.update"), ("cli", "team.update"),
        ("cli", "team.delete"),
    ]  # fmt: skip


async def test_team_refusals_name_the_field_and_change_nothing(cli: Cli) -> None:
    agent = unique("cat")
    await cli.ok("agents", "add", agent, "--name", "Cat")
    name = unique("Team ")
    await cli.ok("teams", "add", name, "--member", agent)
    before = await _team(cli, name)
    refusals = {
        ("teams", "add", name): "name: a team has this name [teams.name_taken]",
        ("teams", "add", " "): "name: a team's name is 1 to 80 characters [teams.invalid]",
        ("teams", "add", unique("T"), "--member", "nobody-here"):
            "member: no agent has the login 'nobody-here' [agents.not_found]",
        ("teams", "set", name, "--supervisor", agent):
            "supervisors: only a supervisor or an admin supervises a team [teams.invalid]",
        ("teams", "set", name, "--queue", "nowhere"):
            "queues: no queue 'nowhere' in config/queues.toml [teams.invalid]",
        ("teams", "set", name, "--no-member", "nobody-here"):
            "no_member: nobody-here is not in",
        ("teams", "set", name): "nothing to change",
        ("teams", "set", "No Such Team", "--queue", "support"):
            "name: no team named 'No Such Team' [teams.not_found]",
        ("teams", "delete", "No Such Team"): "name: no team named 'No Such Team'",
    }  # fmt: skip
    for args, said in refusals.items():
        assert said in await cli.refused(*args), args
    assert await _team(cli, name) == before
