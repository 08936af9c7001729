"""The `contactcenter agents` and `contactcenter teams` commands (docs/admin.md, "Command line
and CSV import"): operators administer agents and teams without a browser, through the
services the REST API uses (contactcenter/agents/), acting as `audit.CLI`. Logins and team
names on the command line, ids inside. Every refusal names the field and the reason and
exits 2 (bad input); a store that does not answer exits 1; never a traceback.

This module holds the help and the parsers, and runs the commands, which live in
cli_agents_commands.py, cli_agents_import.py and cli_teams.py: they load the services (and
the argon2 hasher) only when a command runs, so that `contactcenter --help` stays quick."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contactcenter.agents import validation
from contactcenter.agents.csv_rows import ImportRejected, problem
from contactcenter.core.errors import HubError
from contactcenter.site_settings import SiteSettings
from routing.model import CHANNELS

RAW = argparse.RawDescriptionHelpFormatter

AGENTS_HELP = """\
Administer agents' accounts from the command line, as the admin page and the REST API do:
each change is checked the same way, written with its audit entry (actor "cli"), and
announced on the event stream, so that it reaches routing and open consoles at once.
Like every command, these use REDIS_URL and DATABASE_URL; when unset, the embedded servers
of the hub running on the same data folder, or else ones started for the command.
Refusals name the field and the reason, and exit with status 2.
"""

AGENTS_EPILOG = """\
skills and capacity are name=number: a skill's level is 0 to 100, and the skills are those
config/queues.toml and config/routing.toml route on; a capacity is how many contacts at
once on a channel (voice, chat, sms, whatsapp, email), 0 to 50.

examples:
  contactcenter agents list --team Support
  contactcenter agents add carol --name "Carol Diaz" --skill support=60 --language en \\
      --capacity chat=3 --team Support
  contactcenter agents set carol --skill support=80 --no-skill billing
  contactcenter agents password carol
  contactcenter agents deactivate carol
  contactcenter agents import agents.csv --passwords-out passwords.csv
"""

IMPORT_HELP = """\
Import agents from a CSV file (UTF-8) with a header row. Columns: login (required),
display_name (required for a new agent), email, role (agent, supervisor, admin; default
agent), teams (team names separated by ';'), skills (support=50;billing=30), languages
(en;fr), capacity (chat=3;voice=1), password (optional). Empty cells take the defaults.

Every row is checked first, against the configuration and the record: any bad row is
reported with its line number and reason, and then nothing is imported (exit status 2).
Otherwise every agent is written in one transaction (all or nothing), then announced.

A login that exists is an error, unless --update: then the row updates that agent, and an
empty cell keeps what they have (teams, skills, languages given replace theirs; capacity
changes the channels given). A password given or generated is one-time: the agent chooses
their own at first login. A new agent without a password gets a generated one, written to
the file named by --passwords-out (created with mode 0600; never printed).

example:
  contactcenter agents import agents.csv --passwords-out passwords.csv
    login,display_name,email,role,teams,skills,languages,capacity,password
    carol,Carol Diaz,carol@example.com,agent,Support,support=60,en;es,chat=3,
"""


TEAMS_HELP = """\
Administer teams from the command line, as the admin page and the REST API do. A team has
members, supervisors (members who supervise it: they see and act on its agents and queues)
and the queues it answers for. Each change is written with its audit entry (actor "cli")
and announced on the event stream (TeamChanged); a supervisor's scope follows at once.
Refusals name the field and the reason, and exit with status 2.
"""

TEAMS_EPILOG = """\
A supervisor must have the role supervisor or admin (contactcenter agents set LOGIN --role
supervisor). Queues are those of config/queues.toml.

examples:
  contactcenter teams list
  contactcenter teams add Billing --supervisor sam --member carol --member dan --queue billing
  contactcenter teams set Billing --member erin --no-member dan --name "Billing EU"
  contactcenter teams delete "Billing EU"
"""


# --- running ------------------------------------------------------------------------------------


def refuse(command: str, exc: HubError) -> int:
    print(f"contactcenter {command}: {problem(exc)} [{exc.error_id}]", file=sys.stderr)
    return 2 if exc.http_status < 500 else 1


def guarded(command: str, run: Callable[[], int]) -> int:
    """`run()`, with a refusal or a store that does not answer said in one line."""
    try:
        return run()
    except ImportRejected as exc:
        for error in exc.errors:
            print(f"contactcenter {command}: {error}", file=sys.stderr)
        return refuse(command, exc)
    except HubError as exc:
        return refuse(command, exc)
    except Exception as exc:
        from contactcenter.core.store_errors import is_store_failure

        if not is_store_failure(exc):
            raise
        noun = command.split()[0]
        print(
            f"contactcenter {command}: PostgreSQL or Redis did not answer"
            f" ({type(exc).__name__}); `contactcenter {noun} list` shows what is recorded",
            file=sys.stderr,
        )
        return 1


def run_agents(settings: SiteSettings, args: argparse.Namespace) -> int:
    from contactcenter import cli_agents_commands as c
    from contactcenter.cli_agents_import import run_import

    command = {
        "list": c.list_agents,
        "add": c.add_agent,
        "set": c.set_agent,
        "deactivate": lambda s, a: c.set_active(s, a, False),
        "reactivate": lambda s, a: c.set_active(s, a, True),
        "password": c.set_password,
        "import": run_import,
    }[args.agents_command]
    return guarded(f"agents {args.agents_command}", lambda: command(settings, args))


def run_teams(settings: SiteSettings, args: argparse.Namespace) -> int:
    from contactcenter import cli_teams as c

    command = {"list": c.list_teams, "add": c.add_team, "set": c.set_team,
               "delete": c.delete_team}[args.teams_command]  # fmt: skip
    return guarded(f"teams {args.teams_command}", lambda: command(settings, args))


# --- parsers ------------------------------------------------------------------------------------


def _repeat(p: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    p.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def _account_options(p: argparse.ArgumentParser, *, adding: bool) -> None:
    p.add_argument("--name", required=adding, help="display name, as consoles show it")
    default = " (default agent)" if adding else ""
    p.add_argument("--role", choices=validation.ROLES, help="what they may do" + default)
    p.add_argument("--email", help="email address" + ("" if adding else "; '' removes it"))
    what = "give" if adding else "add or change"
    _repeat(p, "--skill", "SKILL=LEVEL", f"{what} a skill and its level 0-100 (repeatable)")
    _repeat(p, "--language", "CODE", f"{what} a language they speak: en, pt-BR (repeatable)")
    _repeat(
        p, "--capacity", "CHANNEL=N", f"contacts at once on a channel ({', '.join(CHANNELS)}),"
        " 0-50; channels left out keep " + ("the defaults" if adding else "theirs"),
    )  # fmt: skip
    _repeat(p, "--team", "NAME", "put them in a team (repeatable)")
    p.add_argument(
        "--voice-to", metavar="client|+E164",
        help="where calls ring: client (the browser softphone) or a phone number",
    )  # fmt: skip
    p.add_argument(
        "--voice-blocks-chat", action=argparse.BooleanOptionalAction, default=None,
        help="whether a call in progress stops new text contacts" + (" (default yes)" * adding),
    )  # fmt: skip
    if not adding:
        _repeat(p, "--no-skill", "SKILL", "remove a skill (repeatable)")
        _repeat(p, "--no-language", "CODE", "remove a language (repeatable)")
        _repeat(p, "--no-team", "NAME", "take them out of a team (repeatable)")


def _password_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-stdin", action="store_true",
                   help="read the one-time password from the first line of standard input"
                   " (scripts); otherwise it is asked on a terminal, or generated and"
                   " printed once")  # fmt: skip


def agents_parsers(sub: Any) -> None:
    agents = sub.add_parser("agents", help="administer agents: list, add, set, deactivate,"
                            " passwords, import from CSV", description=AGENTS_HELP,
                            epilog=AGENTS_EPILOG, formatter_class=RAW)  # fmt: skip
    cmds = agents.add_subparsers(dest="agents_command", metavar="AGENTS_COMMAND", required=True)

    def cmd(name: str, help: str, description: str) -> argparse.ArgumentParser:
        text = description if "\n" in description else textwrap.fill(description, 92)
        parser: argparse.ArgumentParser = cmds.add_parser(
            name, help=help, description=text, formatter_class=RAW, epilog=AGENTS_EPILOG
        )
        return parser

    ls = cmd("list", "list agents, by login", "List the active agents by login, with their"
             " role, teams, skills, languages and capacity.")  # fmt: skip
    ls.add_argument("--team", metavar="NAME", help="only the members of this team")
    ls.add_argument("--skill", metavar="SKILL", help="only those with this skill")
    ls.add_argument("--role", choices=validation.ROLES, help="only those with this role")
    ls.add_argument("--search", metavar="TEXT", help="in login, display name or email")
    ls.add_argument("--all", action="store_true", help="deactivated agents too")
    ls.add_argument("--json", action="store_true", help="as JSON, as GET /api/agents gives it")
    add = cmd("add", "create an agent", "Create an agent with a one-time password: asked on a"
              " terminal (Enter: generate one), read with --password-stdin, or generated and"
              " printed once. The agent chooses their own at first login.")  # fmt: skip
    add.add_argument("login", help="2-64 lower-case letters, digits, '.', '_' or '-'")
    _account_options(add, adding=True)
    _password_options(add)
    st = cmd("set", "change an agent", "Change what the options give; the rest stays. A change"
             " to skills, languages or capacity reaches routing at the next decision.")  # fmt: skip
    st.add_argument("login", help="the agent's login")
    _account_options(st, adding=False)
    for name, text in (
        ("deactivate", "Deactivate an agent: their sessions end, their consoles close, the"
         " work they hold goes back to its queues. Their history stays."),
        ("reactivate", "Let a deactivated agent log in again."),
    ):  # fmt: skip
        short = text.split(":")[0].split(".")[0].lower()
        cmd(name, short, text).add_argument("login", help="the agent's login")
    pw = cmd("password", "set a one-time password", "Set (reset) an agent's password: one"
             " they change at their next login. Their sessions end.")  # fmt: skip
    pw.add_argument("login", help="the agent's login")
    _password_options(pw)
    imp = cmd("import", "import agents from a CSV file, all or nothing", IMPORT_HELP)
    _import_options(imp)


def _import_options(imp: argparse.ArgumentParser) -> None:
    imp.add_argument("file", type=Path, metavar="FILE", help="the CSV file (UTF-8)")
    imp.add_argument(
        "--update", action="store_true",
        help="a row whose login exists updates that agent (else: an error)",
    )  # fmt: skip
    imp.add_argument("--passwords-out", type=Path, metavar="FILE",
                     help="a new file (mode 0600) for the generated one-time passwords:"
                     " login,password")  # fmt: skip
    imp.add_argument("--quiet", action="store_true", help="no progress bars")


def teams_parsers(sub: Any) -> None:
    top = sub.add_parser("teams", help="administer teams: members, supervisors, queues",
                         description=TEAMS_HELP, epilog=TEAMS_EPILOG,
                         formatter_class=RAW)  # fmt: skip
    cmds = top.add_subparsers(dest="teams_command", metavar="TEAMS_COMMAND", required=True)

    def cmd(name: str, help: str, description: str) -> argparse.ArgumentParser:
        text = description if "\n" in description else textwrap.fill(description, 92)
        parser: argparse.ArgumentParser = cmds.add_parser(
            name, help=help, description=text, formatter_class=RAW, epilog=TEAMS_EPILOG
        )
        return parser

    ls = cmd("list", "list teams", "List every team by name, with its members, supervisors"
             " and queues.")  # fmt: skip
    ls.add_argument("--json", action="store_true", help="as JSON, as GET /api/teams gives it")
    add = cmd("add", "create a team", "Create a team with its members, supervisors and queues.")
    add.add_argument("name", help="the team's name (1-80 characters)")
    set_ = cmd("set", "change a team", "Rename a team, or add and remove its members,"
               " supervisors and queues; what no option names stays.")  # fmt: skip
    set_.add_argument("name", help="the team's current name")
    set_.add_argument("--name", dest="new_name", metavar="NEW", help="rename the team")
    for p in (add, set_):
        _repeat(p, "--member", "LOGIN", "an agent who belongs to the team (repeatable)")
        _repeat(p, "--supervisor", "LOGIN", "a member who supervises the team (repeatable)")
        _repeat(p, "--queue", "QUEUE", "a queue the team answers for (repeatable)")
    _repeat(set_, "--no-member", "LOGIN", "take an agent out of the team (repeatable)")
    _repeat(set_, "--no-supervisor", "LOGIN", "a supervisor who stays a member only")
    _repeat(set_, "--no-queue", "QUEUE", "a queue the team no longer answers for")
    delete = cmd("delete", "delete a team", "Delete a team; its agents stay, in no team"
                 " unless they are in others.")  # fmt: skip
    delete.add_argument("name", help="the team's name")
