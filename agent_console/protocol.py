"""The websocket message protocols (docs/protocol.md), as a pure codec.

`parse_agent_frame` / `parse_chat_frame` turn one text frame into a typed command or raise a
`HubError` with a stable id; `Sequencer` stamps outgoing frames with their sequence numbers.
Nothing here touches a socket.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from contactcenter.errors import MalformedFrame, UnknownFrameType

Ref = Annotated[str, Field(max_length=64)]
ContactId = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
ClientMsgId = Annotated[str, Field(min_length=1, max_length=64)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: Ref | None = None


class SetState(_Frame):
    type: Literal["set_state"]
    state: Literal["available", "away", "offline"]
    # Why the agent is away (a reason code such as "break" or "training"); None otherwise.
    reason: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class Accept(_Frame):
    type: Literal["accept"]
    contact_id: ContactId


class Reject(_Frame):
    type: Literal["reject"]
    contact_id: ContactId


class Send(_Frame):
    type: Literal["send"]
    contact_id: ContactId
    text: Text
    client_msg_id: ClientMsgId | None = None


class End(_Frame):
    type: Literal["end"]
    contact_id: ContactId


class WrapUp(_Frame):
    type: Literal["wrapup"]
    contact_id: ContactId
    disposition: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    notes: Annotated[str, Field(max_length=4000)] = ""


class Transfer(_Frame):
    """Hand the contact on: to a queue (`to_queue`) or to a named agent (`to_agent`, a
    username); exactly one of them."""

    type: Literal["transfer"]
    contact_id: ContactId
    to_queue: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    to_agent: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.to_queue is None) == (self.to_agent is None):
            raise ValueError("give exactly one of to_queue and to_agent")
        return self


class Reprioritize(_Frame):
    """Supervisors: change a waiting contact's priority."""

    type: Literal["reprioritize"]
    contact_id: ContactId
    priority: Annotated[int, Field(ge=0, le=2047)]


class Ping(_Frame):
    type: Literal["ping"]


class Hello(_Frame):
    type: Literal["hello"]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    visitor_id: Annotated[str, Field(min_length=8, max_length=64)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254)] | None = None


class CustomerMessage(_Frame):
    type: Literal["message"]
    text: Text
    client_msg_id: ClientMsgId | None = None


class Leave(_Frame):
    type: Literal["leave"]


AgentCommand = SetState | Accept | Reject | Send | End | WrapUp | Transfer | Reprioritize | Ping
ChatCommand = Hello | CustomerMessage | Leave | Ping

_AGENT = TypeAdapter[AgentCommand](Annotated[AgentCommand, Field(discriminator="type")])
_CHAT = TypeAdapter[ChatCommand](Annotated[ChatCommand, Field(discriminator="type")])
C = TypeVar("C", AgentCommand, ChatCommand)
_AGENT_TYPES = frozenset(
    ("set_state", "accept", "reject", "send", "end", "wrapup", "transfer", "reprioritize", "ping")
)
_CHAT_TYPES = frozenset(("hello", "message", "leave", "ping"))


def _load(text: str | bytes, known: frozenset[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise MalformedFrame("frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedFrame("frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("frame has no string 'type'")
    if kind not in known:
        raise UnknownFrameType(
            f"unknown frame type {kind!r}",
            type=kind,
            ref=data.get("ref") if isinstance(data.get("ref"), str) else None,
        )
    return data


def _errors(exc: ValidationError, kind: str) -> list[dict[str, str]]:
    # The first location is the union's tag (the frame type): leave it out of the field path.
    out = []
    for e in exc.errors():
        loc = [str(x) for x in e["loc"]]
        if loc and loc[0] == kind:
            loc = loc[1:]
        out.append({"field": ".".join(loc), "problem": e["msg"]})
    return out


def _parse(text: str | bytes, known: frozenset[str], adapter: TypeAdapter[C]) -> C:
    data = _load(text, known)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise MalformedFrame(
            "invalid frame",
            errors=_errors(exc, data["type"]),
            ref=data.get("ref") if isinstance(data.get("ref"), str) else None,
        ) from None


def parse_agent_frame(text: str | bytes) -> AgentCommand:
    """The agent command in one frame; `MalformedFrame` or `UnknownFrameType` otherwise."""
    return _parse(text, _AGENT_TYPES, _AGENT)


def parse_chat_frame(text: str | bytes) -> ChatCommand:
    """The customer command in one frame; `MalformedFrame` or `UnknownFrameType` otherwise."""
    return _parse(text, _CHAT_TYPES, _CHAT)


class Sequencer:
    """Stamps the frames of one connection with `seq` 1, 2, 3... and encodes them."""

    def __init__(self) -> None:
        self.last_seq = 0

    def encode(self, frame: dict[str, Any]) -> str:
        self.last_seq += 1
        return json.dumps({"seq": self.last_seq, **frame}, separators=(",", ":"))


def error_frame(error: Any, ref: str | None = None) -> dict[str, Any]:
    body = {"type": "error", **error.as_dict()}
    details = body.get("details") or {}
    ref = ref or details.pop("ref", None)
    if ref is not None:
        body["ref"] = ref
    return body
