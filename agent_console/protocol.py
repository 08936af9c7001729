"""The websocket message protocols (docs/protocol.md), as a pure codec.

`parse_agent_frame` / `parse_chat_frame` turn one text frame into a typed command or raise a
`HubError` with a stable id; `Sequencer` stamps outgoing frames with their sequence numbers.
Nothing here touches a socket.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from contactcenter.core.errors import MalformedFrame, UnknownFrameType
from contactcenter.core.storable import text_problem, unstorable

# Control characters other than tab and line breaks have no place in what people write, and
# PostgreSQL cannot store NUL in text at all: refused at the edge, with the field named.
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r") | {"\x7f"}


def _printable(value: str) -> str:
    if not _CONTROL.isdisjoint(value):
        raise ValueError("contains control characters")
    return value


def _one_line(value: str) -> str:
    if any(c in _CONTROL or c in "\t\n\r" for c in value):
        raise ValueError("must be one line, without control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank")
    return value


Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_one_line)]
Ref = Annotated[str, Field(max_length=64)]
ContactId = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_printable)]
ClientMsgId = Annotated[str, Field(min_length=1, max_length=64)]
MessageId = Annotated[str, Field(min_length=1, max_length=64)]
# A pre-chat form's topic: one of config/widget.toml's ids, which routing rules see as the
# contact's intent.
TopicId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: Ref | None = None


class SetState(_Frame):
    type: Literal["set_state"]
    state: Literal["available", "away", "offline"]
    # Why the agent is away: a code of config/reasons.toml (else agent.unknown_reason); only
    # with "away".
    reason: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    # Going offline with contacts in hand: put them back in their queues (else refused with
    # agent.holds_work).
    release_work: StrictBool = False
    # The next state (docs/states.md): "away" or "offline" once the contacts held are over.
    next: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> SetState:
        if self.reason is not None and self.state != "away":
            raise ValueError("a reason goes with away only")
        if self.next and self.state == "available":
            raise ValueError("a next state is away or offline")
        if self.next and self.release_work:
            raise ValueError("release_work goes with going offline now, not next")
        return self


class CancelNextState(_Frame):
    """Take back the next state (docs/states.md); nothing happens when none waits."""

    type: Literal["cancel_next_state"]


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
    priority: Annotated[StrictInt, Field(ge=0, le=2047)]  # true is not 1


class AgentTyping(_Frame):
    """The agent started (`active`) or stopped typing in a conversation; relayed to the
    customer, never stored."""

    type: Literal["typing"]
    contact_id: ContactId
    active: StrictBool


class AgentRead(_Frame):
    """The agent has read the conversation up to `message_id` (included)."""

    type: Literal["read"]
    contact_id: ContactId
    message_id: MessageId


class Ping(_Frame):
    type: Literal["ping"]


class Hello(_Frame):
    type: Literal["hello"]
    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
    visitor_id: Annotated[str, Field(min_length=8, max_length=64)] | None = None
    email: Email | None = None
    topic: TopicId | None = None
    # The embedding site's own id for its signed-in user, and its proof: HMAC-SHA256 of
    # `user_id` under the widget's identity secret, hex (docs/widget.md). Both or neither.
    user_id: (
        Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)] | None
    ) = None
    user_hash: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None

    @model_validator(mode="after")
    def _signed_together(self) -> Hello:
        if (self.user_id is None) != (self.user_hash is None):
            raise ValueError("give user_id and user_hash together")
        return self


class CustomerMessage(_Frame):
    type: Literal["message"]
    text: Annotated[Text, AfterValidator(_not_blank)]
    client_msg_id: ClientMsgId | None = None


class Leave(_Frame):
    type: Literal["leave"]


class CustomerTyping(_Frame):
    """The customer started (`active`) or stopped typing; relayed to the agent, never stored."""

    type: Literal["typing"]
    active: StrictBool


class CustomerRead(_Frame):
    """The customer has read their conversation up to `message_id` (included)."""

    type: Literal["read"]
    message_id: MessageId


class Csat(_Frame):
    """The customer's rating of a contact that is over: 1 (bad) to 5 (good), once."""

    type: Literal["csat"]
    contact_id: ContactId
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=1000), AfterValidator(_printable)] = ""


class TranscriptRequest(_Frame):
    """Email the transcript of a contact (default: the one this chat follows) to `email`
    (default: the address given in `hello`); times written in `time_zone` (an IANA name such
    as "Europe/Paris"; default UTC)."""

    type: Literal["transcript_request"]
    contact_id: ContactId | None = None
    email: Email | None = None
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] | None = None


AgentCommand = (
    SetState
    | CancelNextState
    | Accept
    | Reject
    | Send
    | End
    | WrapUp
    | Transfer
    | Reprioritize
    | AgentTyping
    | AgentRead
    | Ping
)
ChatCommand = (
    Hello
    | CustomerMessage
    | Leave
    | CustomerTyping
    | CustomerRead
    | Csat
    | TranscriptRequest
    | Ping
)

_AGENT = TypeAdapter[AgentCommand](Annotated[AgentCommand, Field(discriminator="type")])
_CHAT = TypeAdapter[ChatCommand](Annotated[ChatCommand, Field(discriminator="type")])
C = TypeVar("C", AgentCommand, ChatCommand)
_AGENT_TYPES = frozenset(
    (
        "set_state",
        "cancel_next_state",
        "accept",
        "reject",
        "send",
        "end",
        "wrapup",
        "transfer",
        "reprioritize",
        "typing",
        "read",
        "ping",
    )
)
_CHAT_TYPES = frozenset(
    ("hello", "message", "leave", "typing", "read", "csat", "transcript_request", "ping")
)


def _ref(data: dict[str, Any]) -> str | None:
    """The frame's `ref`, to echo in its error, when it is one (a string of at most 64)."""
    ref = data.get("ref")
    return ref if isinstance(ref, str) and len(ref) <= 64 and not text_problem(ref) else None


def _load(text: str | bytes, known: frozenset[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise MalformedFrame("frame is not valid JSON") from None
    except RecursionError:  # the decoder's own limit: the frame cannot be read, the socket can
        raise MalformedFrame("frame is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedFrame("frame must be a JSON object")
    ref = _ref(data)
    found = unstorable(data)
    if found is not None:
        field, problem = found
        raise MalformedFrame(
            "invalid frame", errors=[{"field": field, "problem": problem}], ref=ref
        )
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("frame has no string 'type'", ref=ref)
    if kind not in known:
        raise UnknownFrameType(f"unknown frame type {kind!r}", type=kind, ref=ref)
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
            ref=_ref(data),
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
