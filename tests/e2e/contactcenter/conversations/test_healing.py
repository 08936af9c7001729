"""Faults that heal without a restart: Redis loses the live state under running hubs
(contactcenter/core/healing.py). Real hub processes on the test session's Redis and PostgreSQL.

Redis "loses its data" here by deleting every key of the test's routing domain, which is all
a hub of that domain can see: a FLUSHALL of the shared test server would wipe the other tests'
keys too. The closing figures of a real FLUSHALL under load come from bench/faults.py.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from routing.keys import Keys
from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.contactcenter.test_multiprocess import accept, expect_message, expect_offer, say
from tests.e2e.processes import HubFactory


async def forget_everything(redis: Redis, domain: str) -> int:
    """What a FLUSHALL does to one domain: every key gone."""
    keys = [k async for k in redis.scan_iter(match=f"{Keys(domain).prefix}:*", count=1000)]
    if keys:
        await redis.delete(*keys)
    return len(keys)


async def test_hubs_rebuild_the_live_state_redis_lost_and_routing_and_chats_go_on(
    hubs: HubFactory, redis: Redis, routing_domain: str
) -> None:
    a, b = await hubs.start("A", "B")
    alice = await AgentClient.connect(a.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    bob = await AgentClient.connect(b.base_url, "bob", TEST_PASSWORD)
    # A conversation in progress across the two hubs.
    talking = await ChatClient.connect(b.base_url, "Tia Before")
    await say(talking, "before the loss")
    talking_id = (await talking.expect("queued"))["contact_id"]
    await expect_offer(alice, talking_id)
    await accept(alice, talking_id)
    # A customer waiting (bob is offline).
    await alice.command("set_state", state="away", reason="break")
    waiting = await ChatClient.connect(a.base_url, "Wes Waiting")
    await say(waiting, "still waiting")
    waiting_id = (await waiting.expect("queued"))["contact_id"]

    assert await forget_everything(redis, routing_domain) > 0
    lost_at = time.monotonic()

    # The conversation goes on both ways: nothing refused with conversation.closed.
    await say(talking, "after the loss")
    await expect_message(alice, "after the loss", "customer", timeout_s=15)
    ack = await alice.command("send", contact_id=talking_id, text="still with you")
    assert ack["type"] == "ack", ack
    await expect_message(talking, "still with you", "agent")

    # Routing resumes without anyone reconnecting: bob goes available on his open console and
    # gets the customer who waited before the loss, at their place.
    ack = await bob.command("set_state", state="available")
    assert ack["type"] == "ack", ack
    offer = await expect_offer(bob, waiting_id, timeout_s=15)
    resumed_s = time.monotonic() - lost_at
    assert offer["contact"]["contact_id"] == waiting_id
    # And a new customer is routed too.
    newcomer = await ChatClient.connect(b.base_url, "Nia New")
    await say(newcomer, "first time here")
    newcomer_id = (await newcomer.expect("queued"))["contact_id"]
    await expect_offer(bob, newcomer_id, timeout_s=15)
    assert resumed_s < 10, resumed_s
    assert await redis.get(Keys(routing_domain).epoch) is not None
    for c in (alice, bob, talking, waiting, newcomer):
        await c.close()
