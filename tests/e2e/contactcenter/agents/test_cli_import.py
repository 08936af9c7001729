"""`contactcenter agents import` as a real process: a good file creates every agent in one go,
the generated one-time passwords in a private file and nowhere else; a file with bad rows
names every one by its line and creates nothing."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

from argon2 import PasswordHasher

from contactcenter.core.events import AgentAccountChanged
from tests.e2e.contactcenter.agents.conftest import Cli, unique

HEADER = "login,display_name,email,role,teams,skills,languages,capacity,password\n"
GIVEN_PASSWORD = "a-given-password-7"


async def _team(cli: Cli) -> str:
    name = unique("Team ")
    await cli.ok("teams", "add", name, "--queue", "support")
    return name


async def test_three_good_rows_are_created_with_their_passwords_in_a_private_file(
    cli: Cli, tmp_path: Path
) -> None:
    team = await _team(cli)
    a, b, c = unique("ann"), unique("bo"), unique("cy")
    path = tmp_path / "agents.csv"
    path.write_text(
        HEADER
        + f"{a},Ann Ames,{a}@example.com,agent,{team},support=50;billing=30,en;fr,chat=3;voice=1,\n"
        + f"{b},Bo Berg,,supervisor,{team},support=70,en,,{GIVEN_PASSWORD}\n"
        + f"{c},Cy Cole,,,,billing=20,,chat=2,\n"
    )
    passwords = tmp_path / "passwords.csv"
    done = await cli("agents", "import", str(path), "--passwords-out", str(passwords))
    assert done.returncode == 0, done.stderr
    assert f"{path}: 3 agent(s): 3 created, 0 updated, 0 unchanged" in done.stdout
    assert f"2 one-time password(s) in {passwords} (mode 0600)" in done.stdout
    assert "writing" in done.stderr  # the progress bar

    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    generated = dict(list(csv.reader(passwords.open()))[1:])
    assert sorted(generated) == sorted([a, c])
    for secret in (*generated.values(), GIVEN_PASSWORD):
        assert secret not in done.stdout and secret not in done.stderr

    rows = {
        r["username"]: r
        for r in await cli.fetch("SELECT * FROM agents WHERE username = ANY($1)", [a, b, c])
    }
    assert json.loads(rows[a]["skills"]) == {"support": 50, "billing": 30}
    assert list(rows[a]["languages"]) == ["en", "fr"] and rows[a]["email"] == f"{a}@example.com"
    assert rows[b]["role"] == "supervisor" and rows[c]["role"] == "agent"
    assert all(r["must_change_password"] for r in rows.values())
    hasher = PasswordHasher()
    assert hasher.verify(rows[a]["password_hash"], generated[a])
    assert hasher.verify(rows[b]["password_hash"], GIVEN_PASSWORD)
    members = await cli.fetch(
        "SELECT a.username FROM team_members m JOIN agents a ON a.id = m.agent_id"
        " JOIN teams t ON t.id = m.team_id WHERE t.name = $1",
        team,
    )
    assert sorted(r["username"] for r in members) == sorted([a, b])

    ids = [str(r["id"]) for r in rows.values()]
    said = [e for e in await cli.events(AgentAccountChanged, change="created") if e.agent_id in ids]
    assert len(said) == 3
    audited = await cli.fetch("SELECT actor, action FROM audit_log WHERE target_id = ANY($1)", ids)
    assert [(r["actor"], r["action"]) for r in audited] == [("cli", "agent.create")] * 3


async def test_two_bad_rows_are_named_and_nothing_is_created(cli: Cli, tmp_path: Path) -> None:
    team = await _team(cli)
    taken = unique("dee")
    await cli.ok("agents", "add", taken, "--name", "Dee")
    logins = [unique("ed"), unique("flo"), unique("gil")]
    path = tmp_path / "agents.csv"
    path.write_text(
        HEADER
        + f"{logins[0]},Ed,,,{team},support=40,,,\n"
        + f"{logins[1]},Flo,flo-at-example,,{team},support=400,,,\n"  # line 3
        + f"{logins[2]},Gil,,,,,,,\n"
        + f"{taken},Dee Again,,,No Such Team,,,,\n"  # line 5
    )
    passwords = tmp_path / "passwords.csv"
    done = await cli("agents", "import", str(path), "--passwords-out", str(passwords), "--quiet")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "line 3: email: not an email address; skills.support: a level is 0 to 100" in done.stderr
    assert f"line 5: login {taken!r} exists (--update changes existing agents);" in done.stderr
    assert "teams: no team named 'No Such Team'" in done.stderr
    assert "2 bad row(s), nothing was imported [agents.import_rejected]" in done.stderr
    assert "line 2" not in done.stderr and "line 4" not in done.stderr

    assert await cli.fetch("SELECT 1 FROM agents WHERE username = ANY($1)", logins) == []
    assert not passwords.exists()
    assert [r["display_name"] for r in await cli.fetch(
        "SELECT display_name FROM agents WHERE username = $1", taken)] == ["Dee"]  # fmt: skip


async def test_update_changes_existing_agents_and_creates_the_others(
    cli: Cli, tmp_path: Path
) -> None:
    old, new = unique("hal"), unique("ida")
    await cli.ok("agents", "add", old, "--name", "Hal", "--skill", "support=10",
                 "--capacity", "chat=2", "--language", "en")  # fmt: skip
    path = tmp_path / "agents.csv"
    path.write_text(
        "login,display_name,skills,capacity,password\n"
        f"{old},,support=90;billing=5,voice=0,\n"
        f"{new},Ida,,,{GIVEN_PASSWORD}\n"
    )
    refused = await cli.refused("agents", "import", str(path), "--quiet")
    assert f"line 2: login {old!r} exists" in refused

    out = await cli.ok("agents", "import", str(path), "--update", "--quiet")
    assert "2 agent(s): 1 created, 1 updated, 0 unchanged" in out
    [row] = await cli.fetch("SELECT * FROM agents WHERE username = $1", old)
    assert row["display_name"] == "Hal" and list(row["languages"]) == ["en"]
    assert json.loads(row["skills"]) == {"support": 90, "billing": 5}
    capacity = json.loads(row["capacity"])
    assert capacity["voice"] == 0 and capacity["chat"] == 2
    said = await cli.events(AgentAccountChanged, agent_id=str(row["id"]), change="updated")
    assert [e.fields for e in said] == [["capacity", "skills"]]

    again = await cli.ok("agents", "import", str(path), "--update", "--quiet")
    assert "0 created, 1 updated, 1 unchanged" in again  # Ida's password is set again
