"""CRM events reach the consoles showing that customer: the agents holding one of its contacts
and the supervisors, and no one else.

Pure tests feed the index, the holdings and the fan-out with events and frames, with no event
loop. The last one runs the hub itself on stand-in sockets, for what it adds: learning from the
frames it sends, enriching a change once, and sending it once per connection."""

from __future__ import annotations

import json
from typing import Any

from agent_console.customer_index import CustomerIndex, customer_holders
from agent_console.fanout import Delivery, crm_customers, deliveries
from agent_console.hub import ConsoleHub
from contactcenter.core import events as ev
from contactcenter.crm import events as ce


class Floor:
    """The hub's bookkeeping as plain data: which agent holds which contact, and the index
    of customers, driven by events the way ConsoleHub.plan drives them."""

    def __init__(self, **index_bounds: int) -> None:
        self.index = CustomerIndex(**index_bounds)
        self.holdings: dict[str, set[str]] = {}

    def arrive(self, contact_id: str, customer_id: str) -> None:
        self.index.apply(
            ev.ContactArrived(
                at_ms=1,
                contact_id=contact_id,
                customer_id=customer_id,
                channel="chat",
                queue="support",
                customer_name="X",
            )
        )

    def hold(self, agent_id: str, contact_id: str) -> None:
        self.holdings.setdefault(agent_id, set()).add(contact_id)

    def frames(self, event: ev.Event) -> dict[str, dict[str, Any]]:
        """audience -> frame of type customer_changed, for one CRM event."""
        holders = customer_holders(crm_customers(event), self.index, self.holdings)
        out = {
            f"{d.audience}:{d.audience_id}": d.frame
            for d in deliveries(event, holders)
            if d.frame["type"] == "customer_changed"
        }
        self.index.apply(event)
        return out


def note_added(customer_id: str, body: str = "Prefers email") -> ce.CustomerNoteAdded:
    return ce.CustomerNoteAdded(
        at_ms=7, customer_id=customer_id, agent_id="a9", note_id="n1", body=body
    )


def test_a_note_reaches_the_agent_holding_the_customers_contact_and_supervisors_only() -> None:
    floor = Floor()
    floor.arrive("c1", "X")
    floor.arrive("c2", "Y")
    floor.hold("alice", "c1")
    floor.hold("bob", "c2")
    out = floor.frames(note_added("X"))
    assert set(out) == {"agent:alice", "supervisors:"}
    frame = out["agent:alice"]
    assert frame == {
        "type": "customer_changed",
        "kind": "CustomerNoteAdded",
        "customer_id": "X",
        "event_id": frame["event_id"],
        "at_ms": 7,
        "agent_id": "a9",
        "data": {"note_id": "n1", "body": "Prefers email"},
    }
    # One frame object for every audience: the hub enriches it once, sends it once each.
    assert out["supervisors:"] is frame


def test_every_crm_event_goes_to_the_holders_of_that_customer_and_nobody_else() -> None:
    floor = Floor()
    floor.arrive("c1", "X")
    floor.arrive("c2", "X")  # the same customer on a second channel, with another agent
    floor.arrive("c3", "Y")
    floor.hold("alice", "c1")
    floor.hold("carol", "c2")
    floor.hold("bob", "c3")
    events: list[ev.Event] = [
        ce.CustomerUpdated(at_ms=1, customer_id="X", agent_id=None, fields=["display_name"]),
        note_added("X"),
        ce.CustomerNoteDeleted(at_ms=1, customer_id="X", agent_id="s1", note_id="n1"),
        ce.CustomerTagsChanged(at_ms=1, customer_id="X", agent_id="a9", tags=["vip"]),
        ce.CaseOpened(
            at_ms=1,
            customer_id="X",
            agent_id="a9",
            case_id="k1",
            kind="complaint",
            subject="Broken",
            priority="high",
        ),
        ce.CaseUpdated(
            at_ms=1,
            customer_id="X",
            agent_id="a9",
            case_id="k1",
            status="resolved",
            priority="high",
            owner_id=None,
            due_at_ms=None,
        ),
    ]
    for event in events:
        out = floor.frames(event)
        assert set(out) == {"agent:alice", "agent:carol", "supervisors:"}, event.type
        assert out["agent:alice"]["kind"] == event.type
    tags = floor.frames(events[3])["agent:alice"]["data"]
    assert tags == {"tags": ["vip"]}
    case = floor.frames(events[5])["agent:carol"]["data"]
    assert case["status"] == "resolved" and case["case_id"] == "k1"


def test_a_customer_nobody_here_holds_reaches_supervisors_only() -> None:
    floor = Floor()
    floor.arrive("c1", "X")  # waiting in a queue: arrived, offered to no one yet
    floor.hold("bob", "c9")
    assert set(floor.frames(note_added("X"))) == {"supervisors:"}


def test_the_customer_is_learnt_from_offer_assigned_and_snapshot_frames() -> None:
    floor = Floor()
    contact = {"contact_id": "c1", "customer": {"customer_id": "X", "name": "Xena"}}
    floor.index.learn_frame({"type": "offer", "contact": contact})
    floor.index.learn_frame(
        {
            "type": "snapshot",
            "contacts": [{"contact_id": "c2", "customer": {"customer_id": "Y"}}],
        }
    )
    floor.index.learn_frame({"type": "message", "contact_id": "c3", "message": {}})
    floor.hold("alice", "c1")
    floor.hold("bob", "c2")
    assert set(floor.frames(note_added("X"))) == {"agent:alice", "supervisors:"}
    assert set(floor.frames(note_added("Y"))) == {"agent:bob", "supervisors:"}
    assert floor.index.customer_of("c3") is None


def test_a_finished_or_abandoned_contact_is_forgotten_but_one_back_in_its_queue_is_not() -> None:
    floor = Floor()
    for contact_id in ("c1", "c2", "c3", "c4"):
        floor.arrive(contact_id, "X")
    floor.index.apply(
        ev.WrapUpCompleted(
            at_ms=1, contact_id="c1", agent_id="a", queue="q", disposition=None, notes=""
        )
    )
    floor.index.apply(ev.ContactAbandoned(at_ms=1, contact_id="c2", queue="q"))
    floor.index.apply(
        ev.BroadcastEnded(at_ms=1, contact_id="c3", queue="q", released=["a"], why="abandoned")
    )
    floor.index.apply(ev.OfferRejected(at_ms=1, contact_id="c4", agent_id="a", queue="q"))
    assert floor.index.contacts_of("X") == {"c4"}


def test_the_index_is_bounded_and_drops_what_it_learnt_longest_ago() -> None:
    floor = Floor(max_contacts=3)
    for n in range(5):
        floor.arrive(f"c{n}", f"X{n % 2}")
    assert len(floor.index) == 3
    assert floor.index.customer_of("c0") is None and floor.index.customer_of("c4") == "X0"
    assert floor.index.contacts_of("X0") == {"c2", "c4"}


def test_after_a_merge_the_merged_customers_contacts_belong_to_the_survivor() -> None:
    floor = Floor()
    floor.arrive("c1", "S")
    floor.arrive("c2", "M")
    floor.arrive("c3", "Z")
    floor.hold("alice", "c1")
    floor.hold("bob", "c2")
    floor.hold("zoe", "c3")
    merged = ce.CustomersMerged(
        at_ms=1, customer_id="S", agent_id="sup", merge_id="g1", merged_id="M"
    )
    # Both sides hear of the merge itself...
    assert set(floor.frames(merged)) == {"agent:alice", "agent:bob", "supervisors:"}
    # ...and from then on, a change to the survivor reaches the merged customer's holder too.
    assert floor.index.customer_of("c2") == "S"
    assert set(floor.frames(note_added("S"))) == {"agent:alice", "agent:bob", "supervisors:"}
    # Merges chain: S merged in turn into T.
    floor.frames(
        ce.CustomersMerged(at_ms=2, customer_id="T", agent_id=None, merge_id="g2", merged_id="S")
    )
    assert floor.index.customer_of("c2") == "T"
    assert set(floor.frames(note_added("T"))) == {"agent:alice", "agent:bob", "supervisors:"}


def test_an_undone_merge_gives_the_merged_customer_its_contacts_back() -> None:
    floor = Floor()
    floor.arrive("c1", "S")
    floor.arrive("c2", "M")
    floor.hold("alice", "c1")
    floor.hold("bob", "c2")
    floor.frames(
        ce.CustomersMerged(at_ms=1, customer_id="S", agent_id="s", merge_id="g", merged_id="M")
    )
    undone = ce.CustomersUnmerged(
        at_ms=2, customer_id="S", agent_id="s", merge_id="g", merged_id="M"
    )
    out = floor.frames(undone)
    assert set(out) == {"agent:alice", "agent:bob", "supervisors:"}
    assert out["agent:bob"]["data"] == {"merge_id": "g", "merged_id": "M"}
    assert floor.index.customer_of("c2") == "M"
    assert set(floor.frames(note_added("S"))) == {"agent:alice", "supervisors:"}
    assert set(floor.frames(note_added("M"))) == {"agent:bob", "supervisors:"}


def test_a_merge_that_would_loop_is_ignored() -> None:
    index = CustomerIndex()
    index.learn("c1", "A")
    index.merge("B", "A")
    index.merge("A", "B")  # stale or out of order: A is merged into B already
    assert index.customer_of("c1") == "B"
    assert index.contacts_of("B") == {"c1"}


def test_crm_events_name_their_customers_and_other_events_none() -> None:
    assert crm_customers(note_added("X")) == ("X",)
    merged = ce.CustomersMerged(
        at_ms=1, customer_id="S", agent_id=None, merge_id="g", merged_id="M"
    )
    assert crm_customers(merged) == ("S", "M")
    assert crm_customers(ev.OfferRejected(at_ms=1, contact_id="c", agent_id="a", queue="q")) == ()


def test_supervisors_event_frame_for_a_note_keeps_its_body_out() -> None:
    # The supervisors' live log carries every event; the note's text only travels in
    # customer_changed, to consoles that may show it.
    out = {d.frame["type"]: d.frame for d in deliveries(note_added("X", "secret"))}
    assert out["event"]["event"]["body"] is None
    assert out["customer_changed"]["data"]["body"] == "secret"


class _Socket:
    """The little of a websocket the hub's writer uses: text frames land in `sent`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def send_str(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, **_kw: Any) -> bool:
        self.closed = True
        return True


async def test_the_hub_learns_from_a_snapshot_and_tells_a_supervisor_holding_it_once() -> None:
    async def enrich(d: Delivery) -> dict[str, Any] | None:
        calls.append(d.extra["customer_id"])
        return {**d.frame, "context": {"customer_id": d.extra["customer_id"]}}

    calls: list[str] = []
    hub = ConsoleHub(enrich)
    sup_ws, bob_ws = _Socket(), _Socket()
    sup = hub.connect(sup_ws, "supervisor", "sam")  # type: ignore[arg-type]
    bob = hub.connect(bob_ws, "agent", "bob")  # type: ignore[arg-type]
    hub.hold("sam", {"c1"})
    sup.send(
        {"type": "snapshot", "contacts": [{"contact_id": "c1", "customer": {"customer_id": "X"}}]}
    )
    assert await hub.plan(note_added("X")).send() == 2  # the log entry and the change
    assert calls == ["X"]  # enriched once
    for conn in (sup, bob):
        await conn.stop()
    changed = [f for f in sup_ws.sent if f["type"] == "customer_changed"]
    assert len(changed) == 1 and changed[0]["context"] == {"customer_id": "X"}
    assert [f["type"] for f in sup_ws.sent].count("event") == 1
    assert bob_ws.sent == []


def test_a_delivery_status_goes_to_the_agents_holding_the_contact_only() -> None:
    event = ev.MessageStatusChanged(
        at_ms=1, contact_id="c1", message_id="m1", status="delivered", error_code=None
    )
    out = deliveries(event, frozenset({"alice"}))
    to_agents = [(d.audience_id, d.frame["type"]) for d in out if d.audience == "agent"]
    assert to_agents == [("alice", "message_status")]
    assert not [d for d in out if d.audience == "contact"]
