"""End to end across real hub processes sharing Redis and PostgreSQL ("nothing lost").

Every hub here is a separate `python -m contactcenter serve` process (tests/e2e/processes.py)
on its own port, in the test's routing domain. Customers and agents are real websocket clients
connected to different processes, so every push crosses processes through the Redis stream, and
hubs are killed with SIGKILL to show that a crash strands nothing and loses nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from contactcenter.core import events as ev
from routing.keys import Keys
from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import AgentClient, ChatClient, FrameClient
from tests.e2e.processes import HubFactory, make_config_dir

CAPACITY = 3  # config/hub.toml agents.chat_capacity, given to every demo account


# --- helpers --------------------------------------------------------------------------------


async def expect_where(
    client: FrameClient, kind: str, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
) -> dict[str, Any]:
    """The first unconsumed frame of type `kind` for which `pred` holds (others are kept)."""
    for i, frame in enumerate(client.backlog):
        if frame["type"] == kind and pred(frame):
            return client.backlog.pop(i)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"no matching {kind} frame within {timeout_s}s; "
                f"saw {[f['type'] for f in client.seen[-15:]]}"
            )
        frame = await client.next(remaining)
        if frame["type"] == kind and pred(frame):
            return frame
        client.backlog.append(frame)


async def expect_message(
    client: FrameClient, body: str, sender: str, timeout_s: float = 10.0
) -> dict[str, Any]:
    frame = await expect_where(
        client,
        "message",
        lambda f: f["message"]["body"] == body and f["message"]["sender"] == sender,
        timeout_s,
    )
    return frame


async def say(customer: ChatClient, text: str) -> None:
    """Send a customer message and wait for its echo: it is then stored and published."""
    await customer.say(text)
    await expect_message(customer, text, "customer")


async def expect_offer(
    agent: AgentClient, contact_id: str, timeout_s: float = 10.0
) -> dict[str, Any]:
    return await expect_where(
        agent, "offer", lambda f: f["contact"]["contact_id"] == contact_id, timeout_s
    )


async def accept(agent: AgentClient, contact_id: str) -> dict[str, Any]:
    ack = await agent.command("accept", contact_id=contact_id)
    assert ack["type"] == "ack", ack
    return await expect_where(agent, "assigned", lambda f: f["contact"]["contact_id"] == contact_id)


async def finish(
    agent: AgentClient, contact_id: str, disposition: str = "resolved", notes: str = ""
) -> None:
    """End the conversation and wrap it up."""
    ack = await agent.command("end", contact_id=contact_id)
    assert ack["type"] == "ack", ack
    await agent.expect("conversation_ended", contact_id=contact_id)
    ack = await agent.command("wrapup", contact_id=contact_id, disposition=disposition, notes=notes)
    assert ack["type"] == "ack", ack
    await agent.expect("wrapup_done", contact_id=contact_id)


async def eventually(
    probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, interval_s: float = 0.05
) -> Any:
    """`probe()` once it returns something truthy, polling for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval_s)


async def stream_events(redis: Redis, domain: str) -> list[ev.Event]:
    """Every decodable event on the domain's stream, oldest first."""
    out: list[ev.Event] = []
    for _entry_id, fields in await redis.xrange(Keys(domain).events, "-", "+"):
        try:
            out.append(ev.decode_event(fields))
        except ev.UnknownEvent:
            pass
    return out


def check_leases(events: list[ev.Event]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Replay offers and their ends: a contact is never offered while another agent holds it,
    and no agent holds more than CAPACITY contacts at once (offered, assigned or in wrap-up).
    Returns each contact's offers (agent ids in order) and each agent's peak load."""
    holder: dict[str, str | None] = {}
    offers: dict[str, list[str]] = {}
    load: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    for e in events:
        match e:
            case ev.ContactOffered():
                assert holder.get(e.contact_id) is None, (
                    f"{e.contact_id} offered to {e.agent_id} while {holder[e.contact_id]} holds it"
                )
                holder[e.contact_id] = e.agent_id
                offers.setdefault(e.contact_id, []).append(e.agent_id)
                load[e.agent_id] += 1
                peak[e.agent_id] = max(peak[e.agent_id], load[e.agent_id])
                assert load[e.agent_id] <= CAPACITY, f"{e.agent_id} over capacity at {e}"
            case ev.OfferExpired() | ev.OfferRejected():
                assert holder.get(e.contact_id) == e.agent_id, e
                holder[e.contact_id] = None
                load[e.agent_id] -= 1
            case ev.OfferAccepted():
                assert holder.get(e.contact_id) == e.agent_id, e
            case ev.WrapUpCompleted():
                assert holder.get(e.contact_id) == e.agent_id, e
                holder[e.contact_id] = None
                load[e.agent_id] -= 1
            case ev.ContactAbandoned() if e.agent_id:
                load[e.agent_id] -= 1
                holder[e.contact_id] = None
            case _:
                pass
    return offers, dict(peak)


def routing_trail(events: list[ev.Event], contact_id: str) -> list[tuple[str, str]]:
    kinds = (ev.ContactOffered, ev.OfferExpired, ev.OfferRejected, ev.OfferAccepted)
    return [
        (e.type, e.agent_id) for e in events if isinstance(e, kinds) and e.contact_id == contact_id
    ]


async def closed_contact(database_url: str, contact_id: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(database_url)
    try:

        async def probe() -> asyncpg.Record | None:
            row = await conn.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(contact_id))
            return row if row is not None and row["state"] == "closed" else None

        row: asyncpg.Record | None = await eventually(probe, timeout_s=10.0)
        return row
    finally:
        await conn.close()


async def stored_bodies(database_url: str, contact_id: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT body FROM messages WHERE contact_id = $1 ORDER BY created_at, id",
            uuid.UUID(contact_id),
        )
        return [r["body"] for r in rows]
    finally:
        await conn.close()


async def connection_drops(client: FrameClient, timeout_s: float = 10.0) -> bool:
    """Whether the client's connection closes within `timeout_s` (frames read are kept)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            client.backlog.append(await client.next(deadline - time.monotonic()))
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False
    return False


# --- tests ----------------------------------------------------------------------------------


async def test_customer_on_one_hub_and_agent_on_another_talk_both_ways(
    hubs: HubFactory, database_url: str
) -> None:
    a, b = await hubs.start("A", "B")
    alice = await AgentClient.connect(b.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    customer = await ChatClient.connect(a.base_url, "Dana Across")
    assert customer.welcome["status"] == "new"
    await customer.say("Hello from hub A")
    contact_id = (await customer.expect("queued"))["contact_id"]

    offer = await expect_offer(alice, contact_id)
    assert offer["contact"]["customer"]["name"] == "Dana Across"
    assert [m["body"] for m in offer["contact"]["messages"]] == ["Hello from hub A"]
    assigned = await accept(alice, contact_id)
    assert assigned["contact"]["state"] == "assigned"
    joined = await customer.expect("agent_joined", contact_id=contact_id)
    assert joined["agent_name"] == "Alice Martin"

    ack = await alice.command("send", contact_id=contact_id, text="Hello from hub B")
    assert ack["type"] == "ack", ack
    await expect_message(customer, "Hello from hub B", "agent")
    await customer.say("Thanks, hub B")
    await expect_message(alice, "Thanks, hub B", "customer")

    ack = await alice.command("end", contact_id=contact_id)
    assert ack["type"] == "ack", ack
    await alice.expect("conversation_ended", contact_id=contact_id)
    await customer.expect("ended", contact_id=contact_id)
    ack = await alice.command(
        "wrapup", contact_id=contact_id, disposition="resolved", notes="answered across hubs"
    )
    assert ack["type"] == "ack", ack
    await alice.expect("wrapup_done", contact_id=contact_id)

    assert await stored_bodies(database_url, contact_id) == [
        "Hello from hub A",
        "Hello from hub B",
        "Thanks, hub B",
    ]
    row = await closed_contact(database_url, contact_id)
    assert row is not None, "the history writer never closed the contact in PostgreSQL"
    assert row["disposition"] == "resolved" and row["notes"] == "answered across hubs"
    assert str(row["agent_id"]) == alice.agent_id
    for c in (alice, customer):
        await c.close()


async def test_offer_stranded_by_a_killed_hub_goes_to_the_next_agent(
    hubs: HubFactory, redis: Redis, routing_domain: str, tmp_path: Path
) -> None:
    timeout_s = 2.0
    config = make_config_dir(tmp_path / "config-short-lease", offer_timeout_s=timeout_s)
    a, b = await hubs.start("A", "B", config_dir=config)
    alice = await AgentClient.connect(a.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    customer = await ChatClient.connect(b.base_url, "Olga Stranded")
    await say(customer, "hello")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await expect_offer(alice, contact_id)

    a.kill()
    assert await connection_drops(alice), "alice's console stayed open after her hub died"
    await say(customer, "is anyone there?")
    bob = await AgentClient.connect(b.base_url, "bob", TEST_PASSWORD)
    await bob.go_available()

    # B's routing worker takes the dead lease back and offers the contact to bob.
    offer = await expect_offer(bob, contact_id, timeout_s=timeout_s + 5)
    assert offer["contact"]["customer"]["name"] == "Olga Stranded"
    await say(customer, "still waiting")
    assigned = await accept(bob, contact_id)
    joined = await customer.expect("agent_joined", contact_id=contact_id)
    assert joined["agent_name"] == "Bob Okafor"
    transcript = [m["body"] for m in assigned["contact"]["messages"] if m["sender"] == "customer"]
    assert transcript == ["hello", "is anyone there?", "still waiting"]

    events = await stream_events(redis, routing_domain)
    check_leases(events)
    assert routing_trail(events, contact_id) == [
        ("ContactOffered", alice.agent_id),
        ("OfferExpired", alice.agent_id),
        ("ContactOffered", bob.agent_id),
        ("OfferAccepted", bob.agent_id),
    ]
    for c in (bob, customer):
        await c.close()


async def test_messages_survive_the_hub_the_customer_was_on_being_killed(
    hubs: HubFactory, database_url: str
) -> None:
    a, b = await hubs.start("A", "B")
    alice = await AgentClient.connect(b.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    customer = await ChatClient.connect(a.base_url, "Kim Survivor")
    visitor_id = customer.welcome["visitor_id"]
    await say(customer, "first, on hub A")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await expect_offer(alice, contact_id)
    await accept(alice, contact_id)
    await customer.expect("agent_joined", contact_id=contact_id)
    assert (await alice.command("send", contact_id=contact_id, text="agent reply 1"))[
        "type"
    ] == "ack"
    await expect_message(customer, "agent reply 1", "agent")
    await say(customer, "second, on hub A")
    await expect_message(alice, "second, on hub A", "customer")

    a.kill()
    assert await connection_drops(customer), "the customer's chat stayed open after A died"

    back = await ChatClient.connect(b.base_url, "Kim Survivor", visitor_id=visitor_id)
    assert back.welcome["visitor_id"] == visitor_id
    assert back.welcome["contact_id"] == contact_id
    assert back.welcome["status"] == "connected"
    assert [(m["sender"], m["body"]) for m in back.welcome["messages"]] == [
        ("customer", "first, on hub A"),
        ("agent", "agent reply 1"),
        ("customer", "second, on hub A"),
    ]

    await say(back, "third, now on hub B")
    await expect_message(alice, "third, now on hub B", "customer")
    assert (await alice.command("send", contact_id=contact_id, text="agent reply 2"))[
        "type"
    ] == "ack"
    await expect_message(back, "agent reply 2", "agent")
    await finish(alice, contact_id)
    await back.expect("ended", contact_id=contact_id)

    assert await stored_bodies(database_url, contact_id) == [
        "first, on hub A",
        "agent reply 1",
        "second, on hub A",
        "third, now on hub B",
        "agent reply 2",
    ]
    for c in (alice, back):
        await c.close()


async def test_two_hubs_racing_never_offer_one_contact_to_two_agents(
    hubs: HubFactory, redis: Redis, routing_domain: str
) -> None:
    customers_n = 20
    a, b = await hubs.start("A", "B")
    agents = list(
        await asyncio.gather(
            AgentClient.connect(a.base_url, "alice", TEST_PASSWORD),
            AgentClient.connect(b.base_url, "bob", TEST_PASSWORD),
            AgentClient.connect(a.base_url, "sam", TEST_PASSWORD),  # a supervisor who takes chats
        )
    )
    for agent in agents:
        await agent.go_available()
    total_capacity = CAPACITY * len(agents)

    customers = list(
        await asyncio.gather(
            *(
                ChatClient.connect((a, b)[i % 2].base_url, f"Racer {i:02d}")
                for i in range(customers_n)
            )
        )
    )
    await asyncio.gather(*(c.say(f"hello from racer {i:02d}") for i, c in enumerate(customers)))
    queued = await asyncio.gather(*(c.expect("queued") for c in customers))
    contact_ids = [q["contact_id"] for q in queued]
    assert len(set(contact_ids)) == customers_n

    # Phase 1: every agent fills up to capacity; the rest wait in the queue.
    async def fill(agent: AgentClient) -> list[dict[str, Any]]:
        return [await agent.expect("offer") for _ in range(CAPACITY)]

    first_offers = await asyncio.gather(*(fill(agent) for agent in agents))
    offered_first = {f["contact"]["contact_id"] for batch in first_offers for f in batch}
    assert len(offered_first) == total_capacity
    keys = Keys(routing_domain)
    await asyncio.sleep(0.5)  # ten routing ticks: room for any over-offer to show
    assert await redis.zcard(keys.queue("support")) == customers_n - total_capacity
    assert await redis.zcard(keys.offers) == total_capacity
    assert not [f for agent in agents for f in agent.backlog if f["type"] == "offer"], (
        "an agent got more offers than its capacity"
    )
    for agent, batch in zip(agents, first_offers, strict=True):
        agent.backlog[:0] = batch  # handled below, with the offers still to come

    # Phase 2: agents accept and wrap up; the waiting contacts are offered as room frees.
    handled: Counter[str] = Counter()

    async def work(agent: AgentClient) -> None:
        while sum(handled.values()) < customers_n:
            try:
                offer = await agent.expect("offer", timeout_s=0.5)
            except TimeoutError:
                continue
            cid = offer["contact"]["contact_id"]
            await accept(agent, cid)
            await finish(agent, cid)
            handled[cid] += 1

    await asyncio.wait_for(asyncio.gather(*(work(agent) for agent in agents)), 30)
    assert set(handled) == set(contact_ids) and set(handled.values()) == {1}
    for c, cid in zip(customers, contact_ids, strict=True):
        await c.expect("agent_joined", contact_id=cid)
        await c.expect("ended", contact_id=cid)

    events = await stream_events(redis, routing_domain)
    offers, peak = check_leases(events)
    assert set(offers) == set(contact_ids)
    assert all(len(v) == 1 for v in offers.values()), {
        k: v for k, v in offers.items() if len(v) != 1
    }
    assert max(peak.values()) <= CAPACITY
    done = Counter(
        e.type
        for e in events
        if isinstance(e, ev.OfferAccepted | ev.WrapUpCompleted | ev.OfferExpired | ev.ContactQueued)
    )
    assert done == {
        "ContactQueued": customers_n,
        "OfferAccepted": customers_n,
        "WrapUpCompleted": customers_n,
    }
    for c in (*agents, *customers):
        await c.close()


async def test_agents_of_a_killed_hub_are_not_offered_new_contacts(
    hubs: HubFactory, redis: Redis, routing_domain: str
) -> None:
    a, b = await hubs.start("A", "B")
    alice = await AgentClient.connect(a.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    a.kill()
    assert await connection_drops(alice), "alice's console stayed open after her hub died"
    bob = await AgentClient.connect(b.base_url, "bob", TEST_PASSWORD)
    await bob.go_available()
    agent_key = Keys(routing_domain).agent(alice.agent_id)

    async def alice_console_gone() -> bool:
        seen = int(await redis.hget(agent_key, "console_seen_ms") or 0)
        return time.time() * 1000 - seen > 900

    # Her heartbeat stops with hub A; after three missed beats routing counts her console gone.
    assert await eventually(alice_console_gone, timeout_s=5.0)

    customer = await ChatClient.connect(b.base_url, "Nell New")
    await say(customer, "hello, anyone alive?")
    contact_id = (await customer.expect("queued"))["contact_id"]

    async def first_offer() -> ev.ContactOffered | None:
        for e in await stream_events(redis, routing_domain):
            if isinstance(e, ev.ContactOffered) and e.contact_id == contact_id:
                return e
        return None

    offered = await eventually(first_offer, timeout_s=10.0)
    assert offered is not None, "the contact was never offered"
    assert offered.agent_id == bob.agent_id, (
        "the new contact was offered to alice, whose only console died with hub A; it waits "
        "a whole offer timeout before reaching bob, the one live agent"
    )
    await expect_offer(bob, contact_id)

    async def alice_offline() -> bool | None:
        for e in await stream_events(redis, routing_domain):
            if isinstance(e, ev.AgentStateChanged) and e.agent_id == alice.agent_id:
                if e.state == "offline":
                    return True
        return None

    # And after the grace period without any console, she is set offline for everyone to see.
    assert await eventually(alice_offline, timeout_s=10.0)
    for c in (bob, customer):
        await c.close()


async def test_a_conversation_of_an_agent_whose_hub_died_goes_to_the_next_agent(
    hubs: HubFactory, redis: Redis, routing_domain: str
) -> None:
    a, b = await hubs.start("A", "B")
    alice = await AgentClient.connect(a.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    customer = await ChatClient.connect(b.base_url, "Vic Mid-Chat")
    await say(customer, "my order is wrong")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await expect_offer(alice, contact_id)
    await accept(alice, contact_id)
    await customer.expect("agent_joined", contact_id=contact_id)

    a.kill()
    assert await connection_drops(alice)
    bob = await AgentClient.connect(b.base_url, "bob", TEST_PASSWORD)
    await bob.go_available()
    # After the grace period (3 s here) alice is set offline and her open chat is re-queued
    # at the front, so bob gets it: the customer is never stuck with someone who is gone.
    await customer.expect("transferring", contact_id=contact_id, timeout_s=15)
    offer = await expect_offer(bob, contact_id, timeout_s=10)
    assert [m["body"] for m in offer["contact"]["messages"]] == ["my order is wrong"]
    await accept(bob, contact_id)
    assert (await customer.expect("agent_joined", contact_id=contact_id))["agent_name"] == (
        "Bob Okafor"
    )
    events = await stream_events(redis, routing_domain)
    moved = [e for e in events if isinstance(e, ev.ContactTransferred)]
    assert [(m.from_agent_id, m.reason) for m in moved] == [(alice.agent_id, "agent-offline")]
    offline = [
        e
        for e in events
        if isinstance(e, ev.AgentStateChanged)
        and e.agent_id == alice.agent_id
        and e.state == "offline"
    ]
    assert offline and offline[0].reason == "no-console"
    for c in (bob, customer):
        await c.close()
