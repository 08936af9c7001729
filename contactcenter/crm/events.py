"""CRM events: what changed about a customer, for the consoles that show them.

They join the one event stream and its codec (`contactcenter.core.events`): defining them here
registers them (Event.__init_subclass__), so any process that imports this module decodes
them. Each names the customer (`customer_id`) and the agent who made the change (`agent_id`,
None for the hub itself). They are published after the change is stored in PostgreSQL; a
console that misses one reads the customer afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contactcenter.core.events import Event


@dataclass(frozen=True, kw_only=True)
class CustomerUpdated(Event):
    """The customer's profile, identities or account manager changed; `fields` says which."""

    customer_id: str
    agent_id: str | None
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CustomerNoteAdded(Event):
    """An agent wrote a note on the customer."""

    customer_id: str
    agent_id: str | None
    note_id: str
    body: str  # named `body` so that the history table does not keep a copy


@dataclass(frozen=True, kw_only=True)
class CustomerNoteDeleted(Event):
    customer_id: str
    agent_id: str | None
    note_id: str


@dataclass(frozen=True, kw_only=True)
class CustomerTagsChanged(Event):
    """The customer's tags are now `tags` (the whole set, sorted)."""

    customer_id: str
    agent_id: str | None
    tags: list[str]


@dataclass(frozen=True, kw_only=True)
class CaseOpened(Event):
    """A complaint or a request was recorded for the customer."""

    customer_id: str
    agent_id: str | None
    case_id: str
    kind: str
    subject: str
    priority: str


@dataclass(frozen=True, kw_only=True)
class CaseUpdated(Event):
    """A case changed: its status (closed when "resolved" or "closed"), priority, owner, due
    time or linked contacts."""

    customer_id: str
    agent_id: str | None
    case_id: str
    status: str
    priority: str
    owner_id: str | None
    due_at_ms: int | None


@dataclass(frozen=True, kw_only=True)
class CustomersMerged(Event):
    """`merged_id` was folded into `customer_id` (the survivor); consoles showing the merged
    customer show the survivor. `agent_id` None: an automatic merge."""

    customer_id: str
    agent_id: str | None
    merge_id: str
    merged_id: str


@dataclass(frozen=True, kw_only=True)
class CustomersUnmerged(Event):
    """The merge was undone: `merged_id` is a customer of its own again."""

    customer_id: str
    agent_id: str | None
    merge_id: str
    merged_id: str


CRM_EVENTS = (
    CustomerUpdated,
    CustomerNoteAdded,
    CustomerNoteDeleted,
    CustomerTagsChanged,
    CaseOpened,
    CaseUpdated,
    CustomersMerged,
    CustomersUnmerged,
)
