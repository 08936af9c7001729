"""The routing core: a pure model of who waits and who can take work, and the decisions on it.

Nothing here performs I/O or reads the clock. The state is built either by folding events
(`RoutingState.apply`) or from a snapshot of the live store; `decide` takes the state, the
queues' policies and the current time, and returns the commands to carry out. The store's Lua
scripts then make each command atomic and may refuse it (the world moved on); the worker
simply decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from routing.expr import Expr
from routing.model import (
    MAX_PRIORITY,
    AbandonContact,
    AgentView,
    BroadcastContact,
    CompleteWrapUp,
    ContactView,
    Decision,
    EscalateContact,
    ExpireOffer,
    Liveness,
    OfferContact,
    OverflowContact,
    QueuePolicy,
    SetAgentOffline,
    queue_score,
)
from routing.pools import Pool
from routing.state import RoutingState
from routing.strategies import Rank, rank, sticky_hold

__all__ = [
    "MAX_PRIORITY",
    "AbandonContact",
    "AgentView",
    "CompleteWrapUp",
    "ContactView",
    "Decision",
    "EscalateContact",
    "ExpireOffer",
    "Liveness",
    "OfferContact",
    "QueuePolicy",
    "RoutingState",
    "SetAgentOffline",
    "decide",
    "eligible_agents",
    "queue_score",
]


def _waited(contact: ContactView, now_ms: int) -> int:
    return max(0, now_ms - contact.enqueued_at_ms)


def _order(contact: ContactView, policy: QueuePolicy, now_ms: int) -> tuple[float, int, str]:
    """Across queues: highest effective priority (aged, weighted) first, then oldest."""
    priority = float(contact.priority)
    if policy.aging_ms:
        priority += _waited(contact, now_ms) / policy.aging_ms
    return (-priority * policy.weight, contact.enqueued_at_ms, contact.contact_id)


def _rules(
    contact: ContactView, queues: Mapping[str, QueuePolicy], now_ms: int
) -> tuple[tuple[Expr, ...], str | None]:
    """The eligibility rules a contact's wait has reached (any one admits an agent), and the
    language an agent must speak (None: any)."""
    policy = queues[contact.queue]
    steps = policy.escalation[: policy.step_at(_waited(contact, now_ms))]
    rules = [policy.base_eligibility]
    any_language = False
    for s in steps:
        if s.eligibility is not None:
            rules = [s.eligibility]
        any_language = any_language or s.any_language
    for s in steps:
        rules += [queues[q].base_eligibility for q in s.overflow if q in queues]
    need_language = contact.language if contact.language and not any_language else None
    return tuple(rules), need_language


def _admits(contact: ContactView, need_language: str | None, agent: AgentView) -> bool:
    """What the contact itself asks of an agent: its required skills and language."""
    if contact.required_skills and not contact.required_skills <= agent.skills.keys():
        return False
    return need_language is None or need_language in agent.languages


def eligible_agents(
    agents: Mapping[str, AgentView],
    contact: ContactView,
    queues: Mapping[str, QueuePolicy],
    now_ms: int,
    *,
    with_room: bool = True,
    memo: dict[tuple[Expr, str], bool] | None = None,
) -> list[AgentView]:
    """Agents who may take `contact` now (skills, language, room on its channel), with the
    escalation steps its wait has reached. With `with_room` false: every available agent
    eligible for it, full or not. `memo` keeps each agent's verdict per eligibility rule
    across the contacts of one pass (verdicts depend on the agent alone)."""
    rules, need_language = _rules(contact, queues, now_ms)
    out = []
    for a in agents.values():
        if a.state != "available" or (with_room and a.room(contact.channel) <= 0):
            continue
        if _admits(contact, need_language, a) and _matches(rules, a, memo):
            out.append(a)
    return out


def _matches(
    rules: tuple[Expr, ...], agent: AgentView, memo: dict[tuple[Expr, str], bool] | None
) -> bool:
    if memo is None:
        facts = agent.facts
        return any(rule.matches(facts) for rule in rules)
    for rule in rules:
        key = (rule, agent.agent_id)
        verdict = memo.get(key)
        if verdict is None:
            verdict = memo[key] = rule.matches(agent.facts)
        if verdict:
            return True
    return False


class _Candidates:
    """Eligibility within one pass. Which agents a set of rules admits depends on their
    skills and languages alone, which a pass does not change, so each set of rules is
    checked once against the available agents; each answer then re-reads the agents' room,
    which offers made in the pass take away."""

    def __init__(self, agents: dict[str, AgentView]) -> None:
        self._agents = agents  # decide's working copy: loads change as offers are made
        self._admitted: dict[tuple[Expr, ...], list[str]] = {}

    def eligible(
        self, contact: ContactView, queues: Mapping[str, QueuePolicy], now_ms: int
    ) -> list[AgentView]:
        rules, need_language = _rules(contact, queues, now_ms)
        channel = contact.channel
        admitted = self._admitted.get(rules)
        if admitted is None:
            admitted = self._admitted[rules] = [
                a.agent_id
                for a in self._agents.values()
                if a.state == "available" and _matches(rules, a, None)
            ]
        out = []
        for agent_id in admitted:
            a = self._agents[agent_id]
            if a.room(channel) > 0 and _admits(contact, need_language, a):
                out.append(a)
        return out


def _customer_gone(c: ContactView, liveness: Liveness | None, now_ms: int) -> bool:
    """A waiting web chat whose customer's page has been gone past the grace period."""
    if liveness is None or liveness.customer_grace_ms is None or not c.customer_seen_ms:
        return False
    if c.state not in ("queued", "offered"):
        return False
    return now_ms - max(c.customer_seen_ms, liveness.since_ms) > liveness.customer_grace_ms


def _expire_and_wrap(
    state: RoutingState,
    queues: Mapping[str, QueuePolicy],
    agents: dict[str, AgentView],
    now_ms: int,
    liveness: Liveness | None = None,
) -> tuple[list[Decision], list[ContactView]]:
    decisions: list[Decision] = []
    waiting: list[ContactView] = []
    for c in state.contacts.values():
        if _customer_gone(c, liveness, now_ms):
            # A ghost: abandoned (its offer withdrawn), never offered again.
            decisions.append(AbandonContact(c.contact_id, c.queue))
            if c.state == "offered":
                for holder in c.offered_to or frozenset({c.agent_id or ""}):
                    a = agents.get(holder)
                    if a is not None:
                        agents[a.agent_id] = a.with_load(c.channel, -1)
            continue
        if c.state == "offered" and c.deadline_ms is not None and c.deadline_ms <= now_ms:
            holders = c.offered_to or frozenset({c.agent_id or ""})
            # A broadcast offer is taken back from all its agents at once (agent_id "").
            decisions.append(ExpireOffer(c.contact_id, c.agent_id or "", c.queue))
            for holder in holders:
                a = agents.get(holder)
                if a is not None:
                    agents[a.agent_id] = a.with_load(c.channel, -1)
            if c.queue in queues:  # a queue no longer configured here is not offered again
                declined = c.declined_by | holders
                waiting.append(replace(c, declined_by=declined, offered_to=frozenset()))
        elif c.state == "queued" and c.queue in queues:
            waiting.append(c)
        elif c.state == "wrapup" and c.agent_id and c.ended_at_ms is not None:
            wrapup_ms = _wrapup_limit_ms(queues.get(c.queue))
            if wrapup_ms is not None and now_ms - c.ended_at_ms >= wrapup_ms:
                decisions.append(CompleteWrapUp(c.contact_id, c.agent_id, c.queue))
    return decisions, waiting


def _wrapup_limit_ms(policy: QueuePolicy | None) -> int | None:
    """How long a wrap-up of the queue may last: its `wrapup_ms`, else its maximum."""
    if policy is None:
        return None
    return policy.wrapup_ms if policy.wrapup_ms is not None else policy.max_wrapup_ms


def _silent_agents(agents: dict[str, AgentView], liveness: Liveness, now_ms: int) -> list[Decision]:
    """Take agents without a live console out of this pass; those without one for the grace
    period are to be set offline, and their work given back, whatever their state: an agent
    who chose Offline or Away and then closed the console keeps nothing (docs/routing.md).

    The grace period is counted from when the last console closed (`console_left_ms`), or,
    when a hub process died with it, from its last heartbeat."""
    offline: list[Decision] = []
    for a in list(agents.values()):
        silent_ms = now_ms - a.console_seen_ms
        gone = a.console_left_ms > 0 and a.console_left_ms >= a.console_seen_ms
        if a.state == "offline":
            # Offline already: only work left behind matters, and only once.
            if a.total_load and a.reason != "no-console" and silent_ms > liveness.offline_after_ms:
                offline.append(SetAgentOffline(a.agent_id))
            continue
        if silent_ms > liveness.offline_after_ms:
            offline.append(SetAgentOffline(a.agent_id))
        if gone or silent_ms > liveness.console_timeout_ms:
            agents[a.agent_id] = replace(a, state="unreachable")
    return offline


def _broadcast(
    contact: ContactView,
    policy: QueuePolicy,
    agents: list[AgentView],
    context: dict[str, object],
    now_ms: int,
) -> BroadcastContact:
    return BroadcastContact(
        contact.contact_id,
        tuple(a.agent_id for a in agents),
        contact.queue,
        now_ms + policy.offer_timeout_ms,
        {"strategy": "broadcast", "offered": len(agents), **context},
        contact.channel,
    )


def _pick(
    contact: ContactView,
    policy: QueuePolicy,
    pool: Pool,
    agents: dict[str, AgentView],
    queues: Mapping[str, QueuePolicy],
    now_ms: int,
    memo: dict[tuple[Expr, str], bool],
) -> list[tuple[AgentView, Rank]]:
    """The agents the contact goes to now: the preferred one under sticky while they could
    take it, else the pool's best (several under broadcast)."""
    preferred = contact.preferred_agent_id
    if policy.strategy == "sticky" and preferred and preferred not in contact.declined_by:
        # Hold for the preferred agent only while they could take it: available and
        # eligible (busy or not), and they have not let it go.
        # Only the preferred agent's own eligibility matters here.
        one = {preferred: agents[preferred]} if preferred in agents else {}
        reachable = eligible_agents(one, contact, queues, now_ms, with_room=False, memo=memo)
        if sticky_hold(contact, policy, {a.agent_id for a in reachable}, now_ms):
            agent = agents[preferred]
            if agent.room(contact.channel) <= 0:
                return []
            return [(agent, rank("sticky", agent, contact, policy))]
    n = policy.broadcast_n if policy.strategy == "broadcast" else 1
    return pool.take(agents, contact.declined_by, n)


def decide(
    state: RoutingState,
    queues: Mapping[str, QueuePolicy],
    now_ms: int,
    liveness: Liveness | None = None,
) -> list[Decision]:
    """The commands that bring `state` up to date at `now_ms`.

    Expired offers are taken back first (their contacts keep their place) and wrap-ups past
    their queue's time are closed. Then waiting contacts, in order of effective priority and
    age across all queues, are each offered to the agent their queue's strategy prefers among
    those eligible. An agent who already let this contact's offer go is passed over while
    anyone else is eligible. With `liveness`, agents whose consoles went silent are offered
    nothing, and set offline once silent past the grace period.
    """
    agents = dict(state.agents)
    decisions: list[Decision] = []
    if liveness is not None:
        decisions += _silent_agents(agents, liveness, now_ms)
    expiries, waiting = _expire_and_wrap(state, queues, agents, now_ms, liveness)
    decisions += expiries
    memo: dict[tuple[Expr, str], bool] = {}
    candidates = _Candidates(agents)
    pools: dict[tuple[object, ...], Pool] = {}
    free: dict[str, int] = {}
    for a in agents.values():
        if a.state == "available":
            for channel in a.capacity:
                free[channel] = free.get(channel, 0) + a.room(channel)
    for contact in sorted(waiting, key=lambda c: _order(c, queues[c.queue], now_ms)):
        policy = queues[contact.queue]
        waited_ms = _waited(contact, now_ms)
        if (
            policy.max_wait_ms is not None
            and policy.overflow_queue in queues
            and waited_ms >= policy.max_wait_ms
            and contact.state == "queued"
        ):
            assert policy.overflow_queue is not None
            decisions.append(
                OverflowContact(contact.contact_id, contact.queue, policy.overflow_queue)
            )
            continue
        step = policy.step_at(waited_ms)
        if step > contact.escalation_step:
            decisions.append(EscalateContact(contact.contact_id, contact.queue, step))
        if free.get(contact.channel, 0) <= 0:
            continue  # nobody has room on this channel: no need to look further
        any_language = any(s.any_language for s in policy.escalation[:step])
        need_language = None if any_language else contact.language
        pool_key = (contact.queue, step, contact.channel, need_language, contact.required_skills)
        pool = pools.get(pool_key)
        if pool is None:
            members = candidates.eligible(contact, queues, now_ms)
            pool = pools[pool_key] = Pool.of(members, contact, policy)
        chosen = _pick(contact, policy, pool, agents, queues, now_ms, memo)
        if not chosen:
            continue
        context = {
            "eligible": len(pool.members),
            "escalation_step": step,
            "passed_over": sorted(contact.declined_by & pool.members),
            "waited_ms": _waited(contact, now_ms),
        }
        if policy.strategy == "broadcast":
            decisions.append(_broadcast(contact, policy, [a for a, _ in chosen], context, now_ms))
        else:
            ((agent, agent_rank),) = chosen
            decisions.append(
                OfferContact(
                    contact.contact_id,
                    agent.agent_id,
                    contact.queue,
                    now_ms + policy.offer_timeout_ms,
                    {"strategy": policy.strategy, "score": dict(agent_rank), **context},
                    contact.channel,
                )
            )
        for agent, _ in chosen:
            updated = replace(agent.with_load(contact.channel, +1), last_offer_ms=now_ms)
            agents[agent.agent_id] = updated
            if agent.agent_id in pool.members:
                pool.give_back(updated)
        free[contact.channel] -= len(chosen)
    return decisions
