"""Who hears about an event, and what they are told."""

from __future__ import annotations

from agent_console.fanout import deliveries
from contactcenter.core import events as ev


def _by_audience(event: ev.Event, holders: frozenset[str] = frozenset()) -> dict[str, dict]:  # type: ignore[type-arg]
    return {f"{d.audience}:{d.audience_id}": d.frame for d in deliveries(event, holders)}


def test_an_offer_goes_to_its_agent_and_to_supervisors_only() -> None:
    e = ev.ContactOffered(
        at_ms=1, contact_id="c1", agent_id="a1", queue="q", deadline_ms=9, reason={}
    )
    out = _by_audience(e)
    assert set(out) == {"supervisors:", "agent:a1"}
    assert out["agent:a1"]["type"] == "offer" and out["agent:a1"]["deadline_ms"] == 9


def test_a_customer_message_reaches_the_customer_and_the_agents_holding_the_contact() -> None:
    e = ev.MessageSent(
        at_ms=1, contact_id="c1", message_id="m1", sender="customer", agent_id=None, body="hi"
    )
    out = _by_audience(e, frozenset({"a1"}))
    assert set(out) == {"supervisors:", "agent:a1", "contact:c1"}
    assert out["agent:a1"]["message"]["body"] == "hi"


def test_supervisors_never_see_message_bodies() -> None:
    e = ev.MessageSent(
        at_ms=1, contact_id="c1", message_id="m1", sender="agent", agent_id="a1", body="secret"
    )
    assert _by_audience(e)["supervisors:"]["event"]["body"] is None


def test_an_expired_offer_is_withdrawn_from_its_agent() -> None:
    e = ev.OfferExpired(at_ms=1, contact_id="c1", agent_id="a1", queue="q")
    frame = _by_audience(e)["agent:a1"]
    assert frame == {"type": "offer_withdrawn", "contact_id": "c1", "why": "expired"}


def test_an_abandon_tells_the_agent_with_the_pending_offer() -> None:
    e = ev.ContactAbandoned(at_ms=1, contact_id="c1", queue="q", agent_id="a1")
    out = _by_audience(e)
    assert out["agent:a1"]["why"] == "abandoned" and out["contact:c1"]["type"] == "ended"


def test_every_event_round_trips_through_the_stream_codec() -> None:
    e = ev.ConversationEnded(at_ms=5, contact_id="c1", agent_id="a1", queue="q", ended_by="agent")
    assert ev.decode_event(ev.encode_event(e)) == e
