"""Typing, read and presence signals between a customer's chat and the agents holding the
contact: the signal as it crosses hub processes (`live_signal`), and the frames it causes on
this process's connections (`live_deliveries`). Pure: values in, values out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from agent_console.fanout import Delivery

LiveKind = Literal["typing", "read", "presence"]
Side = Literal["customer", "agent"]


def live_signal(
    kind: LiveKind,
    contact_id: str,
    sender: Side,
    at_ms: int,
    *,
    active: bool = False,
    message_id: str | None = None,
) -> dict[str, Any]:
    """An ephemeral signal as it crosses hub processes (agent_console/customers/live_channel.py):
    someone started or stopped typing (`active`), has read up to `message_id`, or (kind
    "presence") the customer's chat page came (`active`) or went."""
    signal: dict[str, Any] = {"kind": kind, "contact_id": contact_id, "sender": sender}
    signal["at_ms"] = at_ms
    if kind in ("typing", "presence"):
        signal["active"] = active
    else:
        signal["message_id"] = message_id
    return signal


def live_deliveries(signal: Mapping[str, Any], holders: frozenset[str]) -> list[Delivery]:
    """The frames a typing or read signal causes: a customer's go to the agents holding the
    contact (`holders`), an agent's to the contact's customer chats. Nobody hears their own;
    supervisors hear none. A signal that is not one (another version's) causes nothing."""
    kind, contact_id, sender = signal.get("kind"), signal.get("contact_id"), signal.get("sender")
    if not isinstance(contact_id, str) or not contact_id or sender not in ("customer", "agent"):
        return []
    if kind == "typing":
        frame = {
            "type": "typing",
            "contact_id": contact_id,
            "sender": sender,
            "active": signal.get("active") is True,
        }
    elif kind == "presence" and sender == "customer":
        frame = {
            "type": "customer_presence",
            "contact_id": contact_id,
            "present": signal.get("active") is True,
            "at_ms": signal.get("at_ms"),
        }
    elif kind == "read" and isinstance(signal.get("message_id"), str):
        frame = {
            "type": "read",
            "contact_id": contact_id,
            "reader": sender,
            "message_id": signal["message_id"],
            "at_ms": signal.get("at_ms"),
        }
    else:
        return []
    if sender == "agent":
        return [Delivery("contact", contact_id, frame)]
    return [Delivery("agent", agent_id, frame) for agent_id in sorted(holders)]
