"""The administration API's wire models (docs/admin.md): requests checked at the edge
(unknown fields refused, types strict), answers described in the OpenAPI document. What
depends on the configuration (known skills, queues) is checked by the services."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StringConstraints

from contactcenter.web.schemas import Change, PageQuery, Strict

Role = Literal["agent", "supervisor", "admin"]
Login = Annotated[str, StringConstraints(min_length=2, max_length=64)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Uuid = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
Level = Annotated[StrictInt, Field(ge=0, le=100)]
Count = Annotated[StrictInt, Field(ge=0, le=50)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
QueueName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
SKILLS_DOC = "skill name: level 0-100; the skills config/queues.toml and routing.toml name"


# --- agents ----------------------------------------------------------------------------------


class AgentSearch(PageQuery):
    search: str | None = Field(None, min_length=1, max_length=100, description="in login,"
                               " display name or email")  # fmt: skip
    team_id: Uuid | None = None
    skill: str | None = Field(None, min_length=1, max_length=64)
    role: Role | None = None
    active: Literal["true", "false", "any"] = Field("true", description="deactivated too: any")


class NewAgentBody(Strict):
    login: Login = Field(description="2-64 lower-case letters, digits, '.', '_', '-'")
    display_name: Name
    password: Password = Field(description="at least 10 characters, not common, not the login")
    must_change_password: StrictBool = Field(
        True, description="a one-time password the agent changes at first login"
    )
    role: Role = "agent"
    email: str | None = Field(None, max_length=320)
    skills: dict[str, Level] = Field(default_factory=dict, description=SKILLS_DOC)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    capacity: dict[str, Count] = Field(
        default_factory=dict, description="contacts at once per channel (voice, chat, sms,"
        " whatsapp, email); left out: the defaults",
    )  # fmt: skip
    voice_blocks_chat: StrictBool = True
    voice_to: str = Field("client", max_length=16, description="client, or an E.164 number")
    team_ids: list[Id] = Field(default_factory=list, max_length=50)


class AgentChanges(Strict):
    """Leave out what does not change. Supervisors may send skills, languages and capacity."""

    display_name: Change[Name] = None
    role: Change[Role] = None
    email: str | None = Field(None, max_length=320, description="null: none")
    skills: Change[dict[str, Level]] = Field(None, description=SKILLS_DOC)
    languages: Change[list[Language]] = Field(None, max_length=20)
    capacity: Change[dict[str, Count]] = Field(None, description="channels given change")
    voice_blocks_chat: Change[StrictBool] = None
    voice_to: Change[str] = Field(None, max_length=16)
    team_ids: Change[list[Id]] = Field(None, max_length=50)


class PasswordBody(Strict):
    password: Password
    must_change_password: StrictBool = True


class OwnPasswordBody(Strict):
    current_password: Password
    new_password: Password


class TeamRefOut(Strict):
    team_id: str
    name: str
    supervises: bool


class AgentOut(Strict):
    agent_id: str
    login: str
    display_name: str
    role: Role
    email: str | None
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    voice_blocks_chat: bool
    voice_to: str
    active: bool
    must_change_password: bool
    teams: list[TeamRefOut]
    created_at_ms: int
    updated_at_ms: int
    last_login_at_ms: int | None


class AgentPage(Strict):
    items: list[AgentOut]
    next: str | int | None
    total: int = Field(description="how many agents match, on every page")


class Catalogue(Strict):
    skills: list[str] = Field(description="every skill the routing configuration names")
    channels: list[str]
    roles: list[Role]
    queues: list[str]


class Done(Strict):
    ok: bool


# --- teams -----------------------------------------------------------------------------------


class NewTeamBody(Strict):
    name: Name
    members: list[Id] = Field(default_factory=list, max_length=500)
    supervisors: list[Id] = Field(default_factory=list, max_length=50)
    queues: list[QueueName] = Field(default_factory=list, max_length=100)


class TeamChanges(Strict):
    name: Change[Name] = None
    members: Change[list[Id]] = Field(None, max_length=500, description="replaces the members")
    supervisors: Change[list[Id]] = Field(None, max_length=50)
    queues: Change[list[QueueName]] = Field(None, max_length=100)


class MemberOut(Strict):
    agent_id: str
    login: str
    display_name: str
    supervises: bool


class TeamOut(Strict):
    team_id: str
    name: str
    members: list[MemberOut]
    queues: list[str]


class TeamList(Strict):
    items: list[TeamOut]


# --- audit -----------------------------------------------------------------------------------


class AuditQuery(Strict):
    target_kind: Literal["agent", "team"] | None = None
    target_id: Id | None = None
    # At most a bigint's largest: the log's ids are PostgreSQL bigints.
    before_id: int | None = Field(None, ge=1, le=2**63 - 1, description="entries older than this")
    limit: int = Field(50, ge=1, le=200)


class AuditEntry(Strict):
    id: int
    at_ms: int
    actor_id: str | None
    actor: str
    action: str
    target_kind: str
    target_id: str
    before: dict[str, object] | None
    after: dict[str, object] | None


class AuditPage(Strict):
    items: list[AuditEntry] = Field(description="newest first")
