"""Helpers of the routing property tests: a turnstile that interleaves hub processes one Redis
call at a time in an order the test chooses, a replay of the event stream that allows only
legal moves, and a direct read of a routing domain's Redis keys checked for consistency.

Neither referee goes through the store under test. The replay is a small state machine of
each contact (queued, offered, assigned, wrapup, closed, abandoned) and of each agent's
presence, capacity and held contacts, folded from the events the Lua scripts append in the
same atomic step as their change; the picture is every key of the domain, read as it is.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from contactcenter.core import events as ev
from contactcenter.core.redisconn import RedisClient
from routing.keys import Keys
from routing.model import CHANNELS

HELD = ("offered", "assigned", "wrapup")
STATES = ("queued", *HELD, "closed", "abandoned")
T = TypeVar("T")
_PARTICIPANT = contextvars.ContextVar("participant", default=-1)


class Turnstile:
    """Runs several coroutines (hub processes) concurrently, letting exactly one of them run
    at a time between two Redis calls. Whenever the one running reaches its next call (or
    ends), `chooser` picks which waiting call goes next. The interleaving is then a function
    of the chooser alone, not of network timing, so hypothesis can replay and shrink it, and
    every interleaving at Redis-call granularity is reachable."""

    def __init__(self) -> None:
        self.chooser: random.Random | None = None  # None: calls pass straight through
        self.aborted: BaseException | None = None
        self.running = 0
        self.parked: list[tuple[int, asyncio.Future[None]]] = []
        self.trace: list[int] = []  # which participant made each call of the last run

    def guard(self, client: RedisClient) -> None:
        """Route `client`'s commands, scripts included, and pipelines through the turnstile."""
        execute_command, pipeline = client.execute_command, client.pipeline

        async def gated_command(*args: Any, **options: Any) -> Any:
            await self.gate()
            return _canonical(await execute_command(*args, **options))

        def gated_pipeline(*args: Any, **options: Any) -> Any:
            pipe = pipeline(*args, **options)
            execute = pipe.execute

            async def gated_execute(*a: Any, **kw: Any) -> Any:
                await self.gate()
                return [_canonical(r) for r in await execute(*a, **kw)]

            pipe.execute = gated_execute  # type: ignore[method-assign]
            return pipe

        client.execute_command = gated_command  # type: ignore[method-assign]
        client.pipeline = gated_pipeline  # type: ignore[method-assign]

    async def run(self, chooser: random.Random, *aws: Awaitable[T]) -> list[T]:
        """Run `aws` interleaved as `chooser` says; their results in order."""

        async def one(participant: int, aw: Awaitable[T]) -> T:
            _PARTICIPANT.set(participant)  # each runs as a task: in a context of its own
            try:
                return await aw
            finally:
                self.running -= 1
                self._next()

        self.chooser, self.running, self.aborted, self.trace = chooser, len(aws), None, []
        try:
            # Every one runs to its end even when another fails, so none is left parked.
            results = await asyncio.gather(
                *(one(i, aw) for i, aw in enumerate(aws)), return_exceptions=True
            )
        finally:
            self.chooser = None
        if self.aborted is not None:
            raise self.aborted
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results  # type: ignore[return-value]

    async def gate(self) -> None:
        if self.chooser is None:
            return
        parked = asyncio.get_running_loop().create_future()
        self.parked.append((_PARTICIPANT.get(), parked))
        self.running -= 1
        self._next()
        await parked

    def _next(self) -> None:
        if self.running or not self.parked or self.chooser is None:
            return
        try:
            index = self.chooser.randrange(len(self.parked))
        except BaseException as exc:
            # Hypothesis may stop a test case in the middle of a draw (StopTest while it
            # shrinks): let everyone through so that nothing is left parked, then re-raise
            # in `run`.
            self.aborted, self.chooser = exc, None
            for _, parked in self.parked:
                parked.set_result(None)
            self.parked.clear()
            return
        self.running += 1
        participant, parked = self.parked.pop(index)
        self.trace.append(participant)
        parked.set_result(None)


def _canonical(reply: Any) -> Any:
    """A set or hash reply rebuilt in sorted order. Redis (before 7.2 for sets) may list the
    members of a small set in an order that depends on its rehashing, which runs on a timer,
    and that order leaks into the order in which a pass carries out its decisions; replays of
    an example must not depend on it."""
    if isinstance(reply, set):
        return set(sorted(reply))
    if isinstance(reply, dict):
        return dict(sorted(reply.items()))
    return reply


@dataclass
class ContactTrack:
    state: str
    queue: str
    channel: str
    agent_id: str | None = None


@dataclass
class AgentTrack:
    state: str = "offline"
    voice_blocks: bool = True
    capacity: dict[str, int] = field(default_factory=dict)
    held: dict[str, set[str]] = field(default_factory=lambda: {ch: set() for ch in CHANNELS})
    # Contacts held above capacity because a profile change lowered it: allowed to drain,
    # never to grow.
    over: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))

    def limit(self, channel: str) -> int:
        return self.capacity.get(channel, 0) + self.over[channel]


class StreamAudit:
    """Folds the domain's events, failing on any move the routing contract forbids: an offer
    to a contact that is not waiting (so never two offers at once), to an agent who is not
    available, beyond the agent's capacity, or of a text contact to an agent whose voice call
    blocks text; and any accept, reject, expiry, end, wrap-up or transfer by someone other
    than the contact's holder."""

    def __init__(self) -> None:
        self.contacts: dict[str, ContactTrack] = {}
        self.agents: dict[str, AgentTrack] = {}
        self.transferring: dict[str, str] = {}  # contact id -> agent it was transferred to
        self.history: dict[str, list[str]] = {}  # contact id -> its events, for reports
        self.offers_seen = 0
        self.events_seen = 0

    def ids(self, *states: str) -> list[str]:
        return sorted(c for c, t in self.contacts.items() if t.state in states)

    def apply(self, e: ev.Event) -> None:
        self.events_seen += 1
        contact_id = getattr(e, "contact_id", None)
        if contact_id is not None:
            who = getattr(e, "agent_id", None) or getattr(e, "to_agent_id", None) or ""
            self.history.setdefault(contact_id, []).append(f"{e.type}({who})@{e.at_ms}")
        match e:
            case ev.AgentProfileChanged():
                a = self.agents.setdefault(e.agent_id, AgentTrack())
                a.capacity = {ch: int(e.capacity.get(ch, 0)) for ch in CHANNELS}
                a.voice_blocks = e.voice_blocks_chat
                for ch in CHANNELS:
                    a.over[ch] = max(0, len(a.held[ch]) - a.capacity[ch])
            case ev.AgentStateChanged():
                self._agent(e.agent_id, e).state = e.state
            case ev.ContactQueued():
                assert e.contact_id not in self.contacts, f"queued twice: {e}"
                self.contacts[e.contact_id] = ContactTrack("queued", e.queue, e.channel)
            case ev.ContactOffered():
                self._offered(e)
            case ev.OfferAccepted():
                c = self._held_by(e, e.agent_id, "offered")
                assert not e.released, f"a one-agent offer released others: {e}"
                c.state = "assigned"
            case ev.OfferRejected() | ev.OfferExpired() | ev.OfferWithdrawn():
                c = self._held_by(e, e.agent_id, "offered")
                self._release(c, e.contact_id)
                assert e.queue == c.queue, f"back to another queue than its own: {e}"
                c.state = "queued"
            case ev.ContactAbandoned():
                c = self._contact(e)
                assert c.state in ("queued", "offered"), f"abandoned while {c.state}: {e}"
                assert (e.agent_id, e.queue) == (c.agent_id, c.queue), (
                    f"abandoned as {c.agent_id}'s offer in {c.queue}: {e}"
                )
                if c.state == "offered":
                    self._release(c, e.contact_id)
                c.state = "abandoned"
            case ev.ConversationEnded():
                c = self._held_by(e, e.agent_id, "assigned")
                c.state = "wrapup"
            case ev.WrapUpCompleted():
                c = self._held_by(e, e.agent_id, "wrapup")
                self._release(c, e.contact_id)
                c.state = "closed"
            case ev.ContactTransferred():
                c = self._held_by(e, e.from_agent_id, "assigned")
                self._release(c, e.contact_id)
                if e.to_agent_id is None:
                    c.state, c.queue = "queued", e.to_queue
                else:
                    c.state = "transferring"
                    self.transferring[e.contact_id] = e.to_agent_id
            case ev.ContactOverflowed():
                c = self._contact(e)
                assert c.state == "queued", f"overflowed while {c.state}: {e}"
                assert e.from_queue == c.queue, f"overflowed from another queue ({c.queue}): {e}"
                c.queue = e.to_queue
            case ev.ContactReprioritized() | ev.ContactEscalated():
                c = self._contact(e)
                assert c.state in ("queued", "offered"), f"{e.type} while {c.state}: {e}"
            case ev.ContactBroadcast() | ev.BroadcastEnded():
                raise AssertionError(f"a broadcast, though no queue here broadcasts: {e}")
            case _:
                # Every event of the domain comes from a routing script: one the audit does
                # not know is a change it cannot vouch for.
                raise AssertionError(f"an event the audit does not know: {e}")

    def _offered(self, e: ev.ContactOffered) -> None:
        self.offers_seen += 1
        target = self.transferring.pop(e.contact_id, None)
        c = self._contact(e)
        if target is not None:
            assert e.agent_id == target, f"transferred to {target}, offered to another: {e}"
        else:
            assert c.state == "queued", f"offered while {c.state} (to {c.agent_id}): {e}"
        assert e.queue == c.queue, f"offered from another queue than its own ({c.queue}): {e}"
        a = self._agent(e.agent_id, e)
        assert a.state == "available", f"offered to an agent who is {a.state}: {e}"
        held = a.held[c.channel]
        assert len(held) + 1 <= a.capacity.get(c.channel, 0), (
            f"offer beyond capacity {a.capacity.get(c.channel, 0)} on {c.channel} "
            f"(holding {sorted(held)}): {e}"
        )
        if c.channel != "voice" and a.voice_blocks:
            assert not a.held["voice"], f"text offer during a voice call {a.held['voice']}: {e}"
        held.add(e.contact_id)
        c.state, c.agent_id = "offered", e.agent_id

    def _contact(self, e: ev.Event) -> ContactTrack:
        contact_id = getattr(e, "contact_id", "")
        assert contact_id in self.contacts, f"event for a contact never queued: {e}"
        assert contact_id not in self.transferring, f"transfer not followed by its offer: {e}"
        return self.contacts[contact_id]

    def _agent(self, agent_id: str, e: ev.Event) -> AgentTrack:
        assert agent_id in self.agents, f"event for an agent without a profile: {e}"
        return self.agents[agent_id]

    def _held_by(self, e: ev.Event, agent_id: str | None, state: str) -> ContactTrack:
        c = self._contact(e)
        assert c.state == state, f"{e.type} while {c.state}: {e}"
        assert agent_id == c.agent_id, f"{e.type} by {agent_id}, held by {c.agent_id}: {e}"
        return c

    def _release(self, c: ContactTrack, contact_id: str) -> None:
        assert c.agent_id is not None
        a = self.agents[c.agent_id]
        a.held[c.channel].discard(contact_id)
        a.over[c.channel] = min(
            a.over[c.channel], max(0, len(a.held[c.channel]) - a.capacity.get(c.channel, 0))
        )
        c.agent_id = None


@dataclass
class Picture:
    """Every key of one routing domain, read directly."""

    contacts: dict[str, dict[str, str]]
    agents: dict[str, dict[str, str]]
    agent_contacts: dict[str, set[str]]
    queues: dict[str, dict[str, float]]
    offers: dict[str, float]
    known_agents: set[str]


async def read_picture(redis: RedisClient, keys: Keys) -> Picture:
    """The domain's contacts, agents, queues and offers as they are now (SCAN, then one
    pipeline; the tests call it between steps, when nothing else runs)."""
    names = [k async for k in redis.scan_iter(match=f"{keys.prefix}:*", count=1000)]
    lead = len(keys.prefix) + 1
    contact_ids, agent_ids, held_ids, queue_names = [], [], [], []
    for name in names:
        kind, _, rest = name[lead:].partition(":")
        if kind == "contact":
            contact_ids.append(rest)
        elif kind == "agent" and rest.endswith(":contacts"):
            held_ids.append(rest.removesuffix(":contacts"))
        elif kind == "agent":
            agent_ids.append(rest)
        elif kind == "queue":
            queue_names.append(rest)
    pipe = redis.pipeline(transaction=False)
    for c in contact_ids:
        pipe.hgetall(keys.contact(c))
    for a in agent_ids:
        pipe.hgetall(keys.agent(a))
    for a in held_ids:
        pipe.smembers(keys.agent_contacts(a))
    for q in queue_names:
        pipe.zrange(keys.queue(q), 0, -1, withscores=True)
    pipe.zrange(keys.offers, 0, -1, withscores=True)
    pipe.smembers(keys.agents)
    replies = list(await pipe.execute())
    contacts = dict(zip(contact_ids, replies[: len(contact_ids)], strict=True))
    del replies[: len(contact_ids)]
    agents = dict(zip(agent_ids, replies[: len(agent_ids)], strict=True))
    del replies[: len(agent_ids)]
    held = {a: set(s) for a, s in zip(held_ids, replies[: len(held_ids)], strict=True)}
    del replies[: len(held_ids)]
    queues = {q: dict(z) for q, z in zip(queue_names, replies[: len(queue_names)], strict=True)}
    del replies[: len(queue_names)]
    return Picture(contacts, agents, held, queues, dict(replies[0]), set(replies[1]))


def placement_problems(
    pic: Picture, audit: StreamAudit, enqueued: Iterable[str], queue_names: Iterable[str]
) -> list[str]:
    """Everything wrong with where contacts are, what agents carry, and how both agree with
    the event stream: each live contact in exactly one place, every load equal to the
    contacts held, within capacity, and no contact ever queued gone missing."""
    problems: list[str] = []
    own_queues = set(queue_names)
    for q in pic.queues:
        if q not in own_queues:
            problems.append(f"a queue nobody configured holds contacts: {q}")
    for contact_id in enqueued:
        if contact_id not in pic.contacts:
            problems.append(f"{contact_id} vanished: no contact hash left")
    for contact_id, h in pic.contacts.items():
        problems += _contact_problems(contact_id, h, pic, audit)
    members = [(f"queue {q}", set(z)) for q, z in pic.queues.items()]
    members += [("offers", set(pic.offers))]
    members += [(f"agent {a} contacts", s) for a, s in pic.agent_contacts.items()]
    for where, ids in members:
        for contact_id in sorted(ids - set(pic.contacts)):
            problems.append(f"{contact_id} in {where} has no contact hash")
    for agent_id, h in pic.agents.items():
        problems += _agent_problems(agent_id, h, pic, audit)
    return problems


def _contact_problems(
    contact_id: str, h: Mapping[str, str], pic: Picture, audit: StreamAudit
) -> list[str]:
    state, agent_id, queue = h.get("state", ""), h.get("agent_id") or None, h.get("queue", "")
    where = {
        "queues": sorted(q for q, z in pic.queues.items() if contact_id in z),
        "holders": sorted(a for a, s in pic.agent_contacts.items() if contact_id in s),
        "offers": contact_id in pic.offers,
    }
    expected: dict[str, object]
    if state == "queued":
        expected = {"queues": [queue], "holders": [], "offers": False}
    elif state in HELD:
        expected = {"queues": [], "holders": [agent_id], "offers": state == "offered"}
    elif state in STATES:
        expected = {"queues": [], "holders": [], "offers": False}
    else:
        return [f"{contact_id} in an unknown state {state!r}"]
    out = []
    if where != expected:
        out.append(f"{contact_id} ({state}, agent {agent_id}) is at {where}, not {expected}")
    if state == "queued" and agent_id is not None:
        out.append(f"{contact_id} waits but names agent {agent_id}")
    if state == "queued" and contact_id in pic.queues.get(queue, {}):
        if pic.queues[queue][contact_id] != float(h.get("score", "nan")):
            out.append(f"{contact_id} sits at {pic.queues[queue][contact_id]}, not its score")
    if state == "offered" and pic.offers.get(contact_id) != float(h.get("deadline_ms", "nan")):
        out.append(f"{contact_id}'s offer lease is not its deadline: {pic.offers.get(contact_id)}")
    track = audit.contacts.get(contact_id)
    if track is None:
        out.append(f"{contact_id} exists but the stream never queued it")
    else:
        # A closed or abandoned contact's hash keeps the agent it last had; only a held
        # contact's agent matters.
        now = (state, agent_id if state in HELD else None, queue)
        seen = (track.state, track.agent_id, track.queue)
        if now != seen:
            out.append(f"{contact_id} is {now}, the stream says {seen}")
    if out:
        out.append(f"  {contact_id}'s events: {', '.join(audit.history.get(contact_id, []))}")
    return out


def _agent_problems(
    agent_id: str, h: Mapping[str, str], pic: Picture, audit: StreamAudit
) -> list[str]:
    out = []
    if agent_id not in pic.known_agents:
        out.append(f"agent {agent_id} has a hash but is not in the agents set")
    track = audit.agents.get(agent_id)
    if track is None:
        return [*out, f"agent {agent_id} exists but the stream never profiled them"]
    if h.get("state") != track.state:
        out.append(f"agent {agent_id} is {h.get('state')}, the stream says {track.state}")
    for ch in CHANNELS:
        load = int(h.get(f"load:{ch}") or 0)
        cap = int(h.get(f"cap:{ch}") or 0)
        holding = sorted(
            c
            for c, ch_h in pic.contacts.items()
            if ch_h.get("agent_id") == agent_id
            and ch_h.get("state") in HELD
            and (ch_h.get("channel") or "chat") == ch
        )
        if load != len(holding):
            out.append(f"agent {agent_id} load:{ch}={load} but holds {holding}")
        if sorted(track.held[ch]) != holding:
            out.append(
                f"agent {agent_id} holds {holding} on {ch}, the stream says "
                f"{sorted(track.held[ch])}"
            )
        if cap != track.capacity.get(ch, 0):
            out.append(f"agent {agent_id} cap:{ch}={cap}, the stream says {track.capacity}")
        if load > track.limit(ch):
            out.append(f"agent {agent_id} above capacity on {ch}: {load} > {cap}")
    return out
