"""What the tests of a config file's reader share: a copy of the shipped file to edit, and
the error its reader raises."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from contactcenter.core.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[2] / "config"


def copy_shipped(folder: Path, name: str) -> Path:
    """`folder`, holding a copy of the shipped `config/<name>`."""
    shutil.copy(CONFIG / name, folder / name)
    return folder


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in the file, which must be there."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def config_error(
    load: Callable[[Path, Mapping[str, str]], Any], folder: Path, env: Mapping[str, str] | None
) -> str:
    """The message of the ConfigError `load(folder, env)` raises."""
    with pytest.raises(ConfigError) as info:
        load(folder, env or {})
    return info.value.message
