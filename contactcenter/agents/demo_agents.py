"""Demo data: two agents and a supervisor, so a fresh hub can be tried at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from contactcenter.web.auth import AgentStore

DEMO_AGENTS = (
    ("alice", "Alice Martin", "agent", ("en", "fr")),
    ("bob", "Bob Okafor", "agent", ("en",)),
    ("sam", "Sam Rivera", "supervisor", ("en", "es")),
)


def demo_password(data_dir: Path, given: str | None) -> str:
    """The demo accounts' password: the one given, else one generated once and kept in the
    data folder (never in the repository)."""
    if given:
        return given
    path = data_dir / "demo-password"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from the start
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


async def seed_demo(agents: AgentStore, password: str, chat_capacity: int) -> None:
    for username, name, role, languages in DEMO_AGENTS:
        await agents.create_agent(
            username,
            password,
            display_name=name,
            role=role,
            skills={"support": 50},
            chat_capacity=chat_capacity,
            languages=languages,
        )
