"""Agents' accounts in PostgreSQL, as administrators keep them (docs/admin.md, "Agents").

Reads return `Account`, what the API and the CLI show (never a password hash). Writes take a
connection, so that the service puts the change and its audit entry in one transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from contactcenter.core.errors import Conflict, NotFound
from contactcenter.web.pagination import Page, Window
from routing.model import DEFAULT_CAPACITY

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


class AgentNotFound(NotFound):
    error_id = "agents.not_found"


class LoginTaken(Conflict):
    error_id = "agents.login_taken"


@dataclass(frozen=True)
class TeamRef:
    team_id: str
    name: str
    supervises: bool


@dataclass(frozen=True)
class Account:
    agent_id: str
    login: str
    display_name: str
    role: str
    email: str | None
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    voice_blocks_chat: bool
    voice_to: str
    active: bool
    must_change_password: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    teams: list[TeamRef] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The account as the API shows it."""
        return {
            "agent_id": self.agent_id,
            "login": self.login,
            "display_name": self.display_name,
            "role": self.role,
            "email": self.email,
            "skills": self.skills,
            "languages": self.languages,
            "capacity": self.capacity,
            "voice_blocks_chat": self.voice_blocks_chat,
            "voice_to": self.voice_to,
            "active": self.active,
            "must_change_password": self.must_change_password,
            "teams": [t.__dict__ for t in self.teams],
            "created_at_ms": _ms(self.created_at),
            "updated_at_ms": _ms(self.updated_at),
            "last_login_at_ms": _ms(self.last_login_at),
        }

    def audited(self) -> dict[str, Any]:
        """What the audit log keeps of the account: every field an administrator sets."""
        out = self.public()
        for volatile in ("updated_at_ms", "last_login_at_ms", "created_at_ms"):
            out.pop(volatile)
        return out


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


_SELECT = """
SELECT a.*,
       coalesce((SELECT json_agg(json_build_object('team_id', t.id::text, 'name', t.name,
                                                   'supervises', m.supervises)
                                 ORDER BY t.name)
                 FROM team_members m JOIN teams t ON t.id = m.team_id
                 WHERE m.agent_id = a.id), '[]'::json) AS team_refs
FROM agents a
"""


def _account(row: asyncpg.Record) -> Account:
    refs = row["team_refs"]
    refs = json.loads(refs) if isinstance(refs, str) else refs
    return Account(
        agent_id=str(row["id"]),
        login=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        email=row["email"],
        skills=_json(row["skills"]),
        languages=list(row["languages"] or ()),
        capacity={**DEFAULT_CAPACITY, "chat": row["chat_capacity"], **_json(row["capacity"])},
        voice_blocks_chat=row["voice_blocks_chat"],
        voice_to=row["voice_to"],
        active=row["active"],
        must_change_password=row["must_change_password"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=row["last_login_at"],
        teams=[TeamRef(**r) for r in refs],
    )


def agent_uuid(agent_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(agent_id)
    except ValueError:
        raise AgentNotFound("no such agent", agent_id=agent_id) from None


async def fetch(db: Db, agent_id: str, *, lock: bool = False) -> Account:
    query = _SELECT + " WHERE a.id = $1" + (" FOR UPDATE OF a" if lock else "")
    row = await db.fetchrow(query, agent_uuid(agent_id))
    if row is None:
        raise AgentNotFound("no such agent", agent_id=agent_id)
    return _account(row)


async def fetch_by_login(db: Db, login: str) -> Account | None:
    row = await db.fetchrow(_SELECT + " WHERE a.username = $1", login)
    return None if row is None else _account(row)


@dataclass(frozen=True)
class AgentFilter:
    """Which accounts a list shows; None: any."""

    search: str | None = None  # in login, display name or email
    team_id: str | None = None
    skill: str | None = None
    role: str | None = None
    active: bool | None = True
    agent_ids: frozenset[str] | None = None  # the caller's scope; None: everyone


async def search(db: Db, f: AgentFilter, window: Window) -> tuple[Page[Account], int]:
    """A page of accounts in login order (by cursor or offset), and how many match in all."""
    where, args = ["TRUE"], []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.search:
        escaped = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = arg(f"%{escaped}%")
        where.append(f"(a.username ILIKE {like} OR a.display_name ILIKE {like}"
                     f" OR a.email ILIKE {like})")  # fmt: skip
    if f.team_id is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM team_members m WHERE m.agent_id = a.id"
            f" AND m.team_id = {arg(uuid.UUID(f.team_id))})"
        )
    if f.skill is not None:
        where.append(f"a.skills ? {arg(f.skill)}")
    if f.role is not None:
        where.append(f"a.role = {arg(f.role)}")
    if f.active is not None:
        where.append(f"a.active = {arg(f.active)}")
    if f.agent_ids is not None:
        where.append(f"a.id = ANY({arg([uuid.UUID(i) for i in f.agent_ids])}::uuid[])")
    clause = " WHERE " + " AND ".join(where)
    total = await db.fetchval("SELECT count(*) FROM agents a" + clause, *args)
    after = window.after(str)
    if after is not None:
        clause += f" AND a.username > {arg(after[0])}"
    rows = await db.fetch(
        _SELECT + clause + f" ORDER BY a.username LIMIT {arg(window.limit + 1)}"
        f" OFFSET {arg(window.offset or 0)}",
        *args,
    )
    page = window.page([_account(r) for r in rows], lambda a: (a.login,))
    return page, int(total)


async def insert(
    conn: asyncpg.Connection,
    *,
    login: str,
    display_name: str,
    role: str,
    email: str | None,
    password_hash: str,
    must_change_password: bool,
    skills: Mapping[str, int],
    languages: Sequence[str],
    capacity: Mapping[str, int],
    voice_blocks_chat: bool,
    voice_to: str,
) -> str:
    agent_id = uuid.uuid4()
    try:
        await conn.execute(
            "INSERT INTO agents (id, username, display_name, role, email, password_hash,"
            " must_change_password, skills, chat_capacity, languages, capacity,"
            " voice_blocks_chat, voice_to)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11::jsonb, $12, $13)",
            agent_id,
            login,
            display_name,
            role,
            email,
            password_hash,
            must_change_password,
            json.dumps(dict(skills)),
            capacity.get("chat", DEFAULT_CAPACITY["chat"]),
            list(languages),
            json.dumps(dict(capacity)),
            voice_blocks_chat,
            voice_to,
        )
    except asyncpg.UniqueViolationError:
        raise LoginTaken("this login is taken", field="login", login=login) from None
    return str(agent_id)


# Columns an update may set, from the API's names.
_COLUMNS = {
    "display_name": ("display_name", None),
    "role": ("role", None),
    "email": ("email", None),
    "skills": ("skills", "::jsonb"),
    "languages": ("languages", None),
    "capacity": ("capacity", "::jsonb"),
    "voice_blocks_chat": ("voice_blocks_chat", None),
    "voice_to": ("voice_to", None),
    "active": ("active", None),
}


async def update(conn: asyncpg.Connection, agent_id: str, changes: Mapping[str, Any]) -> None:
    """Set the given fields (names as the API has them); `capacity` also sets chat_capacity,
    which older code reads."""
    sets, args = ["updated_at = now()"], [agent_uuid(agent_id)]
    for name, value in changes.items():
        column, cast = _COLUMNS[name]
        if name in ("skills", "capacity"):
            value = json.dumps(value)
        args.append(value)
        sets.append(f"{column} = ${len(args)}{cast or ''}")
        if name == "capacity" and "chat" in changes["capacity"]:
            args.append(changes["capacity"]["chat"])
            sets.append(f"chat_capacity = ${len(args)}")
    await conn.execute(f"UPDATE agents SET {', '.join(sets)} WHERE id = $1", *args)


async def set_password(
    conn: asyncpg.Connection, agent_id: str, password_hash: str, *, must_change: bool
) -> None:
    await conn.execute(
        "UPDATE agents SET password_hash = $2, must_change_password = $3, updated_at = now()"
        " WHERE id = $1",
        agent_uuid(agent_id),
        password_hash,
        must_change,
    )


async def end_sessions(conn: asyncpg.Connection, agent_id: str) -> list[str]:
    """Delete the agent's sessions; returns their token hashes (to close their consoles)."""
    rows = await conn.fetch(
        "DELETE FROM sessions WHERE agent_id = $1 RETURNING token_hash", agent_uuid(agent_id)
    )
    return [r["token_hash"] for r in rows]
