"""Reading the TOML files of `config/`: what every settings loader does the same way.

Each loader (settings.py, crm_settings.py, channels' and the widget's) owns its keys, their
types and their environment variables; this module only reads a file and refuses what no
loader knows, naming the file and the section or key, as every `ConfigError` does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from contactcenter.core.errors import ConfigError


def read_toml(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The document in `path`; an absent optional file is an empty one."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(str(path), "file not found") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def known_keys(keys: Iterable[tuple[Any, ...]]) -> dict[str, set[str]]:
    """Section -> its keys, from a loader's table whose rows start (section, key, ...)."""
    known: dict[str, set[str]] = {}
    for section, key, *_ in keys:
        known.setdefault(section, set()).add(key)
    return known


def refuse_unknown(
    doc: Mapping[str, Any],
    known: Mapping[str, set[str]],
    path: Path,
    *,
    open_sections: Iterable[str] = (),
) -> None:
    """Refuse a section or key no loader reads (a typo would otherwise be silently ignored).
    Sections in `open_sections` take any keys (their loader checks them itself)."""
    free = set(open_sections)
    for section, body in doc.items():
        if section not in known or not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}]", "unknown section")
        if section in free:
            continue
        for key in body:
            if key not in known[section]:
                raise ConfigError(f"{path}: {section}.{key}", "unknown key")
