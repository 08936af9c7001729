"""Cases on real PostgreSQL: opened, tracked, linked to contacts, closed and reopened."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from contactcenter.crm.cases import (
    CaseNotFound,
    CaseStore,
    ContactNotFound,
    ContactOfAnotherCustomer,
    InvalidCase,
)
from contactcenter.crm.customers import CustomerStore, UnknownAgentRef
from contactcenter.web.pagination import Window
from tests.integration.contactcenter.crm.test_customers import make_agent, make_contact, pool

__all__ = ["pool"]  # the fixture, imported to be used here

DUE_AT_MS = 1_800_000_000_000


async def test_a_complaint_is_opened_linked_and_counts_as_open_until_resolved(
    pool: asyncpg.Pool,
) -> None:
    cases = CaseStore(pool)
    customer = await CustomerStore(pool).create("Cross Customer")
    owner = await make_agent(pool, "Owner")
    contact = await make_contact(pool, customer.customer_id)
    assert not await cases.has_open_complaint(customer.customer_id)
    case = await cases.open_case(
        customer.customer_id,
        "complaint",
        "Parcel arrived broken",
        priority="high",
        owner_id=owner,
        due_at_ms=DUE_AT_MS,
        created_by=owner,
        contact_ids=[contact],
    )
    assert (case.status, case.priority, case.owner_id, case.due_at_ms) == (
        "open",
        "high",
        owner,
        DUE_AT_MS,
    )
    assert case.contact_ids == (contact,) and case.closed_at_ms is None
    assert await cases.has_open_complaint(customer.customer_id)

    pending = await cases.update(case.case_id, {"status": "pending", "due_at_ms": None})
    assert pending.is_open and pending.due_at_ms is None
    assert await cases.has_open_complaint(customer.customer_id)
    resolved = await cases.update(case.case_id, {"status": "resolved"})
    assert resolved.closed_at_ms is not None
    assert not await cases.has_open_complaint(customer.customer_id)
    reopened = await cases.update(case.case_id, {"status": "open", "owner_id": None})
    assert reopened.closed_at_ms is None and reopened.owner_id is None


async def test_a_request_is_not_a_complaint(pool: asyncpg.Pool) -> None:
    cases = CaseStore(pool)
    customer = await CustomerStore(pool).create("Asker")
    await cases.open_case(customer.customer_id, "request", "Change my address")
    assert not await cases.has_open_complaint(customer.customer_id)


async def test_linking_checks_the_contact_and_is_idempotent(pool: asyncpg.Pool) -> None:
    cases, customers = CaseStore(pool), CustomerStore(pool)
    mine, theirs = await customers.create("Mine"), await customers.create("Theirs")
    case = await cases.open_case(mine.customer_id, "request", "Invoice copy")
    contact = await make_contact(pool, mine.customer_id)
    await cases.link_contact(case.case_id, contact)
    linked = await cases.link_contact(case.case_id, contact)
    assert linked.contact_ids == (contact,)
    with pytest.raises(ContactOfAnotherCustomer):
        await cases.link_contact(case.case_id, await make_contact(pool, theirs.customer_id))
    with pytest.raises(ContactNotFound):
        await cases.link_contact(case.case_id, str(uuid.uuid4()))
    with pytest.raises(CaseNotFound):
        await cases.link_contact(str(uuid.uuid4()), contact)


async def test_bad_values_are_refused_and_change_nothing(pool: asyncpg.Pool) -> None:
    cases = CaseStore(pool)
    customer = await CustomerStore(pool).create("Strict")
    with pytest.raises(InvalidCase):
        await cases.open_case(customer.customer_id, "praise", "Nice")
    case = await cases.open_case(customer.customer_id, "request", "Call me back")
    with pytest.raises(InvalidCase):
        await cases.update(case.case_id, {"status": "forgotten"})
    with pytest.raises(InvalidCase):
        await cases.update(case.case_id, {"customer_id": str(uuid.uuid4())})
    with pytest.raises(UnknownAgentRef):
        await cases.update(case.case_id, {"owner_id": str(uuid.uuid4())})
    assert (await cases.get(case.case_id)).status == "open"


async def test_a_customers_cases_newest_first_all_or_open_only(pool: asyncpg.Pool) -> None:
    cases = CaseStore(pool)
    customer = await CustomerStore(pool).create("Busy")
    opened = [
        await cases.open_case(customer.customer_id, "request", f"request {i}") for i in range(5)
    ]
    await cases.update(opened[1].case_id, {"status": "closed"})
    first = await cases.for_customer(customer.customer_id, window=Window(limit=3))
    assert [c.subject for c in first.items] == ["request 4", "request 3", "request 2"]
    assert isinstance(first.next, str)
    rest = await cases.for_customer(customer.customer_id, window=Window(limit=3, cursor=first.next))
    assert [c.subject for c in rest.items] == ["request 1", "request 0"] and rest.next is None
    still_open = await cases.for_customer(customer.customer_id, open_only=True)
    assert [c.subject for c in still_open.items] == [
        "request 4",
        "request 3",
        "request 2",
        "request 0",
    ]
