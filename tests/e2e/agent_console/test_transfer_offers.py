"""A contact transferred to another queue is offered as a contact of that queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from contactcenter.settings.hub import HubSettings, QueueSettings
from tests.conftest import LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient

QUEUES = ("support", "billing")


@pytest.fixture
async def two_queue_hub(settings: HubSettings, redis: Redis) -> AsyncIterator[LiveHub]:
    """A hub with two queues that alice and bob both serve."""
    queues = tuple(
        QueueSettings(name=name, skill="support", channels=("chat",), offer_timeout_s=20)
        for name in QUEUES
    )
    live, runner = await start_hub(replace(settings, queues=queues))
    yield live
    await runner.cleanup()


async def test_each_offer_after_a_transfer_names_the_new_queue(two_queue_hub: LiveHub) -> None:
    """The offer's contact object is read as the offer goes out: its queue must be the one
    routing moved the contact to, not the one the stored record still names."""
    hub = two_queue_hub
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
    await alice.go_available()
    customer = await ChatClient.connect(hub.base_url, "Vi")
    await customer.say("my parcel is late")
    contact_id = (await customer.expect("queued"))["contact_id"]
    offer = await alice.expect("offer")
    assert offer["contact"]["queue"] == "support"
    await bob.go_available()
    holder, other = alice, bob
    assert (await holder.command("accept", contact_id=contact_id))["type"] == "ack"
    for i in range(6):
        to_queue = QUEUES[(i + 1) % 2]
        # The holder steps away: the other agent is the only one it can be offered to.
        assert (await holder.command("set_state", state="away"))["type"] == "ack"
        ack = await holder.command("transfer", contact_id=contact_id, to_queue=to_queue)
        assert ack["type"] == "ack", ack
        offer = await other.expect("offer", timeout_s=10)
        assert offer["contact"]["contact_id"] == contact_id
        assert offer["contact"]["queue"] == to_queue, f"transfer {i + 1}: {offer['contact']}"
        assert (await other.command("accept", contact_id=contact_id))["type"] == "ack"
        await holder.go_available()
        holder, other = other, holder
    for c in (alice, bob, customer):
        await c.close()
