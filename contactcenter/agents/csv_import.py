"""The agents' CSV import (`contactcenter agents import`; the format is in docs/admin.md,
"Command line and CSV import"): all or nothing.

1. Every row is read and checked (csv_rows.py, pure), then against the record: a login that
   exists (an error unless `update`), a team that does not, a new agent without a display
   name, a capacity that would leave an updated agent nothing. Any bad row stops the import
   with every line and reason, found in both steps, and nothing is written.
2. Passwords are generated where a new agent has none, and every password is hashed (argon2,
   the slow part) before anything is written, so that the transaction stays short.
3. Every account, its teams and its audit entry are written in one transaction, by the same
   functions the service uses for one agent (accounts, teams, audit). The generated
   passwords are handed to `keep_passwords` (the operator's file) before the commit. If
   PostgreSQL fails or refuses anything mid-way (a login another admin took meanwhile), the
   transaction rolls back: no agent of the file exists and nothing was announced.
4. After the commit, each change is announced as the service announces one:
   `AgentAccountChanged`, `SessionEnded` for the sessions a new password ended, and the new
   profile of an updated agent that routing knows. If Redis fails then, the accounts are
   written but not announced (`ImportNotAnnounced` says so): open consoles and routing keep
   what they had until the agent's console reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from tqdm import tqdm

from contactcenter.agents import accounts, audit, teams, validation
from contactcenter.agents.accounts import Account
from contactcenter.agents.audit import Actor
from contactcenter.agents.csv_rows import (
    AgentRow,
    ImportRejected,
    RowError,
    one_time_password,
    parse_file,
    problem,
)
from contactcenter.agents.service import ROUTING_FIELDS, AdminService
from contactcenter.core import events as ev
from contactcenter.core.errors import HubError
from contactcenter.core.store_errors import is_store_failure
from contactcenter.web.auth import hash_password

log = structlog.get_logger("contactcenter.agents.csv_import")

HASHING_AT_ONCE = 4  # argon2 runs in threads; a few at once, not a thousand
_EVENTS_PER_ROUND_TRIP = 500


class ImportNotAnnounced(HubError):
    """The accounts are written, but Redis failed while announcing them."""

    error_id = "agents.import_not_announced"
    http_status = 503


@dataclass(frozen=True)
class ImportReport:
    created: list[str]  # logins
    updated: list[str]
    unchanged: list[str]
    generated: dict[str, str]  # login: the one-time password generated for them


@dataclass(frozen=True)
class _Plan:
    row: AgentRow
    existing: Account | None


@dataclass
class _Done:
    login: str
    after: Account
    change: str | None  # created, updated, or None: nothing of the account changed
    fields: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # sessions a new password ended
    password_set: bool = False


def _progress(desc: str, total: int, show: bool) -> Any:
    return tqdm(total=total, desc=desc, unit=" agents", disable=not show, mininterval=0.5)


def read_file(
    path: Path, known_skills: frozenset[str], *, show_progress: bool
) -> tuple[list[AgentRow], list[RowError]]:
    """The rows of the file that are right in themselves, and the line and reason of every
    other; raises ImportRejected when the file cannot be read or its header is wrong."""
    try:
        total = max(0, path.read_bytes().count(b"\n") - 1)
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportRejected([RowError(0, f"cannot read {path}: {exc.strerror}")]) from None
    with f, _progress("checking", total, show_progress) as bar:
        rows, errors = parse_file(f, known_skills, bar.update)
    if not rows and errors:
        raise ImportRejected(errors)
    return rows, errors


async def _team_ids(db: asyncpg.Pool | asyncpg.Connection) -> dict[str, str]:
    return {t.name: t.team_id for t in await teams.all_teams(db)}


def _row_problems(plan: _Plan, team_ids: Mapping[str, str], update: bool) -> list[str]:
    row, existing = plan.row, plan.existing
    found = []
    if existing is not None and not update:
        found.append(f"login {row.login!r} exists (--update changes existing agents)")
    if existing is None and row.display_name is None:
        found.append("display_name: required for a new agent")
    unknown = [name for name in row.teams or () if name not in team_ids]
    if unknown:
        found.append(f"teams: no team named {', '.join(map(repr, unknown))}")
    if existing is not None and update and row.capacity is not None:
        try:  # a partial capacity keeps the other channels, as the service's update does
            validation.check_capacity({**existing.capacity, **row.capacity})
        except validation.InvalidAgent as exc:
            found.append(problem(exc))
    return found


async def _check(
    pool: asyncpg.Pool,
    rows: Sequence[AgentRow],
    errors: Sequence[RowError],
    update: bool,
    generates: bool,
) -> list[_Plan]:
    """Each row with the account it would update; ImportRejected with `errors` and every row
    the record refuses, if there is any. `generates`: whether a new agent may go without a
    password (one is generated)."""
    taken = {
        r["username"]
        for r in await pool.fetch(
            "SELECT username FROM agents WHERE username = ANY($1::text[])", [r.login for r in rows]
        )
    }
    plans = []
    for row in rows:
        existing = await accounts.fetch_by_login(pool, row.login) if row.login in taken else None
        plans.append(_Plan(row, existing))
    team_ids = await _team_ids(pool)
    refused = list(errors)
    for plan in plans:
        found = _row_problems(plan, team_ids, update)
        if plan.existing is None and plan.row.password is None and not generates:
            found.append("no password, and no file for a generated one (--passwords-out FILE)")
        if found:
            refused.append(RowError(plan.row.line, "; ".join(found)))
    if refused:
        raise ImportRejected(refused)
    return plans


async def _passwords(
    plans: Sequence[_Plan], show_progress: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """The password hash of each row that sets one, and the passwords generated (new agents
    without one)."""
    generated = {
        p.row.login: one_time_password(p.row.login)
        for p in plans
        if p.existing is None and p.row.password is None
    }
    given = {p.row.login: p.row.password for p in plans if p.row.password is not None}
    clear = {**given, **generated}
    hashes: dict[str, str] = {}
    at_once = asyncio.Semaphore(HASHING_AT_ONCE)
    with _progress("hashing passwords", len(clear), show_progress) as bar:

        async def one(login: str, password: str) -> None:
            async with at_once:
                hashes[login] = await hash_password(password)
            bar.update()

        await asyncio.gather(*(one(login, pw) for login, pw in clear.items()))
    return hashes, generated


async def _create(
    conn: asyncpg.Connection, actor: Actor, row: AgentRow, password_hash: str, team_ids: list[str]
) -> _Done:
    agent_id = await accounts.insert(
        conn,
        login=row.login,
        password_hash=password_hash,
        must_change_password=True,
        display_name=row.display_name or row.login,
        role=row.role or "agent",
        email=row.email,
        skills=row.skills or {},
        languages=row.languages or [],
        capacity=row.capacity or {},
        voice_blocks_chat=True,
        voice_to="client",
    )
    await teams.set_agent_teams(conn, agent_id, team_ids)
    created = await accounts.fetch(conn, agent_id)
    await audit.record(conn, actor, "agent.create", "agent", agent_id, None, created.audited())
    return _Done(row.login, created, "created")


async def _update(
    conn: asyncpg.Connection,
    actor: Actor,
    row: AgentRow,
    agent_id: str,
    password_hash: str | None,
    team_ids: list[str] | None,
) -> _Done:
    before = await accounts.fetch(conn, agent_id, lock=True)
    values = row.changes()
    if "capacity" in values:
        values["capacity"] = validation.check_capacity({**before.capacity, **values["capacity"]})
    if values:
        await accounts.update(conn, agent_id, values)
    if team_ids is not None:
        await teams.set_agent_teams(conn, agent_id, team_ids)
    after = await accounts.fetch(conn, agent_id)
    was, now = before.audited(), after.audited()
    fields = sorted(k for k in now if was.get(k) != now.get(k))
    done = _Done(row.login, after, "updated" if fields else None, fields)
    if fields:
        await audit.record(conn, actor, "agent.update", "agent", agent_id, was, now)
    if password_hash is not None:
        await accounts.set_password(conn, agent_id, password_hash, must_change=True)
        done.ended = await accounts.end_sessions(conn, agent_id)
        done.password_set = True
        await audit.record(
            conn, actor, "agent.password", "agent", agent_id, None, {"must_change_password": True}
        )
    return done


async def _write(
    conn: asyncpg.Connection,
    actor: Actor,
    plans: Sequence[_Plan],
    hashes: Mapping[str, str],
    show_progress: bool,
) -> list[_Done]:
    """Every row written on `conn` (in the caller's transaction); a row the record refuses
    now (a login taken or a team deleted since the check) raises ImportRejected."""
    team_ids = await _team_ids(conn)
    done = []
    with _progress("writing", len(plans), show_progress) as bar:
        for plan in plans:
            row = plan.row
            try:
                ids = None if row.teams is None else [team_ids[name] for name in row.teams]
                if plan.existing is None:
                    done.append(await _create(conn, actor, row, hashes[row.login], ids or []))
                else:
                    agent_id = plan.existing.agent_id
                    password_hash = hashes.get(row.login)
                    done.append(await _update(conn, actor, row, agent_id, password_hash, ids))
            except KeyError as exc:
                raise ImportRejected([RowError(row.line, f"teams: no team named {exc}")]) from None
            except HubError as exc:
                raise ImportRejected([RowError(row.line, problem(exc))]) from None
            bar.update()
    return done


async def _announce(admin: AdminService, actor: Actor, done: Sequence[_Done]) -> None:
    """What the service announces for each change (contactcenter/agents/service.py)."""
    now_ms = admin.clock()
    said: list[ev.Event] = []
    for d in done:
        agent_id = d.after.agent_id
        if d.change is not None:
            said.append(
                ev.AgentAccountChanged(
                    at_ms=now_ms, agent_id=agent_id, change=d.change,
                    by_agent_id=actor.agent_id, fields=d.fields if d.change == "updated" else [],
                )
            )  # fmt: skip
        if d.password_set:
            said += [
                ev.SessionEnded(at_ms=now_ms, agent_id=agent_id, token_hash=h, why="password")
                for h in d.ended
            ]
            said.append(
                ev.AgentAccountChanged(
                    at_ms=now_ms, agent_id=agent_id, change="password_set",
                    by_agent_id=actor.agent_id,
                )
            )  # fmt: skip
    for start in range(0, len(said), _EVENTS_PER_ROUND_TRIP):
        await admin.bus.publish_many(said[start : start + _EVENTS_PER_ROUND_TRIP])
    for d in done:
        if d.after.active and ROUTING_FIELDS & set(d.fields):
            await admin.tell_routing(d.after)


async def import_agents(
    admin: AdminService,
    rows: Sequence[AgentRow],
    *,
    errors: Sequence[RowError] = (),
    actor: Actor,
    update: bool = False,
    keep_passwords: Callable[[Mapping[str, str]], None] | None = None,
    show_progress: bool = False,
) -> ImportReport:
    """Create (or, with `update`, also update) the agents of `rows`, all or nothing: the
    `errors` of the file's other rows are reported with those the record finds, and then
    nothing is written. `keep_passwords` receives the generated one-time passwords before
    the commit; without it, a new agent without a password is an error."""
    plans = await _check(admin.pool, rows, errors, update, keep_passwords is not None)
    hashes, generated = await _passwords(plans, show_progress)
    async with admin.pool.acquire() as conn, conn.transaction():
        done = await _write(conn, actor, plans, hashes, show_progress)
        if keep_passwords is not None and generated:
            keep_passwords(generated)
    report = ImportReport(
        created=[d.login for d in done if d.change == "created"],
        updated=[d.login for d in done if d.change == "updated" or d.password_set],
        unchanged=[d.login for d in done if d.change is None and not d.password_set],
        generated=generated,
    )
    log.info("agents_imported", created=len(report.created), updated=len(report.updated),
             unchanged=len(report.unchanged), by=actor.name)  # fmt: skip
    try:
        await _announce(admin, actor, done)
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        raise ImportNotAnnounced(
            f"{len(report.created)} created and {len(report.updated)} updated agent(s) are"
            " written, but Redis did not answer while announcing them: consoles and routing"
            " learn the changes when the agents' consoles reconnect",
            store="redis",
        ) from None
    return report


__all__ = ["ImportNotAnnounced", "ImportRejected", "ImportReport", "import_agents", "read_file"]
