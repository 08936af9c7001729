"""The customer store on real PostgreSQL: resolution, shared identities, profile, search,
notes and tags. The fixtures and helpers here serve the other CRM tests too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from contactcenter.core.db import create_pool, migrate
from contactcenter.crm.customers import (
    CustomerMerged,
    CustomerNotFound,
    CustomerStore,
    IdentityInUse,
    IdentityNotFound,
    UnknownAgentRef,
)
from contactcenter.crm.identity import InvalidIdentity
from contactcenter.crm.notes import NoteNotFound, NoteStore
from contactcenter.web.pagination import InvalidCursor, Window

BASE_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, size=8)
    await migrate(p)
    yield p
    await p.close()


@pytest.fixture
def customers(pool: asyncpg.Pool) -> CustomerStore:
    return CustomerStore(pool, default_region="FR")


def unique_phone() -> str:
    """A valid French mobile number no other test uses: +33 6 1x xx xx xx."""
    return f"+3361{uuid.uuid4().int % 10**7:07d}"


async def make_agent(pool: asyncpg.Pool, name: str = "Agent", role: str = "agent") -> str:
    agent_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO agents (id, username, display_name, role, password_hash)"
        " VALUES ($1, $2, $3, $4, 'x')",
        agent_id,
        f"u{agent_id.hex[:12]}",
        name,
        role,
    )
    return str(agent_id)


async def make_contact(
    pool: asyncpg.Pool,
    customer_id: str,
    *,
    channel: str = "chat",
    arrived_at: datetime = BASE_AT,
    agent_id: str | None = None,
    summary: str = "",
    first_message: str | None = None,
    handled_s: int | None = None,
) -> str:
    contact_id = uuid.uuid4()
    accepted = arrived_at + timedelta(seconds=5) if handled_s is not None else None
    ended = accepted + timedelta(seconds=handled_s) if accepted and handled_s else None
    await pool.execute(
        "INSERT INTO contacts (id, customer_id, channel, queue, state, arrived_at, agent_id,"
        " accepted_at, ended_at, disposition, summary)"
        " VALUES ($1, $2, $3, 'support', 'closed', $4, $5, $6, $7, 'resolved', $8)",
        contact_id,
        uuid.UUID(customer_id),
        channel,
        arrived_at,
        uuid.UUID(agent_id) if agent_id else None,
        accepted,
        ended,
        summary,
    )
    if first_message is not None:
        await pool.execute(
            "INSERT INTO messages (id, contact_id, sender, body) VALUES ($1, $2, 'customer', $3)",
            uuid.uuid4(),
            contact_id,
            first_message,
        )
    return str(contact_id)


async def make_order(pool: asyncpg.Pool, customer_id: str, amount: int = 100) -> str:
    order_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO orders (id, customer_id, amount, currency, amount_base, status, ordered_at)"
        " VALUES ($1, $2, $3, 'EUR', $3, 'paid', $4)",
        order_id,
        uuid.UUID(customer_id),
        amount,
        BASE_AT,
    )
    return str(order_id)


# --- resolution ------------------------------------------------------------------------------


async def test_an_unknown_identity_creates_a_customer_and_resolves_to_it_again(
    customers: CustomerStore,
) -> None:
    email = f"Ann.{uuid.uuid4().hex[:8]}@Example.COM"
    first = await customers.resolve("email", email, display_name="Ann")
    again = await customers.resolve("email", "  " + email.lower() + " ")
    assert first.created and not again.created
    assert again.customer_id == first.customer_id
    customer = await customers.get(first.customer_id)
    assert customer.display_name == "Ann"
    assert [(i.kind, i.value) for i in customer.identities] == [("email", email.lower())]


async def test_formatting_variants_of_one_number_find_one_customer(
    customers: CustomerStore,
) -> None:
    national = "0" + unique_phone()[3:]
    variants = [
        national,
        f"{national[:2]} {national[2:4]} {national[4:6]} {national[6:8]} {national[8:]}",
        f"+33 {national[1:]}",
        f"+33 (0){national[1:]}",
        f"0033{national[1:]}",
        f"{national[:2]}.{national[2:4]}.{national[4:6]}.{national[6:8]}.{national[8:]}",
    ]
    found = {(await customers.resolve("phone", v)).customer_id for v in variants}
    assert len(found) == 1
    customer = await customers.get(found.pop())
    assert customer.identities[0].value == "+33" + national[1:]


async def test_a_national_number_is_read_in_the_region_given(customers: CustomerStore) -> None:
    us = await customers.resolve("phone", "(415) 555-0132", region="US")
    assert (await customers.get(us.customer_id)).identities[0].value == "+14155550132"
    with pytest.raises(InvalidIdentity):
        await customers.resolve("phone", "12")


async def test_concurrent_first_contacts_from_one_new_number_make_one_customer(
    pool: asyncpg.Pool, customers: CustomerStore
) -> None:
    phone = unique_phone()
    before = await pool.fetchval("SELECT count(*) FROM customers")
    results = await asyncio.gather(*(customers.resolve("phone", phone) for _ in range(12)))
    assert len({r.customer_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await pool.fetchval("SELECT count(*) FROM customers") == before + 1


async def test_a_shared_phone_resolves_to_its_primary_holder_and_names_every_holder(
    customers: CustomerStore,
) -> None:
    phone = unique_phone()
    mum = await customers.resolve("phone", phone, display_name="Mum")
    son = await customers.create("Son")
    with pytest.raises(IdentityInUse):
        await customers.add_identity(son.customer_id, "phone", phone)
    shared = await customers.add_identity(son.customer_id, "phone", phone, shared=True)
    assert not shared.is_primary and shared.holders == 2
    again = await customers.resolve("phone", phone)
    assert again.customer_id == mum.customer_id
    assert set(again.holders) == {mum.customer_id, son.customer_id}
    await customers.set_primary(son.customer_id, "phone", phone)
    assert (await customers.resolve("phone", phone)).customer_id == son.customer_id
    mum_view = await customers.get(mum.customer_id)
    assert [i.wire() for i in mum_view.identities] == [
        {"kind": "phone", "value": phone, "is_primary": False, "shared": True}
    ]


async def test_removing_the_primary_holder_promotes_the_other(customers: CustomerStore) -> None:
    phone = unique_phone()
    first = await customers.create("First", identities=[("phone", phone, False)])
    second = await customers.create("Second", identities=[("phone", phone, True)])
    await customers.remove_identity(first.customer_id, "phone", phone)
    assert (await customers.resolve("phone", phone)).customer_id == second.customer_id
    assert (await customers.get(second.customer_id)).identities[0].is_primary
    with pytest.raises(IdentityNotFound):
        await customers.remove_identity(first.customer_id, "phone", phone)


async def test_creating_with_an_identity_in_use_changes_nothing(
    pool: asyncpg.Pool, customers: CustomerStore
) -> None:
    phone = unique_phone()
    await customers.create("Holder", identities=[("phone", phone, False)])
    before = await pool.fetchval("SELECT count(*) FROM customers")
    email = f"new.{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(IdentityInUse):
        await customers.create(
            "Intruder", identities=[("email", email, False), ("phone", phone, False)]
        )
    assert await pool.fetchval("SELECT count(*) FROM customers") == before
    assert await pool.fetchval("SELECT count(*) FROM identities WHERE value = $1", email) == 0


# --- profile and search -------------------------------------------------------------------


async def test_profile_updates_and_the_account_manager_must_be_an_agent(
    pool: asyncpg.Pool, customers: CustomerStore
) -> None:
    customer = await customers.create("Léa", language="fr")
    manager = await make_agent(pool, "Manager")
    updated = await customers.update(
        customer.customer_id, {"display_name": "Léa Durand", "tier_by_hand": "gold"}
    )
    assert (updated.display_name, updated.tier_by_hand, updated.language) == (
        "Léa Durand",
        "gold",
        "fr",
    )
    managed = await customers.set_account_manager(customer.customer_id, manager)
    assert managed.account_manager_id == manager
    with pytest.raises(UnknownAgentRef):
        await customers.set_account_manager(customer.customer_id, str(uuid.uuid4()))
    with pytest.raises(CustomerNotFound):
        await customers.get(str(uuid.uuid4()))


async def test_search_by_name_prefix_pages_by_cursor_and_by_offset(
    customers: CustomerStore,
) -> None:
    tag = uuid.uuid4().hex[:6]
    names = [f"Zq{tag} {n}" for n in ("Ada", "bob", "Cy", "dee", "Eve")]
    for n in names:
        await customers.create(n)
    decoy = await customers.create(f"Zq{tag}_ (an underscore is no wildcard)")
    only = await customers.search(name=f"zq{tag}_")
    assert [c.customer_id for c in only.items] == [decoy.customer_id]
    seen, cursor = [], None
    while True:
        page = await customers.search(name=f"zQ{tag} ", window=Window(limit=2, cursor=cursor))
        seen += [c.display_name for c in page.items]
        if page.next is None:
            break
        assert isinstance(page.next, str)
        cursor = page.next
    assert seen == [*names, decoy.display_name]
    by_offset = await customers.search(name=f"zq{tag} ", window=Window(limit=2, offset=2))
    assert [c.display_name for c in by_offset.items] == names[2:4] and by_offset.next == 4
    with pytest.raises(InvalidCursor):
        await customers.search(name="x", window=Window(cursor="bm90IGEgY3Vyc29y"))


async def test_search_by_phone_and_email_normalises_and_finds_every_holder(
    customers: CustomerStore,
) -> None:
    phone, email = unique_phone(), f"Bo.{uuid.uuid4().hex[:8]}@example.com"
    a = await customers.create("A", identities=[("phone", phone, False), ("email", email, False)])
    b = await customers.create("B", identities=[("phone", phone, True)])
    national = "0" + phone[3:]
    by_phone = await customers.search(phone=f"{national[:2]} {national[2:]}")
    assert {c.customer_id for c in by_phone.items} == {a.customer_id, b.customer_id}
    by_email = await customers.search(email=email.upper())
    assert [c.customer_id for c in by_email.items] == [a.customer_id]


# --- notes and tags ---------------------------------------------------------------------------


async def test_notes_newest_first_paged_and_deleted(pool: asyncpg.Pool) -> None:
    store = NoteStore(pool)
    customer = await CustomerStore(pool).create("Noted")
    author = await make_agent(pool, "Author")
    for i in range(3):
        await store.add_note(customer.customer_id, author, f"note {i}")
    first = await store.notes(customer.customer_id, Window(limit=2))
    assert [n.body for n in first.items] == ["note 2", "note 1"]
    assert first.items[0].author_name == "Author"
    assert isinstance(first.next, str)
    rest = await store.notes(customer.customer_id, Window(limit=2, cursor=first.next))
    assert [n.body for n in rest.items] == ["note 0"] and rest.next is None
    other = await CustomerStore(pool).create("Other")
    with pytest.raises(NoteNotFound):
        await store.delete_note(other.customer_id, first.items[0].note_id)
    await store.delete_note(customer.customer_id, first.items[0].note_id)
    assert len((await store.notes(customer.customer_id)).items) == 2


async def test_tags_are_a_normalised_set(pool: asyncpg.Pool) -> None:
    store = NoteStore(pool)
    customer = await CustomerStore(pool).create("Tagged")
    assert await store.add_tags(customer.customer_id, ["VIP", " late  payer ", "vip"]) == [
        "late payer",
        "vip",
    ]
    assert await store.remove_tag(customer.customer_id, "VIP") == ["late payer"]
    assert await store.remove_tag(customer.customer_id, "never there") == ["late payer"]


async def test_a_merged_customer_refuses_new_identities(
    pool: asyncpg.Pool, customers: CustomerStore
) -> None:
    survivor = await customers.create("Survivor")
    merged = await customers.create("Merged")
    await pool.execute(
        "UPDATE customers SET merged_into = $1 WHERE id = $2",
        uuid.UUID(survivor.customer_id),
        uuid.UUID(merged.customer_id),
    )
    with pytest.raises(CustomerMerged):
        await customers.add_identity(merged.customer_id, "email", "m@example.com")
    assert (await customers.get(merged.customer_id)).customer_id == survivor.customer_id
