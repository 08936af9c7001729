"""A customer's identities (docs/crm.md): the record, its errors and lock, and the
operations on them that `CustomerStore` offers (`IdentityOps`: add, share, make primary,
remove).

An identity is stored normalised (`contactcenter.crm.identity.normalise`) and may be shared: every
holder has a row in `identities`, and exactly one of them is primary, the customer a contact
from that identity resolves to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from contactcenter.core.errors import Conflict, InvalidInput, NotFound


class IdentityInUse(Conflict):
    """The identity belongs to another customer; add it as shared to give it a second holder."""

    error_id = "identity.in_use"


class IdentityNotFound(NotFound):
    error_id = "identity.not_found"


@dataclass(frozen=True)
class Identity:
    kind: str
    value: str
    is_primary: bool
    holders: int  # customers holding it; more than 1: a shared identity

    def wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "is_primary": self.is_primary,
            "shared": self.holders > 1,
        }


def as_uuid(value: str | uuid.UUID, what: str = "customer") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"not a {what} id", field=f"{what}_id") from None


async def lock_identities(conn: asyncpg.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Take turns with other changes of these identities' holders, until the transaction
    ends. Resolution needs no lock: it only inserts a first holder, which the unique index
    identities_primary keeps single."""
    found = list(pairs)
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT"
        " hashtextextended(k || ':' || v, 7) AS h FROM unnest($1::text[], $2::text[]) t(k, v)"
        " ORDER BY h) locks",
        [k for k, _ in found],
        [v for _, v in found],
    )


class IdentityOps:
    """The identity operations of `CustomerStore` (its base class)."""

    if TYPE_CHECKING:  # provided by CustomerStore
        pool: asyncpg.Pool

        def normalise(self, kind: str, raw: str, region: str | None = None) -> str: ...

        async def _require(self, conn: asyncpg.Connection, cid: uuid.UUID) -> None: ...

    async def add_identity(
        self,
        customer_id: str,
        kind: str,
        raw: str,
        *,
        shared: bool = False,
        primary: bool = False,
        region: str | None = None,
    ) -> Identity:
        """Give the customer an identity. One held by another customer is refused
        (`IdentityInUse`) unless `shared`; a shared one is not primary unless `primary`."""
        value = self.normalise(kind, raw, region)
        cid = as_uuid(customer_id)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._require(conn, cid)
            await self._attach(conn, cid, kind, value, shared=shared, primary=primary)
            return await self._identity(conn, cid, kind, value)

    async def _attach(
        self,
        conn: asyncpg.Connection,
        cid: uuid.UUID,
        kind: str,
        value: str,
        *,
        shared: bool,
        primary: bool = False,
    ) -> None:
        await lock_identities(conn, [(kind, value)])
        holders = {
            r["customer_id"]
            for r in await conn.fetch(
                "SELECT customer_id FROM identities WHERE kind = $1 AND value = $2", kind, value
            )
        }
        if holders - {cid} and cid not in holders and not shared:
            raise IdentityInUse("the identity belongs to another customer", kind=kind)
        try:
            await conn.execute(
                "INSERT INTO identities (kind, value, customer_id, is_primary)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value, customer_id) DO NOTHING",
                kind,
                value,
                cid,
                not holders,
            )
        except asyncpg.UniqueViolationError:  # a first contact from it resolved meanwhile
            raise IdentityInUse("the identity was just given to another customer") from None
        if primary and holders:
            await self._make_primary(conn, kind, value, cid)

    async def set_primary(
        self, customer_id: str, kind: str, raw: str, *, region: str | None = None
    ) -> Identity:
        """Make this customer the one a shared identity resolves to."""
        value = self.normalise(kind, raw, region)
        cid = as_uuid(customer_id)
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_identities(conn, [(kind, value)])
            await self._identity(conn, cid, kind, value)
            await self._make_primary(conn, kind, value, cid)
            return await self._identity(conn, cid, kind, value)

    async def remove_identity(
        self, customer_id: str, kind: str, raw: str, *, region: str | None = None
    ) -> None:
        """Take the identity from the customer; if it was primary, the longest-standing other
        holder becomes primary."""
        value = self.normalise(kind, raw, region)
        cid = as_uuid(customer_id)
        async with self.pool.acquire() as conn, conn.transaction():
            await lock_identities(conn, [(kind, value)])
            was_primary = await conn.fetchval(
                "DELETE FROM identities WHERE kind = $1 AND value = $2 AND customer_id = $3"
                " RETURNING is_primary",
                kind,
                value,
                cid,
            )
            if was_primary is None:
                raise IdentityNotFound("the customer has no such identity", kind=kind)
            if was_primary:
                await conn.execute(
                    "UPDATE identities SET is_primary = true WHERE (kind, value, customer_id) ="
                    " (SELECT kind, value, customer_id FROM identities WHERE kind = $1"
                    " AND value = $2 ORDER BY created_at, customer_id LIMIT 1)",
                    kind,
                    value,
                )

    async def _make_primary(
        self, conn: asyncpg.Connection, kind: str, value: str, cid: uuid.UUID
    ) -> None:
        await conn.execute(
            "UPDATE identities SET is_primary = false WHERE kind = $1 AND value = $2"
            " AND is_primary AND customer_id <> $3",
            kind,
            value,
            cid,
        )
        await conn.execute(
            "UPDATE identities SET is_primary = true WHERE kind = $1 AND value = $2"
            " AND customer_id = $3",
            kind,
            value,
            cid,
        )

    async def _identity(
        self, conn: asyncpg.Connection, cid: uuid.UUID, kind: str, value: str
    ) -> Identity:
        row = await conn.fetchrow(
            "SELECT i.is_primary, (SELECT count(*) FROM identities h WHERE h.kind = i.kind"
            " AND h.value = i.value) AS holders FROM identities i"
            " WHERE i.kind = $1 AND i.value = $2 AND i.customer_id = $3",
            kind,
            value,
            cid,
        )
        if row is None:
            raise IdentityNotFound("the customer has no such identity", kind=kind)
        return Identity(kind, value, row["is_primary"], row["holders"])
