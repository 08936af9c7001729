"""End to end: the customer's context (docs/crm.md) travels with the offer to the agent."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from redis.asyncio import Redis

from contactcenter.crm.cases import CaseStore
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.notes import NoteStore
from contactcenter.crm.orders import OrderStore
from contactcenter.settings.hub import HubSettings
from routing.keys import Keys
from routing.rules import RoutingRule, RuleTarget
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient


async def test_an_offer_carries_who_the_customer_is_and_what_happened_before(
    hub: LiveHub,
) -> None:
    visitor_id = uuid.uuid4().hex
    pool = await asyncpg.create_pool(hub.settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        customer = await CustomerStore(pool).create(
            "Greta Known", language="en", identities=[("visitor", visitor_id, False)]
        )
        notes = NoteStore(pool)
        await notes.add_note(customer.customer_id, None, "Prefers email follow-ups")
        await notes.add_tags(customer.customer_id, ["vip", "b2b"])
        await CaseStore(pool).open_case(customer.customer_id, "complaint", "Parcel arrived broken")
        await OrderStore(pool, hub.settings.crm).create_order(
            customer.customer_id,
            amount=Decimal("420.00"),
            currency=hub.settings.crm.base_currency,
            ordered_at=datetime.now(UTC) - timedelta(days=30),
            status="delivered",
        )
    finally:
        await pool.close()

    agent = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await agent.go_available()
    chat = await ChatClient.connect(hub.base_url, "Greta", visitor_id=visitor_id)
    await chat.say("The replacement has not come either")
    offer = await agent.expect("offer")

    who = offer["contact"]["customer"]
    assert who["customer_id"] == customer.customer_id
    context = who["context"]
    assert context["name"] == "Greta Known" and context["language"] == "en"
    assert [n["body"] for n in context["notes"]] == ["Prefers email follow-ups"]
    assert sorted(context["tags"]) == ["b2b", "vip"]
    assert [c["subject"] for c in context["open_cases"]] == ["Parcel arrived broken"]
    assert context["has_open_complaint"] is True
    assert Decimal(context["value"]["value_amount"]) == Decimal("420.00")
    assert context["value"]["tier"]  # ranked among the customers with orders
    # The contact being offered is already part of the history.
    assert [i["channel"] for i in context["interactions"]][:1] == ["chat"]


async def test_a_rule_on_an_open_complaint_raises_the_contact_and_the_last_agent_is_preferred(
    settings: HubSettings, redis: Redis
) -> None:
    complaints_first = RoutingRule(
        "complaints first", {"open_complaint": True}, RuleTarget("support", priority=100)
    )
    live, runner = await start_hub(replace(settings, rules=(complaints_first,)))
    try:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        assert pool is not None
        visitor_id = uuid.uuid4().hex
        try:
            customer = await CustomerStore(pool).create(
                "Hana", identities=[("visitor", visitor_id, False)]
            )
            await CaseStore(pool).open_case(customer.customer_id, "complaint", "Never arrived")
            bob = await pool.fetchval("SELECT id FROM agents WHERE username = 'bob'")
            await pool.execute(
                "UPDATE customers SET account_manager = $2 WHERE id = $1",
                uuid.UUID(customer.customer_id),
                bob,
            )
            chat = await ChatClient.connect(live.base_url, "Hana", visitor_id=visitor_id)
            await chat.say("Still nothing")
            contact_id = (await chat.expect("queued"))["contact_id"]
            row = await pool.fetchrow(
                "SELECT priority FROM contacts WHERE id = $1", uuid.UUID(contact_id)
            )
            assert row is not None and row["priority"] == 100
            fields = await redis.hgetall(Keys(settings.routing_domain).contact(contact_id))
            assert fields["preferred_agent_id"] == str(bob)
        finally:
            await pool.close()
    finally:
        await runner.cleanup()
