"""Merging customers on real PostgreSQL: everything follows the survivor, and an unmerge
brings back exactly what was. Then the automatic merge and its review list."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from contactcenter.crm.cases import CaseStore
from contactcenter.crm.context import customer_context
from contactcenter.crm.customers import CustomerMerged, CustomerStore
from contactcenter.crm.merge_reviews import ReviewDecided, ReviewStore
from contactcenter.crm.merges import (
    MergeAlreadyUndone,
    MergeStore,
    SameCustomer,
    SurvivorMerged,
)
from contactcenter.crm.notes import NoteStore
from tests.integration.contactcenter.crm.test_customers import (
    make_agent,
    make_contact,
    make_order,
    pool,
    unique_phone,
)

__all__ = ["pool"]  # the fixture, imported to be used here


async def snapshot(db: asyncpg.Pool, *customer_ids: str) -> dict[str, Any]:
    """Every row that belongs to these customers, as comparable values."""
    ids = [uuid.UUID(c) for c in customer_ids]
    out: dict[str, Any] = {}
    for table, columns in (
        ("identities", "kind, value, customer_id, is_primary, created_at"),
        ("contacts", "id, customer_id"),
        ("orders", "id, customer_id"),
        ("cases", "id, customer_id, status"),
        ("customer_notes", "id, customer_id, body"),
        ("customer_tags", "customer_id, tag, created_at"),
    ):
        rows = await db.fetch(
            f"SELECT {columns} FROM {table} WHERE customer_id = ANY($1::uuid[]) ORDER BY {columns}",
            ids,
        )
        out[table] = [tuple(r) for r in rows]
    profile = await db.fetch(
        "SELECT id, display_name, language, tier_by_hand, account_manager, merged_into"
        " FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id",
        ids,
    )
    out["customers"] = [tuple(r) for r in profile]
    return out


async def rich_pair(db: asyncpg.Pool) -> tuple[str, str, str, str]:
    """Two customers with something of everything, overlapping where it can: a phone they
    share (the merged one holding it as primary), a tag both have, an empty survivor name.
    Returns (survivor, merged, the shared phone, a third holder of another phone)."""
    customers, notes, cases = CustomerStore(db), NoteStore(db), CaseStore(db)
    shared, household = unique_phone(), unique_phone()
    merged = await customers.create(
        "Rosa Parks",
        language="en",
        identities=[
            ("phone", shared, False),
            ("email", f"rosa.{uuid.uuid4().hex[:8]}@example.com", False),
            ("phone", household, False),
        ],
    )
    survivor = await customers.create("", identities=[("phone", shared, True)])
    third = await customers.create("Neighbour", identities=[("phone", household, True)])
    agent = await make_agent(db)
    for customer in (survivor, merged):
        cid = customer.customer_id
        contact = await make_contact(db, cid, agent_id=agent, first_message="hello")
        await make_order(db, cid)
        await cases.open_case(cid, "complaint", "late parcel", contact_ids=[contact])
        await notes.add_note(cid, agent, f"note on {cid}")
        await notes.add_tags(cid, ["vip", f"only-{cid[:4]}"])
    return survivor.customer_id, merged.customer_id, shared, third.customer_id


async def test_merge_moves_everything_and_unmerge_brings_back_exactly_what_was(
    pool: asyncpg.Pool,
) -> None:
    survivor, merged, shared, third = await rich_pair(pool)
    before = await snapshot(pool, survivor, merged, third)
    merges, customers = MergeStore(pool), CustomerStore(pool)
    manager = await make_agent(pool, "Sup", "supervisor")

    done = await merges.merge(survivor, merged, actor_id=manager, reason="same person")
    assert done.wire()["moved"] == {
        "contacts": 1,
        "orders": 1,
        "cases": 1,
        "customer_notes": 1,
        "identities": 3,
        "tags": 1,
    }
    after = await snapshot(pool, survivor, merged)
    owner_column = {"identities": 2, "customer_tags": 0}
    for table in ("contacts", "orders", "cases", "customer_notes", "identities", "customer_tags"):
        owners = {row[owner_column.get(table, 1)] for row in after[table]}
        assert owners == {uuid.UUID(survivor)}, table
    assert sorted(r[1] for r in after["customer_tags"]) == sorted(
        ["vip", f"only-{survivor[:4]}", f"only-{merged[:4]}"]
    )
    view = await customers.get(merged)
    assert view.customer_id == survivor and view.display_name == "Rosa Parks"
    assert view.language == "en" and view.wire()["merged_from"] == merged
    assert (await customers.resolve("phone", shared)).customer_id == survivor
    context = await customer_context(pool, merged)
    assert context is not None and len(context["interactions"]) == 2

    undone = await merges.unmerge(done.merge_id, actor_id=manager)
    assert undone.undone_by == manager and undone.undone_at_ms is not None
    assert await snapshot(pool, survivor, merged, third) == before
    assert (await customers.resolve("phone", shared)).customer_id == merged
    with pytest.raises(MergeAlreadyUndone):
        await merges.unmerge(done.merge_id, actor_id=manager)


async def test_rows_added_after_a_merge_stay_with_the_survivor_on_unmerge(
    pool: asyncpg.Pool,
) -> None:
    customers, merges, notes = CustomerStore(pool), MergeStore(pool), NoteStore(pool)
    a, b = await customers.create("Kim"), await customers.create("Kim")
    done = await merges.merge(a.customer_id, b.customer_id, actor_id=None, reason="test")
    later = await notes.add_note(b.customer_id, None, "written after the merge")
    assert later.customer_id == a.customer_id
    await merges.unmerge(done.merge_id, actor_id=None)
    assert [n.body for n in (await notes.notes(a.customer_id)).items] == ["written after the merge"]
    assert (await notes.notes(b.customer_id)).items == []


async def test_merge_refuses_itself_merged_customers_and_a_later_survivor_merge(
    pool: asyncpg.Pool,
) -> None:
    customers, merges = CustomerStore(pool), MergeStore(pool)
    a, b, c = [await customers.create(n) for n in ("A", "B", "C")]
    with pytest.raises(SameCustomer):
        await merges.merge(a.customer_id, a.customer_id, actor_id=None, reason="x")
    first = await merges.merge(a.customer_id, b.customer_id, actor_id=None, reason="x")
    with pytest.raises(CustomerMerged):
        await merges.merge(c.customer_id, b.customer_id, actor_id=None, reason="x")
    second = await merges.merge(c.customer_id, a.customer_id, actor_id=None, reason="x")
    assert (await customers.get(b.customer_id)).customer_id == c.customer_id
    with pytest.raises(SurvivorMerged):
        await merges.unmerge(first.merge_id, actor_id=None)
    await merges.unmerge(second.merge_id, actor_id=None)
    await merges.unmerge(first.merge_id, actor_id=None)
    assert (await customers.get(b.customer_id)).customer_id == b.customer_id


async def test_two_opposite_merges_at_once_one_wins(pool: asyncpg.Pool) -> None:
    customers, merges = CustomerStore(pool), MergeStore(pool)
    a, b = await customers.create("A"), await customers.create("B")
    results = await asyncio.gather(
        merges.merge(a.customer_id, b.customer_id, actor_id=None, reason="x"),
        merges.merge(b.customer_id, a.customer_id, actor_id=None, reason="x"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, CustomerMerged) for r in results) == 1
    live = await pool.fetchval(
        "SELECT count(*) FROM customers WHERE id = ANY($1::uuid[]) AND merged_into IS NULL",
        [uuid.UUID(a.customer_id), uuid.UUID(b.customer_id)],
    )
    assert live == 1


# --- automatic merges ------------------------------------------------------------------------


async def test_a_safe_pair_is_merged_automatically_into_the_one_with_orders(
    pool: asyncpg.Pool,
) -> None:
    customers, reviews = CustomerStore(pool), ReviewStore(pool)
    by_email = await customers.create(
        "", identities=[("email", f"{uuid.uuid4().hex}@x.org", False)]
    )
    by_phone = await customers.create("Ana", identities=[("phone", unique_phone(), False)])
    await make_order(pool, by_email.customer_id)
    outcome = await reviews.auto_merge(
        by_phone.customer_id, by_email.customer_id, {"reason": "one contact gave both"}
    )
    assert outcome.outcome == "merged" and outcome.merge is not None
    assert outcome.merge.survivor_id == by_email.customer_id and outcome.merge.actor_id is None
    survivor = await customers.get(by_phone.customer_id)
    assert survivor.customer_id == by_email.customer_id and survivor.display_name == "Ana"
    assert len(survivor.identities) == 2
    again = await reviews.auto_merge(by_phone.customer_id, by_email.customer_id, {})
    assert again.outcome == "same"


@pytest.mark.parametrize(
    "conflict", ["both_have_orders", "different_names", "shared_identity", "account_managers"]
)
async def test_a_conflicting_pair_goes_to_review_once(pool: asyncpg.Pool, conflict: str) -> None:
    customers, reviews = CustomerStore(pool), ReviewStore(pool)
    a = await customers.create("Jo")
    b = await customers.create("Jo")
    if conflict == "both_have_orders":
        await make_order(pool, a.customer_id)
        await make_order(pool, b.customer_id)
    elif conflict == "different_names":
        await customers.update(b.customer_id, {"display_name": "Joanna"})
    elif conflict == "shared_identity":
        phone = unique_phone()
        await customers.add_identity(a.customer_id, "phone", phone)
        await customers.add_identity(b.customer_id, "phone", phone, shared=True)
    else:
        for c in (a, b):
            await customers.set_account_manager(c.customer_id, await make_agent(pool))
    first = await reviews.auto_merge(a.customer_id, b.customer_id, {"contact_id": "c1"})
    second = await reviews.auto_merge(b.customer_id, a.customer_id, {"contact_id": "c2"})
    expected = "different_account_managers" if conflict == "account_managers" else conflict
    assert first.outcome == "review" and first.conflicts == (expected,)
    assert first.review is not None and second.review is not None
    assert second.review.review_id == first.review.review_id
    assert first.review.evidence == {"contact_id": "c1"}
    assert (await customers.get(b.customer_id)).customer_id == b.customer_id


async def test_review_decisions_merge_or_dismiss_and_are_final(pool: asyncpg.Pool) -> None:
    customers, reviews = CustomerStore(pool), ReviewStore(pool)
    sup = await make_agent(pool, "Sup", "supervisor")
    a, b, c = [await customers.create(n) for n in ("Al", "Bo", "Cy")]
    r1 = (await reviews.auto_merge(a.customer_id, b.customer_id, {})).review
    r2 = (await reviews.auto_merge(a.customer_id, c.customer_id, {})).review
    assert r1 is not None and r2 is not None
    pending = await reviews.reviews("pending")
    assert {r1.review_id, r2.review_id} <= {r.review_id for r in pending.items}
    decided, merge = await reviews.decide(
        r1.review_id, "merge", actor_id=sup, survivor_id=b.customer_id
    )
    assert decided.status == "merged" and decided.decided_by == sup
    assert merge is not None and merge.survivor_id == b.customer_id
    with pytest.raises(ReviewDecided):
        await reviews.decide(r1.review_id, "dismiss", actor_id=sup)
    dismissed, none = await reviews.decide(r2.review_id, "dismiss", actor_id=sup)
    assert dismissed.status == "dismissed" and none is None
    # a is part of b now, and a person said a and c are two customers: so are b and c.
    assert (await reviews.auto_merge(c.customer_id, b.customer_id, {})).outcome == "dismissed"


async def test_a_dismissed_pair_is_left_alone_and_an_undone_merge_is_not_redone(
    pool: asyncpg.Pool,
) -> None:
    customers, reviews, merges = CustomerStore(pool), ReviewStore(pool), MergeStore(pool)
    a, b = await customers.create("Di"), await customers.create("Dan")
    review = (await reviews.auto_merge(a.customer_id, b.customer_id, {})).review
    assert review is not None
    await reviews.decide(review.review_id, "dismiss", actor_id=None)
    assert (await reviews.auto_merge(a.customer_id, b.customer_id, {})).outcome == "dismissed"

    x, y = await customers.create("Same"), await customers.create("")
    done = await merges.merge(x.customer_id, y.customer_id, actor_id=None, reason="x")
    await merges.unmerge(done.merge_id, actor_id=None)
    outcome = await reviews.auto_merge(x.customer_id, y.customer_id, {})
    assert outcome.outcome == "review" and outcome.conflicts == ("merge_undone_before",)
