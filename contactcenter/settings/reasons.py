"""The catalogue of away reasons (`config/reasons.toml`, docs/states.md): what an agent may
choose in the console's status menu when they step away, each with a stable code, a label,
and whether its time counts as productive.

`parse_reasons` is a pure function of the file's document; every problem raises `ConfigError`
naming the file, the entry and the key. Without the file, `DEFAULT_REASONS` apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contactcenter.core.config_files import read_toml
from contactcenter.core.errors import ConfigError, InvalidInput

# Reasons the hub sets by itself (docs/routing.md): away after too many offers let go, and
# offline once the console went silent. No entry of the catalogue may take them.
HUB_REASONS = ("missed-offers", "no-console")
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_LABEL_CHARS = 60
_KEYS = {"code", "label", "productive"}


class UnknownReason(InvalidInput):
    """An away reason that is not one of the catalogue's (`details.reasons` lists them);
    nothing was changed."""

    error_id = "agent.unknown_reason"


@dataclass(frozen=True)
class AwayReason:
    code: str
    label: str
    productive: bool

    def public(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "productive": self.productive}


@dataclass(frozen=True)
class ReasonCatalogue:
    """The away reasons, in the order the status menu shows them."""

    reasons: tuple[AwayReason, ...] = ()
    _by_code: Mapping[str, AwayReason] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {r.code: r for r in self.reasons})

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def get(self, code: str) -> AwayReason | None:
        return self._by_code.get(code)

    def require(self, code: str) -> AwayReason:
        """The reason of that code; `UnknownReason` when the catalogue has none."""
        found = self._by_code.get(code)
        if found is None:
            raise UnknownReason(f"unknown away reason {code!r}", reasons=list(self.codes))
        return found

    def productive(self, state: str, code: str | None) -> bool:
        """Whether time in `state` for `code` counts as productive (docs/states.md):
        available yes, offline no, away as its reason says (no reason: no)."""
        if state == "available":
            return True
        if state != "away" or code is None:
            return False
        found = self._by_code.get(code)
        return found.productive if found is not None else False

    def public(self) -> list[dict[str, Any]]:
        """The catalogue as the console's snapshot carries it (docs/protocol.md)."""
        return [r.public() for r in self.reasons]


DEFAULT_REASONS = ReasonCatalogue(
    (
        AwayReason("break", "Break", False),
        AwayReason("lunch", "Lunch", False),
        AwayReason("training", "Training", True),
        AwayReason("meeting", "Meeting", True),
        AwayReason("coaching", "Coaching", True),
        AwayReason("personal", "Personal time", False),
    )
)


def _reason(entry: Any, where: str) -> AwayReason:
    if not isinstance(entry, dict):
        raise ConfigError(where, "expected a [[reason]] table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
    code, label, productive = entry.get("code"), entry.get("label"), entry.get("productive")
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise ConfigError(
            f"{where}.code",
            "required: lower-case letters, digits, '-' and '_', at most 40 characters",
        )
    if code in HUB_REASONS:
        raise ConfigError(f"{where}.code", f"{code!r} is set by the hub itself; choose another")
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}.label", "required, a non-empty string")
    if len(label) > MAX_LABEL_CHARS or any(c < " " or c == "\x7f" for c in label):
        raise ConfigError(f"{where}.label", f"one line of at most {MAX_LABEL_CHARS} characters")
    if not isinstance(productive, bool):
        raise ConfigError(f"{where}.productive", "required: true or false")
    return AwayReason(code, label.strip(), productive)


def parse_reasons(doc: Mapping[str, Any], path: Path) -> ReasonCatalogue:
    """The catalogue in `doc` (the document of `path`); an empty document is the default."""
    unknown = sorted(set(doc) - {"reason"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}", "unknown key")
    if "reason" not in doc:
        return DEFAULT_REASONS
    entries = doc["reason"]
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: reason", "expected a list of [[reason]] tables")
    reasons: list[AwayReason] = []
    for i, entry in enumerate(entries):
        reason = _reason(entry, f"{path}: reason[{i}]")
        if any(r.code == reason.code for r in reasons):
            raise ConfigError(f"{path}: reason[{i}].code", f"duplicate code {reason.code!r}")
        reasons.append(reason)
    return ReasonCatalogue(tuple(reasons))


def load_reasons(config_dir: Path) -> ReasonCatalogue:
    """The catalogue of `config_dir/reasons.toml`; the default one when the file is absent."""
    path = config_dir / "reasons.toml"
    return parse_reasons(read_toml(path), path)
