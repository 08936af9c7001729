"""The audit log through a real hub: every administrative change leaves exactly one entry
naming who made it, what it was, its target, and the target before and after; admins alone
read it; a refused change, or one that changes nothing, leaves none. Passwords never reach
it."""

from __future__ import annotations

import json
from typing import Any

from contactcenter.core.appkeys import BUS
from contactcenter.core.events import AgentAccountChanged, TeamChanged, decode_event
from tests.e2e.contactcenter.agents.admin_support import PASSWORD, AdminApi, unique

# What the audit log keeps of an account: everything an administrator sets, not the times.
VOLATILE = ("created_at_ms", "updated_at_ms", "last_login_at_ms")


def audited(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k not in VOLATILE}


async def one_entry(admin: AdminApi, kind: str, target_id: str, count: int) -> dict[str, Any]:
    """The single entry a change just left on its target (the log grew by exactly one)."""
    assert await admin.audit_count() == count + 1
    entry = (await admin.audit_of(kind, target_id))[0]
    assert (entry["actor"], entry["actor_id"]) == (admin.login, admin.admin_id)
    assert (entry["target_kind"], entry["target_id"]) == (kind, target_id)
    return entry


async def test_every_change_of_an_agent_leaves_one_entry(admin: AdminApi) -> None:
    team = await admin.new_team("audit-team")
    count = await admin.audit_count()
    created = await admin.new_agent("audited", skills={"support": 20}, email="a@example.org")
    agent_id = created["agent_id"]
    entry = await one_entry(admin, "agent", agent_id, count)
    assert (entry["action"], entry["before"]) == ("agent.create", None)
    assert entry["after"] == audited(created)

    count = await admin.audit_count()
    changes = {"display_name": "Audited Again", "skills": {"support": 35}, "capacity": {"sms": 2},
               "team_ids": [team["team_id"]], "email": None}  # fmt: skip
    updated = await admin.ok("PATCH", f"/api/agents/{agent_id}", json=changes)
    entry = await one_entry(admin, "agent", agent_id, count)
    assert entry["action"] == "agent.update"
    assert (entry["before"], entry["after"]) == (audited(created), audited(updated))
    assert entry["after"]["teams"] == [
        {"team_id": team["team_id"], "name": team["name"], "supervises": False}
    ]

    for action, path, was, now in (
        ("agent.deactivate", "deactivate", True, False),
        ("agent.reactivate", "reactivate", False, True),
    ):
        count = await admin.audit_count()
        after = await admin.ok("POST", f"/api/agents/{agent_id}/{path}")
        entry = await one_entry(admin, "agent", agent_id, count)
        assert entry["action"] == action
        assert (entry["before"]["active"], entry["after"]["active"]) == (was, now)
        assert entry["after"] == audited(after)

    count = await admin.audit_count()
    secret = "brand-new-secret-77"
    await admin.ok("PUT", f"/api/agents/{agent_id}/password", json={"password": secret})
    entry = await one_entry(admin, "agent", agent_id, count)
    assert entry["action"] == "agent.password"
    assert (entry["before"], entry["after"]) == (None, {"must_change_password": True})

    # The agent chooses their own: an entry in their own name.
    token = await admin.login_as(created["login"], secret)
    count = await admin.audit_count()
    body = {"current_password": secret, "new_password": PASSWORD}
    await admin.ok("POST", "/api/me/password", token, json=body)
    assert await admin.audit_count() == count + 1
    entry = (await admin.audit_of("agent", agent_id))[0]
    assert (entry["action"], entry["actor"], entry["actor_id"]) == (
        "agent.own_password", created["login"], agent_id,
    )  # fmt: skip

    # No password, nor any hash of one, in the whole history of the account.
    history = await admin.audit_of("agent", agent_id)
    assert [e["action"] for e in history] == [
        "agent.own_password", "agent.password", "agent.reactivate", "agent.deactivate",
        "agent.update", "agent.create",
    ]  # fmt: skip
    text = json.dumps(history)
    assert secret not in text and PASSWORD not in text and "argon2" not in text


async def test_every_change_of_a_team_leaves_one_entry(admin: AdminApi) -> None:
    agent = await admin.new_agent("member")
    boss = await admin.new_agent("boss", role="supervisor")
    count = await admin.audit_count()
    team = await admin.new_team("audited-team", [agent["agent_id"]], [boss["agent_id"]])
    team_id = team["team_id"]
    entry = await one_entry(admin, "team", team_id, count)
    assert (entry["action"], entry["before"], entry["after"]) == ("team.create", None, team)

    count = await admin.audit_count()
    changed = await admin.ok(
        "PATCH", f"/api/teams/{team_id}", json={"name": unique("renamed"), "queues": ["support"]}
    )
    entry = await one_entry(admin, "team", team_id, count)
    assert (entry["action"], entry["before"], entry["after"]) == ("team.update", team, changed)

    count = await admin.audit_count()
    status, _ = await admin.call(admin.token, "DELETE", f"/api/teams/{team_id}")
    assert status == 204
    entry = await one_entry(admin, "team", team_id, count)
    assert (entry["action"], entry["before"], entry["after"]) == ("team.delete", changed, None)
    # The team is gone, its people stay.
    assert (await admin.call(admin.token, "GET", f"/api/teams/{team_id}"))[0] == 404
    assert (await admin.ok("GET", f"/api/agents/{agent['agent_id']}"))["teams"] == []


async def test_a_supervisors_change_is_in_their_name(admin: AdminApi) -> None:
    agent = await admin.new_agent("led", skills={"support": 10})
    boss = await admin.new_agent("lead", role="supervisor")
    await admin.new_team("led-team", [agent["agent_id"]], [boss["agent_id"]])
    token = await admin.login_as(boss["login"])
    count = await admin.audit_count()
    await admin.ok(
        "PATCH", f"/api/agents/{agent['agent_id']}", token, json={"skills": {"support": 60}}
    )
    assert await admin.audit_count() == count + 1
    entry = (await admin.audit_of("agent", agent["agent_id"]))[0]
    assert (entry["actor"], entry["actor_id"], entry["action"]) == (
        boss["login"], boss["agent_id"], "agent.update",
    )  # fmt: skip
    assert (entry["before"]["skills"], entry["after"]["skills"]) == (
        {"support": 10}, {"support": 60},
    )  # fmt: skip


async def test_only_admins_read_the_audit_log(admin: AdminApi) -> None:
    agent = await admin.new_agent("reader")
    boss = await admin.new_agent("reader-boss", role="supervisor")
    await admin.new_team("reader-team", [agent["agent_id"]], [boss["agent_id"]])
    for token in (await admin.login_as(agent["login"]), await admin.login_as(boss["login"])):
        status, body = await admin.call(token, "GET", "/api/audit")
        assert (status, body["error_id"]) == (403, "auth.forbidden")
    status, body = await admin.call(None, "GET", "/api/audit")
    assert (status, body["error_id"]) == (401, "auth.required")
    # An admin pages through it, newest first.
    newest = (await admin.ok("GET", "/api/audit?limit=2"))["items"]
    assert len(newest) == 2 and newest[0]["id"] > newest[1]["id"]
    older = (await admin.ok("GET", f"/api/audit?limit=2&before_id={newest[1]['id']}"))["items"]
    assert older and all(e["id"] < newest[1]["id"] for e in older)


async def test_a_refused_or_empty_change_leaves_no_entry(admin: AdminApi) -> None:
    agent = await admin.new_agent("untouched", skills={"support": 10})
    other = await admin.new_agent("elsewhere")
    boss = await admin.new_agent("boss", role="supervisor")
    team = await admin.new_team("own-team", [agent["agent_id"]], [boss["agent_id"]])
    agent_id, team_id = agent["agent_id"], team["team_id"]
    plain, sup = await admin.login_as(agent["login"]), await admin.login_as(boss["login"])
    before = await admin.state([agent_id, other["agent_id"]], [team_id])
    refused: list[tuple[str | None, str, str, dict[str, Any] | None, int]] = [
        (sup, "POST", f"/api/agents/{agent_id}/deactivate", None, 403),
        (sup, "PATCH", f"/api/agents/{agent_id}", {"role": "admin"}, 403),
        (sup, "PATCH", f"/api/agents/{other['agent_id']}", {"skills": {"support": 1}}, 404),
        (sup, "PATCH", f"/api/teams/{team_id}", {"name": "Mine now"}, 403),
        (plain, "PATCH", f"/api/agents/{agent_id}", {"skills": {"support": 99}}, 403),
        (plain, "POST", "/api/teams", {"name": unique("nope")}, 403),
        (None, "DELETE", f"/api/teams/{team_id}", None, 401),
        (admin.token, "POST", f"/api/agents/{admin.admin_id}/deactivate", None, 403),
        (admin.token, "PATCH", f"/api/agents/{agent_id}", {"skills": {"juggling": 5}}, 400),
        (admin.token, "PUT", f"/api/agents/{agent_id}/password", {"password": "short"}, 400),
        (plain, "POST", "/api/me/password",
         {"current_password": "not-the-password", "new_password": "another-one-123"}, 401),
    ]  # fmt: skip
    for token, method, path, body, status in refused:
        got, answer = await admin.call(token, method, path, json=body)
        assert got == status, (method, path, answer)
    assert await admin.state([agent_id, other["agent_id"]], [team_id]) == before
    # Changes that change nothing are not changes: no entry either.
    count = await admin.audit_count()
    await admin.ok("PATCH", f"/api/agents/{agent_id}", json={"skills": {"support": 10}})
    await admin.ok("PATCH", f"/api/agents/{agent_id}", json={})
    await admin.ok("POST", f"/api/agents/{agent_id}/reactivate")  # active already
    await admin.ok("PATCH", f"/api/teams/{team_id}", json={"name": team["name"]})
    assert await admin.audit_count() == count
    await admin.ok("POST", f"/api/agents/{agent_id}/deactivate")
    await admin.ok("POST", f"/api/agents/{agent_id}/deactivate")  # deactivated already
    assert await admin.audit_count() == count + 1


async def test_every_change_is_announced_on_the_event_stream(admin: AdminApi) -> None:
    """Beside its audit entry, each change is an event for live views: AgentAccountChanged
    naming the fields an update changed, TeamChanged; a refused change announces nothing."""
    bus = admin.hub.app[BUS]
    start = (await bus.redis.xinfo_stream(bus.stream))["last-generated-id"]
    team = await admin.new_team("announced")
    agent = await admin.new_agent("announced", skills={"support": 5})
    a = f"/api/agents/{agent['agent_id']}"
    await admin.ok("PATCH", a, json={"skills": {"support": 6}, "display_name": "Heard"})
    await admin.ok("PATCH", a, json={"team_ids": [team["team_id"]]})
    await admin.ok("PATCH", a, json={"skills": {"support": 6}})  # no change
    assert (await admin.call(admin.token, "PATCH", a, json={"skills": {"x": 1}}))[0] == 400
    await admin.ok("POST", a + "/deactivate")
    await admin.ok("POST", a + "/reactivate")
    await admin.ok("PUT", a + "/password", json={"password": "fresh-secret-4242"})
    await admin.ok("PATCH", f"/api/teams/{team['team_id']}", json={"queues": ["support"]})
    entries = await bus.redis.xrange(bus.stream, min=f"({start}")
    events = [decode_event(fields) for _, fields in entries]
    accounts = [(e.change, e.fields) for e in events if isinstance(e, AgentAccountChanged)
                and e.agent_id == agent["agent_id"]]  # fmt: skip
    assert accounts == [
        ("created", []), ("updated", ["display_name", "skills"]), ("updated", ["team_ids"]),
        ("deactivated", []), ("reactivated", []), ("password_set", []),
    ]  # fmt: skip
    assert all(
        e.by_agent_id == admin.admin_id for e in events if isinstance(e, AgentAccountChanged)
    )
    teams = [e.change for e in events if isinstance(e, TeamChanged)
             and e.team_id == team["team_id"]]  # fmt: skip
    assert teams == ["created", "updated"]
