"""The supervisor's live statistics, folded from the hub's events (docs/supervisor.md, "Live
statistics: the fold"). `LiveStats.apply` takes one event with work that does not grow with
the number of agents or contacts (dicts, a waiting heap per queue line with lazy deletion,
per-minute buckets); `queue`, `queues` and `agent` read the figures at a `now_ms` given.

Pure: no I/O, no clock. "Today" starts at the `day_start_ms` the caller sets with
`start_day` (`day_start_ms()` below computes the operator's midnight); the measures are
`QueueTally`'s, never defined here."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from contactcenter.core import events as ev
from contactcenter.measures.definitions import DEFAULT_SHORT_ABANDON_MS
from contactcenter.supervision.stats_agents import (
    AgentCounts,
    AgentFigures,
    AgentLine,
    activity,
    eligible_queues,
    read_agent,
)
from contactcenter.supervision.stats_queues import (
    DEFAULT_WINDOW_MS,
    Counts,
    QueueFigures,
    QueueLine,
    WaitEntry,
    read_line,
)
from routing.model import QueuePolicy

# Event ids remembered to drop a redelivery (delivery is at least once, docs: DESIGN 4).
SEEN_EVENTS = 20_000


def day_start_ms(now_ms: int, tz_name: str) -> int:
    """The epoch milliseconds of the local midnight that starts `now_ms`'s day in `tz_name`
    (a day is 23 or 25 hours across a DST change; a midnight skipped by DST starts the day
    at the first instant after it)."""
    tz = ZoneInfo(tz_name)
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    return int(midnight.timestamp() * 1000)


@dataclass
class _Contact:
    contact_id: str
    queue: str
    channel: str
    enqueued_at_ms: int
    wait_token: int | None = None  # set while the contact waits in `queue`
    direct: bool = False  # offered to a named agent by a transfer, not waiting in a queue
    agent_id: str | None = None
    accepted_at_ms: int | None = None
    ended_at_ms: int | None = None


class LiveStats:
    """Queues and agents as a supervisor sees them, folded from events.

    `policies` gives each queue's eligibility (for the agents-by-activity counts);
    `targets_ms` each queue's service-level target per channel (`service_level_s` in ms).
    A queue's all-channels line shows a service level only when its channels share one
    target; otherwise its channels' lines do."""

    def __init__(
        self,
        *,
        policies: Mapping[str, QueuePolicy],
        targets_ms: Mapping[str, Mapping[str, int]],
        day_start_ms: int,
        window_ms: int = DEFAULT_WINDOW_MS,
        short_abandon_ms: int = DEFAULT_SHORT_ABANDON_MS,
    ) -> None:
        self.policies = dict(policies)
        self.targets_ms = {q: dict(t) for q, t in targets_ms.items()}
        self.day_start_ms = day_start_ms
        self.window_ms = window_ms
        self.short_abandon_ms = short_abandon_ms
        self.lines: dict[tuple[str, str | None], QueueLine] = {}
        self.channels: dict[str, set[str]] = {}  # queue -> channels seen (for reading)
        self.contacts: dict[str, _Contact] = {}
        self.agents: dict[str, AgentLine] = {}
        self.agent_counts = AgentCounts()
        self._next_token = 0
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()

    def start_day(self, day_start_ms: int) -> None:
        """Today starts at `day_start_ms`: today's sums start afresh, each as it is next
        touched (nothing is scanned)."""
        self.day_start_ms = day_start_ms

    # --- folding -------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Fold one event; a redelivered event (same id) and events of no concern are
        ignored, as are events about a contact the fold never saw queued."""
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        self._seen_order.append(event.event_id)
        if len(self._seen_order) > SEEN_EVENTS:
            self._seen.discard(self._seen_order.popleft())
        at = event.at_ms
        match event:
            case ev.ContactQueued():
                c = self.contacts.get(event.contact_id)
                if c is not None and c.wait_token is not None:
                    return  # already waiting: a duplicate enqueue changes nothing
                c = _Contact(event.contact_id, event.queue, event.channel, event.enqueued_at_ms)
                self.contacts[c.contact_id] = c
                self._begin_wait(c, event.queue, at)
            case ev.ContactOffered():
                if (c := self.contacts.get(event.contact_id)) is not None:
                    c.direct = c.wait_token is None
            case ev.OfferAccepted():
                if (c := self.contacts.get(event.contact_id)) is not None:
                    self._accepted(c, event.agent_id, at)
            case ev.OfferRejected() | ev.OfferExpired() | ev.OfferWithdrawn():
                if not isinstance(event, ev.OfferWithdrawn):
                    self._missed(event.agent_id, at)
                c = self.contacts.get(event.contact_id)
                if c is not None and c.direct:  # a transfer to them: back to its queue
                    c.direct = False
                    self._begin_wait(c, c.queue, at)
            case ev.ContactAbandoned():
                self._abandoned(event.contact_id, at)
            case ev.BroadcastEnded() if event.why == "abandoned":
                self._abandoned(event.contact_id, at)
            case ev.ConversationEnded():
                c = self.contacts.get(event.contact_id)
                if c is not None and c.ended_at_ms is None and c.agent_id is not None:
                    c.ended_at_ms = at
                    self._hold(c.agent_id, c.channel, talking=-1, wrapping=+1)
            case ev.WrapUpCompleted():
                if (c := self.contacts.pop(event.contact_id, None)) is not None:
                    self._wrapped_up(c, at)
            case ev.ContactTransferred():
                self._transferred(event, at)
            case ev.ContactOverflowed():
                c = self.contacts.get(event.contact_id)
                if c is not None and c.wait_token is not None:
                    self._end_wait(c)
                    for counts in self._periods(c.queue, c.channel, at):
                        counts.overflowed_out += 1
                    self._begin_wait(c, event.to_queue, at)
            case ev.ContactRestored():
                if event.contact_id not in self.contacts:
                    self._restored(event, at)
            case ev.AgentStateChanged():
                self._state(event, at)
            case ev.AgentProfileChanged():
                self._profile(event)
            case ev.SessionEnded():
                self._agent(event.agent_id).last_logout_ms = at
            case _:
                pass

    def _periods(self, queue: str, channel: str, at_ms: int) -> list[Counts]:
        out = []
        for key in ((queue, None), (queue, channel)):
            out += self._line(*key).periods(at_ms, self.day_start_ms)
        return out

    def _line(self, queue: str, channel: str | None) -> QueueLine:
        line = self.lines.get((queue, channel))
        if line is None:
            targets = self.targets_ms.get(queue, {})
            if channel is None:
                distinct = set(targets.values())
                target = distinct.pop() if len(distinct) == 1 else None
            else:
                target = targets.get(channel)
                self.channels.setdefault(queue, set()).add(channel)
            line = QueueLine(target, self.window_ms, self.short_abandon_ms)
            self.lines[(queue, channel)] = line
        return line

    def _live(self, contact_id: str, token: int) -> bool:
        c = self.contacts.get(contact_id)
        return c is not None and c.wait_token == token

    def _begin_wait(self, c: _Contact, queue: str, at_ms: int) -> None:
        self._next_token += 1
        c.queue, c.wait_token, c.direct = queue, self._next_token, False
        c.agent_id = c.accepted_at_ms = c.ended_at_ms = None
        entry = WaitEntry(c.enqueued_at_ms, self._next_token, c.contact_id)
        for key in ((queue, None), (queue, c.channel)):
            self._line(*key).push(entry, self._live)
        for counts in self._periods(queue, c.channel, at_ms):
            counts.offered += 1

    def _end_wait(self, c: _Contact) -> None:
        c.wait_token = None
        for key in ((c.queue, None), (c.queue, c.channel)):
            self._line(*key).waiting -= 1

    def _accepted(self, c: _Contact, agent_id: str, at_ms: int) -> None:
        if c.wait_token is not None:
            self._end_wait(c)
            for counts in self._periods(c.queue, c.channel, at_ms):
                counts.tally.add_answered(at_ms - c.enqueued_at_ms)
        c.direct = False
        c.agent_id, c.accepted_at_ms, c.ended_at_ms = agent_id, at_ms, None
        self._hold(agent_id, c.channel, talking=+1, wrapping=0)

    def _abandoned(self, contact_id: str, at_ms: int) -> None:
        c = self.contacts.pop(contact_id, None)
        if c is None or c.wait_token is None:
            return
        self._end_wait(c)
        for counts in self._periods(c.queue, c.channel, at_ms):
            counts.tally.add_abandoned(at_ms - c.enqueued_at_ms)

    def _handled(self, c: _Contact, queue: str, talk_ms: int, wrapup_ms: int, at_ms: int) -> None:
        for counts in self._periods(queue, c.channel, at_ms):
            counts.tally.add_handled(talk_ms, wrapup_ms)
        if c.agent_id is not None and at_ms >= self.day_start_ms:
            agent = self._agent(c.agent_id)
            agent.today(self.day_start_ms)
            agent.handled.add_handled(talk_ms, wrapup_ms)

    def _wrapped_up(self, c: _Contact, at_ms: int) -> None:
        if c.agent_id is None:
            return
        ended = c.ended_at_ms if c.ended_at_ms is not None else at_ms
        if c.accepted_at_ms is not None:  # a restored contact's talk is unknown: not counted
            self._handled(c, c.queue, ended - c.accepted_at_ms, at_ms - ended, at_ms)
        self._let_go(c.agent_id, c)

    def _transferred(self, event: ev.ContactTransferred, at_ms: int) -> None:
        c = self.contacts.get(event.contact_id)
        if c is None or c.agent_id is None:
            return
        if c.accepted_at_ms is not None:
            self._handled(c, event.from_queue, at_ms - c.accepted_at_ms, 0, at_ms)
        for counts in self._periods(event.from_queue, c.channel, at_ms):
            counts.transferred_out += 1
        self._let_go(c.agent_id, c)
        c.agent_id = c.accepted_at_ms = c.ended_at_ms = None
        if event.to_agent_id is None:
            self._begin_wait(c, event.to_queue, at_ms)
        else:
            c.queue, c.direct = event.to_queue, True

    def _restored(self, event: ev.ContactRestored, at_ms: int) -> None:
        c = _Contact(event.contact_id, event.queue, event.channel, event.enqueued_at_ms)
        c.agent_id = event.agent_id
        self.contacts[c.contact_id] = c
        if event.state == "wrapup":
            c.ended_at_ms = at_ms
            self._hold(event.agent_id, c.channel, talking=0, wrapping=+1)
        else:
            self._hold(event.agent_id, c.channel, talking=+1, wrapping=0)

    # --- agents --------------------------------------------------------------------------

    def _let_go(self, agent_id: str, c: _Contact) -> None:
        """The agent no longer holds `c` (in conversation, or in wrap-up once it ended)."""
        if c.ended_at_ms is None:
            self._hold(agent_id, c.channel, talking=-1, wrapping=0)
        else:
            self._hold(agent_id, c.channel, talking=0, wrapping=-1)

    def _missed(self, agent_id: str, at_ms: int) -> None:
        if at_ms >= self.day_start_ms:
            agent = self._agent(agent_id)
            agent.today(self.day_start_ms)
            agent.missed_offers += 1

    def _agent(self, agent_id: str) -> AgentLine:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = AgentLine(agent_id)
        return agent

    def _recount(self, agent: AgentLine) -> None:
        now = activity(agent.state, agent.reason, agent.talking, agent.wrapping)
        if now != agent.counted_as:
            self.agent_counts.move(agent.queues, agent.counted_as, now)
            agent.counted_as = now

    def _hold(self, agent_id: str, channel: str, *, talking: int, wrapping: int) -> None:
        agent = self._agent(agent_id)
        agent.talking = max(0, agent.talking + talking)
        agent.wrapping = max(0, agent.wrapping + wrapping)
        agent.in_hand[channel] = max(0, agent.in_hand.get(channel, 0) + talking + wrapping)
        self._recount(agent)

    def _state(self, event: ev.AgentStateChanged, at_ms: int) -> None:
        agent = self._agent(event.agent_id)
        reason = event.reason or ""
        if (event.state, reason) == (agent.state, agent.reason):
            return
        if agent.state == "offline" and event.state != "offline":
            agent.last_login_ms = at_ms
        agent.state, agent.reason, agent.state_since_ms = event.state, reason, at_ms
        self._recount(agent)

    def _profile(self, event: ev.AgentProfileChanged) -> None:
        agent = self._agent(event.agent_id)
        agent.capacity = dict(event.capacity)
        queues = eligible_queues(agent.agent_id, event.skills, event.languages, self.policies)
        if queues != agent.queues:
            self.agent_counts.move(agent.queues, agent.counted_as, None)
            agent.queues = queues
            self.agent_counts.move(queues, None, agent.counted_as)

    # --- reading -------------------------------------------------------------------------

    def queue(self, queue: str, now_ms: int) -> QueueFigures:
        """The queue's figures at `now_ms`, with one line per channel seen in it."""
        line = read_line(
            self._line(queue, None), queue, None, now_ms, self.day_start_ms, self._live
        )
        channels = {
            ch: read_line(self._line(queue, ch), queue, ch, now_ms, self.day_start_ms, self._live)
            for ch in sorted(self.channels.get(queue, ()))
        }
        return replace(line, agents=self.agent_counts.of(queue), channels=channels)

    def queues(self, now_ms: int) -> list[QueueFigures]:
        """Every configured queue and every queue seen in an event, by name."""
        names = set(self.policies) | {q for q, _ in self.lines}
        return [self.queue(name, now_ms) for name in sorted(names)]

    def agent(self, agent_id: str, now_ms: int) -> AgentFigures:
        return read_agent(self._agent(agent_id), now_ms, self.day_start_ms)

    def all_agents(self, now_ms: int) -> list[AgentFigures]:
        return [self.agent(a, now_ms) for a in sorted(self.agents)]
