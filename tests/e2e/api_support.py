"""What the REST bad-input tests share: calls with a session's token, a customer with a
note, a tag, a case and an order to aim at, and the state that bad input must leave as it
was."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from contactcenter.core.appkeys import POOL
from tests.conftest import LiveHub
from tests.e2e.clients import login


async def call(
    http: aiohttp.ClientSession, hub: LiveHub, token: str | None, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    headers = ({"Authorization": f"Bearer {token}"} if token else {}) | kw.pop("headers", {})
    async with http.request(method, hub.base_url + path, headers=headers, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


@dataclass
class Seeded:
    agent: str  # alice's token
    supervisor: str  # sam's token
    customer: str  # a customer's path, /api/customers/{id}
    case: str  # a case's path
    order: str  # an order's path


async def seed(http: aiohttp.ClientSession, hub: LiveHub) -> Seeded:
    agent = await login(hub.base_url, "alice", hub.demo_password)
    supervisor = await login(hub.base_url, "sam", hub.demo_password)
    email = f"nul-{uuid.uuid4().hex[:8]}@example.org"
    status, customer = await call(
        http, hub, agent, "POST", "/api/customers",
        json={"display_name": "Nora", "identities": [{"kind": "email", "value": email}]},
    )  # fmt: skip
    assert status == 201, customer
    c = f"/api/customers/{customer['customer_id']}"
    for path, body in ((c + "/tags", {"tags": ["vip"]}), (c + "/notes", {"body": "first"})):
        assert (await call(http, hub, agent, "POST", path, json=body))[0] < 300
    status, case = await call(
        http, hub, agent, "POST", "/api/cases",
        json={"customer_id": customer["customer_id"], "kind": "request", "subject": "Parcel"},
    )  # fmt: skip
    assert status == 201, case
    status, order = await call(
        http, hub, supervisor, "POST", c + "/orders",
        json={"amount": "10.00", "currency": "EUR", "ordered_at_ms": 1_700_000_000_000},
    )  # fmt: skip
    assert status == 201, order
    return Seeded(agent, supervisor, c, f"/api/cases/{case['case_id']}",
                  f"/api/orders/{order['order_id']}")  # fmt: skip


TABLES = ("customers", "identities", "customer_notes", "customer_tags", "cases", "orders")


async def state(http: aiohttp.ClientSession, hub: LiveHub, s: Seeded) -> list[Any]:
    """What bad input must leave as it was: the customer with its notes, tags, cases and
    orders as the API shows them, and how many rows the CRM's tables hold."""
    paths = ("", "/notes", "/tags", "/cases", "/orders", "/identities")
    shown = [(await call(http, hub, s.supervisor, "GET", s.customer + p))[1] for p in paths]
    case = (await call(http, hub, s.agent, "GET", s.case))[1]
    rows = [await hub.app[POOL].fetchval(f"SELECT count(*) FROM {t}") for t in TABLES]
    return [*shown, case, rows]
