"""The audit log (docs/admin.md, "Audit"): every administrative change, who made it, what it
changed, before and after, when. Written in the transaction of the change it records, so
that there is never a change without its entry, nor an entry without its change."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from contactcenter.web.auth import Principal


@dataclass(frozen=True)
class Actor:
    """Who made a change: an agent's session, or an operator's command line (no agent)."""

    agent_id: str | None
    name: str

    @classmethod
    def of(cls, who: Principal) -> Actor:
        return cls(who.agent_id, who.username)


CLI = Actor(None, "cli")
SYSTEM = Actor(None, "system")


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    target_kind: str,
    target_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, actor, action, target_kind, target_id, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)",
        None if actor.agent_id is None else uuid.UUID(actor.agent_id),
        actor.name,
        action,
        target_kind,
        target_id,
        None if before is None else json.dumps(before),
        None if after is None else json.dumps(after),
    )


def _entry(row: asyncpg.Record) -> dict[str, Any]:
    def doc(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    return {
        "id": row["id"],
        "at_ms": int(row["at"].timestamp() * 1000),
        "actor_id": None if row["actor_id"] is None else str(row["actor_id"]),
        "actor": row["actor"],
        "action": row["action"],
        "target_kind": row["target_kind"],
        "target_id": row["target_id"],
        "before": doc(row["before"]),
        "after": doc(row["after"]),
    }


async def entries(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    target_kind: str | None,
    target_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The newest entries first, optionally for one target, before entry `before_id`."""
    rows = await db.fetch(
        "SELECT * FROM audit_log WHERE ($1::text IS NULL OR target_kind = $1)"
        " AND ($2::text IS NULL OR target_id = $2) AND ($3::bigint IS NULL OR id < $3)"
        " ORDER BY id DESC LIMIT $4",
        target_kind,
        target_id,
        before_id,
        limit,
    )
    return [_entry(r) for r in rows]
