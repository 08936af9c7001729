"""The connection hub: every websocket of this process, and the events pushed to them.

Each connection has an outbound queue bounded in frames and in bytes, drained by its own
writer task, so a slow client never stalls the hub: past either bound it is disconnected
(close code 1013) and its console recovers through a fresh snapshot on reconnect
(agent_console/connection.py). Events reach the hub from the stream tail of this process, so
a console sees what happened on any hub process.

The hub also keeps which contacts each local agent holds and, through a `CustomerIndex`, which
customer each live contact belongs to, so that a change to a customer (a CRM event) reaches
every console showing one of that customer's contacts.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web

from agent_console.connection import CLOSE_TOO_SLOW, Connection, OutboundLimits
from agent_console.customer_index import CustomerIndex, customer_holders
from agent_console.fanout import Delivery, crm_customers, deliveries
from contactcenter.core.events import ContactAbandoned, Event, WrapUpCompleted

# Live contacts whose queue a hub process remembers for supervisors' scope; past this, the
# oldest are forgotten (a contact that ended unseen, say).
MAX_CONTACT_QUEUES = 100_000

__all__ = ["CLOSE_TOO_SLOW", "Connection", "ConsoleHub", "Dispatch", "OutboundLimits"]

Enricher = Callable[[Delivery], Awaitable[dict[str, Any] | None]]


class Dispatch:
    """The frames one event sends, some still being enriched."""

    def __init__(self, items: list[tuple[list[Connection], Any]]) -> None:
        self._items = items

    async def send(self) -> int:
        sent = 0
        for targets, frame in self._items:
            if isinstance(frame, asyncio.Future):
                frame = await frame
                if frame is None:
                    continue
            for conn in targets:
                sent += conn.send(frame)
        return sent

    def cancel(self) -> None:
        for _targets, frame in self._items:
            if isinstance(frame, asyncio.Future):
                frame.cancel()


class ConsoleHub:
    def __init__(
        self,
        enrich: Enricher,
        *,
        queue_size: int = 256,
        max_outbound_bytes: int = 1_048_576,
        index: CustomerIndex | None = None,
    ) -> None:
        self.enrich = enrich
        self.limits = OutboundLimits(max_frames=queue_size, max_bytes=max_outbound_bytes)
        self.agents: dict[str, set[Connection]] = defaultdict(set)
        self.customers: dict[str, set[Connection]] = defaultdict(set)
        self.supervisors: set[Connection] = set()
        # Each live contact's queue, from the events that name it, so that a supervisor
        # scoped to their teams sees the events of their queues' contacts (docs/admin.md).
        self.contact_queues: dict[str, str] = {}
        # Every connection, including customers who have no contact yet: all are closed
        # at shutdown, or one left open holds the server's shutdown up.
        self.connections: set[Connection] = set()
        # Contacts each locally connected agent holds, kept current from events.
        self.holdings: dict[str, set[str]] = defaultdict(set)
        # The customer of each live contact, for CRM events (which name a customer).
        self.customer_index = index if index is not None else CustomerIndex()

    def connect(
        self,
        ws: web.WebSocketResponse,
        kind: str,
        key: str,
        transport: asyncio.Transport | None = None,
    ) -> Connection:
        """Register a websocket. An agent's or supervisor's connection sends nothing before
        its `snapshot` (docs/protocol.md); `transport`, the request's, is cut when a client
        dropped as too slow does not take its close frame."""
        observe = self.customer_index.learn_frame if kind != "customer" else None
        conn = Connection(ws, kind, key, self.limits, observe, transport=transport)
        conn.start()
        self.connections.add(conn)
        if kind in ("agent", "supervisor"):
            self.agents[key].add(conn)
        if kind == "supervisor":
            self.supervisors.add(conn)
        if kind == "customer" and key:
            self.customers[key].add(conn)
        return conn

    def attach_contact(self, conn: Connection, contact_id: str) -> None:
        """A customer connection now follows `contact_id`."""
        if conn.key:
            self.customers[conn.key].discard(conn)
        conn.key = contact_id
        self.customers[contact_id].add(conn)

    def hold(self, agent_id: str, contact_ids: set[str]) -> None:
        self.holdings[agent_id] |= contact_ids

    def present_customers(self) -> list[str]:
        """The contacts a customer's page follows on this process (docs/routing.md,
        "Customers who leave")."""
        return [contact_id for contact_id, conns in self.customers.items() if conns]

    async def disconnect(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for registry in (self.agents, self.customers):
            conns = registry.get(conn.key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del registry[conn.key]
        self.supervisors.discard(conn)
        if conn.kind != "customer" and conn.key not in self.agents:
            self.holdings.pop(conn.key, None)
        await conn.stop()

    def _holders(self, event: Event) -> frozenset[str]:
        customer_ids = crm_customers(event)
        if customer_ids:
            return customer_holders(customer_ids, self.customer_index, self.holdings)
        contact_id = getattr(event, "contact_id", None)
        if not contact_id:
            return frozenset()
        return frozenset(a for a, held in self.holdings.items() if contact_id in held)

    async def dispatch(self, event: Event) -> int:
        """Push `event` to every local connection it concerns; returns frames queued."""
        return await self.plan(event).send()

    def plan(self, event: Event) -> Dispatch:
        """What `event` sends, to whom, decided now (in stream order), with the reads that
        enrich its frames already started, so that the next events' reads run meanwhile.
        `Dispatch.send`, awaited in the same order, queues the frames."""
        holders = self._holders(event)
        out: list[tuple[list[Connection], Any]] = []
        # One frame given to several audiences (a CRM change: its holders and supervisors)
        # is enriched once, and reaches a connection in two of them (a supervisor holding the
        # customer's contact) once.
        made: dict[int, tuple[set[Connection], Any]] = {}
        named = self._contact_concerns(event, holders)
        for d in deliveries(event, holders):
            targets = self._targets(d, named)
            if d.holds and d.audience_id in self.agents:
                self.holdings[d.audience_id].add(d.holds)
            if d.releases and d.audience_id in self.holdings:
                self.holdings[d.audience_id].discard(d.releases)
            reached, payload = made.get(id(d.frame), (set(), None))
            targets = [c for c in targets if c not in reached]
            if not targets:
                continue
            reached.update(targets)
            if payload is None:
                payload = d.frame if d.enrich is None else asyncio.ensure_future(self.enrich(d))
            made[id(d.frame)] = (reached, payload)
            out.append((targets, payload))
        self.customer_index.apply(event)
        return Dispatch(out)

    def _contact_concerns(
        self, event: Event, holders: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """What an event's contact adds to the agents and queues it concerns (for supervisors'
        scope): the agents holding it, and the queue it is in, as this process last heard."""
        contact_id = getattr(event, "contact_id", None)
        if not contact_id:
            return holders, frozenset()
        queue = getattr(event, "to_queue", None) or getattr(event, "queue", None)
        if isinstance(event, (WrapUpCompleted, ContactAbandoned)):
            queue = self.contact_queues.pop(contact_id, None) or queue
        elif queue:
            self.contact_queues[contact_id] = queue
            while len(self.contact_queues) > MAX_CONTACT_QUEUES:  # oldest first
                self.contact_queues.pop(next(iter(self.contact_queues)))
        else:
            queue = self.contact_queues.get(contact_id)
        return holders, frozenset((queue,) if queue else ())

    def _targets(
        self, d: Delivery, named: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    ) -> list[Connection]:
        if d.audience == "supervisors":
            if d.concerns is None:
                return list(self.supervisors)
            agents, queues = d.concerns[0] | named[0], d.concerns[1] | named[1]
            return [c for c in self.supervisors if c.sees(agents, queues)]
        if d.audience == "agent":
            return list(self.agents.get(d.audience_id, ()))
        return list(self.customers.get(d.audience_id, ()))

    async def close_all(self, grace_s: float = 2.0) -> None:
        """Close every connection at once (the hub is stopping); one whose client does not
        take its close frame within `grace_s` is cut, so none holds the shutdown up."""
        await asyncio.gather(
            *(
                conn.close(WSCloseCode.GOING_AWAY, b"hub shutting down", grace_s)
                for conn in list(self.connections)
            )
        )
