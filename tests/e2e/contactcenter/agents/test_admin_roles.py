"""Who may call what, for every operation of the OpenAPI document that needs a session (read
from the running hub, so that a new operation is covered without touching this file): nobody
gets 401; an agent, 403 where the operation wants a supervisor or an admin; a supervisor of
team A, what their role allows on team A's agent and team, 403 for admins' operations, and
404 on team B's (as unknown as absent: a supervisor cannot learn what other teams hold); an
admin, everything. A refused call changes nothing: the accounts and teams as an admin reads
them, the CRM's records and the audit log are as they were."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import LiveHub
from tests.e2e.api_support import Seeded, seed
from tests.e2e.api_support import state as crm_state
from tests.e2e.contactcenter.agents.admin_support import PASSWORD, AdminApi, unique

NEW_PASSWORD = "silver-harbour-2024"

# A valid body per operation, so that an allowed call is carried out and a refused one is
# refused for who made it, not for its input. An operation not named here gets `{}`, and an
# allowed call of it need only get past the role check (a 400 or a 404 says it did).
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "create_agent": lambda: {
        "login": unique("mx"),
        "display_name": "Matrix Made",
        "password": PASSWORD,
        "must_change_password": False,
    },
    "update_agent": lambda: {"skills": {"support": 40}},
    "set_agent_password": lambda: {"password": NEW_PASSWORD, "must_change_password": False},
    "change_own_password": lambda: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    "create_team": lambda: {"name": unique("mxt")},
    "update_team": lambda: {"name": unique("mxt")},
    "set_voice_to": lambda: {"voice_to": "client"},
}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    name: str
    role: str
    tag: str
    has_body: bool
    success: int

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def scoped(self) -> bool:
        """Whether it names an agent or a team, whose scope decides."""
        return "{agent_id}" in self.path or "{team_id}" in self.path

    @property
    def exact(self) -> bool:
        """Whether an allowed call must succeed (a real target and a valid body), rather
        than only get past the role check."""
        params = set(re.findall(r"{(\w+)}", self.path))
        return (self.tag == "admin" or self.name in BODIES) and params <= {"agent_id", "team_id"}


async def operations(admin: AdminApi) -> list[Op]:
    """Every operation of the hub's document that needs a session."""
    doc = await admin.ok("GET", "/api/openapi.json")
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op["x-role"] == "public":
                continue
            assert op["x-role"] in ("agent", "supervisor", "admin"), (path, op["x-role"])
            success = min(int(s) for s in op["responses"] if s.startswith("2"))
            found.append(
                Op(method.upper(), path, op["operationId"], op["x-role"], op["tags"][0],
                   "requestBody" in op, success)
            )  # fmt: skip
    return found


@dataclass
class World:
    """Team A (agent A, supervised by supervisor A, queue support) and team B (agent B,
    supervised by supervisor B), made by the admin through the API; the CRM's records."""

    admin: AdminApi
    agent_a: dict[str, Any]
    agent_b: dict[str, Any]
    sup_a: dict[str, Any]
    sup_b: dict[str, Any]
    team_a: dict[str, Any]
    team_b: dict[str, Any]
    tokens: dict[str, str | None]  # by caller: nobody, agent, supervisor, admin
    crm: Seeded

    def path(self, op: Op, side: str) -> str:
        """`op`'s path aimed at team `side`'s agent and team; other parameters from the CRM's
        records, or ids that name nothing."""
        agent, team = (self.agent_a, self.team_a) if side == "A" else (self.agent_b, self.team_b)
        values = {
            "agent_id": agent["agent_id"],
            "team_id": team["team_id"],
            "customer_id": self.crm.customer.rsplit("/", 1)[1],
            "case_id": self.crm.case.rsplit("/", 1)[1],
            "order_id": self.crm.order.rsplit("/", 1)[1],
            "kind": "email",
            "value": "nobody@example.com",
            "tag": "vip",
        }
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), str(uuid.uuid4())), op.path)

    def ids(self) -> tuple[list[str], list[str]]:
        people = (self.agent_a, self.agent_b, self.sup_a, self.sup_b)
        return [p["agent_id"] for p in people], [self.team_a["team_id"], self.team_b["team_id"]]

    async def state(self) -> list[Any]:
        agents, teams = self.ids()
        crm = await crm_state(self.admin.http, self.admin.hub, self.crm)
        return [await self.admin.state(agents, teams), crm]


@pytest.fixture
async def world(hub: LiveHub, admin: AdminApi) -> World:
    agent_a = await admin.new_agent("agent-a", skills={"support": 10})
    agent_b = await admin.new_agent("agent-b", skills={"support": 10})
    sup_a = await admin.new_agent("sup-a", role="supervisor")
    sup_b = await admin.new_agent("sup-b", role="supervisor")
    team_a = await admin.new_team("team-a", [agent_a["agent_id"]], [sup_a["agent_id"]], ["support"])
    team_b = await admin.new_team("team-b", [agent_b["agent_id"]], [sup_b["agent_id"]])
    tokens: dict[str, str | None] = {
        "nobody": None,
        "agent": await admin.login_as(agent_a["login"]),
        "supervisor": await admin.login_as(sup_a["login"]),
        "admin": admin.token,
    }
    crm = await seed(admin.http, hub)
    return World(admin, agent_a, agent_b, sup_a, sup_b, team_a, team_b, tokens, crm)


def expected(op: Op, caller: str, side: str) -> int | None:
    """The status `caller` must get calling `op` on team `side`; None: allowed."""
    if caller == "nobody":
        return 401
    if caller == "agent":
        return 403 if op.role in ("supervisor", "admin") else None
    if caller == "supervisor":
        if op.role == "admin":
            return 403
        return 404 if side == "B" and op.scoped else None
    return None


REFUSAL_IDS = {401: ("auth.required",), 403: ("auth.forbidden",),
               404: ("agents.not_found", "teams.not_found")}  # fmt: skip


async def attempt(world: World, op: Op, caller: str, side: str) -> str | None:
    """Call `op` as `caller` on team `side`; what was wrong with the answer, or None."""
    body = BODIES.get(op.name, dict)() if op.has_body else None
    status, answer = await world.admin.call(
        world.tokens[caller], op.method, world.path(op, side), json=body
    )
    want = expected(op, caller, side)
    error_id = answer.get("error_id") if isinstance(answer, dict) else None
    if want is not None:
        if status == want and error_id in REFUSAL_IDS[want]:
            return None
        return f"{caller} on {side}: {status} {answer} (want {want})"
    if op.exact:
        ok = status == op.success
    else:  # let in: whatever the input's fate, not a refusal of the caller, never a 500
        refused = status in (401, 403)
        ok = not refused and (status < 500 or (status == 503 and error_id != "internal"))
    return None if ok else f"{caller} on {side}: {status} {answer} (want allowed)"


def refusals(op: Op) -> list[tuple[str, str]]:
    """The calls of `op` that must be refused, as (caller, side)."""
    calls = [("nobody", "A"), ("agent", "A"), ("supervisor", "A"), ("supervisor", "B")]
    return [(c, s) for c, s in calls if expected(op, c, s) is not None and (s == "A" or op.scoped)]


def allowed(ops: list[Op]) -> list[tuple[Op, str]]:
    """The calls that must be let in, as (op, caller): an agent's first (a later admin call
    ends their session), then a supervisor's, then an admin's, deletions last."""
    callers = ("agent", "supervisor", "admin")
    calls = [(op, c) for c in callers for op in ops if expected(op, c, "A") is None]
    return sorted(calls, key=lambda oc: (callers.index(oc[1]), oc[0].method == "DELETE"))


async def test_every_operation_refuses_whom_it_must_and_lets_in_the_others(
    world: World,
) -> None:
    ops = await operations(world.admin)
    assert {op.name for op in ops} >= {"create_agent", "update_agent", "delete_team", "audit_log"}
    wrong: dict[str, list[str]] = {}
    before = await world.state()
    for op in ops:
        for caller, side in refusals(op):
            problem = await attempt(world, op, caller, side)
            if problem:
                wrong.setdefault(op.label, []).append(problem)
    assert await world.state() == before, "a refused call changed something"
    for op, caller in allowed(ops):
        problem = await attempt(world, op, caller, "A")
        if problem:
            wrong.setdefault(op.label, []).append(problem)
    problems = [(label, p) for label, ps in wrong.items() for p in ps]
    assert not problems, "\n".join(f"{label}: {p}" for label, p in problems)


async def test_a_supervisor_cannot_reach_another_teams_agents_voice_setting(
    world: World,
) -> None:
    """The voice setting (channels/twilio/voice_token.py) keeps to the same scope."""
    b = world.agent_b["agent_id"]
    sup = world.tokens["supervisor"]
    status, _ = await world.admin.call(sup, "GET", f"/api/agents/{b}/voice")
    assert status == 404
    status, _ = await world.admin.call(
        sup, "PUT", f"/api/agents/{b}/voice", json={"voice_to": "+33612345678"}
    )
    assert status == 404


async def test_a_supervisor_lists_only_their_teams_and_agents(world: World) -> None:
    admin, sup = world.admin, world.tokens["supervisor"]
    listed = await admin.ok("GET", "/api/agents?active=any&limit=200", sup)
    ids = {a["agent_id"] for a in listed["items"]}
    assert ids == {world.agent_a["agent_id"], world.sup_a["agent_id"]}
    assert listed["total"] == 2
    teams = await admin.ok("GET", "/api/teams", sup)
    assert [t["team_id"] for t in teams["items"]] == [world.team_a["team_id"]]
    # Filtering by team B's id, or by a skill team B's agent has, shows nothing of theirs.
    b = world.team_b["team_id"]
    listed = await admin.ok("GET", f"/api/agents?team_id={b}&active=any", sup)
    assert (listed["items"], listed["total"]) == ([], 0)
    listed = await admin.ok("GET", "/api/agents?skill=support&search=agent-b", sup)
    assert (listed["items"], listed["total"]) == ([], 0)
    # A supervisor may set skills, languages and capacity in their teams, nothing else.
    agent_a = world.agent_a["agent_id"]
    count = await admin.audit_count()
    for change in ({"role": "supervisor"}, {"display_name": "Renamed"},
                   {"team_ids": [b]}, {"voice_blocks_chat": False}):  # fmt: skip
        status, body = await admin.call(sup, "PATCH", f"/api/agents/{agent_a}", json=change)
        assert (status, body["error_id"]) == (403, "auth.forbidden"), (change, body)
        assert body["details"]["fields"] == sorted(change)
    assert await admin.audit_count() == count
    changed = await admin.ok(
        "PATCH", f"/api/agents/{agent_a}", sup,
        json={"skills": {"support": 70}, "languages": ["en", "fr"], "capacity": {"chat": 2}},
    )  # fmt: skip
    assert (changed["skills"], changed["languages"], changed["capacity"]["chat"]) == (
        {"support": 70}, ["en", "fr"], 2,
    )  # fmt: skip


async def test_a_scope_follows_team_changes_at_once(world: World) -> None:
    """Moving agent B into team A lets supervisor A see them on their next request; moving
    them out hides them again."""
    admin, sup = world.admin, world.tokens["supervisor"]
    b, team_a = world.agent_b["agent_id"], world.team_a["team_id"]
    assert (await admin.call(sup, "GET", f"/api/agents/{b}"))[0] == 404
    members = [world.agent_a["agent_id"], b]
    await admin.ok("PATCH", f"/api/teams/{team_a}", json={"members": members})
    assert (await admin.call(sup, "GET", f"/api/agents/{b}"))[0] == 200
    await admin.ok("PATCH", f"/api/teams/{team_a}", json={"members": members[:1]})
    status, body = await admin.call(sup, "GET", f"/api/agents/{b}")
    assert (status, body["error_id"]) == (404, "agents.not_found")
    # Supervisor A still supervises team A: replacing the members kept the supervisors.
    team = await admin.ok("GET", f"/api/teams/{team_a}", sup)
    assert {(m["agent_id"], m["supervises"]) for m in team["members"]} == {
        (world.agent_a["agent_id"], False), (world.sup_a["agent_id"], True),
    }  # fmt: skip
