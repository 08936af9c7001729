"""Cases: complaints and requests, recorded, owned, tracked to a due time, and closed.

A case belongs to a customer (a merged customer's cases move to its survivor) and may be
linked to the contacts it came up in. Open means status open or pending; resolved and closed
cases carry `closed_at`. Routing asks `has_open_complaint` to serve a complaining customer
first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.customers import UnknownAgentRef, as_uuid, optional_str, survivor_of
from contactcenter.crm.store import dt_to_ms, ms_to_dt
from contactcenter.web.pagination import FIRST_PAGE, Page, Window

log = structlog.get_logger("contactcenter.crm.cases")

KINDS = ("complaint", "request")
STATUSES = ("open", "pending", "resolved", "closed")
OPEN_STATUSES = ("open", "pending")
PRIORITIES = ("low", "normal", "high", "urgent")
UPDATABLE = ("status", "priority", "owner_id", "due_at_ms", "subject")


class CaseNotFound(NotFound):
    error_id = "case.not_found"


class InvalidCase(InvalidInput):
    error_id = "case.invalid"


class ContactNotFound(NotFound):
    error_id = "contact.not_found"


class ContactOfAnotherCustomer(Conflict):
    """A case is linked only to contacts of its own customer."""

    error_id = "case.contact_of_another_customer"


@dataclass(frozen=True)
class Case:
    case_id: str
    customer_id: str
    kind: str
    subject: str
    status: str
    priority: str
    owner_id: str | None
    due_at_ms: int | None
    created_by: str | None
    created_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None
    contact_ids: tuple[str, ...]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def wire(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "customer_id": self.customer_id,
            "kind": self.kind,
            "subject": self.subject,
            "status": self.status,
            "priority": self.priority,
            "owner_id": self.owner_id,
            "due_at_ms": self.due_at_ms,
            "created_by": self.created_by,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "closed_at_ms": self.closed_at_ms,
            "contact_ids": list(self.contact_ids),
        }


def _ms(at: datetime | None) -> int | None:
    return None if at is None else dt_to_ms(at)


def _case(row: asyncpg.Record) -> Case:
    return Case(
        case_id=str(row["id"]),
        customer_id=str(row["customer_id"]),
        kind=row["kind"],
        subject=row["subject"],
        status=row["status"],
        priority=row["priority"],
        owner_id=optional_str(row["owner_id"]),
        due_at_ms=_ms(row["due_at"]),
        created_by=optional_str(row["created_by"]),
        created_at_ms=dt_to_ms(row["created_at"]),
        updated_at_ms=dt_to_ms(row["updated_at"]),
        closed_at_ms=_ms(row["closed_at"]),
        contact_ids=tuple(row["contact_ids"]),
    )


_SELECT = (
    "SELECT c.*, coalesce((SELECT array_agg(l.contact_id::text ORDER BY l.contact_id)"
    " FROM case_contacts l WHERE l.case_id = c.id), '{}') AS contact_ids FROM cases c"
)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidCase(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


def _agent(agent_id: str | None) -> uuid.UUID | None:
    return as_uuid(agent_id, "agent") if agent_id else None


class CaseStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def open_case(
        self,
        customer_id: str,
        kind: str,
        subject: str,
        *,
        priority: str = "normal",
        owner_id: str | None = None,
        due_at_ms: int | None = None,
        created_by: str | None = None,
        contact_ids: Iterable[str] = (),
    ) -> Case:
        """Record a complaint or a request for the customer (its survivor if merged), linked
        to `contact_ids` (contacts of that customer)."""
        _check("kind", kind, KINDS)
        _check("priority", priority, PRIORITIES)
        case_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            cid = await survivor_of(conn, customer_id)
            try:
                await conn.execute(
                    "INSERT INTO cases (id, customer_id, kind, subject, priority, owner_id,"
                    " due_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    case_id,
                    cid,
                    kind,
                    subject,
                    priority,
                    _agent(owner_id),
                    None if due_at_ms is None else ms_to_dt(due_at_ms),
                    _agent(created_by),
                )
            except asyncpg.ForeignKeyViolationError:
                raise UnknownAgentRef("no such agent", field="owner_id") from None
            for contact_id in contact_ids:
                await _link(conn, case_id, cid, contact_id)
            case = await _get(conn, case_id)
        log.info("case_opened", case_id=case.case_id, customer_id=case.customer_id, kind=kind)
        return case

    async def get(self, case_id: str) -> Case:
        async with self.pool.acquire() as conn:
            return await _get(conn, as_uuid(case_id, "case"))

    async def update(self, case_id: str, changes: Mapping[str, Any]) -> Case:
        """Change status, priority, owner_id, due_at_ms or subject. Resolving or closing sets
        `closed_at`; reopening clears it."""
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise InvalidCase("these fields cannot be set", fields=sorted(unknown))
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "status":
                values["status"] = _check("status", value, STATUSES)
            elif name == "priority":
                values["priority"] = _check("priority", value, PRIORITIES)
            elif name == "owner_id":
                values["owner_id"] = _agent(value)
            elif name == "due_at_ms":
                values["due_at"] = None if value is None else ms_to_dt(value)
            else:
                values[name] = value
        sets = [f"{n} = ${i + 2}" for i, n in enumerate(values)]
        if "status" in values:
            closing = values["status"] not in OPEN_STATUSES
            sets.append("closed_at = " + ("coalesce(closed_at, now())" if closing else "NULL"))
        cid = as_uuid(case_id, "case")
        try:
            found = await self.pool.fetchval(
                f"UPDATE cases SET {', '.join([*sets, 'updated_at = now()'])} WHERE id = $1"
                " RETURNING true",
                cid,
                *values.values(),
            )
        except asyncpg.ForeignKeyViolationError:
            raise UnknownAgentRef("no such agent", field="owner_id") from None
        if not found:
            raise CaseNotFound("no such case", case_id=case_id)
        return await self.get(case_id)

    async def link_contact(self, case_id: str, contact_id: str) -> Case:
        """Link a contact of the case's customer to the case (linking twice is no error)."""
        async with self.pool.acquire() as conn, conn.transaction():
            case = await _get(conn, as_uuid(case_id, "case"))
            await _link(conn, uuid.UUID(case.case_id), uuid.UUID(case.customer_id), contact_id)
            return await _get(conn, uuid.UUID(case.case_id))

    async def for_customer(
        self, customer_id: str, *, open_only: bool = False, window: Window = FIRST_PAGE
    ) -> Page[Case]:
        """The customer's cases, newest first."""
        cid = await survivor_of(self.pool, customer_id)
        after = window.after(datetime, uuid.UUID) or [None, None]
        rows = await self.pool.fetch(
            f"{_SELECT} WHERE c.customer_id = $1"
            " AND (NOT $2 OR c.status IN ('open', 'pending'))"
            " AND ($3::timestamptz IS NULL OR (c.created_at, c.id) < ($3, $4::uuid))"
            " ORDER BY c.created_at DESC, c.id DESC LIMIT $5 OFFSET $6",
            cid,
            open_only,
            *after,
            window.limit + 1,
            window.offset or 0,
        )
        return window.page(rows, lambda r: (r["created_at"], r["id"])).map(_case)

    async def has_open_complaint(self, customer_id: str) -> bool:
        """Whether the customer has a complaint open or pending (one index probe)."""
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE customer_id = $1"
                " AND status IN ('open', 'pending') AND kind = 'complaint')",
                as_uuid(customer_id),
            )
        )


async def _get(conn: asyncpg.Connection, case_id: uuid.UUID) -> Case:
    row = await conn.fetchrow(f"{_SELECT} WHERE c.id = $1", case_id)
    if row is None:
        raise CaseNotFound("no such case", case_id=str(case_id))
    return _case(row)


async def _link(
    conn: asyncpg.Connection, case_id: uuid.UUID, customer_id: uuid.UUID, contact_id: str
) -> None:
    owner = await conn.fetchval(
        "SELECT customer_id FROM contacts WHERE id = $1", as_uuid(contact_id, "contact")
    )
    if owner is None:
        raise ContactNotFound("no such contact", contact_id=contact_id)
    if owner != customer_id:
        raise ContactOfAnotherCustomer(
            "the contact belongs to another customer", contact_id=contact_id
        )
    await conn.execute(
        "INSERT INTO case_contacts (case_id, contact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        case_id,
        uuid.UUID(contact_id),
    )
