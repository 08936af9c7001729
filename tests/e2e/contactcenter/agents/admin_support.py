"""What the administration tests share: calls made with a session's token, agents and teams
made through the API by an admin of the test's own, and the state that a refused change must
leave as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from contactcenter.core.appkeys import POOL
from tests.conftest import LiveHub
from tests.e2e.clients import login as log_in

# Every account these tests make has this password (strong enough for the hub's rules).
PASSWORD = "violet-anchor-1987"


def unique(prefix: str) -> str:
    """A login or a team name no other test of the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class AdminApi:
    """The hub's REST API as an admin made for the test (not the demo one, whose password
    other tests rely on), and as whoever else holds a token."""

    hub: LiveHub
    http: aiohttp.ClientSession
    token: str
    admin_id: str
    login: str

    async def call(self, token: str | None, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = ({"Authorization": f"Bearer {token}"} if token else {}) | kw.pop("headers", {})
        async with self.http.request(method, self.hub.base_url + path, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def ok(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        """An admin's call (or `token`'s) that must succeed; its answer."""
        status, body = await self.call(token or self.token, method, path, **kw)
        assert status < 300, (method, path, status, body)
        return body

    async def new_agent(self, prefix: str = "ag", **fields: Any) -> dict[str, Any]:
        """An account made by the admin, with PASSWORD (no change needed unless asked),
        speaking English (routing offers a chat in English to those who do)."""
        body = {
            "login": unique(prefix),
            "display_name": prefix.title(),
            "password": PASSWORD,
            "must_change_password": False,
            "languages": ["en"],
            **fields,
        }
        created: dict[str, Any] = await self.ok("POST", "/api/agents", json=body)
        return created

    async def new_team(
        self,
        prefix: str = "team",
        members: Iterable[str] = (),
        supervisors: Iterable[str] = (),
        queues: Iterable[str] = (),
    ) -> dict[str, Any]:
        body = {
            "name": unique(prefix),
            "members": list(members),
            "supervisors": list(supervisors),
            "queues": list(queues),
        }
        team: dict[str, Any] = await self.ok("POST", "/api/teams", json=body)
        return team

    async def login_as(self, login: str, password: str = PASSWORD) -> str:
        return await log_in(self.hub.base_url, login, password)

    async def audit_count(self) -> int:
        return int(await self.hub.app[POOL].fetchval("SELECT count(*) FROM audit_log"))

    async def audit_of(self, kind: str, target_id: str) -> list[dict[str, Any]]:
        """The audit entries of one agent or team, newest first, as the API shows them."""
        page = await self.ok(
            "GET", f"/api/audit?target_kind={kind}&target_id={target_id}&limit=200"
        )
        entries: list[dict[str, Any]] = page["items"]
        return entries

    async def state(self, agent_ids: Iterable[str], team_ids: Iterable[str]) -> list[Any]:
        """What a refused change must leave as it was: the given agents and teams as an
        admin reads them, how many agents and teams there are, the audit log's size."""
        agents = [await self.call(self.token, "GET", f"/api/agents/{a}") for a in agent_ids]
        teams = [await self.call(self.token, "GET", f"/api/teams/{t}") for t in team_ids]
        everyone = await self.ok("GET", "/api/agents?active=any&limit=1")
        names = sorted(t["name"] for t in (await self.ok("GET", "/api/teams"))["items"])
        return [agents, teams, everyone["total"], names, await self.audit_count()]


async def admin_api(hub: LiveHub, http: aiohttp.ClientSession) -> AdminApi:
    """A new admin, made by the demo admin through the API, logged in."""
    demo = await log_in(hub.base_url, "admin", hub.demo_password)
    name = unique("adm")
    body = {"login": name, "display_name": "Test Admin", "password": PASSWORD,
            "role": "admin", "must_change_password": False}  # fmt: skip
    async with http.post(
        hub.base_url + "/api/agents", json=body, headers={"Authorization": f"Bearer {demo}"}
    ) as r:
        assert r.status == 201, await r.text()
        admin_id = (await r.json())["agent_id"]
    token = await log_in(hub.base_url, name, PASSWORD)
    return AdminApi(hub, http, token, admin_id, name)
