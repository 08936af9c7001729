"""What makes an agent's account valid (docs/admin.md, "Agents"): pure checks, no I/O.

Each refusal is an `InvalidAgent` naming the field and a stable `error_id`, so that the API,
the CLI and the CSV import say the same thing for the same mistake. The skills an agent may
hold are those the routing configuration names (config/queues.toml `skill` and
`eligibility`, escalation steps, config/routing.toml rules): a skill nothing routes on is a
typo, not a skill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from contactcenter.core.errors import InvalidInput
from contactcenter.settings.hub import HubSettings
from routing.expr import parse, skills_of
from routing.model import CHANNELS, DEFAULT_CAPACITY

ROLES = ("agent", "supervisor", "admin")
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_LEVEL = 100
MAX_CAPACITY = 50
MIN_PASSWORD_CHARS = 10
# Passwords too common to allow whatever their length (the most used ones that pass the
# length rule, from public breach corpora's top lists).
COMMON_PASSWORDS = frozenset(
    (
        "1234567890",
        "0123456789",
        "qwertyuiop",
        "password12",
        "password123",
        "password1234",
        "1q2w3e4r5t",
        "iloveyou12",
        "abcdefghij",
        "qwerty1234",
        "1qaz2wsx3edc",
        "passw0rd123",
        "changeme123",
        "welcome123",
        "letmein123",
        "administrator",
    )
)


class InvalidAgent(InvalidInput):
    """A field of an agent's account is not acceptable; `details.field` names it."""

    error_id = "agents.invalid"


class UnknownSkill(InvalidAgent):
    error_id = "agents.unknown_skill"


class LevelOutOfRange(InvalidAgent):
    error_id = "agents.level_out_of_range"


class NoCapacity(InvalidAgent):
    error_id = "agents.no_capacity"


class WeakPassword(InvalidAgent):
    error_id = "agents.weak_password"


def known_skills(settings: HubSettings) -> frozenset[str]:
    """Every skill the routing configuration names."""
    found: set[str] = set()
    for queue in settings.queues:
        if queue.skill:
            found.add(queue.skill)
        expressions = [queue.eligibility, *(s.eligibility for s in queue.escalation)]
        for text in expressions:
            if text:
                found |= skills_of(parse(text))
    for rule in settings.rules:
        found.update(rule.target.skills)
    if settings.default_route is not None:
        found.update(settings.default_route.skills)
    return frozenset(found)


def check_login(login: str) -> str:
    if not LOGIN.match(login):
        raise InvalidAgent(
            "a login is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
            field="login",
        )
    return login


def check_display_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise InvalidAgent("a display name is 1 to 120 characters", field="display_name")
    return name


def check_email(email: str | None) -> str | None:
    if email is None or email == "":
        return None
    email = email.strip()
    if not EMAIL.match(email):
        raise InvalidAgent("not an email address", field="email")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidAgent(f"role must be one of {', '.join(ROLES)}", field="role")
    return role


def check_skills(skills: Mapping[str, Any], known: frozenset[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, level in skills.items():
        if name not in known:
            raise UnknownSkill(
                f"no queue or routing rule uses the skill {name!r}",
                field=f"skills.{name}",
                known=sorted(known),
            )
        if isinstance(level, bool) or not isinstance(level, int):
            raise LevelOutOfRange("a level is a whole number", field=f"skills.{name}")
        if not 0 <= level <= MAX_LEVEL:
            raise LevelOutOfRange(f"a level is 0 to {MAX_LEVEL}", field=f"skills.{name}")
        out[name] = level
    return out


def check_languages(languages: Sequence[str]) -> list[str]:
    out: list[str] = []
    for code in languages:
        if not LANGUAGE.match(code):
            raise InvalidAgent(
                f"{code!r} is not a language code (ISO 639-1, like en or zh-CN)",
                field="languages",
            )
        if code not in out:
            out.append(code)
    return out


def check_capacity(
    capacity: Mapping[str, Any], base: Mapping[str, int] = DEFAULT_CAPACITY
) -> dict[str, int]:
    """Contacts an agent may hold at once per channel; at least one channel above 0 once
    the channels left out keep what they have in `base` (the defaults, or the account's)."""
    out: dict[str, int] = {}
    for channel, count in capacity.items():
        if channel not in CHANNELS:
            raise InvalidAgent(
                f"no channel {channel!r} (channels: {', '.join(CHANNELS)})",
                field=f"capacity.{channel}",
            )
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_CAPACITY:
            raise InvalidAgent(
                f"a capacity is a whole number from 0 to {MAX_CAPACITY}",
                field=f"capacity.{channel}",
            )
        out[channel] = count
    if not any({**base, **out}.values()):
        raise NoCapacity("an agent who can take nothing on any channel", field="capacity")
    return out


def check_voice_to(voice_to: str) -> str:
    if voice_to != "client" and not E164.match(voice_to):
        raise InvalidAgent(
            "voice_to is 'client' (the browser softphone) or a phone number in E.164 form",
            field="voice_to",
        )
    return voice_to


def password_problem(password: str, login: str) -> str | None:
    """Why `password` is too weak for `login`, or None (NIST SP 800-63B section 5.1.1.2: a
    minimum length, no composition rules, refuse known-common and context-specific ones)."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > 256:
        return "at most 256 characters"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "too common"
    if login and login.lower() in lowered:
        return "must not contain the login"
    if len(set(password)) < 4:
        return "too few different characters"
    return None


def check_password(password: str, login: str, field: str = "password") -> str:
    problem = password_problem(password, login)
    if problem is not None:
        raise WeakPassword(f"password too weak: {problem}", field=field)
    return password
