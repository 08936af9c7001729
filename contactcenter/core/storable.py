"""Text that no store can hold, found at the edge.

PostgreSQL's `text` and `jsonb` refuse NUL (U+0000), and a lone surrogate (U+D800 to U+DFFF
on its own, which JSON's `\\ud800` escapes can produce) has no UTF-8 form, so neither
PostgreSQL nor Redis can be given one. The REST layer, the websocket protocols and the
webhooks look for both in what they receive, before anything reaches a store, and refuse the
request naming the field: a clear 400 (or error frame) instead of a driver error.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
HAS_NUL = "contains NUL (U+0000), which cannot be stored"
HAS_SURROGATE = "contains a lone surrogate, which is not valid Unicode"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    if NUL in text:
        return HAS_NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return HAS_SURROGATE
    return None


# A path into a value, innermost key first, sharing its parents: (key, parent) or None.
_Path = tuple[str, "_Path"] | None


def _dotted(path: _Path) -> str:
    keys = []
    while path is not None:
        keys.append(path[0])
        path = path[1]
    return ".".join(reversed(keys))


def unstorable(value: Any) -> tuple[str, str] | None:
    """The first (field, problem) of a decoded JSON value (or a mapping of strings) that
    cannot be stored: strings and object keys at any depth. `field` is the dotted path, as
    pydantic's errors write it ("identities.0.value"; "" for the value itself). Iterative,
    and linear in the size of the value however deeply it nests."""
    stack: list[tuple[_Path, Any]] = [(None, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                return _dotted(path), problem
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                where = (str(key), path)
                if isinstance(key, str) and (problem := text_problem(key)):
                    return _dotted(where), problem
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend(((str(i), path), child) for i, child in reversed(list(enumerate(item))))
    return None
