"""What keeps other sites away from an agent's browser session: Origin checks on the agent
websocket and on cookie-authenticated changes, JSON only for those, a Secure cookie behind
https, and the pages' security headers (contactcenter/web/guard.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, login

EVIL = "https://evil.example"


def cookie(token: str) -> dict[str, str]:
    """What a browser sends with the session cookie (set by POST /api/login)."""
    return {"Cookie": f"cc_session={token}"}


async def post_customer(
    hub: LiveHub, headers: dict[str, str], name: str, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"display_name": name})
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hub.base_url}/api/customers",
            data=body,
            headers={**headers, "Content-Type": content_type},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def customers_named(hub: LiveHub, name: str) -> int:
    conn = await asyncpg.connect(hub.settings.database_url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM customers WHERE display_name = $1", name)
        )
    finally:
        await conn.close()


# --- the agent websocket ---------------------------------------------------------------------


async def test_the_agent_socket_refuses_another_sites_page(hub: LiveHub) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{hub.ws_url}/ws/agent", additional_headers=cookie(token), origin=EVIL
        )
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error_id"] == "auth.origin_forbidden"


async def test_the_agent_socket_takes_the_hubs_own_page_and_clients_without_origin(
    hub: LiveHub,
) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    own = await websockets.connect(
        f"{hub.ws_url}/ws/agent", additional_headers=cookie(token), origin=hub.base_url
    )
    assert (await AgentClient(own).expect("snapshot"))["agent"]["username"] == "alice"
    await own.close()
    bearer = await websockets.connect(
        f"{hub.ws_url}/ws/agent", additional_headers={"Authorization": f"Bearer {token}"}
    )
    assert (await AgentClient(bearer).expect("snapshot"))["agent"]["username"] == "alice"
    await bearer.close()


# --- cookie-authenticated changes ------------------------------------------------------------


async def test_a_cookie_change_from_another_site_is_refused_and_changes_nothing(
    hub: LiveHub,
) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    form = "application/x-www-form-urlencoded"
    for content_type in (form, "text/plain", "application/json"):
        status, body = await post_customer(
            hub, {**cookie(token), "Origin": EVIL}, "Mallory", content_type
        )
        assert (status, body["error_id"]) == (403, "auth.origin_forbidden"), body
    assert await customers_named(hub, "Mallory") == 0


async def test_a_cookie_change_must_send_json(hub: LiveHub) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    own = {**cookie(token), "Origin": hub.base_url}
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        status, body = await post_customer(hub, own, "Formy", content_type)
        assert (status, body["error_id"]) == (403, "auth.content_type_forbidden"), body
    assert await customers_named(hub, "Formy") == 0
    # From the hub's own page, with JSON, and from a client with no Origin: accepted.
    assert (await post_customer(hub, own, "Own Page"))[0] == 201
    assert (await post_customer(hub, cookie(token), "No Origin"))[0] == 201


async def test_a_bearer_token_is_not_subject_to_the_origin_check(hub: LiveHub) -> None:
    token = await login(hub.base_url, "alice", hub.demo_password)
    headers = {"Authorization": f"Bearer {token}", "Origin": EVIL}
    assert (await post_customer(hub, headers, "Scripted"))[0] == 201


async def test_another_site_cannot_sign_an_agent_in(hub: LiveHub) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hub.base_url}/api/login",
            json={"username": "alice", "password": hub.demo_password},
            headers={"Origin": EVIL},
        ) as resp,
    ):
        assert (resp.status, (await resp.json())["error_id"]) == (403, "auth.origin_forbidden")
        assert "Set-Cookie" not in resp.headers


# --- the session cookie ----------------------------------------------------------------------


async def set_cookie_of_login(hub: LiveHub) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hub.base_url}/api/login", json={"username": "bob", "password": hub.demo_password}
        ) as resp,
    ):
        assert resp.status == 200
        return resp.headers["Set-Cookie"]


async def test_the_session_cookie_is_secure_when_the_hub_is_public_over_https(
    settings: HubSettings, redis: Redis
) -> None:
    live, runner = await start_hub(replace(settings, public_url="https://hub.example"))
    try:
        header = await set_cookie_of_login(live)
    finally:
        await runner.cleanup()
    attributes = [a.strip().lower() for a in header.split(";")]
    assert "secure" in attributes and "httponly" in attributes
    assert "samesite=strict" in attributes


async def test_the_session_cookie_is_not_secure_on_plain_http(hub: LiveHub) -> None:
    attributes = [a.strip().lower() for a in (await set_cookie_of_login(hub)).split(";")]
    assert "secure" not in attributes and "httponly" in attributes


# --- headers ---------------------------------------------------------------------------------


async def headers_of(hub: LiveHub, path: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{hub.base_url}{path}") as resp:
        assert resp.status == 200, path
        return dict(resp.headers)


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


async def test_the_pages_and_their_files_carry_security_headers(hub: LiveHub) -> None:
    for path in ("/console", "/chat", "/static/console/main.js", "/static/style.css"):
        headers = await headers_of(hub, path)
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        policy = directives(headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["object-src"] == ["'none'"], path
        assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"], path


async def test_the_console_may_load_the_twilio_voice_sdk_from_its_configured_origin(
    hub: LiveHub,
) -> None:
    sdk_url = hub.settings.twilio.voice.softphone_sdk_url
    assert sdk_url.startswith("https://cdn.jsdelivr.net/")
    console = directives((await headers_of(hub, "/console"))["Content-Security-Policy"])
    assert console["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    assert "wss://*.twilio.com" in console["connect-src"]
    chat = directives((await headers_of(hub, "/chat"))["Content-Security-Policy"])
    assert chat["script-src"] == ["'self'"] and chat["connect-src"] == ["'self'"]


async def test_the_widget_files_stay_loadable_by_any_site(hub: LiveHub) -> None:
    for path in ("/static/widget.js", "/static/widget.css", "/widget/config.json"):
        headers = await headers_of(hub, path)
        assert headers["Access-Control-Allow-Origin"] == "*", path
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin", path
        assert "Content-Security-Policy" not in headers, path
        assert "X-Frame-Options" not in headers, path
