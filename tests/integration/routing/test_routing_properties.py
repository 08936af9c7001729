"""Routing's promises under random traffic, with three hub processes sharing one Redis.

A hypothesis state machine drives arrivals, accepts, rejects, the clock, routing passes run
concurrently by three workers (each on its own store and Redis client), agent profile and
presence changes, console connects, heartbeats and disconnects, ends, wrap-ups, abandons,
transfers and re-prioritisations. Concurrent steps interleave the hub processes one Redis
call at a time in an order hypothesis draws (routing_model.Turnstile), so that a failing
interleaving replays and shrinks like any other input.

After every step the domain's Redis keys are read directly and the event stream is replayed
(tests/integration/routing/routing_model.py): no contact is offered to two agents at once, no agent
goes above capacity or gets text during a blocking voice call, every contact is in exactly
one place and none is lost. After a quiet pass (one in which no worker has anything left to
do) nothing is stuck and routing is work-conserving: no waiting contact has an eligible,
available, reachable agent with room.

CC_PROPERTY_EXAMPLES sets how many examples to run (default 100, about 15 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
import structlog
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from contactcenter.core import events as ev
from contactcenter.core.redisconn import RedisClient, redis_client
from routing.core import eligible_agents
from routing.expr import parse
from routing.model import EscalationStep, Liveness, QueuePolicy
from routing.status import EnqueueStatus
from routing.store import RoutingStore
from routing.worker import PassResult, RoutingWorker
from tests.integration.routing.routing_model import (
    HELD,
    Picture,
    StreamAudit,
    Turnstile,
    placement_problems,
    read_picture,
)

T0 = 1_700_000_000_000
HUBS = 3
MAX_SETTLE_ROUNDS = 12
LIVENESS = Liveness(console_timeout_ms=15_000, offline_after_ms=45_000)
QUEUES = {
    "support": QueuePolicy(
        "support",
        "support",
        offer_timeout_ms=20_000,
        max_misses=2,
        wrapup_ms=30_000,
        escalation=(EscalationStep(after_ms=40_000, any_language=True, overflow=("sales",)),),
    ),
    "sales": QueuePolicy(
        "sales",
        None,
        offer_timeout_ms=15_000,
        eligibility=parse("sales >= 50 or billing"),
        strategy="least-occupied",
        aging_ms=10_000,
        on_agent_lost="keep",
        max_wait_ms=60_000,
        overflow_queue="support",
    ),
    "billing": QueuePolicy(
        "billing",
        "billing",
        offer_timeout_ms=50_000,  # outlives a console: offers get withdrawn
        strategy="most-skilled",
        on_agent_lost="requeue",
        escalation=(
            EscalationStep(after_ms=20_000, eligibility=parse("billing or support >= 50")),
            EscalationStep(after_ms=60_000, any_language=True),
        ),
    ),
}


@dataclass(frozen=True)
class Profile:
    skills: dict[str, int]
    languages: tuple[str, ...]
    capacity: dict[str, int]
    voice_blocks_chat: bool = True


# Two profiles an agent switches between; the second of each lowers or raises a capacity.
PROFILES = {
    "a1": (
        Profile({"support": 60, "sales": 20}, ("en", "fr"), {"voice": 1, "chat": 2, "email": 3}),
        Profile({"support": 60}, ("en", "fr"), {"voice": 1, "chat": 1, "email": 1}),
    ),
    "a2": (
        Profile({"support": 30}, ("en",), {"voice": 1, "chat": 1, "email": 2}, False),
        Profile({"support": 30, "sales": 55}, ("en",), {"voice": 1, "chat": 2}, False),
    ),
    "a3": (
        Profile({"sales": 70, "billing": 50}, ("de", "en"), {"voice": 1, "chat": 3, "email": 1}),
        Profile({"sales": 70, "billing": 50}, ("de", "en"), {"chat": 3, "email": 1}),
    ),
    "a4": (
        Profile({"billing": 80}, ("fr",), {"chat": 2, "email": 2}),
        Profile({"billing": 80, "support": 40}, ("fr",), {"voice": 1, "chat": 2, "email": 2}),
    ),
}
AGENTS = sorted(PROFILES)
hubs = st.integers(0, HUBS - 1)
picks = st.integers(0, 255)
# The order in which concurrent hub processes' Redis calls go through (routing_model.Turnstile).
orders = st.randoms(use_true_random=False)
races = st.none() | orders
T = TypeVar("T")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The machine's Redis from REDIS_URL, else an embedded one for this module."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from contactcenter.embedded.servers import EmbeddedServices

    data_dir = Path(tempfile.mkdtemp(prefix="cc-props-"))
    try:
        with EmbeddedServices(data_dir, start_redis=True, start_postgres=False) as urls:
            assert urls.redis_url is not None
            yield urls.redis_url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


class RoutingMachine(RuleBasedStateMachine):
    """Three hub processes (a store and a worker each, on their own Redis client) serving one
    fresh routing domain, with a clock the test moves by hand."""

    redis_url: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.domain = f"p{uuid.uuid4().hex[:12]}"
        self.now_ms = T0
        self.clients: list[RedisClient] = [redis_client(self.redis_url) for _ in range(HUBS)]
        self.turnstile = Turnstile()
        for client in self.clients:
            self.turnstile.guard(client)
        self.referee = redis_client(self.redis_url)
        self.stores = [RoutingStore(c, self.domain) for c in self.clients]
        self.workers = [
            RoutingWorker(s, QUEUES, clock=lambda: self.now_ms, liveness=LIVENESS)
            for s in self.stores
        ]
        self.keys = self.stores[0].keys
        # Load the scripts now: a first EVALSHA answered NOSCRIPT takes two more calls, and
        # calls through the turnstile must be the same whenever an example is replayed.
        for script in self.stores[0]._scripts.values():
            self.run(self.referee.script_load(script.script))
        self.audit = StreamAudit()
        self.last_event_id = "-"
        self.enqueued: list[str] = []
        self.consoles: dict[str, int] = {}  # agent id -> the hub their console is on

    # --- plumbing ---------------------------------------------------------------------------

    def run(self, aw: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await aw

        return self.loop.run_until_complete(wrapped())

    def run_together(self, order: random.Random, *aws: Awaitable[T]) -> list[T]:
        """Run `aws` concurrently, interleaved at every Redis call as `order` chooses; a
        failing example notes the order (the i-th awaitable is i)."""
        try:
            return self.run(self.turnstile.run(order, *aws))
        finally:
            note(f"   Redis calls in turn: {''.join(map(str, self.turnstile.trace))}")

    def act(
        self,
        hub: int,
        race: random.Random | None,
        action: Callable[[RoutingStore], Awaitable[Any]],
    ) -> None:
        """Carry out `action` on `hub`'s store; with `race`, while the other two hubs run a
        routing pass each, interleaved as `race` chooses."""
        if race is None:
            self.run(action(self.stores[hub]))
            return
        others = [self.workers[i].run_pass() for i in range(HUBS) if i != hub]
        self.run_together(race, action(self.stores[hub]), *others)

    def pick(self, pick: int, *states: str) -> str | None:
        """The contact `pick` points at among those in `states` (None if there is none). An
        index rather than a draw from the live set, so that what hypothesis draws never
        depends on how a race between routers went."""
        ids = self.audit.ids(*states)
        if not ids:
            return None
        contact_id = ids[pick % len(ids)]
        note(f"-> {contact_id}")
        return contact_id

    def holder(self, contact_id: str) -> str:
        agent_id = self.audit.contacts[contact_id].agent_id
        assert agent_id is not None
        return agent_id

    # --- setting the scene ------------------------------------------------------------------

    @initialize(
        states=st.lists(st.sampled_from(["available"] * 3 + ["away"]), min_size=4, max_size=4),
        console_hubs=st.lists(hubs, min_size=4, max_size=4),
    )
    def agents_log_in(self, states: list[str], console_hubs: list[int]) -> None:
        for agent_id, state, hub in zip(AGENTS, states, console_hubs, strict=True):
            self.consoles[agent_id] = hub
            self.set_agent(agent_id, 0, state, hub)

    def set_agent(
        self, agent_id: str, variant: int, state: str, hub: int, race: random.Random | None = None
    ) -> None:
        """Profile first, then presence, as the console service does; a change from a
        connected console also counts as a sign of it."""
        p = PROFILES[agent_id][variant]

        async def change(store: RoutingStore) -> None:
            await store.set_agent_profile(
                agent_id,
                skills=p.skills,
                capacity=p.capacity,
                languages=p.languages,
                voice_blocks_chat=p.voice_blocks_chat,
                now_ms=self.now_ms,
            )
            await store.set_agent_state(
                agent_id, state, now_ms=self.now_ms, from_console=agent_id in self.consoles
            )

        self.act(hub, race, change)

    # --- customers --------------------------------------------------------------------------

    @rule(
        hub=hubs,
        queue=st.sampled_from(sorted(QUEUES)),
        channel=st.sampled_from(["chat", "email", "voice"]),
        priority=st.integers(0, 3),
        language=st.sampled_from([None, None, "en", "fr", "de"]),
        required=st.sampled_from([(), (), (), ("support",)]),
        count=st.integers(1, 3),
        race=races,
    )
    def contacts_arrive(
        self,
        hub: int,
        queue: str,
        channel: str,
        priority: int,
        language: str | None,
        required: tuple[str, ...],
        count: int,
        race: random.Random | None,
    ) -> None:
        """`count` alike contacts arrive, one after the other, through one hub."""

        async def arrive(store: RoutingStore) -> None:
            for _ in range(count):
                contact_id = f"c{len(self.enqueued) + 1}"
                self.enqueued.append(contact_id)
                status = await store.enqueue(
                    contact_id=contact_id,
                    queue=queue,
                    channel=channel,
                    customer_id=f"cust-{contact_id}",
                    priority=priority,
                    now_ms=self.now_ms,
                    aging_ms=QUEUES[queue].aging_ms,
                    required_skills=required,
                    language=language,
                )
                assert status is EnqueueStatus.QUEUED

        self.act(hub, race, arrive)

    @rule(hub=hubs, pick=picks, race=races)
    def customer_abandons(self, hub: int, pick: int, race: random.Random | None) -> None:
        contact_id = self.pick(pick, "queued", "offered")
        if contact_id is None:
            return
        self.act(hub, race, lambda s: s.abandon(contact_id, self.now_ms))

    @rule(hub=hubs, pick=picks, priority=st.integers(0, 9), race=races)
    def supervisor_reprioritizes(
        self, hub: int, pick: int, priority: int, race: random.Random | None
    ) -> None:
        contact_id = self.pick(pick, "queued", "offered")
        if contact_id is None:
            return
        aging_ms = QUEUES[self.audit.contacts[contact_id].queue].aging_ms
        self.act(
            hub,
            race,
            lambda s: s.reprioritize(contact_id, priority, self.now_ms, aging_ms=aging_ms),
        )

    # --- agents -----------------------------------------------------------------------------

    @rule(
        hub=hubs,
        agent_id=st.sampled_from(AGENTS),
        variant=st.integers(0, 1),
        state=st.sampled_from(["available"] * 3 + ["away", "offline"]),
        race=races,
    )
    def agent_changes(
        self, hub: int, agent_id: str, variant: int, state: str, race: random.Random | None
    ) -> None:
        self.set_agent(agent_id, variant, state, hub, race)

    @rule(hub=hubs, pick=picks, race=races)
    def agent_accepts(self, hub: int, pick: int, race: random.Random | None) -> None:
        contact_id = self.pick(pick, "offered")
        if contact_id is None:
            return
        agent_id = self.holder(contact_id)
        self.act(hub, race, lambda s: s.accept(contact_id, agent_id, self.now_ms))

    @rule(hub=hubs, pick=picks, race=races)
    def agent_rejects(self, hub: int, pick: int, race: random.Random | None) -> None:
        contact_id = self.pick(pick, "offered")
        if contact_id is None:
            return
        agent_id, queue = self.holder(contact_id), self.audit.contacts[contact_id].queue
        self.act(
            hub, race, lambda s: s.requeue(contact_id, agent_id, queue, self.now_ms, expired=False)
        )

    @rule(hub=hubs, pick=picks, by_agent=st.booleans(), race=races)
    def conversation_ends(
        self, hub: int, pick: int, by_agent: bool, race: random.Random | None
    ) -> None:
        contact_id = self.pick(pick, "assigned")
        if contact_id is None:
            return
        agent_id = self.holder(contact_id) if by_agent else None
        self.act(hub, race, lambda s: s.end_conversation(contact_id, agent_id, self.now_ms))

    @rule(hub=hubs, pick=picks, race=races)
    def agent_wraps_up(self, hub: int, pick: int, race: random.Random | None) -> None:
        contact_id = self.pick(pick, "wrapup")
        if contact_id is None:
            return
        agent_id = self.holder(contact_id)
        self.act(hub, race, lambda s: s.wrap_up(contact_id, agent_id, "resolved", "", self.now_ms))

    @rule(hub=hubs, pick=picks, to_queue=st.sampled_from(sorted(QUEUES)), race=races)
    def agent_transfers_to_queue(
        self, hub: int, pick: int, to_queue: str, race: random.Random | None
    ) -> None:
        contact_id = self.pick(pick, "assigned")
        if contact_id is None:
            return
        agent_id, aging_ms = self.holder(contact_id), QUEUES[to_queue].aging_ms
        self.act(
            hub,
            race,
            lambda s: s.transfer_to_queue(
                contact_id, agent_id, to_queue, self.now_ms, aging_ms=aging_ms
            ),
        )

    @rule(hub=hubs, pick=picks, to_agent=st.sampled_from(AGENTS), race=races)
    def agent_transfers_to_agent(
        self, hub: int, pick: int, to_agent: str, race: random.Random | None
    ) -> None:
        contact_id = self.pick(pick, "assigned")
        if contact_id is None:
            return
        agent_id = self.holder(contact_id)
        deadline_ms = self.now_ms + QUEUES[self.audit.contacts[contact_id].queue].offer_timeout_ms
        self.act(
            hub,
            race,
            lambda s: s.transfer_to_agent(contact_id, agent_id, to_agent, deadline_ms, self.now_ms),
        )

    @rule(agent_id=st.sampled_from(AGENTS), hub=hubs, race=races)
    def console_connects(self, agent_id: str, hub: int, race: random.Random | None) -> None:
        self.consoles[agent_id] = hub
        self.act(hub, race, lambda s: s.heartbeat([agent_id], self.now_ms))

    @rule(agent_id=st.sampled_from(AGENTS), race=races)
    def console_disconnects(self, agent_id: str, race: random.Random | None) -> None:
        hub = self.consoles.pop(agent_id, None)
        if hub is None:
            return
        # What the gateway records when an agent's last console on a process closes.
        gone_ms = self.now_ms - LIVENESS.console_timeout_ms - 1
        self.act(hub, race, lambda s: s.heartbeat([agent_id], gone_ms))

    # --- time and routing -------------------------------------------------------------------

    @rule(dt_ms=st.integers(0, 30_000), beat=st.sampled_from([True, True, True, False]))
    def clock_advances(self, dt_ms: int, beat: bool) -> None:
        """Time passes (expiries, escalations and wrap-up ends happen on the next pass); with
        `beat`, every hub then reports the consoles it holds, as its heartbeat task does."""
        self.now_ms += dt_ms
        if beat:
            self.heartbeats()

    def heartbeats(self) -> None:
        async def beat() -> None:
            for hub, store in enumerate(self.stores):
                agents = [a for a, h in self.consoles.items() if h == hub]
                await store.heartbeat(agents, self.now_ms)

        self.run(beat())

    @rule(hub_set=st.sampled_from([(0, 1), (0, 2), (1, 2), (0, 1, 2)]), order=orders)
    def routers_pass(self, hub_set: tuple[int, ...], order: random.Random) -> None:
        self.run_together(order, *(self.workers[i].run_pass() for i in hub_set))

    @rule(order=orders)
    def routers_settle(self, order: random.Random) -> None:
        """All three routers pass together until a round in which none has anything to do;
        then nothing is stuck and no waiting contact could go to someone."""
        for _ in range(MAX_SETTLE_ROUNDS):
            results = self.run_together(order, *(w.run_pass() for w in self.workers))
            if all(r == PassResult() for r in results):
                break
        else:
            raise AssertionError(f"routers still busy after {MAX_SETTLE_ROUNDS} rounds")
        pic = self.run(read_picture(self.referee, self.keys))
        problems = self.stuck(pic) + self.run(self.idle_but_eligible(pic))
        assert not problems, "\n".join(problems)

    def stuck(self, pic: Picture) -> list[str]:
        out = []
        for contact_id, h in sorted(pic.contacts.items()):
            if h.get("state") == "offered" and int(h["deadline_ms"]) <= self.now_ms:
                out.append(f"{contact_id}'s offer to {h.get('agent_id')} is past its lease")
            policy = QUEUES[h["queue"]]
            if h.get("state") == "wrapup" and policy.wrapup_ms is not None:
                if self.now_ms - int(h["ended_at_ms"]) >= policy.wrapup_ms:
                    out.append(f"{contact_id} is in wrap-up past {policy.wrapup_ms} ms")
            if h.get("state") == "queued" and policy.max_wait_ms is not None:
                if self.now_ms - int(h["enqueued_at_ms"]) >= policy.max_wait_ms:
                    out.append(f"{contact_id} waits in {policy.name} past its maximum wait")
            # An agent the hub set offline for want of a console keeps nothing but, where the
            # queue says "keep", their conversations (docs/routing.md, Live consoles).
            holder = pic.agents.get(h.get("agent_id") or "", {})
            if h.get("state") in HELD and holder.get("reason") == "no-console":
                if holder.get("state") == "offline" and (
                    h["state"] != "assigned" or policy.on_agent_lost != "keep"
                ):
                    out.append(
                        f"{contact_id} is still {h['state']} with {h['agent_id']}, "
                        "who was set offline for want of a console"
                    )
        for agent_id, h in sorted(pic.agents.items()):
            silent_ms = self.now_ms - int(h.get("console_seen_ms") or 0)
            if silent_ms > LIVENESS.offline_after_ms and h.get("state") != "offline":
                out.append(f"agent {agent_id} silent {silent_ms} ms but {h.get('state')}")
        return out

    async def idle_but_eligible(self, pic: Picture) -> list[str]:
        """Waiting contacts that an available agent with room and a live console could take."""
        state = await self.stores[0].snapshot(QUEUES)
        reachable = {
            a.agent_id: a
            for a in state.agents.values()
            if self.now_ms - a.console_seen_ms <= LIVENESS.console_timeout_ms
        }
        out = []
        for contact_id, h in sorted(pic.contacts.items()):
            if h.get("state") != "queued":
                continue
            contact = await self.stores[0].contact_view(contact_id)
            assert contact is not None
            eligible = eligible_agents(reachable, contact, QUEUES, self.now_ms)
            if eligible:
                names = [a.agent_id for a in eligible]
                out.append(f"{contact_id} waits while {names} could take it: {contact}")
        return out

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def every_contact_in_one_place(self) -> None:
        entries = self.run(
            self.referee.xrange(
                self.keys.events,
                min="-" if self.last_event_id == "-" else f"({self.last_event_id}",
            )
        )
        for entry_id, fields in entries:
            self.last_event_id = entry_id
            self.audit.apply(ev.decode_event(fields))
        pic = self.run(read_picture(self.referee, self.keys))
        problems = placement_problems(pic, self.audit, self.enqueued, QUEUES)
        assert not problems, "\n".join(problems)
        for contact_id, track in self.audit.contacts.items():
            if track.state in HELD:
                agent = self.audit.agents[track.agent_id or ""]
                assert contact_id in agent.held[track.channel]

    def teardown(self) -> None:
        async def close() -> None:
            match = f"{self.keys.prefix}:*"
            names = [k async for k in self.referee.scan_iter(match=match, count=1000)]
            if names:
                await self.referee.delete(*names)
            for client in [*self.clients, self.referee]:
                await client.aclose()

        try:
            self.run(close())
        finally:
            self.loop.close()
        type(self).offers_seen += self.audit.offers_seen

    offers_seen: ClassVar[int] = 0  # over all examples: the run must have routed something


@pytest.mark.timeout(600)  # room for hypothesis to shrink a failure (it stops at 5 minutes)
def test_three_routers_keep_routing_promises_under_random_traffic(redis_url: str) -> None:
    class Machine(RoutingMachine):
        pass

    Machine.redis_url = redis_url
    with structlog.testing.capture_logs():
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=int(os.environ.get("CC_PROPERTY_EXAMPLES", "100")),
                stateful_step_count=80,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    assert Machine.offers_seen > 0


# --- what the machine found -------------------------------------------------------------------


class InOrder(random.Random):
    """A turnstile chooser that lets participants through in the order given (skipping any
    not waiting at the time), then whoever waits first."""

    def __init__(self, turnstile: Turnstile, order: list[int]) -> None:
        super().__init__(0)
        self.turnstile, self.order = turnstile, list(order)

    def randrange(self, n: int, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        waiting = [participant for participant, _ in self.turnstile.parked]
        while self.order:
            wanted = self.order.pop(0)
            if wanted in waiting:
                return waiting.index(wanted)
        return 0


@pytest.fixture
async def race_domain(redis_url: str) -> AsyncIterator[tuple[list[RoutingStore], Turnstile]]:
    """Two hub processes' stores, their calls through one turnstile, on a fresh domain."""
    domain = f"r{uuid.uuid4().hex[:12]}"
    turnstile = Turnstile()
    clients = [redis_client(redis_url) for _ in range(2)]
    for client in clients:
        turnstile.guard(client)
    stores = [RoutingStore(client, domain) for client in clients]
    for script in stores[0]._scripts.values():
        await clients[0].script_load(script.script)
    yield stores, turnstile
    keys = [k async for k in clients[0].scan_iter(match=f"{stores[0].keys.prefix}:*")]
    if keys:
        await clients[0].delete(*keys)
    for client in clients:
        await client.aclose()


async def _one_agent_one_contact(store: RoutingStore, queue: str) -> None:
    p = PROFILES["a3"][0]
    await store.set_agent_profile(
        "a3", skills=p.skills, capacity=p.capacity, languages=p.languages, now_ms=T0
    )
    await store.set_agent_state("a3", "available", now_ms=T0)
    await store.enqueue(
        contact_id="c1",
        queue=queue,
        channel="chat",
        customer_id="cust-c1",
        priority=0,
        now_ms=T0,
        aging_ms=QUEUES[queue].aging_ms,
    )


async def _events(store: RoutingStore) -> list[ev.Event]:
    entries = await store.redis.xrange(store.keys.events)
    return [ev.decode_event(fields) for _id, fields in entries]


async def test_abandon_racing_a_reject_names_no_offer_that_is_gone(
    race_domain: tuple[list[RoutingStore], Turnstile],
) -> None:
    (customer, agent), turnstile = race_domain
    await _one_agent_one_contact(customer, "sales")
    worker = RoutingWorker(agent, QUEUES, clock=lambda: T0)
    assert (await worker.run_pass()).offered == 1
    # The customer's hub reads the offer, the agent's hub rejects it, then the customer's
    # hub runs abandon.lua.
    await turnstile.run(
        InOrder(turnstile, [0, 1, 0]),
        customer.abandon("c1", T0 + 1),
        agent.requeue("c1", "a3", "sales", T0 + 1, expired=False),
    )
    events = await _events(customer)
    rejected = next(e for e in events if isinstance(e, ev.OfferRejected))
    abandoned = next(e for e in events if isinstance(e, ev.ContactAbandoned))
    assert events.index(rejected) < events.index(abandoned)
    assert abandoned.agent_id is None  # nobody's offer was pending any more


async def test_abandon_racing_an_overflow_leaves_nothing_in_a_queue(
    race_domain: tuple[list[RoutingStore], Turnstile],
) -> None:
    (customer, router), turnstile = race_domain
    await _one_agent_one_contact(customer, "sales")
    await customer.set_agent_state("a3", "away", now_ms=T0)
    max_wait_ms = QUEUES["sales"].max_wait_ms
    assert max_wait_ms is not None
    now_ms = T0 + max_wait_ms
    worker = RoutingWorker(router, QUEUES, clock=lambda: now_ms)
    # The customer's hub reads the contact (waiting in sales), a routing pass moves it to
    # support, then the customer's hub runs abandon.lua.
    await turnstile.run(
        InOrder(turnstile, [0] + [1] * 50), customer.abandon("c1", now_ms), worker.run_pass()
    )
    live = await customer.contact("c1")
    assert live is not None and live.state == "abandoned"
    assert await customer.redis.zscore(customer.keys.queue("support"), "c1") is None
