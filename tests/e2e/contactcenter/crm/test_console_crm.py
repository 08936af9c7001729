"""End to end: a change to a customer made through the CRM API reaches, at once, the consoles
showing that customer (docs/protocol.md, `customer_changed`), and no other agent's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import LiveHub
from tests.e2e.clients import AgentClient, ChatClient, login


@dataclass
class Rest:
    """The CRM API as another user (bob, an agent; sam, a supervisor) calls it."""

    base_url: str
    http: aiohttp.ClientSession
    token: str

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base_url + path, headers=headers, **kw) as resp:
            body = await resp.json()
            assert resp.status < 300, (method, path, resp.status, body)
            return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _alice_takes_a_chat(hub: LiveHub, name: str) -> tuple[AgentClient, ChatClient, str]:
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.go_available()
    chat = await ChatClient.connect(hub.base_url, name)
    await chat.say("Where is my order?")
    offer = await alice.expect("offer")
    contact_id = offer["contact"]["contact_id"]
    ack = await alice.command("accept", contact_id=contact_id)
    assert ack["type"] == "ack", ack
    await alice.expect("assigned")
    customer_id: str = offer["contact"]["customer"]["customer_id"]
    return alice, chat, customer_id


async def _change(client: AgentClient, kind: str) -> dict[str, Any]:
    """The next `customer_changed` frame, which must be of `kind` (they come in order)."""
    frame = await client.expect("customer_changed", timeout_s=5)
    assert frame["kind"] == kind, frame
    return frame


async def _barrier(client: AgentClient, state: str) -> None:
    """Wait until `client` has every frame of the events so far: its own state change comes
    later on the stream, and a connection's frames arrive in stream order."""
    ack = await client.command("set_state", state=state)
    assert ack["type"] == "ack", ack
    await client.expect("state", state=state)


async def test_notes_tags_and_cases_changed_by_others_reach_the_holder_at_once(
    hub: LiveHub, http: aiohttp.ClientSession
) -> None:
    alice, chat, customer_id = await _alice_takes_a_chat(hub, "Xavier Holder")
    bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)  # holds nothing
    sam = await AgentClient.connect(hub.base_url, "sam", hub.demo_password)  # a supervisor
    as_bob = Rest(hub.base_url, http, await login(hub.base_url, "bob", hub.demo_password))
    as_sam = Rest(hub.base_url, http, await login(hub.base_url, "sam", hub.demo_password))
    c = f"/api/customers/{customer_id}"
    try:
        note = await as_bob.call("POST", c + "/notes", json={"body": "Called twice about it"})
        frame = await _change(alice, "CustomerNoteAdded")
        assert frame["customer_id"] == customer_id
        assert frame["agent_id"] == bob.agent_id
        assert frame["data"] == {"note_id": note["note_id"], "body": "Called twice about it"}

        await as_bob.call("POST", c + "/tags", json={"tags": ["VIP", "late delivery"]})
        frame = await _change(alice, "CustomerTagsChanged")
        assert frame["data"] == {"tags": ["late delivery", "vip"]}
        await as_bob.call("DELETE", c + "/tags/vip")
        frame = await _change(alice, "CustomerTagsChanged")
        assert frame["data"] == {"tags": ["late delivery"]}

        case = await as_sam.call(
            "POST",
            "/api/cases",
            json={
                "customer_id": customer_id,
                "kind": "complaint",
                "subject": "Order 881 late",
                "priority": "high",
            },
        )
        frame = await _change(alice, "CaseOpened")
        assert frame["data"]["case_id"] == case["case_id"]
        assert frame["data"]["subject"] == "Order 881 late"
        await as_sam.call("PATCH", f"/api/cases/{case['case_id']}", json={"status": "resolved"})
        frame = await _change(alice, "CaseUpdated")
        assert frame["data"]["status"] == "resolved" and frame["agent_id"] == sam.agent_id

        await as_sam.call("DELETE", f"{c}/notes/{note['note_id']}")
        frame = await _change(alice, "CustomerNoteDeleted")
        assert frame["data"] == {"note_id": note["note_id"]}

        # Supervisors see every change too.
        kinds = [
            (await sam.expect("customer_changed", customer_id=customer_id))["kind"]
            for _ in range(6)
        ]
        assert kinds == [
            "CustomerNoteAdded",
            "CustomerTagsChanged",
            "CustomerTagsChanged",
            "CaseOpened",
            "CaseUpdated",
            "CustomerNoteDeleted",
        ]
        # Bob holds none of this customer's contacts: by the time his own later event
        # reaches him, nothing about the customer has.
        await _barrier(bob, "away")
        assert [f for f in bob.seen if f["type"] == "customer_changed"] == []
        # Alice got each change once.
        assert len([f for f in alice.seen if f["type"] == "customer_changed"]) == 6
    finally:
        for client in (alice, bob, sam, chat):
            await client.close()


async def test_after_a_merge_the_survivors_changes_reach_the_merged_customers_holder(
    hub: LiveHub, http: aiohttp.ClientSession
) -> None:
    alice, chat, customer_id = await _alice_takes_a_chat(hub, "Mona Merged")
    as_sam = Rest(hub.base_url, http, await login(hub.base_url, "sam", hub.demo_password))
    try:
        survivor = await as_sam.call("POST", "/api/customers", json={"display_name": "Mona M."})
        survivor_id = survivor["customer_id"]
        await as_sam.call(
            "POST",
            "/api/merges",
            json={"survivor_id": survivor_id, "merged_id": customer_id, "reason": "same person"},
        )
        frame = await _change(alice, "CustomersMerged")
        assert frame["customer_id"] == survivor_id
        assert frame["data"]["merged_id"] == customer_id

        # A change to the survivor now concerns alice's contact.
        await as_sam.call(
            "POST", f"/api/customers/{survivor_id}/notes", json={"body": "Merged two records"}
        )
        frame = await _change(alice, "CustomerNoteAdded")
        assert frame["customer_id"] == survivor_id
    finally:
        for client in (alice, chat):
            await client.close()
