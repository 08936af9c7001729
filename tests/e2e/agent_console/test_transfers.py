"""Transfers and re-prioritisation, end to end through a running hub."""

from __future__ import annotations

from tests.conftest import LiveHub
from tests.e2e.clients import AgentClient, ChatClient


async def _in_conversation(
    hub: LiveHub, username: str, customer_name: str
) -> tuple[AgentClient, ChatClient, str]:
    agent = await AgentClient.connect(hub.base_url, username, hub.demo_password)
    await agent.go_available()
    customer = await ChatClient.connect(hub.base_url, customer_name)
    await customer.say("I need help with my invoice")
    contact_id = (await customer.expect("queued"))["contact_id"]
    await agent.expect("offer", timeout_s=5)
    assert (await agent.command("accept", contact_id=contact_id))["type"] == "ack"
    await customer.expect("agent_joined")
    return agent, customer, contact_id


async def test_transfer_to_a_queue_hands_the_contact_to_the_next_agent(hub: LiveHub) -> None:
    alice, customer, contact_id = await _in_conversation(hub, "alice", "Lia")
    bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
    await bob.go_available()
    ack = await alice.command("transfer", contact_id=contact_id, to_queue="support")
    assert ack["type"] == "ack", ack
    await alice.expect("transferred", contact_id=contact_id)
    await customer.expect("transferring", contact_id=contact_id)
    offer = await bob.expect("offer", timeout_s=5)
    assert offer["contact"]["contact_id"] == contact_id
    await bob.command("accept", contact_id=contact_id)
    assigned = await bob.expect("assigned")
    assert [m["body"] for m in assigned["contact"]["messages"]] == ["I need help with my invoice"]
    assert (await customer.expect("agent_joined"))["agent_name"] == "Bob Okafor"
    for c in (alice, bob, customer):
        await c.close()


async def test_transfer_to_a_named_agent_offers_it_to_them(hub: LiveHub) -> None:
    alice, customer, contact_id = await _in_conversation(hub, "alice", "Mo")
    bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)
    await bob.go_available()
    assert (await alice.command("transfer", contact_id=contact_id, to_agent="bob"))["type"] == (
        "ack"
    )
    offer = await bob.expect("offer", timeout_s=5)
    assert offer["contact"]["contact_id"] == contact_id
    assert offer["reason"] == {"strategy": "transfer", "from_agent": alice.agent_id}
    await bob.command("accept", contact_id=contact_id)
    assert (await customer.expect("agent_joined"))["agent_name"] == "Bob Okafor"
    # Alice no longer holds it: she cannot write to the customer any more.
    err = await alice.command("send", contact_id=contact_id, text="still here?")
    assert err["error_id"] == "contact.not_assigned"
    for c in (alice, bob, customer):
        await c.close()


async def test_a_refused_transfer_changes_nothing(hub: LiveHub) -> None:
    alice, customer, contact_id = await _in_conversation(hub, "alice", "Ned")
    bob = await AgentClient.connect(hub.base_url, "bob", hub.demo_password)  # offline
    err = await alice.command("transfer", contact_id=contact_id, to_agent="bob")
    assert err["error_id"] == "transfer.agent_unavailable"
    err = await alice.command("transfer", contact_id=contact_id, to_queue="nowhere")
    assert err["error_id"] == "transfer.unknown_queue"
    err = await alice.command("transfer", contact_id=contact_id, to_agent="nobody-here")
    assert err["error_id"] == "transfer.unknown_agent"
    err = await alice.command("transfer", contact_id=contact_id)
    assert err["error_id"] == "frame.malformed"
    # Still alice's conversation.
    assert (await alice.command("send", contact_id=contact_id, text="one moment"))["type"] == (
        "ack"
    )
    for c in (alice, bob, customer):
        await c.close()


async def test_a_supervisor_moves_a_waiting_contact_ahead(hub: LiveHub) -> None:
    sam = await AgentClient.connect(hub.base_url, "sam", hub.demo_password)
    first = await ChatClient.connect(hub.base_url, "Early")
    await first.say("first")
    await first.expect("queued")
    second = await ChatClient.connect(hub.base_url, "Late")
    await second.say("second")
    late_id = (await second.expect("queued"))["contact_id"]

    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    err = await alice.command("reprioritize", contact_id=late_id, priority=100)
    assert err["error_id"] == "auth.forbidden"
    assert (await sam.command("reprioritize", contact_id=late_id, priority=100))["type"] == "ack"

    await alice.go_available()
    offer = await alice.expect("offer", timeout_s=5)
    assert offer["contact"]["contact_id"] == late_id
    for c in (sam, alice, first, second):
        await c.close()


async def test_a_waiting_customer_is_told_position_and_estimated_wait(hub: LiveHub) -> None:
    alice = await AgentClient.connect(hub.base_url, "alice", hub.demo_password)
    await alice.command("set_state", state="away", reason="break")
    first = await ChatClient.connect(hub.base_url, "Ola")
    await first.say("one")
    placed = await first.expect("position")
    # Nobody available: a place but no estimate.
    assert (placed["position"], placed["estimated_wait_s"]) == (1, None)
    await alice.go_available()
    others = []
    for name in ("Pat", "Quin"):
        c = await ChatClient.connect(hub.base_url, name)
        await c.say("hello")
        others.append(c)
    for _ in range(3):  # alice's three chat slots are now held by offers
        await alice.expect("offer", timeout_s=5)
    last = await ChatClient.connect(hub.base_url, "Rae")
    await last.say("anyone?")
    placed = await last.expect("position")
    # First in line, behind no one, but every slot is taken: one round of handle time.
    assert placed["position"] == 1 and placed["estimated_wait_s"] is not None
    assert placed["estimated_wait_s"] > 0
    for c in (alice, first, *others, last):
        await c.close()


async def test_a_broadcast_chat_goes_to_the_first_agent_to_accept(
    settings,
    redis,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace as _replace

    from tests.conftest import start_hub

    queue = _replace(settings.queues[0], strategy="broadcast", broadcast_n=2)
    live, runner = await start_hub(_replace(settings, queues=(queue,)))
    try:
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        bob = await AgentClient.connect(live.base_url, "bob", live.demo_password)
        await alice.go_available()
        await bob.go_available()
        customer = await ChatClient.connect(live.base_url, "Ari")
        await customer.say("who is first?")
        contact_id = (await customer.expect("queued"))["contact_id"]
        await alice.expect("offer", timeout_s=5)
        await bob.expect("offer", timeout_s=5)
        assert (await bob.command("accept", contact_id=contact_id))["type"] == "ack"
        withdrawn = await alice.expect("offer_withdrawn", contact_id=contact_id)
        assert withdrawn["why"] == "taken"
        err = await alice.command("accept", contact_id=contact_id)
        assert err["error_id"] == "offer.gone"
        assert (await customer.expect("agent_joined"))["agent_name"] == "Bob Okafor"
        for c in (alice, bob, customer):
            await c.close()
    finally:
        await runner.cleanup()
