"""Agents' accounts and login sessions.

Passwords are hashed with argon2id (argon2-cffi). A login returns a random token; only its
SHA-256 is stored, with an expiry. Hashing is CPU work, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contactcenter.core.errors import AccountDeactivated, BadCredentials
from routing.model import DEFAULT_CAPACITY

_hasher = PasswordHasher()
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

ROLES = ("agent", "supervisor", "admin")


async def hash_password(password: str) -> str:
    """argon2id, off the event loop (it is CPU work by design)."""
    return await asyncio.to_thread(_hasher.hash, password)


@dataclass(frozen=True)
class Principal:
    """Who is behind a session."""

    agent_id: str
    username: str
    display_name: str
    role: str
    skills: dict[str, int] = field(default_factory=dict)
    chat_capacity: int = 3
    languages: tuple[str, ...] = ()
    capacity: dict[str, int] = field(default_factory=dict)
    voice_blocks_chat: bool = True
    # Set by an administrator's one-time password: until the agent chooses their own, the
    # session serves nothing but changing it (contactcenter/web/http.py).
    must_change_password: bool = False

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")

    def public(self) -> dict[str, str | bool]:
        return {
            "agent_id": self.agent_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "must_change_password": self.must_change_password,
        }


def session_hash(token: str) -> str:
    """What names a session in storage and in events: the SHA-256 of its token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def _principal(row: asyncpg.Record) -> Principal:
    capacity = {**DEFAULT_CAPACITY, "chat": row["chat_capacity"], **_json(row["capacity"])}
    return Principal(
        agent_id=str(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        skills=_json(row["skills"]),
        chat_capacity=row["chat_capacity"],
        languages=tuple(row["languages"] or ()),
        capacity=capacity,
        voice_blocks_chat=row["voice_blocks_chat"],
        must_change_password=row["must_change_password"],
    )


class AgentStore:
    def __init__(self, pool: asyncpg.Pool, *, session_ttl_h: float = 12.0) -> None:
        self.pool = pool
        self.session_ttl = timedelta(hours=session_ttl_h)

    async def create_agent(
        self,
        username: str,
        password: str,
        *,
        display_name: str,
        role: str = "agent",
        skills: dict[str, int] | None = None,
        chat_capacity: int = 3,
        languages: tuple[str, ...] = (),
    ) -> str:
        """Create the agent if the username is free; returns the agent id either way."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        pw_hash = await asyncio.to_thread(_hasher.hash, password)
        row = await self.pool.fetchrow(
            "INSERT INTO agents (id, username, display_name, role, password_hash, skills,"
            " chat_capacity, languages) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)"
            " ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING id",
            uuid.uuid4(),
            username,
            display_name,
            role,
            pw_hash,
            json.dumps(skills or {}),
            chat_capacity,
            list(languages),
        )
        assert row is not None
        return str(row["id"])

    async def login(self, username: str, password: str) -> tuple[str, Principal]:
        """A new session token for valid credentials; `BadCredentials` otherwise."""
        row = await self.pool.fetchrow("SELECT * FROM agents WHERE username = $1", username)
        stored = row["password_hash"] if row else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            raise BadCredentials("unknown username or wrong password") from None
        if row is None:
            raise BadCredentials("unknown username or wrong password")
        if not row["active"]:  # the right password: saying so tells nothing new
            raise AccountDeactivated("this account is deactivated")
        token = secrets.token_urlsafe(32)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sessions (token_hash, agent_id, expires_at) VALUES ($1, $2, $3)",
                session_hash(token),
                row["id"],
                datetime.now(UTC) + self.session_ttl,
            )
            await conn.execute("UPDATE agents SET last_login_at = now() WHERE id = $1", row["id"])
        return token, _principal(row)

    async def check_password(self, agent_id: str, password: str) -> bool:
        """Whether `password` is the agent's (as slow as a login either way)."""
        row = await self.pool.fetchrow(
            "SELECT password_hash FROM agents WHERE id = $1", uuid.UUID(agent_id)
        )
        try:
            await asyncio.to_thread(
                _hasher.verify, row["password_hash"] if row else _DUMMY_HASH, password
            )
        except (VerificationError, InvalidHashError):
            return False
        return row is not None

    async def authenticate(self, token: str) -> Principal | None:
        row = await self.pool.fetchrow(
            "SELECT a.* FROM sessions s JOIN agents a ON a.id = s.agent_id"
            " WHERE s.token_hash = $1 AND s.expires_at > now() AND a.active",
            session_hash(token),
        )
        return _principal(row) if row else None

    async def session_alive(self, token_hash: str) -> bool:
        """Whether the session named by `token_hash` still exists and has not expired."""
        found = await self.pool.fetchval(
            "SELECT 1 FROM sessions WHERE token_hash = $1 AND expires_at > now()", token_hash
        )
        return found is not None

    async def logout(self, token: str) -> str | None:
        """End the session; returns its agent's id, or None when there was no such session."""
        agent_id = await self.pool.fetchval(
            "DELETE FROM sessions WHERE token_hash = $1 RETURNING agent_id", session_hash(token)
        )
        return None if agent_id is None else str(agent_id)

    async def all(self) -> list[Principal]:
        return [_principal(r) for r in await self.pool.fetch("SELECT * FROM agents ORDER BY id")]

    async def by_username(self, username: str) -> Principal | None:
        row = await self.pool.fetchrow("SELECT * FROM agents WHERE username = $1", username)
        return _principal(row) if row else None

    async def get(self, agent_id: str) -> Principal | None:
        row = await self.pool.fetchrow("SELECT * FROM agents WHERE id = $1", uuid.UUID(agent_id))
        return _principal(row) if row else None
