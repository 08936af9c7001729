"""Giving back the work an agent holds: when routing sets them offline for want of a console,
and when they choose Offline with work in hand (docs/routing.md, "Going offline with work")."""

from __future__ import annotations

from collections.abc import Mapping

from routing.model import QueuePolicy
from routing.store import RoutingStore


async def give_back_work(
    store: RoutingStore,
    agent_id: str,
    queues: Mapping[str, QueuePolicy],
    now_ms: int,
    *,
    chosen: bool,
) -> int:
    """Withdraw the agent's pending offers (back to the queue, their place kept), close their
    wrap-ups without a disposition, and send their conversations back to their queue: ahead
    of everyone but top priority unless the queue's `on_agent_lost` is "requeue" (their own
    place). A lost console's conversations stay with the agent under "keep"; an agent who
    `chosen` to go offline leaves none behind. Returns how many contacts moved."""
    moved = 0
    for contact_id in await store.agent_contact_ids(agent_id):
        live = await store.contact(contact_id)
        if live is None:
            continue
        if live.state == "offered" and (live.broadcast or live.agent_id == agent_id):
            await store.requeue(
                contact_id, agent_id, live.queue, now_ms, expired=False, withdraw=True
            )
            moved += 1
            continue
        if live.agent_id != agent_id:
            continue
        policy = queues.get(live.queue)
        if live.state == "wrapup":
            await store.wrap_up(contact_id, agent_id, None, "", now_ms)
            moved += 1
        elif live.state == "assigned" and policy is not None:
            if policy.on_agent_lost == "keep" and not chosen:
                continue
            await store.transfer_to_queue(
                contact_id,
                agent_id,
                live.queue,
                now_ms,
                aging_ms=policy.aging_ms,
                front=policy.on_agent_lost != "requeue",
                reason="agent-offline",
            )
            moved += 1
    return moved
