"""Pages of a list: by keyset cursor (stable while rows are added) or by offset.

A cursor is opaque to clients: the sort key of the last row given, as base64url JSON. Every
list fetches `limit + 1` rows, so that it knows whether there is a next page without counting.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from contactcenter.core.errors import InvalidInput
from contactcenter.core.storable import text_problem

T = TypeVar("T")
U = TypeVar("U")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(InvalidInput):
    error_id = "pagination.invalid_cursor"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next` is the cursor (or, when paging by offset, the offset) of
    the following page, None on the last."""

    items: list[T]
    next: str | int | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page([fn(i) for i in self.items], self.next)

    def wire(self, fn: Callable[[T], Any]) -> dict[str, Any]:
        return {"items": [fn(i) for i in self.items], "next": self.next}


@dataclass(frozen=True)
class Window:
    """Which page: at most `limit` rows after `cursor`, or after skipping `offset` rows."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    offset: int | None = None

    def after(self, *kinds: type) -> list[Any] | None:
        """The key the cursor holds (each part cast to its kind), or None for the first page."""
        return decode_cursor(self.cursor, *kinds) if self.cursor else None

    def page(self, rows: Sequence[T], key: Callable[[T], Sequence[Any]]) -> Page[T]:
        """The page from `limit + 1` fetched rows; `key(row)` is a row's sort key."""
        items = list(rows[: self.limit])
        if len(rows) <= self.limit:
            return Page(items, None)
        if self.offset is not None:
            return Page(items, self.offset + self.limit)
        return Page(items, encode_cursor(*key(items[-1])))


FIRST_PAGE = Window()


def encode_cursor(*key: Any) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else str(v) for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    """The key a cursor holds, each part cast to its kind (str, int, uuid.UUID, datetime)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError
        return [_cast(kind, value) for kind, value in zip(kinds, raw, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise InvalidCursor("not a cursor this list gave out") from None


def _cast(kind: type, value: Any) -> Any:
    # A cursor is read from the query string: whatever it decodes to must be something its
    # list could have given out, and so something the store can take as a parameter.
    if not isinstance(value, str) or text_problem(value):
        raise ValueError
    if kind is datetime:
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:
            raise ValueError
        return at.astimezone(UTC)  # OverflowError past year 1 or 9999 in UTC
    if kind is uuid.UUID:
        return uuid.UUID(value)
    return kind(value)
