"""GET /api/config/routing: the queues and routing rules the hub runs with, read-only, and
check-config's verdict on the files; for supervisors and admins. And the admin page that
shows it, served like the other pages (docs/admin.md, "The admin page")."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import LiveHub
from tests.e2e.clients import login


async def get(hub: LiveHub, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(hub.base_url + path, headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_supervisors_and_admins_read_the_routing_configuration(hub: LiveHub) -> None:
    for who in ("sam", "admin"):
        status, config = await get(
            hub, "/api/config/routing", await login(hub.base_url, who, hub.demo_password)
        )
        assert status == 200, config
        assert [q["name"] for q in config["queues"]] == ["support"]
        support = config["queues"][0]
        assert support["skill"] == "support" and support["channels"] == ["chat"]
        assert support["dispositions"] == ["resolved", "follow-up", "no-answer", "spam"]
        assert support["described"][0].startswith("queue support: skill support")
        assert config["default_route"] == {"queue": "support", "priority": None, "skills": []}
        check = config["check"]
        # The test hub runs other queues than config/queues.toml holds: valid files, not in use.
        assert check["status"] == "changed", check
        assert check["config_dir"] == str(hub.settings.config_dir)
        assert isinstance(check["loaded_at_ms"], int)
        assert "no queue serves sms; its contacts go to the default queue" in check["warnings"]


async def test_agents_and_strangers_may_not_read_it(hub: LiveHub) -> None:
    status, body = await get(
        hub, "/api/config/routing", await login(hub.base_url, "alice", hub.demo_password)
    )
    assert (status, body["error_id"]) == (403, "auth.forbidden")
    status, body = await get(hub, "/api/config/routing")
    assert (status, body["error_id"]) == (401, "auth.required")


async def test_the_operation_is_in_the_openapi_document(hub: LiveHub) -> None:
    status, doc = await get(hub, "/api/openapi.json")
    assert status == 200
    op = doc["paths"]["/api/config/routing"]["get"]
    assert op["x-role"] == "supervisor" and {"200", "401", "403"} <= set(op["responses"])


async def test_the_admin_page_is_served_under_the_pages_policy(hub: LiveHub) -> None:
    for path in ("/admin", "/static/admin/main.js", "/static/admin.css"):
        async with aiohttp.ClientSession() as http, http.get(hub.base_url + path) as resp:
            assert resp.status == 200, path
            policy = {
                d.split()[0]: d.split()[1:]
                for d in resp.headers["Content-Security-Policy"].split(";")
                if d.strip()
            }
            assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
            assert policy["frame-ancestors"] == ["'none'"], path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
