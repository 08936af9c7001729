"""What bench.faults prints at the end: two tables of figures per phase (what was kept, and
how routing came back), the details of every defect found, and the result line."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from bench._common import progress
from bench._faults_checks import (
    Figures,
    Phase,
    Replay,
    figures,
    phase_of,
    read_record,
    replay,
    wait_summary,
)
from bench._faults_rig import hub_log_findings

if TYPE_CHECKING:
    from bench._faults_run import Run

SHOW = 6  # details shown per kind of defect


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def integrity_table(phases: list[Phase], figs: dict[str, Figures]) -> list[str]:
    header = [
        "phase",
        "customers",
        "contacts stored",
        "reached an agent",
        "lost",
        "first message never stored",
        "two contacts",
        "double-assigned (stream / consoles)",
        "messages confirmed",
        "messages lost",
        "stored twice",
        "refused wrongly (conversation.closed, contact.not_assigned)",
    ]
    rows = []
    for p in phases:
        f = figs[p.key]
        rows.append(
            [
                p.title,
                str(f.arrived),
                str(f.stored),
                str(f.served),
                str(len(f.lost)),
                str(len(f.never_stored)),
                str(len(f.two_contacts)),
                f"{len(f.double_stream)} / {len(f.double_consoles)}",
                str(f.confirmed),
                str(len(f.msgs_lost)),
                str(len(f.msgs_twice)),
                str(len(f.refused_wrongly)),
            ]
        )
    return _table(header, rows)


def routing_table(phases: list[Phase], figs: dict[str, Figures]) -> list[str]:
    header = [
        "phase",
        "routing resumed s",
        "offer rate back s",
        "longest gap without an offer s",
        "arrival to offer p50 / p99 / max s",
        "never offered",
        "refused store.unavailable / other",
        "dropped chats / consoles",
        "events missing from history",
        "machine cores busy",
    ]
    rows = []
    for p in phases:
        f = figs[p.key]
        unavailable = f.refusals["store.unavailable"]
        other = sum(f.refusals.values()) - unavailable
        cores = "-" if p.machine_cores is None else f"{p.machine_cores:.2f}"
        rows.append(
            [
                p.title,
                _s(f.resumed_s),
                _s(f.rate_back_s),
                _s(f.longest_gap_s),
                wait_summary(f.wait_s),
                str(f.never_offered),
                f"{unavailable} / {other}",
                f"{f.drops['customer']} / {f.drops['agent']}",
                str(f.history_missing),
                cores,
            ]
        )
    return _table(header, rows)


def _normal(text: str) -> str:
    """An anomaly's text without its ids and numbers, to count alike ones together."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    return re.sub(r"\b\d+\b", "N", text)


def _contact_story(contact_id: str, played: Replay, run: Run) -> str:
    trail = [e.type for _t, e in played.events if getattr(e, "contact_id", "") == contact_id]
    live = run.live.get(contact_id) or {}
    redis = ", ".join(f"{k}={live[k]}" for k in ("state", "agent_id", "queue") if k in live)
    return f"events {' > '.join(trail[-8:]) or 'none'}; Redis at the end: {redis or 'nothing'}"


def details(run: Run, figs: dict[str, Figures], played: Replay) -> list[str]:
    out: list[str] = []
    for p in run.phases:
        f = figs[p.key]
        for label, items in (
            ("contact lost", [f"{c}: {_contact_story(c, played, run)}" for c in f.lost]),
            ("first message never stored", [f"customer {i}" for i in f.never_stored]),
            ("two contacts for one customer", [f"customer {i}" for i in f.two_contacts]),
            ("double-assigned (stream)", f.double_stream),
            ("double-assigned (consoles)", f.double_consoles),
            ("message lost", f.msgs_lost),
            ("message stored twice", f.msgs_twice),
            ("refused wrongly", f.refused_wrongly),
        ):
            for item in items[:SHOW]:
                out.append(f"  [{p.key}] {label}: {item}")
            if len(items) > SHOW:
                out.append(f"  [{p.key}] {label}: ... {len(items) - SHOW} more")
    return out


def unfinished(run: Run, played: Replay) -> list[str]:
    """The chats that never ended, each with what its customer and the stream saw."""
    out = []
    for log in run.book.customers:
        if log.outcome in ("ended", "ended-while-away"):
            continue
        if log.outcome == "refused-closed" and log.contact_ids <= played.ended_at.keys():
            continue  # a message came after the agent ended it: the chat is over
        p = phase_of(run.phases, log.due_s)
        first = run.book.sent.get(log.first_cmid)
        confirmed = first is not None and first.confirmed_s is not None
        stories = [f"{c}: {_contact_story(c, played, run)}" for c in sorted(log.contact_ids)]
        out.append(
            f"  [{p.key if p else '?'}] customer {log.index} ({log.outcome}, {log.connects}"
            f" connections, first message {'confirmed' if confirmed else 'not confirmed'},"
            f" agent {'joined' if log.joined_s else 'never joined'}): "
            + ("; ".join(stories) or "no contact")
        )
    return out


def notes(run: Run, figs: dict[str, Figures]) -> list[str]:
    """What else the clients and the hubs noticed, counted by phase."""
    out: list[str] = []
    for p in run.phases:
        for text in figs[p.key].other_refusals[:SHOW]:
            out.append(f"  [{p.key}] {text}")
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for at_s, _who, text in run.book.anomalies:
        where = phase_of(run.phases, at_s)
        seen[where.key if where else "setup"][_normal(text)] += 1
    for key, counts in seen.items():
        for text, n in counts.most_common(SHOW):
            out.append(f"  [{key}] clients: {n} x {text}")
    for p in run.phases:
        f = figs[p.key]
        if f.unconfirmed:
            out.append(f"  [{p.key}] {f.unconfirmed} messages never confirmed to their sender")
        for what, n in sorted(f.refusals.items()):
            out.append(f"  [{p.key}] refused: {n} x {what}")
        for what, n in f.hub_log.most_common(SHOW):
            out.append(f"  [{p.key}] hub log: {n} x {what}")
    if run.book.agent_states:
        states = ", ".join(f"{n} x {s}" for s, n in run.book.agent_states.most_common())
        out.append(f"  agents set away or offline by the hub: {states}")
    if run.book.withdrawn:
        why = ", ".join(f"{n} x {w}" for w, n in run.book.withdrawn.most_common())
        out.append(f"  offers withdrawn: {why}")
    return out


def result_line(run: Run, figs: dict[str, Figures]) -> str:
    total = Figures()
    for f in figs.values():
        total.arrived += f.arrived
        total.lost += f.lost
        total.double_stream += f.double_stream
        total.double_consoles += f.double_consoles
        total.msgs_lost += f.msgs_lost
        total.refused_wrongly += f.refused_wrongly
    resumed = ",".join(f"{p.key}:{_s(figs[p.key].resumed_s)}" for p in run.phases[1:])
    return (
        f"faults: customers={total.arrived} lost={len(total.lost)} double_assigned="
        f"{len(total.double_stream)}/{len(total.double_consoles)}"
        f" messages_lost={len(total.msgs_lost)} refused_wrongly={len(total.refused_wrongly)}"
        f" resumed_s={resumed or '-'}"
    )


async def report(run: Run) -> bool:
    """Print everything; True when a defect was found (or a chat never ended)."""
    assert run.recorder is not None and run.hubs is not None
    record = await read_record(run.plan.database_url, run.plan.domain, list(run.book.sent))
    played = replay(run.recorder.entries, run.recorder.flushes, run.wall_offset_s)
    hub_log = hub_log_findings(run.hubs.logs)
    figs = figures(run.phases, run.book, record, played, run.wall_offset_s, hub_log)
    a = run.args
    progress("")
    progress(
        f"settings: {a.agents} agents x {a.capacity} chats, {a.rate:g} new chats/s,"
        f" {a.messages} messages per customer; console.heartbeat_s={a.heartbeat_s:g},"
        f" console.offline_after_s={a.offline_after_s:g}, routing.tick_ms={a.routing_tick_ms},"
        f" storage.db_statement_timeout_s={a.statement_timeout_s:g}"
    )
    progress(
        f"stream: {len(run.recorder.entries)} events recorded; {len(record.event_ids)} in"
        " PostgreSQL's history"
    )
    progress("")
    for line in [*integrity_table(run.phases, figs), "", *routing_table(run.phases, figs)]:
        progress(line)
    found = details(run, figs, played)
    stuck = unfinished(run, played)
    progress("")
    progress("defects found:" if found else "defects found: none")
    for line in found:
        progress(line)
    progress(f"chats not ended at the end of the run: {len(stuck)}")
    for line in stuck[: SHOW * 3]:
        progress(line)
    progress("other observations:")
    for line in notes(run, figs):
        progress(line)
    progress(result_line(run, figs))
    return bool(found or stuck)
