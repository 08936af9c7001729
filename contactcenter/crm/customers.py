"""The customer store: one customer across every channel (docs/crm.md).

An identity (a phone number, an email, a chat visitor id) is stored normalised
(`contactcenter.crm.identity.normalise`) and may be shared: every holder has a row in
`identities`, and exactly one of them is primary, the customer a contact from that identity
resolves to. A customer folded into another by a merge (`contactcenter.crm.merges`) keeps its row,
with `merged_into` set; reading it gives its survivor, and so does every write here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from contactcenter.core.errors import Conflict, InvalidInput, NotFound
from contactcenter.crm.identities import (
    Identity,
    IdentityInUse,
    IdentityNotFound,
    IdentityOps,
    as_uuid,
    lock_identities,
)
from contactcenter.crm.identity import normalise
from contactcenter.crm.store import dt_to_ms
from contactcenter.web.pagination import FIRST_PAGE, Page, Window

log = structlog.get_logger("contactcenter.crm.customers")

MAX_CHAIN = 32  # merges followed from a merged customer to its survivor, at most

# the identity pieces live in contactcenter.crm.identities; their callers import them from here
__all__ = [
    "MAX_CHAIN",
    "SURVIVOR_CTE",
    "Customer",
    "CustomerMerged",
    "CustomerNotFound",
    "CustomerStore",
    "Identity",
    "IdentityInUse",
    "IdentityNotFound",
    "Resolution",
    "UnknownAgentRef",
    "as_uuid",
    "lock_identities",
    "optional_str",
    "survivor_of",
]


class CustomerNotFound(NotFound):
    error_id = "customer.not_found"


class CustomerMerged(Conflict):
    """The customer was folded into another; `details.merged_into` names it."""

    error_id = "customer.merged"


class UnknownAgentRef(InvalidInput):
    error_id = "agent.unknown"


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    customer_id: str
    display_name: str
    language: str | None
    tier: str | None
    tier_by_hand: str | None
    value_amount: str  # in the base currency, as a decimal string
    lifecycle: str
    account_manager_id: str | None
    created_at_ms: int
    updated_at_ms: int
    identities: tuple[Identity, ...]
    requested_id: str  # the id asked for: another one when that customer was merged

    def wire(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "display_name": self.display_name,
            "language": self.language,
            "tier": self.tier,
            "tier_by_hand": self.tier_by_hand,
            "value_amount": self.value_amount,
            "lifecycle": self.lifecycle,
            "account_manager_id": self.account_manager_id,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "identities": [i.wire() for i in self.identities],
            "merged_from": None if self.requested_id == self.customer_id else self.requested_id,
        }


@dataclass(frozen=True)
class Resolution:
    """What an identity resolved to: the primary holder, and every holder when shared."""

    customer_id: str
    created: bool
    holders: tuple[str, ...]


def optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _customer(row: asyncpg.Record, requested: uuid.UUID) -> Customer:
    return Customer(
        customer_id=str(row["id"]),
        display_name=row["display_name"],
        language=row["language"],
        tier=row["tier"],
        tier_by_hand=row["tier_by_hand"],
        value_amount=str(row["value_amount"]),
        lifecycle=row["lifecycle"],
        account_manager_id=optional_str(row["account_manager"]),
        created_at_ms=dt_to_ms(row["created_at"]),
        updated_at_ms=dt_to_ms(row["updated_at"]),
        identities=tuple(Identity(**i) for i in json.loads(row["identities"])),
        requested_id=str(requested),
    )


async def survivor_of(
    db: asyncpg.Pool | asyncpg.Connection, customer_id: str | uuid.UUID
) -> uuid.UUID:
    """The customer `customer_id` is now: itself, or the survivor of the merges it went
    through; `CustomerNotFound` if there is no such customer."""
    cid = as_uuid(customer_id)
    found = await db.fetchval(f"{SURVIVOR_CTE} SELECT id FROM survivor", cid)
    if found is None:
        raise CustomerNotFound("no such customer", customer_id=str(cid))
    return uuid.UUID(str(found))


# The survivor of a customer ($1), following merged_into; a prefix of other queries.
SURVIVOR_CTE = f"""
WITH RECURSIVE chain AS (
    SELECT id, merged_into, 0 AS depth FROM customers WHERE id = $1
    UNION ALL
    SELECT c.id, c.merged_into, chain.depth + 1 FROM customers c
    JOIN chain ON c.id = chain.merged_into WHERE chain.depth < {MAX_CHAIN}
), survivor AS (SELECT id FROM chain WHERE merged_into IS NULL LIMIT 1)
"""

_IDENTITIES = """(SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'value', i.value,
    'is_primary', i.is_primary, 'holders', (SELECT count(*) FROM identities h
    WHERE h.kind = i.kind AND h.value = i.value)) ORDER BY i.kind, i.value), '[]')
    FROM identities i WHERE i.customer_id = c.id) AS identities"""

_GET = f"{SURVIVOR_CTE} SELECT c.*, {_IDENTITIES} FROM survivor JOIN customers c USING (id)"

_NAME_KEY = 'lower(c.display_name) COLLATE "C"'
_MAX_CHAR = "\U0010ffff"  # above every other character in "C" (byte) order


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class CustomerStore(IdentityOps):
    """Customers, their identities and profile (notes and tags: `contactcenter.crm.notes`)."""

    def __init__(self, pool: asyncpg.Pool, *, default_region: str | None = None) -> None:
        self.pool = pool
        self.default_region = default_region  # for phone numbers written without +country

    def normalise(self, kind: str, raw: str, region: str | None = None) -> str:
        return normalise(kind, raw, region or self.default_region)

    # --- resolution ------------------------------------------------------------------------

    async def resolve(
        self, kind: str, raw: str, *, display_name: str = "", region: str | None = None
    ) -> Resolution:
        """The customer a contact from this identity belongs to: its primary holder (followed
        to its survivor if merged); an unknown identity creates a customer. Safe under
        concurrency: two first contacts from one new number give one customer. The usual
        cases take one round trip (a known identity) or two (a new one)."""
        value = self.normalise(kind, raw, region)
        found = await self._holders(self.pool, kind, value)
        if found is None:
            customer_id = uuid.uuid4()
            created = await self.pool.fetchval(
                "WITH c AS (INSERT INTO customers (id, display_name) VALUES ($3, $4)"
                " RETURNING id) INSERT INTO identities (kind, value, customer_id)"
                " SELECT $1, $2, id FROM c ON CONFLICT DO NOTHING RETURNING true",
                kind,
                value,
                customer_id,
                display_name,
            )
            if created:
                log.info("customer_created", customer_id=str(customer_id), kind=kind)
                return Resolution(str(customer_id), True, (str(customer_id),))
            # Another first contact won the race: ours was never seen by anyone.
            await self.pool.execute("DELETE FROM customers WHERE id = $1", customer_id)
            found = await self._holders(self.pool, kind, value)
            assert found is not None
        primary, holders, name = found
        if display_name and not name:
            await self.pool.execute(
                "UPDATE customers SET display_name = $2, updated_at = now()"
                " WHERE id = $1 AND display_name = ''",
                primary,
                display_name,
            )
        return Resolution(str(primary), False, tuple(str(h) for h in holders))

    async def _holders(
        self, db: asyncpg.Pool | asyncpg.Connection, kind: str, value: str
    ) -> tuple[uuid.UUID, list[uuid.UUID], str | None] | None:
        """The primary holder (its survivor if merged), every holder, and the primary's
        display name (None: not read)."""
        rows = await db.fetch(
            "SELECT i.customer_id, i.is_primary, c.merged_into, c.display_name FROM identities i"
            " JOIN customers c ON c.id = i.customer_id WHERE i.kind = $1 AND i.value = $2"
            " ORDER BY i.is_primary DESC, i.created_at, i.customer_id",
            kind,
            value,
        )
        if not rows:
            return None
        primary, name = rows[0]["customer_id"], rows[0]["display_name"]
        if rows[0]["merged_into"] is not None:  # merged: its survivor is the one
            primary = await db.fetchval(f"{SURVIVOR_CTE} SELECT id FROM survivor", primary)
            name = None
        return primary, [r["customer_id"] for r in rows], name

    # --- profile ---------------------------------------------------------------------------

    async def get(self, customer_id: str) -> Customer:
        """The customer, or its survivor if it was merged; `CustomerNotFound` otherwise."""
        cid = as_uuid(customer_id)
        row = await self.pool.fetchrow(_GET, cid)
        if row is None:
            raise CustomerNotFound("no such customer", customer_id=str(cid))
        return _customer(row, cid)

    async def create(
        self,
        display_name: str,
        *,
        language: str | None = None,
        identities: Iterable[tuple[str, str, bool]] = (),
        region: str | None = None,
    ) -> Customer:
        """A new customer with its identities (kind, raw value, shared), all or nothing."""
        cid = uuid.uuid4()
        wanted = [(k, self.normalise(k, raw, region), s) for k, raw, s in identities]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO customers (id, display_name, language) VALUES ($1, $2, $3)",
                cid,
                display_name,
                language,
            )
            for kind, value, shared in wanted:
                await self._attach(conn, cid, kind, value, shared=shared)
        log.info("customer_created", customer_id=str(cid), identities=len(wanted))
        return await self.get(str(cid))

    _UPDATABLE = ("display_name", "language", "tier_by_hand", "account_manager")

    async def update(self, customer_id: str, changes: Mapping[str, Any]) -> Customer:
        """Set profile fields (display_name, language, tier_by_hand, account_manager: an agent
        id or None); a merged customer's survivor is the one changed."""
        unknown = set(changes) - set(self._UPDATABLE)
        if unknown:
            raise InvalidInput("these fields cannot be set", fields=sorted(unknown))
        current = await self.get(customer_id)
        if not changes:
            return current
        names = list(changes)
        values = [
            as_uuid(v, "agent") if n == "account_manager" and v is not None else v
            for n, v in changes.items()
        ]
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        try:
            await self.pool.execute(
                f"UPDATE customers SET {sets}, updated_at = now() WHERE id = $1",
                uuid.UUID(current.customer_id),
                *values,
            )
        except asyncpg.ForeignKeyViolationError:
            raise UnknownAgentRef("no such agent", field="account_manager") from None
        return await self.get(current.customer_id)

    async def set_account_manager(self, customer_id: str, agent_id: str | None) -> Customer:
        return await self.update(customer_id, {"account_manager": agent_id})

    async def _require(self, conn: asyncpg.Connection, cid: uuid.UUID) -> None:
        merged_into = await conn.fetchrow("SELECT merged_into FROM customers WHERE id = $1", cid)
        if merged_into is None:
            raise CustomerNotFound("no such customer", customer_id=str(cid))
        if merged_into["merged_into"] is not None:
            raise CustomerMerged(
                "the customer was merged",
                customer_id=str(cid),
                merged_into=str(merged_into["merged_into"]),
            )

    # --- search ----------------------------------------------------------------------------

    async def search(
        self,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        region: str | None = None,
        window: Window = FIRST_PAGE,
    ) -> Page[Customer]:
        """Live customers (not merged) by name prefix (case-insensitive), phone or email
        (normalised, among every holder), in name order."""
        where, args = ["c.merged_into IS NULL"], []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if name:
            prefix = name.strip().lower()
            where.append(
                f"{_NAME_KEY} >= {arg(prefix)} AND {_NAME_KEY} < {arg(prefix + _MAX_CHAR)}"
                f" AND {_NAME_KEY} LIKE {arg(_like_prefix(prefix))}"
            )
        for kinds, raw in ((["phone", "whatsapp"], phone), (["email"], email)):
            if raw:
                value = self.normalise(kinds[0], raw, region)
                where.append(
                    "c.id IN (SELECT customer_id FROM identities WHERE kind = ANY("
                    f"{arg(kinds)}::text[]) AND value = {arg(value)})"
                )
        after = window.after(str, uuid.UUID)
        if after:
            where.append(f"({_NAME_KEY}, c.id) > ({arg(after[0])}, {arg(after[1])})")
        sql = (
            f"SELECT c.*, {_IDENTITIES}, {_NAME_KEY} AS name_key FROM customers c"
            f" WHERE {' AND '.join(where)} ORDER BY {_NAME_KEY}, c.id"
            f" LIMIT {arg(window.limit + 1)} OFFSET {arg(window.offset or 0)}"
        )
        rows = await self.pool.fetch(sql, *args)
        page = window.page(rows, lambda r: (r["name_key"], r["id"]))
        return page.map(lambda r: _customer(r, r["id"]))
