"""What routing knows of one domain: its agents and live contacts, folded from the event
stream (`RoutingState.apply`) or built from a snapshot of the live store. Pure: no I/O, no
clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from contactcenter.core import events as ev
from routing.model import (
    AgentView,
    ContactView,
)


@dataclass
class RoutingState:
    """Agents and live contacts of one routing domain. Closed contacts are dropped."""

    agents: dict[str, AgentView] = field(default_factory=dict)
    contacts: dict[str, ContactView] = field(default_factory=dict)

    def apply(self, event: ev.Event) -> None:
        """Fold one event into the state; events that do not concern routing are ignored."""
        match event:
            case ev.AgentProfileChanged():
                old = self.agents.get(event.agent_id) or AgentView(event.agent_id, "offline", {})
                self.agents[event.agent_id] = replace(
                    old,
                    skills=dict(event.skills),
                    capacity=dict(event.capacity),
                    languages=frozenset(event.languages),
                    voice_blocks_chat=event.voice_blocks_chat,
                )
            case ev.AgentStateChanged():
                a = self.agents.get(event.agent_id) or AgentView(event.agent_id, "offline", {})
                if event.state == "available" and a.state != "available":
                    a = replace(a, last_offer_ms=event.at_ms, idle_since_ms=event.at_ms, misses=0)
                if event.reason == "missed-offers":  # set away for it: the count starts again
                    a = replace(a, misses=0)
                self.agents[event.agent_id] = replace(
                    a, state=event.state, reason=event.reason or ""
                )
            case ev.AgentNextStateScheduled() | ev.AgentNextStateApplied():
                a = self.agents.get(event.agent_id) or AgentView(event.agent_id, "offline", {})
                scheduled = isinstance(event, ev.AgentNextStateScheduled)
                self.agents[event.agent_id] = replace(
                    a, next_state=event.state if scheduled else ""
                )
            case ev.AgentNextStateCancelled():
                a = self.agents.get(event.agent_id) or AgentView(event.agent_id, "offline", {})
                self.agents[event.agent_id] = replace(a, next_state="")
            case ev.ContactQueued():
                self.contacts[event.contact_id] = ContactView(
                    event.contact_id,
                    event.queue,
                    event.priority,
                    event.enqueued_at_ms,
                    channel=event.channel,
                    required_skills=frozenset(event.required_skills),
                    language=event.language,
                    preferred_agent_id=event.preferred_agent_id,
                )
            case ev.ContactOffered():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(
                    c, state="offered", agent_id=event.agent_id, deadline_ms=event.deadline_ms
                )
                self._load(event.agent_id, c.channel, +1, event.at_ms, offered=True)
            case ev.ContactBroadcast():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(
                    c,
                    state="offered",
                    agent_id=None,
                    deadline_ms=event.deadline_ms,
                    offered_to=frozenset(event.agent_ids),
                )
                for agent_id in event.agent_ids:
                    self._load(agent_id, c.channel, +1, event.at_ms, offered=True)
            case ev.BroadcastEnded():
                c = self.contacts[event.contact_id]
                for agent_id in event.released:
                    self._load(agent_id, c.channel, -1, event.at_ms)
                if event.why == "abandoned":
                    self.contacts.pop(c.contact_id)
                else:
                    self.contacts[c.contact_id] = replace(
                        c,
                        state="queued",
                        deadline_ms=None,
                        offered_to=frozenset(),
                        declined_by=c.declined_by | set(event.released),
                    )
            case ev.OfferAccepted():
                c = self.contacts[event.contact_id]
                for agent_id in event.released:
                    self._load(agent_id, c.channel, -1, event.at_ms)
                self.contacts[c.contact_id] = replace(
                    c,
                    state="assigned",
                    deadline_ms=None,
                    agent_id=event.agent_id,
                    offered_to=frozenset(),
                )
                holder = self.agents.get(event.agent_id)
                if holder is not None:
                    self.agents[holder.agent_id] = replace(holder, misses=0)
            case ev.OfferRejected() | ev.OfferExpired() | ev.OfferWithdrawn() if self.contacts[
                event.contact_id
            ].offered_to:
                # One agent of a broadcast lets it go; the last one sends it back to queue.
                c = self.contacts[event.contact_id]
                left = c.offered_to - {event.agent_id}
                c = replace(c, offered_to=left, declined_by=c.declined_by | {event.agent_id})
                if not left:
                    c = replace(c, state="queued", deadline_ms=None)
                self.contacts[c.contact_id] = c
                missed = isinstance(event, ev.OfferRejected)
                self._load(event.agent_id, c.channel, -1, event.at_ms, missed=missed)
            case ev.OfferRejected() | ev.OfferExpired() | ev.OfferWithdrawn():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(
                    c,
                    state="queued",
                    agent_id=None,
                    deadline_ms=None,
                    declined_by=c.declined_by | {event.agent_id},
                )
                missed = not isinstance(event, ev.OfferWithdrawn)
                self._load(event.agent_id, c.channel, -1, event.at_ms, missed=missed)
            case ev.ContactTransferred():
                c = self.contacts[event.contact_id]
                self._load(event.from_agent_id, c.channel, -1, event.at_ms)
                if event.to_agent_id is None:
                    self.contacts[c.contact_id] = replace(
                        c,
                        queue=event.to_queue,
                        state="queued",
                        agent_id=None,
                        escalation_step=0,
                        declined_by=frozenset({event.from_agent_id}),
                    )
            case ev.ContactReprioritized():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, priority=event.priority)
            case ev.ContactRestored():
                self.contacts[event.contact_id] = ContactView(
                    event.contact_id,
                    event.queue,
                    event.priority,
                    event.enqueued_at_ms,
                    channel=event.channel,
                    state=event.state,
                    agent_id=event.agent_id,
                )
                self._load(event.agent_id, event.channel, +1, event.at_ms)
            case ev.ContactOverflowed():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, queue=event.to_queue, escalation_step=0)
            case ev.ContactEscalated():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, escalation_step=event.step)
            case ev.ConversationEnded():
                c = self.contacts[event.contact_id]
                self.contacts[c.contact_id] = replace(c, state="wrapup", ended_at_ms=event.at_ms)
            case ev.WrapUpCompleted():
                done = self.contacts.pop(event.contact_id, None)
                self._load(event.agent_id, done.channel if done else "chat", -1, event.at_ms)
            case ev.ContactAbandoned():
                gone = self.contacts.pop(event.contact_id, None)
                if gone is not None and gone.state == "offered" and gone.agent_id is not None:
                    self._load(gone.agent_id, gone.channel, -1, event.at_ms)
            case _:
                pass

    def _load(
        self,
        agent_id: str,
        channel: str,
        delta: int,
        at_ms: int,
        *,
        offered: bool = False,
        missed: bool = False,
    ) -> None:
        a = self.agents.get(agent_id)
        if a is None:
            return
        a = a.with_load(channel, delta)
        if offered:
            a = replace(a, last_offer_ms=at_ms)
        if missed:
            a = replace(a, misses=a.misses + 1)
        if delta < 0 and a.total_load == 0:
            a = replace(a, idle_since_ms=at_ms)
        self.agents[agent_id] = a
