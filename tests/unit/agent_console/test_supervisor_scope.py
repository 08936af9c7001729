"""A supervisor's event log holds what concerns the teams they supervise (docs/admin.md,
"Teams and scope"); an admin's holds everything. Pure: the hub plans deliveries without a
socket."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.connection import Connection
from agent_console.fanout import Delivery, deliveries
from agent_console.hub import ConsoleHub
from contactcenter.core import events as ev


async def _enrich(d: Delivery) -> dict[str, Any] | None:
    return d.frame


def _supervisor(hub: ConsoleHub, key: str, scope: tuple[frozenset[str], frozenset[str]] | None):  # type: ignore[no-untyped-def]
    conn = Connection(web.WebSocketResponse(), "supervisor", key, hub.limits)
    conn.scope = scope
    hub.supervisors.add(conn)
    return conn


def _log_targets(hub: ConsoleHub, event: ev.Event) -> set[str]:
    log_delivery = next(d for d in deliveries(event) if d.audience == "supervisors")
    return {c.key for c in hub._targets(log_delivery)}


TEAM_A = (frozenset({"sup-a", "alice"}), frozenset({"support"}))
TEAM_B = (frozenset({"sup-b", "bob"}), frozenset({"billing"}))


def _hub() -> ConsoleHub:
    hub = ConsoleHub(_enrich)
    _supervisor(hub, "sup-a", TEAM_A)
    _supervisor(hub, "sup-b", TEAM_B)
    _supervisor(hub, "admin", None)
    return hub


def test_an_event_about_a_teams_agent_reaches_its_supervisor_and_admins_only() -> None:
    e = ev.AgentStateChanged(at_ms=1, agent_id="alice", state="available")
    assert _log_targets(_hub(), e) == {"sup-a", "admin"}


def test_an_event_about_a_teams_queue_reaches_its_supervisor_and_admins_only() -> None:
    e = ev.ContactQueued(
        at_ms=1, contact_id="c1", queue="billing", channel="chat", priority=0, enqueued_at_ms=1
    )
    assert _log_targets(_hub(), e) == {"sup-b", "admin"}


def test_a_transfer_between_teams_reaches_both_supervisors() -> None:
    e = ev.ContactTransferred(
        at_ms=1, contact_id="c1", from_agent_id="alice", from_queue="support", to_queue="billing"
    )
    assert _log_targets(_hub(), e) == {"sup-a", "sup-b", "admin"}


def test_an_event_naming_no_agent_or_queue_is_for_admins_only() -> None:
    e = ev.MessageSent(
        at_ms=1, contact_id="c1", message_id="m1", sender="customer", agent_id=None, body="x"
    )
    assert _log_targets(_hub(), e) == {"admin"}


def test_a_customers_message_reaches_the_supervisor_of_its_contacts_queue() -> None:
    hub = _hub()
    arrived = ev.ContactArrived(
        at_ms=1, contact_id="c1", customer_id="k1", channel="chat", queue="billing",
        customer_name="Fay",
    )  # fmt: skip
    hub.plan(arrived).cancel()
    said = ev.MessageSent(
        at_ms=2, contact_id="c1", message_id="m1", sender="customer", agent_id=None, body="x"
    )
    planned = hub.plan(said)
    reached = {c.key for targets, _ in planned._items for c in targets}
    planned.cancel()
    assert reached == {"sup-b", "admin"}
