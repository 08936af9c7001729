"""Contacts as a resource (GET /api/contacts, /api/contacts/{contact_id}) through a real
hub: a contact's routing history from offer to wrap-up, filters and pages, who sees which
contact, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contactcenter.conversations.contacts_api import ContactDetail, ContactPage
from contactcenter.crm.api.orders import TranscriptOut
from contactcenter.settings.hub import HubSettings
from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.contactcenter.conversations.scope_support import Site, running_site


@pytest.fixture
async def site(settings: HubSettings, redis: Any, tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(settings, tmp_path) as s:
        yield s


async def _waiting(site: Site, name: str) -> tuple[ChatClient, str]:
    customer = await ChatClient.connect(site.hub.base_url, name)
    await customer.say(f"{name} needs help")
    return customer, (await customer.expect("queued"))["contact_id"]


async def _handled(site: Site, agent: AgentClient, name: str) -> tuple[ChatClient, str]:
    """A contact `agent` (available) was offered and accepted."""
    customer, contact_id = await _waiting(site, name)
    offer = await agent.expect("offer")
    assert offer["contact"]["contact_id"] == contact_id
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    return customer, contact_id


def _items(page: dict[str, Any]) -> list[str]:
    return [c["contact_id"] for c in page["items"]]


# --- one contact's history ------------------------------------------------------------------


async def test_the_history_of_a_contact_offered_rejected_accepted_ended_and_wrapped_up(
    site: Site,
) -> None:
    alice = await AgentClient.connect(site.hub.base_url, "alice", TEST_PASSWORD)
    bob = await AgentClient.connect(site.hub.base_url, "bob", TEST_PASSWORD)
    for agent in (alice, bob):
        await agent.go_available()
    customer, contact_id = await _waiting(site, "Kim")
    path = f"/api/contacts/{contact_id}"

    # Whoever is offered it first lets it go; routing then prefers the other one.
    first, offer = None, None
    while first is None:
        for agent in (alice, bob):
            try:
                offer = await agent.expect("offer", timeout_s=0.2)
            except TimeoutError:
                continue
            first = agent
            break
    second = bob if first is alice else alice
    assert offer is not None and offer["contact"]["contact_id"] == contact_id
    live = (await site.ok("admin", path, ContactDetail))["live"]
    assert live["state"] == "offered" and live["agent_id"] == first.agent_id
    assert live["deadline_ms"] > 0
    assert (await first.command("reject", contact_id=contact_id))["type"] == "ack"
    await second.expect("offer")
    assert (await second.command("accept", contact_id=contact_id))["type"] == "ack"
    assert (await second.command("send", contact_id=contact_id, text="Hello Kim"))["type"] == (
        "ack"
    )
    assert (await second.command("end", contact_id=contact_id))["type"] == "ack"
    done = await second.command(
        "wrapup", contact_id=contact_id, disposition="resolved", notes="Refund sent"
    )
    assert done["type"] == "ack", done

    body = await site.until(
        "admin", path, ContactDetail,
        lambda b: b["state"] == "closed" and b["history"][-1]["type"] == "WrapUpCompleted",
    )  # fmt: skip
    history = body["history"]
    assert [e["type"] for e in history] == [
        "ContactArrived",
        "ContactQueued",
        "ContactOffered",
        "OfferRejected",
        "ContactOffered",
        "OfferAccepted",
        "ConversationEnded",
        "WrapUpCompleted",
    ]
    times = [e["at_ms"] for e in history]
    assert times == sorted(times)
    agents = [e["data"].get("agent_id") for e in history[2:]]
    assert agents == [first.agent_id, first.agent_id, *[second.agent_id] * 4]
    assert history[2]["data"]["queue"] == "support" and "strategy" in history[2]["data"]["reason"]
    assert history[-1]["data"]["disposition"] == "resolved"
    assert body["history_complete"] is True
    assert (body["state"], body["agent_id"], body["disposition"], body["notes"]) == (
        "closed", second.agent_id, "resolved", "Refund sent",
    )  # fmt: skip
    assert body["arrived_at_ms"] <= body["accepted_at_ms"] <= body["ended_at_ms"]
    assert body["ended_at_ms"] <= body["closed_at_ms"]
    assert body["customer_name"] == "Kim" and body["channel"] == "chat"
    assert body["live"] is None or body["live"]["state"] == "closed"

    # The transcript, where the CRM serves it, holds what the link counts.
    link = body["transcript"]
    assert link["url"] == f"/api/contacts/{contact_id}/transcript"
    assert link["message_count"] == 2 and link["last_message_at_ms"] is not None
    transcript = await site.ok("sup_a", link["url"], TranscriptOut)
    assert [m["body"] for m in transcript["messages"]] == ["Kim needs help", "Hello Kim"]
    for client in (alice, bob, customer):
        await client.close()


# --- lists -----------------------------------------------------------------------------------


async def test_filters_and_pages_newest_first(site: Site) -> None:
    waiting = [await _waiting(site, name) for name in ("Lou", "Max", "Ned")]
    ids = [contact_id for _c, contact_id in waiting]
    newest_first = list(reversed(ids))
    page = await site.until("admin", "/api/contacts", ContactPage, lambda p: len(p["items"]) == 3)
    assert _items(page) == newest_first and page["next"] is None
    times = [c["arrived_at_ms"] for c in page["items"]]

    first = await site.ok("admin", "/api/contacts?limit=2", ContactPage)
    assert _items(first) == newest_first[:2] and isinstance(first["next"], str)
    rest = await site.ok("admin", f"/api/contacts?limit=2&cursor={first['next']}", ContactPage)
    assert _items(rest) == newest_first[2:] and rest["next"] is None
    by_offset = await site.ok("admin", "/api/contacts?limit=2&offset=2", ContactPage)
    assert _items(by_offset) == newest_first[2:]

    async def found(query: str) -> list[str]:
        return _items(await site.ok("admin", "/api/contacts?" + query, ContactPage))

    assert await found("state=queued&queue=support&channel=chat") == newest_first
    assert await found("state=closed") == []
    assert await found("queue=billing") == []
    assert await found("channel=sms") == []
    customer_id = page["items"][1]["customer_id"]
    assert await found(f"customer_id={customer_id}") == [newest_first[1]]
    assert await found(f"since_ms={times[1]}") == newest_first[:2]
    assert await found(f"until_ms={times[1]}") == newest_first[2:]
    assert await found(f"since_ms={times[1]}&until_ms={times[1]}") == []
    assert await found(f"since_ms={times[2]}&until_ms={times[0] + 1}") == newest_first

    alice = await AgentClient.connect(site.hub.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    offered = [(await alice.expect("offer"))["contact"]["contact_id"] for _ in ids]
    assert sorted(offered) == sorted(ids)
    assert (await alice.command("accept", contact_id=ids[0]))["type"] == "ack"
    await site.until(
        "admin", f"/api/contacts?agent_id={site.ids['alice']}", ContactPage,
        lambda p: _items(p) == [ids[0]],
    )  # fmt: skip
    assert await found("state=assigned") == [ids[0]]
    assert await found("state=queued") == newest_first[:2]
    for client in (alice, *(c for c, _id in waiting)):
        await client.close()


# --- who sees what --------------------------------------------------------------------------


async def test_who_sees_which_contact(site: Site) -> None:
    """Team A answers for support (alice); team B for billing (bob). Both contacts are in
    support, one handled by alice, one by bob: team A's supervisor sees both (their queue),
    team B's only bob's (their agent), a supervisor of no team neither."""
    alice = await AgentClient.connect(site.hub.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    by_alice = await _handled(site, alice, "Oda")
    await alice.command("set_state", state="away", reason="break")
    bob = await AgentClient.connect(site.hub.base_url, "bob", TEST_PASSWORD)
    await bob.go_available()
    by_bob = await _handled(site, bob, "Pia")
    a_id, b_id = by_alice[1], by_bob[1]
    await site.until(
        "admin", f"/api/contacts?agent_id={site.ids['bob']}", ContactPage,
        lambda p: _items(p) == [b_id],
    )  # fmt: skip

    seen = {}
    for who in ("admin", "sup_a", "sup_b", "loner"):
        seen[who] = _items(await site.ok(who, "/api/contacts", ContactPage))
    assert seen == {"admin": [b_id, a_id], "sup_a": [b_id, a_id], "sup_b": [b_id], "loner": []}
    # A filter does not widen what one sees.
    assert _items(await site.ok("sup_b", "/api/contacts?queue=support", ContactPage)) == [b_id]

    for who, contact_id in (("admin", a_id), ("sup_a", a_id), ("sup_a", b_id), ("sup_b", b_id)):
        body = await site.ok(who, f"/api/contacts/{contact_id}", ContactDetail)
        assert body["contact_id"] == contact_id
    for who, contact_id in (("sup_b", a_id), ("loner", a_id), ("loner", b_id)):
        status, body = await site.call(who, f"/api/contacts/{contact_id}")
        assert (status, body["error_id"]) == (404, "contact.not_found"), who
    for path in ("/api/contacts", f"/api/contacts/{a_id}"):
        status, body = await site.call("alice", path)
        assert (status, body["error_id"]) == (403, "auth.forbidden")
        status, body = await site.call(None, path)
        assert (status, body["error_id"]) == (401, "auth.required")
    for client in (alice, bob, by_alice[0], by_bob[0]):
        await client.close()


# --- bad input -------------------------------------------------------------------------------


def _fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["details"]["errors"]]


BAD_FILTERS = (
    ("state=dancing", "state"),
    ("state=offered", "state"),  # routing's word: the record says queued
    ("channel=pigeon", "channel"),
    ("agent_id=alice", "agent_id"),
    ("customer_id=123", "customer_id"),
    ("since_ms=yesterday", "since_ms"),
    ("since_ms=-1", "since_ms"),
    ("until_ms=1.5", "until_ms"),
    ("until_ms=253402300800000", "until_ms"),  # past 9999-12-31
    ("queue=", "queue"),
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("colour=red", "colour"),
)


async def test_a_bad_filter_gets_400_naming_its_field(site: Site) -> None:
    for query, field in BAD_FILTERS:
        status, body = await site.call("admin", "/api/contacts?" + query)
        assert (status, body["error_id"]) == (400, "request.invalid"), (query, body)
        assert _fields(body) == [field], query


async def test_bad_ranges_cursors_and_ids_get_stable_errors(site: Site) -> None:
    customer, contact_id = await _waiting(site, "Quin")
    rows_before = await site.pool.fetchval("SELECT count(*) FROM contacts")

    status, body = await site.call("admin", "/api/contacts?since_ms=2000&until_ms=1000")
    assert (status, body["error_id"]) == (400, "contacts.invalid_time_range")
    assert body["details"]["field"] == "until_ms"
    status, body = await site.call("admin", "/api/contacts?cursor=not-a-cursor")
    assert (status, body["error_id"]) == (400, "pagination.invalid_cursor")
    status, body = await site.call("admin", "/api/contacts?cursor=abc&offset=2")
    assert (status, body["error_id"]) == (400, "request.invalid")
    for bad in ("not-a-uuid", "123", contact_id + "0"):
        status, body = await site.call("admin", f"/api/contacts/{bad}")
        assert (status, body["error_id"]) == (400, "contact.invalid_id"), bad
        assert body["details"]["field"] == "contact_id"
    status, body = await site.call("admin", f"/api/contacts/{uuid.uuid4()}")
    assert (status, body["error_id"]) == (404, "contact.not_found")
    # Nothing changed: the contact still waits, and the record holds as many contacts.
    body = await site.ok("admin", f"/api/contacts/{contact_id}", ContactDetail)
    assert body["state"] == "queued" and body["live"]["state"] == "queued"
    assert await site.pool.fetchval("SELECT count(*) FROM contacts") == rows_before
    await customer.close()
