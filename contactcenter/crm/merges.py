"""Merging two customers into one, and undoing it exactly.

A merge moves everything of the merged customer (identities, contacts, orders, cases, notes,
tags) to the survivor in one transaction, fills the survivor's empty profile fields from the
merged one, sets `merged_into`, and records in `customer_merges.moved` what moved, table by
table (ids; for identities and tags the survivor also held, the rows dropped), so that
`unmerge` puts exactly those rows back. The automatic merge is `contactcenter.crm.merge_reviews`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.customers import (
    CustomerMerged,
    CustomerNotFound,
    as_uuid,
    lock_identities,
    optional_str,
)
from contactcenter.crm.store import dt_to_ms

log = structlog.get_logger("contactcenter.crm.merges")

# Tables whose rows belong to a customer by `customer_id` and move wholesale in a merge.
MOVED_TABLES = ("contacts", "orders", "cases", "customer_notes")
# Profile fields a merge fills on the survivor when its own is empty.
FILLED_FIELDS = ("display_name", "language", "tier_by_hand", "account_manager")


class SameCustomer(InvalidInput):
    error_id = "merge.same_customer"


class MergeNotFound(NotFound):
    error_id = "merge.not_found"


class MergeAlreadyUndone(Conflict):
    error_id = "merge.already_undone"


class SurvivorMerged(Conflict):
    """The merge's survivor was merged into another customer since: undo that merge first."""

    error_id = "merge.survivor_merged"


@dataclass(frozen=True)
class Merge:
    merge_id: str
    survivor_id: str
    merged_id: str
    actor_id: str | None  # None: an automatic merge
    reason: str
    moved: dict[str, Any]
    created_at_ms: int
    undone_at_ms: int | None
    undone_by: str | None

    def wire(self) -> dict[str, Any]:
        counts = {t: len(self.moved.get(t, ())) for t in (*MOVED_TABLES, "identities")}
        counts["tags"] = len(self.moved.get("tags", {}).get("moved", ()))
        return {
            "merge_id": self.merge_id,
            "survivor_id": self.survivor_id,
            "merged_id": self.merged_id,
            "actor_id": self.actor_id,
            "reason": self.reason,
            "moved": counts,
            "created_at_ms": self.created_at_ms,
            "undone_at_ms": self.undone_at_ms,
            "undone_by": self.undone_by,
        }


def ms_or_none(at: Any) -> int | None:
    return None if at is None else dt_to_ms(at)


def _merge(row: asyncpg.Record) -> Merge:
    return Merge(
        merge_id=str(row["id"]),
        survivor_id=str(row["survivor_id"]),
        merged_id=str(row["merged_id"]),
        actor_id=optional_str(row["actor_id"]),
        reason=row["reason"],
        moved=json.loads(row["moved"]),
        created_at_ms=dt_to_ms(row["created_at"]),
        undone_at_ms=ms_or_none(row["undone_at"]),
        undone_by=optional_str(row["undone_by"]),
    )


class MergeStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def merge(
        self, survivor_id: str, merged_id: str, *, actor_id: str | None, reason: str
    ) -> Merge:
        """Fold `merged_id` into `survivor_id`, in one transaction. Neither may have been
        merged already (`CustomerMerged`)."""
        survivor, merged = as_uuid(survivor_id), as_uuid(merged_id)
        if survivor == merged:
            raise SameCustomer("a customer cannot be merged into itself")
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await lock_customers(conn, survivor, merged)
            for row in rows.values():
                if row["merged_into"] is not None:
                    raise CustomerMerged(
                        "the customer was merged already",
                        customer_id=str(row["id"]),
                        merged_into=str(row["merged_into"]),
                    )
            return await merge_locked(conn, rows[survivor], rows[merged], actor_id, reason)

    async def get(self, merge_id: str) -> Merge:
        row = await self.pool.fetchrow(
            "SELECT * FROM customer_merges WHERE id = $1", as_uuid(merge_id, "merge")
        )
        if row is None:
            raise MergeNotFound("no such merge", merge_id=merge_id)
        return _merge(row)

    async def unmerge(self, merge_id: str, *, actor_id: str | None) -> Merge:
        """Move back exactly what the merge moved (rows deleted since stay deleted; rows added
        to the survivor since stay with it) and make the merged customer live again."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM customer_merges WHERE id = $1 FOR UPDATE",
                as_uuid(merge_id, "merge"),
            )
            if row is None:
                raise MergeNotFound("no such merge", merge_id=merge_id)
            if row["undone_at"] is not None:
                raise MergeAlreadyUndone(
                    "the merge was undone already",
                    merge_id=merge_id,
                    undone_at_ms=dt_to_ms(row["undone_at"]),
                )
            survivor, merged = row["survivor_id"], row["merged_id"]
            rows = await lock_customers(conn, survivor, merged)
            if rows[survivor]["merged_into"] is not None:
                raise SurvivorMerged(
                    "the survivor was merged since; undo that merge first",
                    merged_into=str(rows[survivor]["merged_into"]),
                )
            moved = json.loads(row["moved"])
            await _move_back(conn, survivor, merged, moved, rows[survivor])
            undone = await conn.fetchrow(
                "UPDATE customer_merges SET undone_at = now(), undone_by = $2 WHERE id = $1"
                " RETURNING *",
                row["id"],
                as_uuid(actor_id, "agent") if actor_id else None,
            )
        log.info(
            "customers_unmerged",
            merge_id=merge_id,
            survivor_id=str(survivor),
            merged_id=str(merged),
        )
        return _merge(undone)


async def lock_customers(
    conn: asyncpg.Connection, *ids: uuid.UUID
) -> dict[uuid.UUID, asyncpg.Record]:
    # The orders table first, in the mode order writes take, then the customers: a full
    # recompute locks orders before it updates customers, so taking them in that order too
    # keeps a merge and a recompute from deadlocking (one waits for the other instead).
    await conn.execute("LOCK TABLE orders IN ROW EXCLUSIVE MODE")
    # NO KEY UPDATE: rows elsewhere that reference these customers may still be written.
    rows = await conn.fetch(
        "SELECT * FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE",
        list(ids),
    )
    found = {r["id"]: r for r in rows}
    for cid in ids:
        if cid not in found:
            raise CustomerNotFound("no such customer", customer_id=str(cid))
    return found


async def merge_locked(
    conn: asyncpg.Connection,
    survivor: asyncpg.Record,
    merged: asyncpg.Record,
    actor_id: str | None,
    reason: str,
) -> Merge:
    s, m = survivor["id"], merged["id"]
    moved: dict[str, Any] = {"identities": await _move_identities(conn, s, m)}
    for table in MOVED_TABLES:
        rows = await conn.fetch(
            f"UPDATE {table} SET customer_id = $1 WHERE customer_id = $2 RETURNING id", s, m
        )
        moved[table] = [str(r["id"]) for r in rows]
    dropped = await conn.fetch(
        "DELETE FROM customer_tags m USING customer_tags s WHERE m.customer_id = $2"
        " AND s.customer_id = $1 AND s.tag = m.tag RETURNING m.tag, m.created_at::text",
        s,
        m,
    )
    tags = await conn.fetch(
        "UPDATE customer_tags SET customer_id = $1 WHERE customer_id = $2 RETURNING tag", s, m
    )
    moved["tags"] = {"moved": [r["tag"] for r in tags], "dropped": [list(r) for r in dropped]}
    moved["profile"] = await _fill_profile(conn, survivor, merged)
    await conn.execute(
        "UPDATE customers SET merged_into = $1, updated_at = now() WHERE id = $2", s, m
    )
    row = await conn.fetchrow(
        "INSERT INTO customer_merges (id, survivor_id, merged_id, actor_id, reason, moved)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *",
        uuid.uuid4(),
        s,
        m,
        as_uuid(actor_id, "agent") if actor_id else None,
        reason,
        json.dumps(moved),
    )
    done = _merge(row)
    log.info(
        "customers_merged",
        merge_id=done.merge_id,
        survivor_id=str(s),
        merged_id=str(m),
        automatic=actor_id is None,
        contacts=len(moved["contacts"]),
    )
    return done


# (kind, value) among the pairs given as two arrays, $n and $n+1.
def _pairs(n: int) -> str:
    return f"(kind, value) IN (SELECT * FROM unnest(${n}::text[], ${n + 1}::text[]))"


def _columns(rows: list[Any]) -> tuple[list[str], list[str]]:
    return [r["kind"] for r in rows], [r["value"] for r in rows]


async def _move_identities(
    conn: asyncpg.Connection, s: uuid.UUID, m: uuid.UUID
) -> list[dict[str, Any]]:
    """Move the merged customer's identities; one the survivor holds too is dropped (and, if
    it was the primary holding, the survivor's becomes primary)."""
    rows = await conn.fetch(
        "SELECT m.kind, m.value, m.is_primary, m.created_at::text AS created_at,"
        " s.customer_id IS NOT NULL AS dropped FROM identities m LEFT JOIN identities s"
        " ON s.kind = m.kind AND s.value = m.value AND s.customer_id = $1"
        " WHERE m.customer_id = $2 ORDER BY m.kind, m.value",
        s,
        m,
    )
    await lock_identities(conn, [(r["kind"], r["value"]) for r in rows])
    dropped = [r for r in rows if r["dropped"]]
    await conn.execute(
        f"DELETE FROM identities WHERE customer_id = $1 AND {_pairs(2)}", m, *_columns(dropped)
    )
    await conn.execute(
        f"UPDATE identities SET customer_id = $1 WHERE customer_id = $2 AND {_pairs(3)}",
        s,
        m,
        *_columns([r for r in rows if not r["dropped"]]),
    )
    await conn.execute(
        f"UPDATE identities SET is_primary = true WHERE customer_id = $1 AND {_pairs(2)}",
        s,
        *_columns([r for r in dropped if r["is_primary"]]),
    )
    return [dict(r) for r in rows]


async def _restore_identities(
    conn: asyncpg.Connection, s: uuid.UUID, m: uuid.UUID, moved: list[dict[str, Any]]
) -> None:
    await lock_identities(conn, [(i["kind"], i["value"]) for i in moved])
    dropped = [i for i in moved if i["dropped"]]
    await conn.execute(
        f"UPDATE identities SET customer_id = $1 WHERE customer_id = $2 AND {_pairs(3)}",
        m,
        s,
        *_columns([i for i in moved if not i["dropped"]]),
    )
    # The survivor's holding was made primary by the merge: it gives that back.
    await conn.execute(
        f"UPDATE identities SET is_primary = false WHERE customer_id = $1 AND is_primary"
        f" AND {_pairs(2)}",
        s,
        *_columns([i for i in dropped if i["is_primary"]]),
    )
    await conn.execute(
        "INSERT INTO identities (kind, value, customer_id, is_primary, created_at)"
        " SELECT k, v, $1, p AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.kind = k"
        " AND i.value = v AND i.is_primary), at::timestamptz"
        " FROM unnest($2::text[], $3::text[], $4::bool[], $5::text[]) t(k, v, p, at)"
        " ON CONFLICT DO NOTHING",
        m,
        *_columns(dropped),
        [i["is_primary"] for i in dropped],
        [i["created_at"] for i in dropped],
    )


async def _fill_profile(
    conn: asyncpg.Connection, survivor: asyncpg.Record, merged: asyncpg.Record
) -> dict[str, dict[str, str | None]]:
    """Fill the survivor's empty profile fields from the merged customer's; returns what
    changed, before and after, so that an undo can put it back."""
    changed = {
        f: {"before": optional_str(survivor[f]), "after": str(merged[f])}
        for f in FILLED_FIELDS
        if not survivor[f] and merged[f]
    }
    await _set_profile(conn, survivor["id"], {f: v["after"] for f, v in changed.items()})
    return changed


async def _set_profile(
    conn: asyncpg.Connection, cid: uuid.UUID, values: dict[str, str | None]
) -> None:
    if not values:
        return
    sets = ", ".join(
        f"{f} = ${i + 2}::text{'::uuid' if f == 'account_manager' else ''}"
        for i, f in enumerate(values)
    )
    await conn.execute(
        f"UPDATE customers SET {sets}, updated_at = now() WHERE id = $1", cid, *values.values()
    )


async def _move_back(
    conn: asyncpg.Connection,
    s: uuid.UUID,
    m: uuid.UUID,
    moved: dict[str, Any],
    survivor: asyncpg.Record,
) -> None:
    for table in MOVED_TABLES:
        await conn.execute(
            f"UPDATE {table} SET customer_id = $1 WHERE customer_id = $2 AND id = ANY($3::uuid[])",
            m,
            s,
            moved[table],
        )
    await conn.execute(
        "UPDATE customer_tags SET customer_id = $1 WHERE customer_id = $2"
        " AND tag = ANY($3::text[])",
        m,
        s,
        moved["tags"]["moved"],
    )
    await conn.execute(
        "INSERT INTO customer_tags (customer_id, tag, created_at) SELECT $1, t, at::timestamptz"
        " FROM unnest($2::text[], $3::text[]) x(t, at) ON CONFLICT DO NOTHING",
        m,
        [t for t, _ in moved["tags"]["dropped"]],
        [at for _, at in moved["tags"]["dropped"]],
    )
    await _restore_identities(conn, s, m, moved["identities"])
    # Profile fields the merge filled go back, unless someone has changed them since.
    await _set_profile(
        conn,
        s,
        {
            f: v["before"]
            for f, v in moved["profile"].items()
            if optional_str(survivor[f]) == v["after"]
        },
    )
    await conn.execute(
        "UPDATE customers SET merged_into = NULL, updated_at = now() WHERE id = $1", m
    )
