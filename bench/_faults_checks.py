"""The checks of bench.faults, run once the hubs have stopped: what was lost, what was held
twice, and how long routing took to come back, per phase of the run.

Sources: what the clients saw (bench/_faults_book.py), the whole event stream as the
benchmark recorded it (FLUSHALL included: it was done in one MULTI with a read of what was
not recorded yet, so nothing escaped), and PostgreSQL, the system of record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench._common import percentile
from bench._faults_book import Book, CustomerLog, Hold, Refusal
from bench._faults_rig import Entry, Flush
from contactcenter.core import events as ev

RATE_WINDOW_S = 3.0  # offers are counted over windows this long to judge the rate
RATE_BACK = 0.8  # "back to baseline": at least this share of the baseline's offer rate


@dataclass
class Phase:
    key: str
    title: str
    start_s: float
    end_s: float
    fault_s: float | None = None  # when the fault hit
    heal_s: float | None = None  # when it ended (an outage), else None
    machine_cores: float | None = None

    def holds(self, at_s: float) -> bool:
        return self.start_s <= at_s < self.end_s


@dataclass
class Figures:
    """One phase's figures."""

    arrived: int = 0
    stored: int = 0
    served: int = 0
    lost: list[str] = field(default_factory=list)
    never_stored: list[int] = field(default_factory=list)  # customer indexes
    two_contacts: list[int] = field(default_factory=list)
    double_stream: list[str] = field(default_factory=list)
    double_consoles: list[str] = field(default_factory=list)
    confirmed: int = 0
    msgs_lost: list[str] = field(default_factory=list)
    msgs_twice: list[str] = field(default_factory=list)
    unconfirmed: int = 0
    refused_wrongly: list[str] = field(default_factory=list)  # refused, though open
    refusals: Counter[str] = field(default_factory=Counter)
    other_refusals: list[str] = field(default_factory=list)  # neither wrong nor store.unavailable
    drops: Counter[str] = field(default_factory=Counter)
    history_missing: int = 0
    resumed_s: float | None = None
    rate_back_s: float | None = None
    longest_gap_s: float | None = None
    wait_s: list[float] = field(default_factory=list)  # arrival to first offer
    never_offered: int = 0
    hub_log: Counter[str] = field(default_factory=Counter)


@dataclass
class Record:
    """What PostgreSQL holds at the end."""

    contacts: dict[str, asyncpg.Record]  # by id
    by_first_cmid: dict[str, str]  # first client_msg_id -> contact id
    contacts_of_customer: Counter[str]
    stored_times: dict[str, int]  # client_msg_id -> rows
    event_ids: set[str]


async def read_record(database_url: str, domain: str, cmids: list[str]) -> Record:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, customer_id::text AS customer_id, state, agent_id::text"
            " AS agent_id, first_client_msg_id FROM contacts WHERE routing_domain = $1",
            domain,
        )
        counts = await conn.fetch(
            "SELECT client_msg_id, count(*) AS n FROM messages WHERE client_msg_id = ANY($1)"
            " GROUP BY client_msg_id",
            cmids,
        )
        ids = await conn.fetch("SELECT event_id FROM events WHERE routing_domain = $1", domain)
    finally:
        await conn.close()
    return Record(
        contacts={r["id"]: r for r in rows},
        by_first_cmid={r["first_client_msg_id"]: r["id"] for r in rows if r["first_client_msg_id"]},
        contacts_of_customer=Counter(r["customer_id"] for r in rows),
        stored_times={r["client_msg_id"]: r["n"] for r in counts},
        event_ids={r["event_id"] for r in ids},
    )


# --- the event stream ---------------------------------------------------------------------------


@dataclass
class Replay:
    """The stream replayed: who held each contact, and where that rule broke."""

    events: list[tuple[float, ev.Event]]  # (monotonic time, event), in stream order
    violations: list[tuple[float, str, str]]  # (at, contact, what)
    accepted: set[str]
    abandoned: set[str]
    ended_at: dict[str, float]  # contact -> first end or abandon
    # contact -> (at, holder after the event): who had it when, for judging refusals
    trail: dict[str, list[tuple[float, tuple[str, str] | None]]] = field(default_factory=dict)

    def holder_at(self, contact_id: str, at_s: float) -> tuple[str, str] | None:
        held = None
        for t, h in self.trail.get(contact_id, []):
            if t > at_s:
                break
            held = h
        return held


def replay(entries: list[Entry], flushes: list[Flush], wall_offset_s: float) -> Replay:
    """check_leases of tests/e2e/contactcenter/test_multiprocess.py, counting instead of
    asserting, across FLUSHALL: a contact is never offered to, accepted by or restored to one
    agent while another holds it. An offer dies with Redis; a conversation (or wrap-up) does
    not: its agent still has it on screen, and the rebuild must give it back to them."""
    holder: dict[str, tuple[str, str]] = {}  # contact -> (agent, offered | assigned | wrapup)
    out = Replay([], [], set(), set(), {})
    flush_at = {f.index for f in flushes}
    for i, entry in enumerate(entries):
        if i in flush_at:
            holder = {c: h for c, h in holder.items() if h[1] != "offered"}
        try:
            e = ev.decode_event(entry.fields)
        except (ev.UnknownEvent, KeyError, ValueError):
            continue
        at_s = e.at_ms / 1000 - wall_offset_s
        out.events.append((at_s, e))
        _step(e, at_s, holder, out)
        contact_id = getattr(e, "contact_id", None)
        if contact_id:
            out.trail.setdefault(contact_id, []).append((at_s, holder.get(contact_id)))
    return out


def _step(e: ev.Event, at_s: float, holder: dict[str, tuple[str, str]], out: Replay) -> None:
    contact_id = getattr(e, "contact_id", "")
    held = holder.get(contact_id)

    def claim(agent: str, kind: str, what: str) -> None:
        if held is not None and held[0] != agent:
            out.violations.append(
                (at_s, contact_id, f"{what} {agent[:8]} while {held[0][:8]} holds it ({held[1]})")
            )
        holder[contact_id] = (agent, kind)

    match e:
        case ev.ContactOffered():
            claim(e.agent_id, "offered", "offered to")
        case ev.OfferAccepted():
            claim(e.agent_id, "assigned", "accepted by")
            out.accepted.add(contact_id)
        case ev.ContactRestored():
            claim(e.agent_id, e.state, "restored to")
        case ev.OfferExpired() | ev.OfferRejected() | ev.OfferWithdrawn():
            if held is not None and held[0] == e.agent_id:
                del holder[contact_id]
        case ev.ConversationEnded():
            if held is not None and held[0] == e.agent_id:
                holder[contact_id] = (e.agent_id, "wrapup")
            out.ended_at.setdefault(contact_id, at_s)
        case ev.WrapUpCompleted():
            if held is not None and held[0] == e.agent_id:
                del holder[contact_id]
        case ev.ContactAbandoned():
            holder.pop(contact_id, None)
            out.abandoned.add(contact_id)
            out.ended_at.setdefault(contact_id, at_s)
        case ev.ContactTransferred():
            holder.pop(contact_id, None)
            if e.to_agent_id:
                holder[contact_id] = (e.to_agent_id, "offered")
        case _:
            pass


def console_doubles(holds: list[Hold]) -> list[tuple[float, str, str]]:
    """Contacts two consoles held at once (assigned or in wrap-up on both screens)."""
    by_contact: dict[str, list[Hold]] = defaultdict(list)
    for h in holds:
        by_contact[h.contact_id].append(h)
    found = []
    for contact_id, hs in by_contact.items():
        for i, a in enumerate(hs):
            for b in hs[i + 1 :]:
                if a.agent == b.agent:
                    continue
                a_end, b_end = a.end_s or float("inf"), b.end_s or float("inf")
                if a.start_s < b_end and b.start_s < a_end:
                    at = max(a.start_s, b.start_s)
                    found.append(
                        (at, contact_id, f"{a.agent} ({a.how_ended}) and {b.agent} ({b.how_ended})")
                    )
                    break
    return found


# --- per phase ----------------------------------------------------------------------------------


def phase_of(phases: list[Phase], at_s: float) -> Phase | None:
    for p in phases:
        if p.holds(at_s):
            return p
    return phases[-1] if phases and at_s >= phases[-1].end_s else None


class _ByPhase:
    """Figures of every phase, found by time."""

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = phases
        self.out = {p.key: Figures() for p in phases}

    def at(self, t: float) -> Figures | None:
        p = phase_of(self.phases, t)
        return self.out[p.key] if p else None

    def since(self, t: float) -> str:
        p = phase_of(self.phases, t)
        return "" if p is None or p.fault_s is None else f" ({t - p.fault_s:+.1f} s from the fault)"


def figures(
    phases: list[Phase],
    book: Book,
    record: Record,
    played: Replay,
    wall_offset_s: float,
    hub_log: list[tuple[float, str, str, str]],
) -> dict[str, Figures]:
    by = _ByPhase(phases)
    served = played.accepted | {h.contact_id for h in book.holds}
    customer_of = {c: log for log in book.customers for c in log.contact_ids}
    for log in book.customers:
        if (f := by.at(log.due_s)) is not None:
            _contact_figures(f, log, record, served, played)
    for sent in book.sent.values():
        if sent.first_sent_s is not None and (f := by.at(sent.first_sent_s)) is not None:
            _message_figures(f, sent, record, served, book, customer_of)
    _refusals(by, book, played)
    _doubles(by, book, played)
    for t, kind in book.drops:
        if (f := by.at(t)) is not None:
            f.drops[kind] += 1
    for t, e in played.events:
        if e.event_id not in record.event_ids and (f := by.at(t)) is not None:
            f.history_missing += 1
    for wall_s, hub, level, event in hub_log:
        if (f := by.at(wall_s - wall_offset_s)) is not None:
            f.hub_log[f"{level} {event} ({hub})"] += 1
    _routing_figures(phases, by.out, book)
    return by.out


def _refusals(by: _ByPhase, book: Book, played: Replay) -> None:
    for r in book.refusals:
        if (f := by.at(r.at_s)) is None:
            continue
        f.refusals[r.error_id] += 1
        text = f"{r.who}: {r.what} of {r.contact_id} refused: {r.error_id}{by.since(r.at_s)}"
        if _wrongly(r, played, book.agent_ids):
            f.refused_wrongly.append(text)
        elif r.error_id != "store.unavailable":
            f.other_refusals.append(text)


def _doubles(by: _ByPhase, book: Book, played: Replay) -> None:
    doubled: set[str] = set()
    for t, contact_id, what in played.violations:
        if (f := by.at(t)) is not None and contact_id not in doubled:
            doubled.add(contact_id)
            f.double_stream.append(f"{contact_id}: {what}{by.since(t)}")
    for t, contact_id, what in console_doubles(book.holds):
        if (f := by.at(t)) is not None:
            f.double_consoles.append(f"{contact_id}: {what}{by.since(t)}")


def _wrongly(r: Refusal, played: Replay, agent_ids: dict[str, str]) -> bool:
    """A customer's message refused as if the conversation were over, or an agent's command
    as if the contact were not theirs, while the stream says otherwise."""
    contact_id = r.contact_id or ""
    if r.error_id == "conversation.closed":
        ended = played.ended_at.get(contact_id)
        return ended is None or r.at_s < ended
    if r.error_id == "contact.not_assigned":
        held = played.holder_at(contact_id, r.at_s)
        if held is None or held[0] != agent_ids.get(r.who):
            return False
        return (held[1] == "wrapup") == (r.what == "wrapup") and held[1] != "offered"
    return False


def _contact_figures(
    f: Figures, log: CustomerLog, record: Record, served: set[str], played: Replay
) -> None:
    f.arrived += 1
    contact_id = record.by_first_cmid.get(log.first_cmid)
    if contact_id is None:
        f.never_stored.append(log.index)
        return
    f.stored += 1
    row = record.contacts[contact_id]
    if record.contacts_of_customer[row["customer_id"]] > 1:
        f.two_contacts.append(log.index)
    if contact_id in served:
        f.served += 1
    elif contact_id not in played.abandoned and row["state"] != "abandoned":
        f.lost.append(contact_id)


def _message_figures(
    f: Figures,
    sent: Any,
    record: Record,
    served: set[str],
    book: Book,
    customer_of: dict[str, CustomerLog],
) -> None:
    if sent.confirmed_s is None:
        f.unconfirmed += 1
        return
    f.confirmed += 1
    times = record.stored_times.get(sent.cmid, 0)
    if times > 1:
        f.msgs_twice.append(sent.cmid)
    contact_id = sent.contact_id or ""
    if sent.sender == "customer":
        other_side = contact_id in served
        delivered = sent.cmid in book.agent_seen.get(contact_id, set())
    else:
        log = customer_of.get(contact_id)
        other_side = log is not None
        delivered = log is not None and sent.cmid in log.seen_agent_cmids
    if times == 0 or (other_side and not delivered):
        why = "not stored" if times == 0 else "not delivered"
        f.msgs_lost.append(f"{sent.cmid} ({sent.sender}, {why}, contact {contact_id})")


def _routing_figures(phases: list[Phase], out: dict[str, Figures], book: Book) -> None:
    due = {c: log.due_s for log in book.customers for c in log.contact_ids}
    first: dict[str, float] = {}
    for t, _agent, contact_id in sorted(book.offers):
        first.setdefault(contact_id, t)
    for log in book.customers:
        p = phase_of(phases, log.due_s)
        if p is None:
            continue
        offered = [first[c] for c in log.contact_ids if c in first]
        if offered:
            out[p.key].wait_s.append(min(offered) - log.due_s)
        else:
            out[p.key].never_offered += 1
    times = sorted(first.values())
    base = phases[0]
    rate = sum(1 for t in times if base.holds(t)) / (base.end_s - base.start_s)
    for p in phases:
        f = out[p.key]
        start = p.fault_s if p.fault_s is not None else p.start_s
        inside = [t for t in sorted(t for t, _a, _c in book.offers) if start <= t < p.end_s]
        gaps = [b - a for a, b in zip([start, *inside], [*inside, p.end_s], strict=True)]
        f.longest_gap_s = max(gaps) if gaps else None
        if p.fault_s is None:
            continue
        after = [t for c, t in first.items() if due.get(c, 0.0) > p.fault_s and t > p.fault_s]
        f.resumed_s = min(after) - p.fault_s if after else None
        f.rate_back_s = _rate_back(times, p, rate)


def _rate_back(times: list[float], p: Phase, rate: float) -> float | None:
    """Seconds from the fault to the end of the first window of RATE_WINDOW_S in which first
    offers came at RATE_BACK of the baseline's rate or more."""
    assert p.fault_s is not None
    need = RATE_BACK * rate * RATE_WINDOW_S
    t = p.fault_s + RATE_WINDOW_S
    while t <= p.end_s:
        if sum(1 for x in times if t - RATE_WINDOW_S < x <= t) >= need:
            return t - p.fault_s
        t += 0.1
    return None


def wait_summary(values: list[float]) -> str:
    if not values:
        return "-"
    s = sorted(values)
    return f"{percentile(s, 50):.1f} / {percentile(s, 99):.1f} / {s[-1]:.1f}"
