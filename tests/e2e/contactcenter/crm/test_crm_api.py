"""The CRM REST API through a real hub: who may do what, pages, validation errors with stable
ids, answers that match their documented models, events for live consoles, and an OpenAPI
document that covers every route."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel

from contactcenter.app import init
from contactcenter.core.appkeys import BUS, POOL
from contactcenter.core.events import decode_event
from contactcenter.crm import events as ce
from contactcenter.crm.api import orders as oa
from contactcenter.crm.api import schemas as s
from contactcenter.crm.api.customers import OPERATIONS as CRM_OPERATIONS
from contactcenter.crm.api.orders import ORDER_OPERATIONS
from contactcenter.crm.merge_reviews import ReviewStore
from contactcenter.crm.settings import CrmSettings
from contactcenter.settings.hub import HubSettings
from contactcenter.web.appkeys import AGENTS
from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import login
from tests.integration.contactcenter.crm.test_customers import (
    make_contact,
    make_order,
    unique_phone,
)

ROLES = ("agent", "supervisor", "admin")
USERS = {"agent": "alice", "supervisor": "sam", "admin": "ada"}


@dataclass
class Api:
    base_url: str
    app: web.Application
    session: aiohttp.ClientSession
    tokens: dict[str, str]

    async def call(
        self, method: str, path: str, role: str | None = "agent", **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers |= kw.pop("headers", {})
        async with self.session.request(
            method, self.base_url + path, headers=headers, **kw
        ) as resp:
            body = (
                await resp.json() if resp.content_type == "application/json" else await resp.text()
            )
            return resp.status, body

    async def ok(
        self, method: str, path: str, model: type[BaseModel] | None, role: str = "agent", **kw: Any
    ) -> Any:
        status, body = await self.call(method, path, role, **kw)
        assert status < 300, (status, body)
        if model is not None:
            model.model_validate(body)  # the answer is what the document says
        return body


@pytest.fixture
async def api(settings: HubSettings, redis: Any) -> AsyncIterator[Api]:
    app = init(replace(settings, crm=CrmSettings(default_phone_region="FR")))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    base = f"http://127.0.0.1:{settings.port}"
    await app[AGENTS].create_agent("ada", TEST_PASSWORD, display_name="Ada Admin", role="admin")
    tokens = {role: await login(base, user, TEST_PASSWORD) for role, user in USERS.items()}
    async with aiohttp.ClientSession() as session:
        yield Api(base, app, session, tokens)
    await runner.cleanup()
    await asyncio.sleep(0)


OPERATIONS = (*CRM_OPERATIONS, *ORDER_OPERATIONS)


def concrete(path: str) -> str:
    """A path with every parameter filled with something well formed that does not exist."""
    values = {"kind": "email", "value": "nobody@example.com", "tag": "vip"}
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


# --- who may do what -------------------------------------------------------------------------


async def test_every_operation_wants_a_session(api: Api) -> None:
    for op in OPERATIONS:
        status, body = await api.call(op.method, concrete(op.path), role=None, json={})
        assert (status, body["error_id"]) == (401, "auth.required"), op.name
    status, body = await api.call(
        "GET", "/api/customers", None, headers={"Authorization": "Bearer forged"}
    )
    assert (status, body["error_id"]) == (401, "auth.required")


@pytest.mark.parametrize("role", ROLES)
async def test_the_role_matrix(api: Api, role: str) -> None:
    """Supervisor operations refuse agents with 403 before looking at the input; every other
    answer (a 404 for the made-up ids, a 400 for the empty body) means the role was let in."""
    for op in OPERATIONS:
        status, body = await api.call(op.method, concrete(op.path), role, json={})
        if op.role == "supervisor" and role == "agent":
            assert (status, body["error_id"]) == (403, "auth.forbidden"), op.name
        else:
            assert status not in (401, 403) and status < 500, (op.name, status, body)


async def test_agents_annotate_and_supervisors_delete(api: Api) -> None:
    customer = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Mo"})
    c = f"/api/customers/{customer['customer_id']}"
    note = await api.ok("POST", c + "/notes", s.NoteOut, json={"body": "Prefers email"})
    assert note["author_name"] == "Alice Martin"
    status, body = await api.call("DELETE", f"{c}/notes/{note['note_id']}", "agent")
    assert (status, body["error_id"]) == (403, "auth.forbidden")
    await api.ok("DELETE", f"{c}/notes/{note['note_id']}", s.NoteOut, "admin")
    status, body = await api.call("PATCH", c, "agent", json={"tier_by_hand": "gold"})
    assert (status, body["error_id"]) == (403, "auth.forbidden")
    patched = await api.ok("PATCH", c, s.CustomerOut, "supervisor", json={"tier_by_hand": "gold"})
    assert patched["tier_by_hand"] == "gold"


# --- customers, identities, notes, tags ------------------------------------------------------


async def test_a_customer_through_the_api(api: Api) -> None:
    phone, email = unique_phone(), f"Zoe.{uuid.uuid4().hex[:8]}@Example.com"
    national = "0" + phone[3:]
    created = await api.ok(
        "POST",
        "/api/customers",
        s.CustomerOut,
        json={
            "display_name": "Zoé Martin",
            "language": "fr",
            "identities": [{"kind": "phone", "value": national}, {"kind": "email", "value": email}],
        },
    )
    c = f"/api/customers/{created['customer_id']}"
    assert {i["value"] for i in created["identities"]} == {phone, email.lower()}
    found = await api.ok("GET", "/api/customers", s.CustomerPage, params={"phone": national})
    assert [x["customer_id"] for x in found["items"]] == [created["customer_id"]]
    found = await api.ok("GET", "/api/customers", s.CustomerPage, params={"email": email.upper()})
    assert [x["customer_id"] for x in found["items"]] == [created["customer_id"]]
    renamed = await api.ok("PATCH", c, s.CustomerOut, json={"display_name": "Zoé Martin-Roux"})
    assert renamed["display_name"] == "Zoé Martin-Roux" and renamed["language"] == "fr"

    other = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Zack"})
    o = f"/api/customers/{other['customer_id']}"
    status, body = await api.call("POST", o + "/identities", json={"kind": "phone", "value": phone})
    assert (status, body["error_id"]) == (409, "identity.in_use")
    shared = await api.ok(
        "POST",
        o + "/identities",
        s.IdentityOut,
        json={"kind": "phone", "value": phone, "shared": True},
    )
    assert shared == {"kind": "phone", "value": phone, "is_primary": False, "shared": True}
    left = await api.ok("DELETE", f"{c}/identities/phone/{phone}", s.IdentitiesOut, "supervisor")
    assert [i["kind"] for i in left["identities"]] == ["email"]
    promoted = await api.ok("GET", o + "/identities", s.IdentitiesOut)
    assert promoted["identities"][0]["is_primary"] is True

    tags = await api.ok("POST", c + "/tags", s.TagsOut, json={"tags": ["VIP", "late payer"]})
    assert tags == {"tags": ["late payer", "vip"]}
    assert await api.ok("DELETE", c + "/tags/late%20payer", s.TagsOut) == {"tags": ["vip"]}
    sam = (await api.ok("GET", "/api/me", None, "supervisor"))["agent"]["agent_id"]
    managed = await api.ok(
        "PUT", c + "/account-manager", s.CustomerOut, "supervisor", json={"agent_id": sam}
    )
    assert managed["account_manager_id"] == sam

    await make_contact(api.app[POOL], created["customer_id"], first_message="Where is my parcel?")
    context = await api.ok("GET", c + "/context", s.ContextOut)
    assert context["name"] == "Zoé Martin-Roux" and context["tags"] == ["vip"]
    assert context["account_manager"]["agent_id"] == sam
    assert context["interactions"][0]["summary"] == "Where is my parcel?"
    history = await api.ok("GET", c + "/interactions", s.InteractionPage)
    assert len(history["items"]) == 1 and history["next"] is None


async def test_lists_page_by_cursor_and_by_offset(api: Api) -> None:
    prefix = f"Pg{uuid.uuid4().hex[:6]}"
    names = [f"{prefix} {i}" for i in range(5)]
    for n in names:
        await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": n})
    seen: list[str] = []
    params: dict[str, Any] = {"name": prefix, "limit": 2}
    while True:
        page = await api.ok("GET", "/api/customers", s.CustomerPage, params=params)
        seen += [c["display_name"] for c in page["items"]]
        if page["next"] is None:
            break
        params = {"name": prefix, "limit": 2, "cursor": page["next"]}
    assert seen == names
    page = await api.ok(
        "GET", "/api/customers", s.CustomerPage, params={"name": prefix, "limit": 2, "offset": 2}
    )
    assert [c["display_name"] for c in page["items"]] == names[2:4] and page["next"] == 4
    default = await api.ok("GET", "/api/customers", s.CustomerPage, params={"name": prefix})
    assert len(default["items"]) == 5 and default["next"] is None


async def test_bad_input_gets_400_with_stable_ids_and_changes_nothing(api: Api) -> None:
    customers, nobody = "/api/customers", str(uuid.uuid4())
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", customers, {"json": {"display_name": "X", "vip": True}}, "request.invalid"),
        ("GET", customers, {"params": {"limit": "500"}}, "request.invalid"),
        ("GET", customers, {"params": {"offset": "1", "cursor": "x"}}, "request.invalid"),
        ("GET", customers, {"params": {"cursor": "garbage"}}, "pagination.invalid_cursor"),
        ("GET", customers, {"params": {"phone": "12"}}, "identity.invalid"),
        ("GET", customers, {"params": {"colour": "red"}}, "request.invalid"),
        ("GET", customers + "/not-a-uuid", {}, "request.invalid"),
        ("POST", customers, {"data": "{not json"}, "request.invalid"),
        ("POST", customers, {"json": {"identities": [{"kind": "fax", "value": "1"}]}},
         "request.invalid"),
        ("POST", customers, {"json": {"identities": [{"kind": "email", "value": "nope"}]}},
         "identity.invalid"),
        ("POST", "/api/cases", {"json": {"customer_id": nobody, "kind": "praise", "subject": "x"}},
         "request.invalid"),
        ("PATCH", f"/api/cases/{nobody}", {"json": {"status": None}}, "request.invalid"),
    ]  # fmt: skip
    before = await api.app[POOL].fetchval("SELECT count(*) FROM customers")
    for method, path, kw, error_id in cases:
        status, body = await api.call(method, path, **kw)
        assert (status, body["error_id"]) == (400, error_id), (method, path, kw, body)
    assert await api.app[POOL].fetchval("SELECT count(*) FROM customers") == before
    status, body = await api.call("POST", "/api/customers", json={"display_name": "X", "vip": 1})
    assert body["details"]["errors"][0]["field"] == "vip"
    status, body = await api.call("GET", f"/api/customers/{uuid.uuid4()}")
    assert (status, body["error_id"]) == (404, "customer.not_found")


# --- cases, merges, reviews ------------------------------------------------------------------


async def test_a_case_through_the_api(api: Api) -> None:
    customer = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Cas"})
    cid = customer["customer_id"]
    contact = await make_contact(api.app[POOL], cid)
    case = await api.ok(
        "POST",
        "/api/cases",
        s.CaseOut,
        json={"customer_id": cid, "kind": "complaint", "subject": "Late", "priority": "high"},
    )
    linked = await api.ok(
        "POST", f"/api/cases/{case['case_id']}/contacts", s.CaseOut, json={"contact_id": contact}
    )
    assert linked["contact_ids"] == [contact]
    assert (await api.ok("GET", f"/api/customers/{cid}/context", s.ContextOut))[
        "has_open_complaint"
    ]
    closed = await api.ok(
        "PATCH", f"/api/cases/{case['case_id']}", s.CaseOut, json={"status": "closed"}
    )
    assert closed["closed_at_ms"] is not None
    still_open = await api.ok(
        "GET", f"/api/customers/{cid}/cases", s.CasePage, params={"status": "open"}
    )
    every = await api.ok("GET", f"/api/customers/{cid}/cases", s.CasePage)
    assert still_open["items"] == [] and len(every["items"]) == 1
    other = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Else"})
    stranger = await make_contact(api.app[POOL], other["customer_id"])
    status, body = await api.call(
        "POST", f"/api/cases/{case['case_id']}/contacts", json={"contact_id": stranger}
    )
    assert (status, body["error_id"]) == (409, "case.contact_of_another_customer")


async def test_merge_and_unmerge_through_the_api(api: Api) -> None:
    a = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Ann"})
    b = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Ann B"})
    await make_order(api.app[POOL], b["customer_id"], amount=250)
    body = {"survivor_id": a["customer_id"], "merged_id": b["customer_id"], "reason": "same"}
    status, err = await api.call("POST", "/api/merges", "agent", json=body)
    assert (status, err["error_id"]) == (403, "auth.forbidden")
    merge = await api.ok("POST", "/api/merges", s.MergeOut, "supervisor", json=body)
    assert merge["moved"]["orders"] == 1
    view = await api.ok("GET", f"/api/customers/{b['customer_id']}", s.CustomerOut)
    assert view["customer_id"] == a["customer_id"] and view["merged_from"] == b["customer_id"]
    assert view["value_amount"] == "250.00"  # figures recomputed with the moved order
    status, err = await api.call("POST", "/api/merges", "admin", json=body)
    assert (status, err["error_id"]) == (409, "customer.merged")
    undone = await api.ok("POST", f"/api/merges/{merge['merge_id']}/undo", s.MergeOut, "admin")
    assert undone["undone_at_ms"] is not None
    status, err = await api.call("POST", f"/api/merges/{merge['merge_id']}/undo", "supervisor")
    assert (status, err["error_id"]) == (409, "merge.already_undone")
    back = await api.ok("GET", f"/api/customers/{a['customer_id']}", s.CustomerOut)
    assert back["value_amount"] == "0.00"


async def test_reviews_through_the_api(api: Api) -> None:
    a = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Rae"})
    b = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Ray"})
    outcome = await ReviewStore(api.app[POOL]).auto_merge(
        a["customer_id"], b["customer_id"], {"contact_id": "c-1"}
    )
    assert outcome.review is not None
    pending = await api.ok("GET", "/api/merge-reviews", s.ReviewPage, "supervisor")
    mine = [r for r in pending["items"] if r["review_id"] == outcome.review.review_id]
    assert mine and mine[0]["reasons"] == ["different_names"]
    path = f"/api/merge-reviews/{outcome.review.review_id}/decision"
    decided = await api.ok(
        "POST",
        path,
        s.DecisionOut,
        "admin",
        json={"decision": "merge", "survivor_id": b["customer_id"]},
    )
    assert decided["review"]["status"] == "merged"
    assert decided["merge"]["survivor_id"] == b["customer_id"]
    status, err = await api.call("POST", path, "supervisor", json={"decision": "dismiss"})
    assert (status, err["error_id"]) == (409, "review.decided")


# --- events ----------------------------------------------------------------------------------


async def test_annotations_are_published_for_live_consoles(api: Api) -> None:
    bus = api.app[BUS]
    start = (await bus.redis.xinfo_stream(bus.stream))["last-generated-id"]
    customer = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Ev"})
    c, cid = f"/api/customers/{customer['customer_id']}", customer["customer_id"]
    await api.ok("POST", c + "/notes", s.NoteOut, json={"body": "hello"})
    await api.ok("POST", c + "/tags", s.TagsOut, json={"tags": ["vip"]})
    case = await api.ok(
        "POST",
        "/api/cases",
        s.CaseOut,
        json={"customer_id": cid, "kind": "request", "subject": "S"},
    )
    await api.ok("PATCH", f"/api/cases/{case['case_id']}", s.CaseOut, json={"status": "closed"})
    entries = await bus.redis.xrange(bus.stream, min=f"({start}")
    events = [decode_event(fields) for _, fields in entries]
    mine = [e for e in events if getattr(e, "customer_id", None) == cid]
    assert [type(e) for e in mine] == [
        ce.CustomerNoteAdded,
        ce.CustomerTagsChanged,
        ce.CaseOpened,
        ce.CaseUpdated,
    ]
    alice = (await api.ok("GET", "/api/me", None))["agent"]["agent_id"]
    assert all(e.agent_id == alice for e in mine)  # type: ignore[attr-defined]
    assert isinstance(mine[-1], ce.CaseUpdated) and mine[-1].status == "closed"


# --- the document ----------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_the_openapi_document_covers_every_api_route_and_resolves(api: Api) -> None:
    status, doc = await api.call("GET", "/api/openapi.json", None)
    assert status == 200 and doc["openapi"].startswith("3.1")
    for route in api.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if (path.startswith("/api/") or path == "/healthz") and route.method != "HEAD":
            assert route.method.lower() in doc["paths"].get(path, {}), (route.method, path)
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref
    names = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(names) == len(set(names))
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"{(\w+)}", path))
        for op in item.values():
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == declared
    assert doc["paths"]["/api/login"]["post"]["requestBody"]
    status, page = await api.call("GET", "/api/docs", None)
    assert status == 200 and "openapi.json" in page and "<script>" in page


async def test_orders_through_the_api_move_the_customer_value(api: Api) -> None:
    customer = await api.ok("POST", "/api/customers", s.CustomerOut, json={"display_name": "Ola"})
    c = f"/api/customers/{customer['customer_id']}"
    order_in = {"amount": "120.50", "currency": "EUR", "ordered_at_ms": 1_790_000_000_000}
    status, body = await api.call("POST", c + "/orders", "agent", json=order_in)
    assert (status, body["error_id"]) == (403, "auth.forbidden")
    order = await api.ok("POST", c + "/orders", oa.OrderOut, "supervisor", json=order_in)
    assert (order["amount"], order["status"]) == ("120.50", "placed")
    listed = await api.ok("GET", c + "/orders", oa.OrderPage)
    assert [o["order_id"] for o in listed["items"]] == [order["order_id"]]
    context = await api.ok("GET", c + "/context", s.ContextOut)
    assert context["value"]["order_count"] == 1

    bad = {**order_in, "currency": "eur", "amount": "-3"}
    status, body = await api.call("POST", c + "/orders", "supervisor", json=bad)
    assert (status, body["error_id"]) == (400, "request.invalid")

    cancelled = await api.ok(
        "DELETE", f"/api/orders/{order['order_id']}", oa.OrderOut, "supervisor"
    )
    assert cancelled["status"] == "cancelled"
    context = await api.ok("GET", c + "/context", s.ContextOut)
    assert context["value"]["order_count"] == 0


async def test_an_interaction_is_read_with_its_transcript(api: Api) -> None:
    status, body = await api.call("GET", f"/api/contacts/{uuid.uuid4()}/transcript", "agent")
    assert (status, body["error_id"]) == (404, "contact.not_found")
    status, body = await api.call("GET", "/api/contacts/not-a-uuid/transcript", "agent")
    assert (status, body["error_id"]) == (404, "contact.not_found")
