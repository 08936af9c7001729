"""Text no store can hold (NUL, lone surrogates), found anywhere in a decoded request."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from contactcenter.core.storable import HAS_NUL, HAS_SURROGATE, unstorable
from contactcenter.web.pagination import InvalidCursor, decode_cursor


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("a\x00b", ("", HAS_NUL)),
        ({"tags": ["ok", "v\x00"]}, ("tags.1", HAS_NUL)),
        ({"identities": [{"kind": "phone", "value": "\ud800"}]},
         ("identities.0.value", HAS_SURROGATE)),
        ({"a\x00": 1}, ("a\x00", HAS_NUL)),
        ({"first": "\x00", "second": "\x00"}, ("first", HAS_NUL)),
    ],
)  # fmt: skip
def test_the_first_unstorable_text_is_named_by_its_path(value: Any, found: Any) -> None:
    assert unstorable(value) == found


@pytest.mark.parametrize(
    "value", ["plain", "émoji 🎉 and tab\t", {"n": 1, "b": True, "x": None, "l": [1.5]}]
)
def test_ordinary_text_and_values_are_storable(value: Any) -> None:
    assert unstorable(value) is None


def test_a_deeply_nested_value_is_walked_without_recursion() -> None:
    deep: Any = "\x00"
    for _ in range(100_000):
        deep = [deep]
    field, problem = unstorable(deep) or ("", "")
    assert problem == HAS_NUL and field.count(".") == 100_000 - 1


def _cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "parts",
    [
        ("N\x00", "00000000-0000-0000-0000-000000000000"),
        ("0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_a_cursor_holding_what_its_list_never_gave_out_is_refused(parts: tuple[str, ...]) -> None:
    from datetime import datetime
    from uuid import UUID

    kinds = (str if "\x00" in parts[0] else datetime, UUID)
    with pytest.raises(InvalidCursor):
        decode_cursor(_cursor(*parts), *kinds)
