"""The automatic merge and its review list.

When one contact shows that two customers are one (the email of one and the phone of the
other, say), `auto_merge` merges them if that is safe, and otherwise puts the pair on the
review list for a supervisor to decide. The rules are in docs/crm.md ("Automatic merges");
`conflicts` and `choose_survivor` are their code.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.customers import CustomerMerged, as_uuid, optional_str, survivor_of
from contactcenter.crm.merges import Merge, lock_customers, merge_locked, ms_or_none
from contactcenter.crm.store import dt_to_ms
from contactcenter.web.pagination import FIRST_PAGE, Page, Window

log = structlog.get_logger("contactcenter.crm.merge_reviews")


class ReviewNotFound(NotFound):
    error_id = "review.not_found"


class ReviewDecided(Conflict):
    error_id = "review.decided"


class SurvivorNotInReview(InvalidInput):
    error_id = "review.survivor_not_in_pair"


@dataclass(frozen=True)
class Review:
    review_id: str
    customer_a: str
    customer_b: str
    reason: str
    evidence: dict[str, Any]
    status: str  # pending, merged, dismissed
    created_at_ms: int
    decided_at_ms: int | None
    decided_by: str | None

    def wire(self) -> dict[str, Any]:
        return {
            "review_id": self.review_id,
            "customer_a": self.customer_a,
            "customer_b": self.customer_b,
            "reasons": self.reason.split(","),
            "evidence": self.evidence,
            "status": self.status,
            "created_at_ms": self.created_at_ms,
            "decided_at_ms": self.decided_at_ms,
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class AutoMerge:
    """What `auto_merge` did: "merged", "review" (conflicts: a person decides), "same" (one
    customer already), or "dismissed" (a person already said these are two customers)."""

    outcome: str
    conflicts: tuple[str, ...] = ()
    merge: Merge | None = None
    review: Review | None = None


def _review(row: asyncpg.Record) -> Review:
    return Review(
        review_id=str(row["id"]),
        customer_a=str(row["customer_a"]),
        customer_b=str(row["customer_b"]),
        reason=row["reason"],
        evidence=json.loads(row["evidence"]),
        status=row["status"],
        created_at_ms=dt_to_ms(row["created_at"]),
        decided_at_ms=ms_or_none(row["decided_at"]),
        decided_by=optional_str(row["decided_by"]),
    )


# What the automatic merge weighs, for each of two customers ($1: their ids).
_FACTS = """
SELECT c.id, c.display_name, c.account_manager, c.created_at,
    EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AS has_orders,
    EXISTS (SELECT 1 FROM identities i JOIN identities o ON o.kind = i.kind
            AND o.value = i.value AND o.customer_id <> i.customer_id
            WHERE i.customer_id = c.id) AS has_shared,
    EXISTS (SELECT 1 FROM customer_merges m WHERE m.undone_at IS NOT NULL
            AND ARRAY[m.survivor_id, m.merged_id] <@ $1::uuid[]) AS undone_before
FROM customers c WHERE c.id = ANY($1::uuid[]) ORDER BY c.id
"""


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def conflicts(a: asyncpg.Record, b: asyncpg.Record) -> list[str]:
    """Why two customers must not be merged without a person deciding (docs/crm.md)."""
    found = []
    if a["has_orders"] and b["has_orders"]:
        found.append("both_have_orders")
    if a["display_name"].strip() and b["display_name"].strip():
        if not _same_name(a["display_name"], b["display_name"]):
            found.append("different_names")
    if a["has_shared"] or b["has_shared"]:
        found.append("shared_identity")
    managers = {a["account_manager"], b["account_manager"]}
    if None not in managers and len(managers) == 2:
        found.append("different_account_managers")
    if a["undone_before"]:
        found.append("merge_undone_before")
    return found


def choose_survivor(a: asyncpg.Record, b: asyncpg.Record) -> tuple[uuid.UUID, uuid.UUID]:
    """(survivor, merged): the one with orders, else with an account manager, else the
    older one (then the smaller id)."""

    def rank(r: asyncpg.Record) -> tuple[bool, bool, Any, str]:
        return (not r["has_orders"], r["account_manager"] is None, r["created_at"], str(r["id"]))

    first, second = sorted((a, b), key=rank)
    return first["id"], second["id"]


class ReviewStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def auto_merge(
        self, a: str, b: str, evidence: dict[str, Any], *, claimed: bool = False
    ) -> AutoMerge:
        """Merge two customers found to be one (say, a contact showed that one's email and
        the other's phone belong together) when that is safe; otherwise put the pair on the
        review list, once per pair while pending. A `claimed` link (what a web visitor
        typed: docs/decisions.md, 10) is never safe: it always goes to the review list, with
        the reason `unverified_claim` first."""
        async with self.pool.acquire() as conn, conn.transaction():
            sa, sb = await survivor_of(conn, a), await survivor_of(conn, b)
            if sa == sb:
                return AutoMerge("same")
            rows = await lock_customers(conn, sa, sb)
            if any(r["merged_into"] is not None for r in rows.values()):
                raise CustomerMerged("a customer was merged meanwhile; try again")
            if await _dismissed(conn, sa, sb):
                return AutoMerge("dismissed")
            facts = await conn.fetch(_FACTS, [sa, sb])
            found = (["unverified_claim"] if claimed else []) + conflicts(facts[0], facts[1])
            if found:
                review = await _add_review(conn, sa, sb, found, evidence)
                return AutoMerge("review", tuple(found), review=review)
            survivor, merged = choose_survivor(facts[0], facts[1])
            reason = f"automatic: {evidence.get('reason', 'same customer')}"
            done = await merge_locked(conn, rows[survivor], rows[merged], None, reason)
            return AutoMerge("merged", merge=done)

    async def reviews(self, status: str = "pending", window: Window = FIRST_PAGE) -> Page[Review]:
        """The review list, oldest first."""
        after = window.after(datetime, uuid.UUID) or [None, None]
        rows = await self.pool.fetch(
            "SELECT * FROM merge_reviews WHERE status = $1"
            " AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))"
            " ORDER BY created_at, id LIMIT $4 OFFSET $5",
            status,
            *after,
            window.limit + 1,
            window.offset or 0,
        )
        return window.page(rows, lambda r: (r["created_at"], r["id"])).map(_review)

    async def decide(
        self,
        review_id: str,
        decision: str,
        *,
        actor_id: str | None,
        survivor_id: str | None = None,
    ) -> tuple[Review, Merge | None]:
        """Settle a pending review: "merge" (into `survivor_id`, else the one the automatic
        rules would keep) or "dismiss" (two customers; the automatic merge leaves them be)."""
        if decision not in ("merge", "dismiss"):
            raise InvalidInput("decision must be merge or dismiss", field="decision")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM merge_reviews WHERE id = $1 FOR UPDATE",
                as_uuid(review_id, "review"),
            )
            if row is None:
                raise ReviewNotFound("no such review", review_id=review_id)
            if row["status"] != "pending":
                raise ReviewDecided(f"the review was {row['status']} already", status=row["status"])
            done = None
            if decision == "merge":
                done = await _merge_reviewed(conn, row, actor_id, survivor_id)
            decided = await conn.fetchrow(
                "UPDATE merge_reviews SET status = $2, decided_at = now(), decided_by = $3"
                " WHERE id = $1 RETURNING *",
                row["id"],
                "merged" if decision == "merge" else "dismissed",
                as_uuid(actor_id, "agent") if actor_id else None,
            )
        return _review(decided), done


async def _dismissed(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID) -> bool:
    """Whether a person dismissed a review between these two customers, or between any
    customers merged into them since."""
    return bool(
        await conn.fetchval(
            "WITH RECURSIVE fold(id, root) AS ("
            " SELECT x, x FROM unnest($1::uuid[]) x"
            " UNION ALL SELECT c.id, f.root FROM customers c JOIN fold f ON c.merged_into = f.id)"
            " SELECT EXISTS (SELECT 1 FROM merge_reviews r"
            " JOIN fold fa ON fa.id = r.customer_a JOIN fold fb ON fb.id = r.customer_b"
            " WHERE r.status = 'dismissed' AND fa.root <> fb.root)",
            [a, b],
        )
    )


async def _add_review(
    conn: asyncpg.Connection,
    a: uuid.UUID,
    b: uuid.UUID,
    reasons: list[str],
    evidence: dict[str, Any],
) -> Review:
    row = await conn.fetchrow(
        "INSERT INTO merge_reviews (id, customer_a, customer_b, reason, evidence)"
        " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT"
        " (LEAST(customer_a, customer_b), GREATEST(customer_a, customer_b))"
        " WHERE status = 'pending' DO NOTHING RETURNING *",
        uuid.uuid4(),
        min(a, b),
        max(a, b),
        ",".join(reasons),
        json.dumps(evidence),
    )
    if row is None:  # pending already: the one review stands
        row = await conn.fetchrow(
            "SELECT * FROM merge_reviews WHERE status = 'pending'"
            " AND LEAST(customer_a, customer_b) = $1 AND GREATEST(customer_a, customer_b) = $2",
            min(a, b),
            max(a, b),
        )
    else:
        log.info("merge_review_added", review_id=str(row["id"]), reasons=reasons)
    return _review(row)


async def _merge_reviewed(
    conn: asyncpg.Connection, review: asyncpg.Record, actor_id: str | None, chosen: str | None
) -> Merge | None:
    sa = await survivor_of(conn, review["customer_a"])
    sb = await survivor_of(conn, review["customer_b"])
    if sa == sb:
        return None
    rows = await lock_customers(conn, sa, sb)
    if chosen is not None:
        survivor = await survivor_of(conn, chosen)
        if survivor not in rows:
            raise SurvivorNotInReview("the survivor must be one of the review's customers")
        merged = sb if survivor == sa else sa
    else:
        facts = await conn.fetch(_FACTS, [sa, sb])
        survivor, merged = choose_survivor(facts[0], facts[1])
    reason = f"review {review['id']}: {review['reason']}"
    return await merge_locked(conn, rows[survivor], rows[merged], actor_id, reason)
