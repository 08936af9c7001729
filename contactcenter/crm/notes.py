"""Notes and tags on a customer: what agents write down and the labels they put on.

Both follow a merged customer to its survivor: a note written on the old id lands on the
customer that id now is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contactcenter.core.errors import NotFound
from contactcenter.crm.customers import as_uuid, optional_str, survivor_of
from contactcenter.crm.store import dt_to_ms
from contactcenter.web.pagination import FIRST_PAGE, Page, Window


class NoteNotFound(NotFound):
    error_id = "note.not_found"


@dataclass(frozen=True)
class Note:
    note_id: str
    customer_id: str
    author_id: str | None
    author_name: str | None
    body: str
    created_at_ms: int

    def wire(self) -> dict[str, Any]:
        return {
            "note_id": self.note_id,
            "customer_id": self.customer_id,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "body": self.body,
            "created_at_ms": self.created_at_ms,
        }


def _note(row: asyncpg.Record) -> Note:
    return Note(
        note_id=str(row["id"]),
        customer_id=str(row["customer_id"]),
        author_id=optional_str(row["author_id"]),
        author_name=row["author_name"],
        body=row["body"],
        created_at_ms=dt_to_ms(row["created_at"]),
    )


_SELECT = (
    "SELECT n.*, a.display_name AS author_name FROM customer_notes n"
    " LEFT JOIN agents a ON a.id = n.author_id"
)


def normalise_tag(tag: str) -> str:
    return " ".join(tag.split()).lower()


class NoteStore:
    """A customer's notes (newest first) and tags (a set, in alphabetical order)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add_note(self, customer_id: str, author_id: str | None, body: str) -> Note:
        cid = await survivor_of(self.pool, customer_id)
        note_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO customer_notes (id, customer_id, author_id, body) VALUES ($1, $2, $3, $4)",
            note_id,
            cid,
            as_uuid(author_id, "agent") if author_id else None,
            body,
        )
        return await self.note(str(note_id))

    async def note(self, note_id: str) -> Note:
        row = await self.pool.fetchrow(f"{_SELECT} WHERE n.id = $1", as_uuid(note_id, "note"))
        if row is None:
            raise NoteNotFound("no such note", note_id=note_id)
        return _note(row)

    async def notes(self, customer_id: str, window: Window = FIRST_PAGE) -> Page[Note]:
        cid = await survivor_of(self.pool, customer_id)
        after = window.after(datetime, uuid.UUID) or [None, None]
        rows = await self.pool.fetch(
            f"{_SELECT} WHERE n.customer_id = $1"
            " AND ($2::timestamptz IS NULL OR (n.created_at, n.id) < ($2, $3::uuid))"
            " ORDER BY n.created_at DESC, n.id DESC LIMIT $4 OFFSET $5",
            cid,
            *after,
            window.limit + 1,
            window.offset or 0,
        )
        return window.page(rows, lambda r: (r["created_at"], r["id"])).map(_note)

    async def delete_note(self, customer_id: str, note_id: str) -> Note:
        """Delete one of the customer's notes; returns it as it was."""
        cid = await survivor_of(self.pool, customer_id)
        row = await self.pool.fetchrow(
            "DELETE FROM customer_notes n WHERE n.id = $1 AND n.customer_id = $2 RETURNING n.*,"
            " (SELECT display_name FROM agents WHERE id = n.author_id) AS author_name",
            as_uuid(note_id, "note"),
            cid,
        )
        if row is None:
            raise NoteNotFound("the customer has no such note", note_id=note_id)
        return _note(row)

    async def tags(self, customer_id: str) -> list[str]:
        cid = await survivor_of(self.pool, customer_id)
        return await self._tags(cid)

    async def _tags(self, cid: uuid.UUID) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT tag FROM customer_tags WHERE customer_id = $1 ORDER BY tag", cid
        )
        return [r["tag"] for r in rows]

    async def add_tags(self, customer_id: str, tags: Iterable[str]) -> list[str]:
        """Tag the customer (tags lower-cased, spaces collapsed); returns all its tags."""
        cid = await survivor_of(self.pool, customer_id)
        await self.pool.execute(
            "INSERT INTO customer_tags (customer_id, tag) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING",
            cid,
            sorted({normalise_tag(t) for t in tags} - {""}),
        )
        return await self._tags(cid)

    async def remove_tag(self, customer_id: str, tag: str) -> list[str]:
        """Untag the customer (a tag it lacks is no error); returns all its tags."""
        cid = await survivor_of(self.pool, customer_id)
        await self.pool.execute(
            "DELETE FROM customer_tags WHERE customer_id = $1 AND tag = $2",
            cid,
            normalise_tag(tag),
        )
        return await self._tags(cid)
