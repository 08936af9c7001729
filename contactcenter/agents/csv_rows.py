"""Rows of the agents' CSV import (`contactcenter agents import`, docs/admin.md "Command line
and CSV import") and the command line's `name=value` options, read and checked, pure: text in,
`AgentRow`s out, or the line and reason of every bad row. Each value goes through the same
checks as the API's (contactcenter/agents/validation.py), so a mistake reads the same
everywhere. What the record says (logins taken, teams that exist) is csv_import's.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contactcenter.agents import validation
from contactcenter.core.errors import HubError, InvalidInput
from routing.model import DEFAULT_CAPACITY

AGENT_COLUMNS = (
    "login",
    "display_name",
    "email",
    "role",
    "teams",
    "skills",
    "languages",
    "capacity",
    "password",
)
REQUIRED_COLUMNS = ("login",)
SEPARATOR = ";"  # between items of one cell: teams, skills, languages, capacity
MAX_CELL_CHARS = 2000


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header; 0 for the whole file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class ImportRejected(InvalidInput):
    """The file has bad rows (every one is in `errors`, by line); nothing was written."""

    error_id = "agents.import_rejected"

    def __init__(self, errors: Iterable[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)
        rows = all(e.line > 1 for e in self.errors)
        super().__init__(
            f"{len(self.errors)} bad row(s), nothing was imported"
            if rows
            else "nothing was imported",
            errors=[{"line": e.line, "reason": e.reason} for e in self.errors],
        )


@dataclass(frozen=True)
class AgentRow:
    """One agent as the file gives it, checked; None: the cell is empty (a new agent gets
    the default, an updated one keeps what they have)."""

    line: int
    login: str
    display_name: str | None = None
    email: str | None = None
    role: str | None = None
    teams: tuple[str, ...] | None = None  # team names
    skills: dict[str, int] | None = None
    languages: list[str] | None = None
    capacity: dict[str, int] | None = None
    password: str | None = None

    def changes(self) -> dict[str, Any]:
        """The account's fields the row sets, by the service's names (teams and password
        apart)."""
        fields = ("display_name", "email", "role", "skills", "languages", "capacity")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


def problem(exc: HubError) -> str:
    """A refusal as one line: the field it names, then the reason."""
    field = exc.details.get("field")
    return f"{field}: {exc.message}" if field else exc.message


def split_items(text: str) -> list[str]:
    """The items of a cell separated by ';' (spaces around them ignored)."""
    return [item.strip() for item in text.split(SEPARATOR) if item.strip()]


_EXAMPLES = {"skills": "support=50", "capacity": "chat=3"}


def numbers(items: Iterable[str], field: str) -> dict[str, int]:
    """`name=number` items (`support=50`, `chat=3`) as a mapping; the last of a name wins.
    Raises InvalidAgent naming the field."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name:
            example = _EXAMPLES.get(field, "name=1")
            raise validation.InvalidAgent(
                f"{item!r} is not name=number (like {example})", field=field
            )
        try:
            out[name] = int(value)
        except ValueError:
            raise validation.InvalidAgent(
                f"{value!r} is not a whole number", field=f"{field}.{name}"
            ) from None
    return out


def one_time_password(login: str) -> str:
    """A random password that passes the strength checks, for the agent to replace at first
    login (about 96 bits from the system's CSPRNG)."""
    while True:
        password = secrets.token_urlsafe(12)
        if validation.password_problem(password, login) is None:
            return password


class _Row:
    """One row's cells, each read and checked; every problem is noted rather than raised, so
    that the row is reported once with all of them."""

    def __init__(self, cells: Mapping[str, str | None]) -> None:
        self.cells = cells
        self.problems: list[str] = []

    def cell(self, key: str) -> str | None:
        value = (self.cells.get(key) or "").strip()
        if len(value) > MAX_CELL_CHARS:
            self.problems.append(f"{key}: at most {MAX_CELL_CHARS} characters")
            return None
        return value or None

    def checked(self, key: str, check: Callable[[str], Any]) -> Any:
        value = self.cell(key)
        if value is None:
            return None
        try:
            return check(value)
        except validation.InvalidAgent as exc:
            self.problems.append(problem(exc))
            return None


def capacity(cell: str) -> dict[str, int]:
    """The channels a cell gives, checked; all of them at 0 is refused only if the agent's
    other channels (the defaults for a new agent) would be 0 too."""
    given = numbers(split_items(cell), "capacity")
    validation.check_capacity(given, base=DEFAULT_CAPACITY)
    return given


def parse_agent(
    cells: Mapping[str, str | None], line: int, known_skills: frozenset[str]
) -> AgentRow:
    """One row, normalised; raises ValueError naming every problem of the row."""
    r = _Row(cells)
    login = r.checked("login", validation.check_login)
    if login is None and not r.problems:
        r.problems.append("login: required")
    row = AgentRow(
        line=line,
        login=login or "",
        display_name=r.checked("display_name", validation.check_display_name),
        email=r.checked("email", validation.check_email),
        role=r.checked("role", validation.check_role),
        teams=r.checked("teams", lambda v: tuple(dict.fromkeys(split_items(v)))),
        skills=r.checked(
            "skills",
            lambda v: validation.check_skills(numbers(split_items(v), "skills"), known_skills),
        ),
        languages=r.checked("languages", lambda v: validation.check_languages(split_items(v))),
        capacity=r.checked("capacity", capacity),
        password=r.checked("password", lambda v: validation.check_password(v, login or "")),
    )
    if r.problems:
        raise ValueError("; ".join(r.problems))
    return row


def parse_file(
    lines: Iterable[str], known_skills: frozenset[str], tick: Callable[[], object] = bool
) -> tuple[list[AgentRow], list[RowError]]:
    """Every row of a CSV text with a header, parsed, or the reason it cannot be (a login
    twice in the file is an error of its second line). `tick` is called once per row."""
    rows: list[AgentRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    reader = csv.DictReader(lines)
    try:
        header = reader.fieldnames or []
        if not header:
            return [], [RowError(1, "the file is empty")]
        unknown = [c for c in header if c not in AGENT_COLUMNS]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if unknown or missing:
            found = [f"unknown column {c!r}" for c in unknown]
            found += [f"missing column {c}" for c in missing]
            if unknown:
                found.append(f"the columns are {', '.join(AGENT_COLUMNS)}")
            return [], [RowError(1, "; ".join(found))]
        for cells in reader:
            tick()
            line = reader.line_num
            if None in cells:
                errors.append(RowError(line, "more cells than columns"))
                continue
            try:
                row = parse_agent(cells, line, known_skills)
            except ValueError as exc:
                errors.append(RowError(line, str(exc)))
                continue
            if row.login in first_line:
                where = first_line[row.login]
                errors.append(RowError(line, f"login {row.login!r} is also on line {where}"))
                continue
            first_line[row.login] = line
            rows.append(row)
    except UnicodeDecodeError:
        errors.append(RowError(reader.line_num + 1, "not UTF-8 text"))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, f"not valid CSV: {exc}"))
    if not rows and not errors:
        errors.append(RowError(0, "no agents in the file"))
    return rows, errors
