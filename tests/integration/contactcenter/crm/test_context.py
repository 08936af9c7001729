"""The customer context on real PostgreSQL: its shape, its contents, and a plan that probes
indexes rather than scanning tables."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from contactcenter.crm.cases import CaseStore
from contactcenter.crm.context import CONTEXT_SQL, customer_context, interactions
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.merges import MergeStore
from contactcenter.crm.notes import NoteStore
from contactcenter.crm.store import dt_to_ms
from contactcenter.web.pagination import Window
from tests.integration.contactcenter.crm.test_customers import (
    BASE_AT,
    make_agent,
    make_contact,
    pool,
    unique_phone,
)

__all__ = ["pool"]  # the fixture, imported to be used here


async def profile(db: asyncpg.Pool) -> tuple[str, str, str]:
    """A customer with some of everything; returns (customer, agent, phone)."""
    customers, notes, cases = CustomerStore(db), NoteStore(db), CaseStore(db)
    phone = unique_phone()
    customer = await customers.create(
        "Grace Hopper",
        language="en",
        identities=[("phone", phone, False), ("email", f"g.{uuid.uuid4().hex[:6]}@x.org", False)],
    )
    cid = customer.customer_id
    agent = await make_agent(db, "Alice Martin")
    await customers.set_account_manager(cid, agent)
    await db.execute(
        "UPDATE customers SET tier = 'gold', value_amount = 1234.50, value_rank = 7,"
        " order_count = 3, lifecycle = 'growth', rfm_recency = 5, rfm_frequency = 4,"
        " rfm_monetary = 3 WHERE id = $1",
        uuid.UUID(cid),
    )
    channels = ["chat", "email", "sms", "voice"]
    for i in range(12):
        await make_contact(
            db,
            cid,
            channel=channels[i % 4],
            arrived_at=BASE_AT + timedelta(hours=i),
            agent_id=agent,
            handled_s=60 + i,
            first_message=f"message {i}",
        )
    await make_contact(
        db,
        cid,
        arrived_at=BASE_AT + timedelta(days=1),
        first_message="\n\n  " + "x" * 200 + "\nsecond line",
    )
    await make_contact(
        db, cid, arrived_at=BASE_AT + timedelta(days=2), summary="Refund agreed", first_message="hi"
    )
    await cases.open_case(cid, "complaint", "Broken", priority="urgent")
    closed = await cases.open_case(cid, "request", "Old request")
    await cases.update(closed.case_id, {"status": "closed"})
    for i in range(7):
        await notes.add_note(cid, agent, f"note {i}")
    await notes.add_tags(cid, ["vip", "french-speaker"])
    return cid, agent, phone


async def test_the_context_holds_the_whole_profile(pool: asyncpg.Pool) -> None:
    cid, agent, phone = await profile(pool)
    context = await customer_context(pool, cid)
    assert context is not None
    json.dumps(context)  # plain JSON through and through
    assert context["customer_id"] == cid and context["merged_from"] is None
    assert (context["name"], context["language"], context["lifecycle"]) == (
        "Grace Hopper",
        "en",
        "growth",
    )
    assert {"kind": "phone", "value": phone, "is_primary": True, "shared": False} in context[
        "identities"
    ]
    assert context["value"] == {
        "tier": "gold",
        "tier_by_hand": None,
        "value_amount": "1234.50",
        "value_rank": 7,
        "order_count": 3,
        "first_order_at_ms": None,
        "last_order_at_ms": None,
    }
    assert context["rfm"] == {"recency": 5, "frequency": 4, "monetary": 3}
    assert context["account_manager"] == {"agent_id": agent, "display_name": "Alice Martin"}
    assert context["tags"] == ["french-speaker", "vip"]
    assert [n["body"] for n in context["notes"]] == [f"note {i}" for i in (6, 5, 4, 3, 2)]
    assert [c["subject"] for c in context["open_cases"]] == ["Broken"]
    assert context["has_open_complaint"] is True


async def test_the_last_ten_interactions_carry_a_one_line_summary(pool: asyncpg.Pool) -> None:
    cid, agent, _ = await profile(pool)
    context = await customer_context(pool, cid)
    assert context is not None
    history = context["interactions"]
    assert len(history) == 10
    assert history[0]["summary"] == "Refund agreed"
    assert history[1]["summary"] == "x" * 119 + "…"
    newest_handled = history[2]
    assert newest_handled == {
        "contact_id": newest_handled["contact_id"],
        "channel": "voice",
        "queue": "support",
        "state": "closed",
        "arrived_at_ms": dt_to_ms(BASE_AT + timedelta(hours=11)),
        "ended_at_ms": newest_handled["ended_at_ms"],
        "agent_id": agent,
        "agent_name": "Alice Martin",
        "disposition": "resolved",
        "notes": "",
        "duration_s": 71,
        "summary": "message 11",
    }
    assert newest_handled["ended_at_ms"] > newest_handled["arrived_at_ms"]
    assert [h["arrived_at_ms"] for h in history] == sorted(
        (h["arrived_at_ms"] for h in history), reverse=True
    )
    assert {h["channel"] for h in history} == {"chat", "email", "sms", "voice"}


async def test_interactions_page_through_the_whole_history(pool: asyncpg.Pool) -> None:
    cid, _, _ = await profile(pool)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await interactions(pool, cid, Window(limit=5, cursor=cursor))
        seen += page.items
        if page.next is None:
            break
        assert isinstance(page.next, str)
        cursor = page.next
    assert len(seen) == 14 and len({h["contact_id"] for h in seen}) == 14


async def test_a_merged_customer_gives_its_survivors_context(pool: asyncpg.Pool) -> None:
    cid, _, _ = await profile(pool)
    other = await CustomerStore(pool).create("")
    await MergeStore(pool).merge(cid, other.customer_id, actor_id=None, reason="test")
    context = await customer_context(pool, other.customer_id)
    assert context is not None
    assert context["customer_id"] == cid and context["merged_from"] == other.customer_id
    assert await customer_context(pool, str(uuid.uuid4())) is None


def _scans(plan: dict[str, Any]) -> set[tuple[str, str]]:
    found = {(plan["Node Type"], plan.get("Relation Name", ""))}
    for child in plan.get("Plans", []):
        found |= _scans(child)
    return found


async def test_every_table_the_context_reads_is_reached_through_an_index(
    pool: asyncpg.Pool,
) -> None:
    """Tables this small are cheaper to scan, so the planner is told to avoid scans: it still
    scans a table it has no index to reach by. bench/context.py prints the plan on a
    realistic data set."""
    cid, _, _ = await profile(pool)
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        try:
            text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {CONTEXT_SQL}", uuid.UUID(cid))
        finally:
            await conn.execute("RESET enable_seqscan")
    scans = _scans(json.loads(text)[0]["Plan"])
    assert not {rel for node, rel in scans if node == "Seq Scan"}, scans
    reached = {rel for _, rel in scans if rel}
    assert {"customers", "contacts", "messages", "identities", "cases"} <= reached
