"""Bad input to the administration API gets a 4xx with a stable error id naming the field,
and changes nothing: the accounts and teams as an admin reads them, how many there are, the
audit log. Never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.contactcenter.agents.admin_support import PASSWORD, AdminApi, unique

Call = tuple[str, str, Any]  # method, path, JSON body (None: none)


@pytest.fixture
async def target(admin: AdminApi) -> dict[str, Any]:
    """An agent, a plain agent, a supervisor and their team, to aim bad input at."""
    agent = await admin.new_agent("target", skills={"support": 30}, capacity={"chat": 2})
    plain = await admin.new_agent("plain")
    boss = await admin.new_agent("boss", role="supervisor")
    team = await admin.new_team("target-team", [agent["agent_id"]], [boss["agent_id"]])
    return {"agent": agent, "plain": plain, "boss": boss, "team": team}


def new_agent(**fields: Any) -> dict[str, Any]:
    return {"login": unique("bad"), "display_name": "Bad Input", "password": PASSWORD, **fields}


async def refused(
    admin: AdminApi,
    target: dict[str, Any],
    calls: list[tuple[Call, int, str, str | None]],
    token: str | None = None,
) -> None:
    """Each call gets its status, error id and field (details.field, or the first of
    details.errors); together they change nothing."""
    ids = [target[k]["agent_id"] for k in ("agent", "plain", "boss")]
    before = await admin.state(ids, [target["team"]["team_id"]])
    for (method, path, body), status, error_id, field in calls:
        got, answer = await admin.call(token or admin.token, method, path, json=body)
        assert (got, answer.get("error_id")) == (status, error_id), (method, path, body, answer)
        details = answer["details"]
        found = details.get("field") or (details.get("errors") or [{}])[0].get("field")
        assert found == field, (method, path, body, answer)
    assert await admin.state(ids, [target["team"]["team_id"]]) == before


async def test_skills_must_be_known_and_levels_in_range(
    admin: AdminApi, target: dict[str, Any]
) -> None:
    a = f"/api/agents/{target['agent']['agent_id']}"
    bad = "request.invalid"
    await refused(admin, target, [
        (("POST", "/api/agents", new_agent(skills={"juggling": 10})), 400,
         "agents.unknown_skill", "skills.juggling"),
        (("PATCH", a, {"skills": {"support": 20, "juggling": 10}}), 400,
         "agents.unknown_skill", "skills.juggling"),
        *[((method, path, make({"support": level})), 400, bad, "skills.support")
          for level in (101, -1, "5", 5.5, True, None)
          for method, path, make in (("POST", "/api/agents", lambda s: new_agent(skills=s)),
                                     ("PATCH", a, lambda s: {"skills": s}))],
    ])  # fmt: skip
    _, answer = await admin.call(admin.token, "PATCH", a, json={"skills": {"juggling": 1}})
    assert "support" in answer["details"]["known"]  # the answer says what would do


async def test_an_agent_must_be_able_to_take_something(
    admin: AdminApi, target: dict[str, Any]
) -> None:
    a = f"/api/agents/{target['agent']['agent_id']}"
    nothing = dict.fromkeys(("voice", "chat", "sms", "whatsapp", "email"), 0)
    await refused(admin, target, [
        (("POST", "/api/agents", new_agent(capacity=nothing)), 400, "agents.no_capacity",
         "capacity"),
        (("PATCH", a, {"capacity": nothing}), 400, "agents.no_capacity", "capacity"),
        (("PATCH", a, {"capacity": {"fax": 1}}), 400, "agents.invalid", "capacity.fax"),
        (("PATCH", a, {"capacity": {"chat": 51}}), 400, "request.invalid", "capacity.chat"),
        (("PATCH", a, {"capacity": {"chat": "2"}}), 400, "request.invalid", "capacity.chat"),
        (("PATCH", a, {"capacity": None}), 400, "request.invalid", "capacity"),
    ])  # fmt: skip
    # Channels left out keep what they had: no chats is fine while other channels take some.
    changed = await admin.ok("PATCH", a, json={"capacity": {"chat": 0}})
    assert changed["capacity"] == {"voice": 1, "chat": 0, "sms": 5, "whatsapp": 5, "email": 5}
    created = await admin.new_agent("no-chat", capacity={"chat": 0})
    assert created["capacity"]["chat"] == 0 and created["capacity"]["voice"] == 1
    # Closing the last channel an agent had left open is refused.
    only_voice = {**nothing, "voice": 1}
    await admin.ok("PATCH", a, json={"capacity": only_voice})
    target["agent"] = await admin.ok("GET", a)
    await refused(admin, target, [
        (("PATCH", a, {"capacity": {"voice": 0}}), 400, "agents.no_capacity", "capacity"),
    ])  # fmt: skip


async def test_logins_are_unique_and_well_formed(admin: AdminApi, target: dict[str, Any]) -> None:
    taken = target["plain"]["login"]
    await refused(admin, target, [
        (("POST", "/api/agents", new_agent(login=taken)), 409, "agents.login_taken", "login"),
        (("POST", "/api/agents", new_agent(login="alice")), 409, "agents.login_taken", "login"),
        (("POST", "/api/agents", new_agent(login="Has Space")), 400, "agents.invalid", "login"),
        (("POST", "/api/agents", new_agent(login="x")), 400, "request.invalid", "login"),
        (("POST", "/api/agents", new_agent(role="boss")), 400, "request.invalid", "role"),
        (("POST", "/api/agents", new_agent(email="not-an-address")), 400, "agents.invalid",
         "email"),
        (("POST", "/api/agents", new_agent(voice_to="0612")), 400, "agents.invalid", "voice_to"),
        (("POST", "/api/agents", new_agent(display_name="   ")), 400, "agents.invalid",
         "display_name"),
        (("POST", "/api/agents", new_agent(languages=["English"])), 400, "request.invalid",
         "languages.0"),
        (("POST", "/api/agents", new_agent(superpower=True)), 400, "request.invalid",
         "superpower"),
    ])  # fmt: skip


async def test_teams_must_exist(admin: AdminApi, target: dict[str, Any]) -> None:
    a = f"/api/agents/{target['agent']['agent_id']}"
    nowhere = str(uuid.uuid4())
    await refused(admin, target, [
        (("POST", "/api/agents", new_agent(team_ids=[nowhere])), 404, "teams.not_found",
         "team_ids"),
        (("PATCH", a, {"team_ids": [target["team"]["team_id"], nowhere]}), 404,
         "teams.not_found", "team_ids"),
        (("PATCH", a, {"team_ids": ["not-a-team"]}), 404, "teams.not_found", None),
        (("GET", f"/api/teams/{nowhere}", None), 404, "teams.not_found", None),
        (("PATCH", f"/api/teams/{nowhere}", {"name": "Ghost"}), 404, "teams.not_found", None),
        (("DELETE", f"/api/teams/{nowhere}", None), 404, "teams.not_found", None),
        (("DELETE", "/api/teams/not-a-uuid", None), 404, "teams.not_found", None),
        (("GET", f"/api/agents/{nowhere}", None), 404, "agents.not_found", None),
        (("POST", f"/api/agents/{nowhere}/deactivate", None), 404, "agents.not_found", None),
        (("PUT", "/api/agents/not-a-uuid/password", {"password": PASSWORD}), 404,
         "agents.not_found", None),
    ])  # fmt: skip


async def test_a_team_is_supervised_by_supervisors_and_answers_for_known_queues(
    admin: AdminApi, target: dict[str, Any]
) -> None:
    plain, team = target["plain"]["agent_id"], target["team"]
    t = f"/api/teams/{team['team_id']}"
    nobody = str(uuid.uuid4())
    name = unique("t")
    await refused(admin, target, [
        (("POST", "/api/teams", {"name": name, "supervisors": [plain]}), 400, "teams.invalid",
         "supervisors"),
        (("PATCH", t, {"supervisors": [plain]}), 400, "teams.invalid", "supervisors"),
        (("POST", "/api/teams", {"name": name, "members": [nobody]}), 400, "teams.invalid",
         "members"),
        (("PATCH", t, {"members": ["someone"]}), 400, "teams.invalid", "members"),
        (("POST", "/api/teams", {"name": name, "queues": ["nowhere"]}), 400, "teams.invalid",
         "queues"),
        (("PATCH", t, {"queues": ["support", "nowhere"]}), 400, "teams.invalid", "queues"),
        (("POST", "/api/teams", {"name": team["name"]}), 409, "teams.name_taken", "name"),
        (("POST", "/api/teams", {"name": "  "}), 400, "teams.invalid", "name"),
        (("PATCH", t, {"name": None}), 400, "request.invalid", "name"),
    ])  # fmt: skip


async def test_passwords_must_be_strong(admin: AdminApi, target: dict[str, Any]) -> None:
    agent = target["plain"]
    p = f"/api/agents/{agent['agent_id']}/password"
    weak = ("short", "1234567890", "password123", f"my-{agent['login']}-pass", "abababababab")
    login = unique("weak")
    await refused(admin, target, [
        *[(("POST", "/api/agents", new_agent(login=login, password=w)), 400,
           "agents.weak_password", "password") for w in (*weak[:3], f"{login}!!", weak[4])],
        *[(("PUT", p, {"password": w}), 400, "agents.weak_password", "password") for w in weak],
        (("PUT", p, {"password": ""}), 400, "request.invalid", "password"),
    ])  # fmt: skip
    token = await admin.login_as(agent["login"])
    own = "/api/me/password"
    await refused(admin, target, [
        *[(("POST", own, {"current_password": PASSWORD, "new_password": w}), 400,
           "agents.weak_password", "new_password") for w in weak],
        (("POST", own, {"current_password": PASSWORD, "new_password": PASSWORD}), 400,
         "agents.weak_password", "new_password"),
        (("POST", own, {"current_password": "wrong-guess-123", "new_password": "fine-and-long-9"}),
         401, "auth.bad_credentials", "current_password"),
    ], token)  # fmt: skip
    # The session that was refused still works with the old password.
    assert await admin.login_as(agent["login"], PASSWORD)


JUNK: list[tuple[str, str, Any]] = [
    ("GET", "/api/agents?team_id=not-a-team", None),
    ("GET", "/api/agents?team_id=", None),
    ("GET", "/api/agents?active=maybe", None),
    ("GET", "/api/agents?limit=0", None),
    ("GET", "/api/agents?cursor=%00", None),
    ("GET", "/api/audit?before_id=99999999999999999999", None),
    ("GET", "/api/audit?before_id=-1", None),
    ("GET", "/api/audit?target_kind=planet", None),
    ("GET", "/api/audit?limit=100000", None),
    ("POST", "/api/agents", None),
    ("POST", "/api/agents", []),
    ("POST", "/api/agents", {"login": None}),
    ("POST", "/api/agents", {"login": "x" * 10_000, "display_name": "X", "password": PASSWORD}),
    ("POST", "/api/teams", {"name": "ok", "members": "everyone"}),
    ("POST", "/api/teams", {"name": "ok", "members": [None]}),
    ("PATCH", "/api/agents/{agent}", {"email": 5}),
    ("PATCH", "/api/agents/{agent}", {"team_ids": None}),
    ("PATCH", "/api/agents/{agent}", {"skills": []}),
    ("PATCH", "/api/agents/{agent}", {"voice_blocks_chat": "yes"}),
    ("PATCH", "/api/agents/{agent}", {"display_name": "x\u0000y"}),
    ("PATCH", "/api/agents/{agent}", {"languages": ["en"] * 21}),
    ("PATCH", "/api/agents/%00", {"skills": {}}),
    ("PUT", "/api/agents/{agent}/password", {"password": PASSWORD, "must_change_password": 1}),
    ("PATCH", "/api/teams/{team}", {"members": [str(uuid.UUID(int=0))]}),
    ("PATCH", "/api/teams/{team}", {"supervisors": ["{" + str(uuid.uuid4()) + "}"]}),
]


async def test_junk_never_gets_a_500(admin: AdminApi, target: dict[str, Any]) -> None:
    ids = [target[k]["agent_id"] for k in ("agent", "plain", "boss")]
    before = await admin.state(ids, [target["team"]["team_id"]])
    for method, template, body in JUNK:
        path = template.format(agent=ids[0], team=target["team"]["team_id"])
        kw = {} if body is None else {"json": body}
        status, answer = await admin.call(admin.token, method, path, **kw)
        assert 400 <= status < 500 and answer["error_id"], (method, path, body, status, answer)
    # LIKE's wildcards in a search are plain characters.
    found = await admin.ok("GET", "/api/agents?search=%25_%5C&active=any")
    assert (found["items"], found["total"]) == ([], 0)
    # A body that is not JSON at all.
    status, answer = await admin.call(
        admin.token, "PATCH", f"/api/agents/{ids[0]}", data=b"{skills:",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert (status, answer["error_id"]) == (400, "request.invalid")
    assert await admin.state(ids, [target["team"]["team_id"]]) == before


async def test_a_session_cannot_be_used_to_guess_its_accounts_password(admin: AdminApi) -> None:
    """Wrong current passwords count as failed logins of the account: past the free ones,
    changing the password and logging in both wait (429, Retry-After), right or wrong."""
    agent = await admin.new_agent("guessed")
    token = await admin.login_as(agent["login"])
    free = admin.hub.settings.login_free_failures_per_account
    for guess in range(free):
        body = {"current_password": f"guess-number-{guess}", "new_password": "whatever-it-is-1"}
        status, answer = await admin.call(token, "POST", "/api/me/password", json=body)
        assert (status, answer["error_id"]) == (401, "auth.bad_credentials")
    right = {"current_password": PASSWORD, "new_password": "whatever-it-is-1"}
    async with admin.http.post(
        admin.hub.base_url + "/api/me/password", json=right,
        headers={"Authorization": f"Bearer {token}"},
    ) as r:  # fmt: skip
        assert (r.status, (await r.json())["error_id"]) == (429, "auth.too_many_attempts")
        assert int(r.headers["Retry-After"]) >= 1
    body = {"username": agent["login"], "password": PASSWORD}
    status, answer = await admin.call(None, "POST", "/api/login", json=body)
    assert (status, answer["error_id"]) == (429, "auth.too_many_attempts")
    # The password is still the one it was.
    status, answer = await admin.call(token, "GET", "/api/me")
    assert status == 200


async def test_an_admin_cannot_change_their_own_role(admin: AdminApi) -> None:
    me = await admin.ok("GET", "/api/me")
    agent_id = me["agent"]["agent_id"]
    status, body = await admin.call(
        admin.token, "PATCH", f"/api/agents/{agent_id}", json={"role": "agent"}
    )
    assert (status, body["error_id"], body["details"]["field"]) == (403, "auth.forbidden", "role")
    assert (await admin.ok("GET", f"/api/agents/{agent_id}"))["role"] == "admin"
