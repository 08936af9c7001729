"""DESIGN decision 2 on a real three-node Redis Cluster: every script's keys lie in one hash
slot (the routing domain's `{tag}`), so each runs unchanged; different domains spread over the
cluster's nodes.

Starts its own cluster (tests/cluster.py), whatever CC_TEST_REDIS_CLUSTER says.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ClusterCrossSlotError

from contactcenter.core.redisconn import redis_client, split_cluster_flag
from routing.keys import Keys
from routing.model import BroadcastContact, OfferContact, QueuePolicy
from routing.status import (
    AbandonStatus,
    AcceptStatus,
    AgentStateStatus,
    BroadcastStatus,
    EndStatus,
    EnqueueStatus,
    EscalateStatus,
    NextStateStatus,
    OfferStatus,
    ProfileStatus,
    ReprioritizeStatus,
    RequeueStatus,
    RestoreStatus,
    TransferStatus,
    WrapUpStatus,
)
from routing.store import RoutingStore
from routing.worker import RoutingWorker
from tests.cluster import LocalCluster

T0 = 1_700_000_000_000
TIMEOUT_MS = 30_000
QUEUES = {"billing": QueuePolicy("billing", "billing", TIMEOUT_MS)}
# Fixed names, so which slot and node each lands on is the same on every run.
DOMAINS = [f"domain-{i}" for i in range(12)]


def script_names() -> list[str]:
    """Every script in routing/lua; files starting with `_` are shared prologues."""
    lua = resources.files("routing.lua")
    return sorted(
        p.name.removesuffix(".lua")
        for p in lua.iterdir()
        if p.name.endswith(".lua") and not p.name.startswith("_")
    )


def every_key(keys: Keys) -> list[str]:
    """Every key (and the pub/sub channel) `Keys` can build, each method given made-up ids."""
    built = []
    for name, attr in vars(Keys).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, property):
            built.append(getattr(keys, name))
        elif inspect.isfunction(attr):
            n_args = len(inspect.signature(attr).parameters) - 1
            built.append(getattr(keys, name)(*(f"id{i}" for i in range(n_args))))
    return built


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    with LocalCluster() as cluster:
        yield cluster.url


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = redis_client(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.initialize()  # learn the slot map now: the tests ask which node holds a key
    yield client
    await client.aclose()


class ScriptCalls:
    """Records the keys of every EVALSHA the client sends, by script SHA."""

    def __init__(self, client: RedisCluster) -> None:
        self.keys_by_sha: dict[str, list[list[str]]] = {}
        self._evalsha = client.evalsha

    async def __call__(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        keys = [str(k) for k in keys_and_args[:numkeys]]
        self.keys_by_sha.setdefault(sha, []).append(keys)
        return await self._evalsha(sha, numkeys, *keys_and_args)


def offer(contact_id: str, agent_id: str, now_ms: int) -> OfferContact:
    return OfferContact(contact_id, agent_id, "billing", now_ms + TIMEOUT_MS, {"strategy": "test"})


async def run_every_script(store: RoutingStore) -> None:
    """Two agents and four contacts through every script, each step succeeding."""
    for agent_id in ("x", "y"):
        profile = await store.set_agent_profile(
            agent_id, skills={"billing": 5}, capacity={"chat": 1}, now_ms=T0
        )
        assert profile is ProfileStatus.CHANGED
    assert await store.set_agent_state("x", "available", now_ms=T0) is AgentStateStatus.CHANGED
    for i, contact_id in enumerate(("c1", "c2", "c3")):
        status = await store.enqueue(
            contact_id=contact_id,
            queue="billing",
            channel="chat",
            customer_id=f"cust-{contact_id}",
            priority=0,
            now_ms=T0 + 1 + i,
        )
        assert status is EnqueueStatus.QUEUED
    assert await store.escalate("c1", "billing", 1, T0 + 5) is EscalateStatus.ESCALATED
    assert await store.reprioritize("c3", 0, T0 + 5) is ReprioritizeStatus.CHANGED
    assert await store.offer(offer("c1", "x", T0 + 6), T0 + 6) is OfferStatus.OFFERED
    requeued = await store.requeue("c1", "x", "billing", T0 + 7, expired=False)
    assert requeued is RequeueStatus.REQUEUED
    # The worker's snapshot (non-transactional pipelines) and its offer, on the cluster.
    worker = RoutingWorker(store, QUEUES, clock=lambda: T0 + 8)
    assert (await worker.run_pass()).offered == 1
    [held] = await store.agent_contact_ids("x")
    assert await store.accept(held, "x", T0 + 9) is AcceptStatus.ACCEPTED
    moved = await store.transfer_to_queue(held, "x", "billing", T0 + 10)
    assert moved is TransferStatus.TRANSFERRED
    assert await store.offer(offer(held, "x", T0 + 11), T0 + 11) is OfferStatus.OFFERED
    assert await store.accept(held, "x", T0 + 12) is AcceptStatus.ACCEPTED
    assert await store.set_agent_state("y", "available", now_ms=T0) is AgentStateStatus.CHANGED
    moved = await store.transfer_to_agent(held, "x", "y", T0 + 13 + TIMEOUT_MS, T0 + 13)
    assert moved is TransferStatus.TRANSFERRED
    assert await store.accept(held, "y", T0 + 14) is AcceptStatus.ACCEPTED
    # A next state scheduled while y holds the conversation, then taken back.
    scheduled = await store.set_next_state("y", "away", now_ms=T0 + 14, reason="lunch")
    assert scheduled is NextStateStatus.SCHEDULED
    assert await store.cancel_next_state("y", now_ms=T0 + 14) is NextStateStatus.SCHEDULED
    assert await store.end_conversation(held, "y", T0 + 15) is EndStatus.ENDED
    assert await store.wrap_up(held, "y", "resolved", "", T0 + 16) is WrapUpStatus.CLOSED
    [waiting] = {"c1", "c2"} - {held}
    assert await store.overflow(waiting, "billing", "billing-overflow", T0 + 17) is True
    assert await store.abandon("c3", T0 + 18) is AbandonStatus.ABANDONED
    assert await store.heartbeat(["x", "stranger"], T0 + 19) == 1
    assert await store.heartbeat(["x"], T0 + 19, left=True) == 1
    assert await store.customer_heartbeat([waiting, "c3", "no-such-contact"], T0 + 19) == 1
    restored = await store.restore(
        contact_id="c4",
        queue="billing",
        channel="chat",
        priority=0,
        enqueued_at_ms=T0,
        customer_id="cust-c4",
        state="assigned",
        agent_id="x",
        ended_at_ms=None,
        now_ms=T0 + 20,
    )
    assert restored is RestoreStatus.RESTORED
    # Broadcast: offered to two agents at once, one lets go, then the other takes it; a second
    # broadcast is abandoned by its customer.
    for agent_id in ("b1", "b2"):
        await store.set_agent_profile(
            agent_id, skills={"billing": 5}, capacity={"chat": 2}, now_ms=T0
        )
        await store.set_agent_state(agent_id, "available", now_ms=T0)
    for contact_id in ("b-c1", "b-c2"):
        await store.enqueue(
            contact_id=contact_id,
            queue="billing",
            channel="chat",
            customer_id="cust-b",
            priority=0,
            now_ms=T0 + 21,
        )
        sent = BroadcastContact(contact_id, ("b1", "b2"), "billing", T0 + 99_000, {})
        assert await store.broadcast(sent, T0 + 22) is BroadcastStatus.OFFERED
    assert await store.requeue("b-c1", "b1", "billing", T0 + 23, expired=False) is (
        RequeueStatus.REQUEUED
    )
    assert await store.accept("b-c1", "b2", T0 + 24) is AcceptStatus.ACCEPTED
    assert await store.abandon("b-c2", T0 + 25) is AbandonStatus.ABANDONED


async def test_every_script_runs_on_the_cluster_with_its_keys_in_the_domains_slot(
    cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One domain per node, so the scripts run on every node of the cluster.
    by_node = {cluster.get_node_from_key(Keys(d).events).name: d for d in reversed(DOMAINS)}
    assert len(by_node) == 3
    calls = ScriptCalls(cluster)
    monkeypatch.setattr(cluster, "evalsha", calls)
    try:
        for domain in by_node.values():
            store = RoutingStore(cluster, domain)
            await run_every_script(store)
            domain_slot = cluster.keyslot(f"{{{domain}}}")
            for sha, runs in calls.keys_by_sha.items():
                for keys in runs:
                    assert {cluster.keyslot(k) for k in keys} == {domain_slot}, (sha, keys)
            # Which scripts ran, named through the store's own registry of them.
            ran = {name for name, s in store._scripts.items() if s.sha in calls.keys_by_sha}
            assert sorted(ran) == script_names(), "run_every_script must run every script"
            calls.keys_by_sha.clear()
    finally:
        for domain in by_node.values():
            doomed = [k async for k in cluster.scan_iter(match=f"cc:{{{domain}}}:*")]
            if doomed:
                await cluster.delete(*doomed)


async def test_a_script_touching_two_domains_is_refused_by_the_cluster(
    cluster: RedisCluster,
) -> None:
    """The check the one-slot design passes: Redis Cluster refuses a cross-slot script."""
    one, other = (Keys(d).events for d in DOMAINS[:2])
    assert cluster.keyslot(one) != cluster.keyslot(other)
    owner = cluster.get_node_from_key(one)
    with pytest.raises(ClusterCrossSlotError):  # the server's CROSSSLOT reply
        await cluster.execute_command("EVAL", "return 1", 2, one, other, target_nodes=owner)


async def test_each_domain_keeps_to_one_slot_and_domains_spread_over_the_nodes(
    cluster: RedisCluster,
) -> None:
    slots = {}
    for domain in DOMAINS:
        keys = every_key(Keys(domain))
        assert len(keys) >= 10
        # The server's own hashing (CLUSTER KEYSLOT), not just the client's.
        server_slots = {int(await cluster.cluster_keyslot(k)) for k in keys}
        assert server_slots == {cluster.keyslot(f"{{{domain}}}")}, domain
        slots[domain] = server_slots.pop()
    assert len(set(slots.values())) == len(DOMAINS), "each domain in a slot of its own"
    nodes = {cluster.get_node_from_key(f"{{{d}}}").name for d in DOMAINS}
    assert len(nodes) == 3, "the domains spread over every node"


@pytest.mark.parametrize(
    ("url", "plain_url", "cluster"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", False),
        ("redis://10.0.0.7:7000?cluster=true", "redis://10.0.0.7:7000", True),
        ("redis://h:7000/0?cluster=1&socket_timeout=5", "redis://h:7000/0?socket_timeout=5", True),
        ("rediss://u:p@h:7000?cluster=false", "rediss://u:p@h:7000", False),
    ],
)
def test_the_url_says_whether_redis_is_a_cluster(url: str, plain_url: str, cluster: bool) -> None:
    assert split_cluster_flag(url) == (plain_url, cluster)
    assert isinstance(redis_client(url), RedisCluster if cluster else Redis)  # no I/O yet


def test_a_cluster_flag_that_is_not_a_boolean_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'cluster'"):
        split_cluster_flag("redis://h:7000?cluster=maybe")
