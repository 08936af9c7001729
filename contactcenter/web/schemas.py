"""Wire models every REST resource shares: strict bodies (unknown fields refused), PATCH
fields that may be left out but not nulled, epoch milliseconds, and page queries (by cursor
or offset, contactcenter/web/pagination.py)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from contactcenter.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Window


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")

# Epoch milliseconds that a Python datetime, and so every store, can hold: from 1970-01-01 to
# 9999-12-31 (UTC). An integer only: `false`, "5" and 5.0 are refused, not read as numbers.
MAX_EPOCH_MS = 253_402_300_799_999
EpochMs = Annotated[
    StrictInt,
    Field(ge=0, le=MAX_EPOCH_MS, description="milliseconds since 1970-01-01 UTC, before 10000"),
]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _only_given(schema: dict[str, Any]) -> None:
    """The document's view of a `Change` field: its type alone (absent is no change)."""
    options = [o for o in schema.pop("anyOf", []) if o != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)


# A PATCH field that changes only when given and has no "none" to be set to: it may be left
# out (None here), never sent as null. Fields that may be cleared stay `X | None`.
Change = Annotated[T | None, BeforeValidator(_not_null), Field(json_schema_extra=_only_given)]


class PageQuery(Strict):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, min_length=1, max_length=512)
    offset: int | None = Field(None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_way(self) -> PageQuery:
        if self.cursor is not None and self.offset is not None:
            raise ValueError("page by cursor or by offset, not both")
        return self

    def window(self) -> Window:
        return Window(self.limit, self.cursor, self.offset)
