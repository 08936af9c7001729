"""The CRM API's wire models: requests, validated at the edge (unknown fields refused), and
answers, which the OpenAPI document describes and the tests check the answers against."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StrictBool,
    StringConstraints,
)

from contactcenter.crm.identity import KINDS
from contactcenter.web.schemas import Change, EpochMs, PageQuery, Strict

LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"  # a BCP 47 tag: "fr", "pt-BR"
REGION = r"^[A-Z]{2}$"  # ISO 3166-1 alpha-2, to read national phone numbers
TIER = r"^[a-z][a-z0-9_-]{0,31}$"  # a tier name as config/crm.toml spells them

IdentityKind = Literal["phone", "email", "whatsapp", "visitor", "external"]
assert set(IdentityKind.__args__) == set(KINDS)  # type: ignore[attr-defined]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
CaseKind = Literal["complaint", "request"]
CaseStatus = Literal["open", "pending", "resolved", "closed"]
CasePriority = Literal["low", "normal", "high", "urgent"]


# --- requests --------------------------------------------------------------------------------


class CustomerSearch(PageQuery):
    name: str | None = Field(None, min_length=1, max_length=100, description="name prefix")
    phone: str | None = Field(None, min_length=1, max_length=40)
    email: str | None = Field(None, min_length=1, max_length=254)
    region: str | None = Field(None, pattern=REGION, description="for national numbers")


class RegionQuery(Strict):
    region: str | None = Field(None, pattern=REGION)


class IdentityIn(Strict):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=254)
    shared: StrictBool = Field(
        False, description="another customer holds it too (a household phone)"
    )
    primary: StrictBool = Field(False, description="make this customer the one it resolves to")
    region: str | None = Field(None, pattern=REGION)


class CustomerIn(Strict):
    display_name: str = Field("", max_length=200)
    language: str | None = Field(None, pattern=LANGUAGE)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class CustomerPatch(Strict):
    """Only the fields given change; tier_by_hand is for supervisors and admins."""

    display_name: Change[Annotated[str, Field(max_length=200)]] = None
    language: str | None = Field(None, pattern=LANGUAGE, description="null: not known")
    tier_by_hand: str | None = Field(None, pattern=TIER, description="null: computed again")


class AccountManagerIn(Strict):
    agent_id: uuid.UUID | None


class NoteIn(Strict):
    body: str = Field(min_length=1, max_length=5000)


class TagsIn(Strict):
    tags: list[Tag] = Field(min_length=1, max_length=20)


class MergeIn(Strict):
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)


class CaseIn(Strict):
    customer_id: uuid.UUID
    kind: CaseKind
    subject: str = Field(min_length=1, max_length=200)
    priority: CasePriority = "normal"
    owner_id: uuid.UUID | None = None
    due_at_ms: EpochMs | None = None
    contact_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class CasePatch(Strict):
    """Only the fields given change; owner_id and due_at_ms may be null (none)."""

    status: Change[CaseStatus] = None
    priority: Change[CasePriority] = None
    subject: Change[Annotated[str, Field(min_length=1, max_length=200)]] = None
    owner_id: uuid.UUID | None = Field(None, description="null: no owner")
    due_at_ms: EpochMs | None = Field(None, description="null: no due time")


class CaseLinkIn(Strict):
    contact_id: uuid.UUID


class CaseListQuery(PageQuery):
    status: Literal["open", "all"] = "all"


class ReviewListQuery(PageQuery):
    status: Literal["pending", "merged", "dismissed"] = "pending"


class DecisionIn(Strict):
    decision: Literal["merge", "dismiss"]
    survivor_id: uuid.UUID | None = Field(None, description="merge: who survives (default: rules)")


# --- answers ---------------------------------------------------------------------------------


class IdentityOut(Strict):
    kind: str
    value: str
    is_primary: bool
    shared: bool


class IdentitiesOut(Strict):
    identities: list[IdentityOut]


class CustomerOut(Strict):
    customer_id: str
    display_name: str
    language: str | None
    tier: str | None
    tier_by_hand: str | None
    value_amount: str = Field(description="in the base currency, a decimal string")
    lifecycle: str
    account_manager_id: str | None
    created_at_ms: int
    updated_at_ms: int
    identities: list[IdentityOut]
    merged_from: str | None = Field(description="the id asked for, when it was merged")


class CustomerPage(Strict):
    items: list[CustomerOut]
    next: str | int | None


class NoteOut(Strict):
    note_id: str
    customer_id: str
    author_id: str | None
    author_name: str | None
    body: str
    created_at_ms: int


class NotePage(Strict):
    items: list[NoteOut]
    next: str | int | None


class TagsOut(Strict):
    tags: list[str]


class InteractionOut(Strict):
    contact_id: str
    channel: str
    queue: str
    state: str
    arrived_at_ms: int
    ended_at_ms: int | None
    agent_id: str | None
    agent_name: str | None
    disposition: str | None
    notes: str  # the agent's wrap-up notes
    duration_s: int | None
    summary: str


class InteractionPage(Strict):
    items: list[InteractionOut]
    next: str | int | None


class CaseOut(Strict):
    case_id: str
    customer_id: str
    kind: CaseKind
    subject: str
    status: CaseStatus
    priority: CasePriority
    owner_id: str | None
    due_at_ms: int | None
    created_by: str | None
    created_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None
    contact_ids: list[str]


class CasePage(Strict):
    items: list[CaseOut]
    next: str | int | None


class MergeOut(Strict):
    merge_id: str
    survivor_id: str
    merged_id: str
    actor_id: str | None
    reason: str
    moved: dict[str, int]
    created_at_ms: int
    undone_at_ms: int | None
    undone_by: str | None


class ReviewOut(Strict):
    review_id: str
    customer_a: str
    customer_b: str
    reasons: list[str]
    evidence: dict[str, Any]
    status: Literal["pending", "merged", "dismissed"]
    created_at_ms: int
    decided_at_ms: int | None
    decided_by: str | None


class ReviewPage(Strict):
    items: list[ReviewOut]
    next: str | int | None


class DecisionOut(Strict):
    review: ReviewOut
    merge: MergeOut | None


class ContextValue(Strict):
    tier: str | None
    tier_by_hand: str | None
    value_amount: str
    value_rank: int | None
    order_count: int
    first_order_at_ms: int | None
    last_order_at_ms: int | None


class ContextRfm(Strict):
    recency: int | None
    frequency: int | None
    monetary: int | None


class ContextAgent(Strict):
    agent_id: str
    display_name: str


class ContextCase(Strict):
    case_id: str
    kind: CaseKind
    subject: str
    status: CaseStatus
    priority: CasePriority
    owner_id: str | None
    due_at_ms: int | None
    created_at_ms: int


class ContextNote(Strict):
    note_id: str
    body: str
    author_id: str | None
    author_name: str | None
    created_at_ms: int


class ContextOut(Strict):
    """What travels with every routing offer (docs/crm.md, "The customer context")."""

    customer_id: str
    merged_from: str | None
    name: str
    language: str | None
    identities: list[IdentityOut]
    value: ContextValue
    lifecycle: str
    rfm: ContextRfm
    account_manager: ContextAgent | None
    interactions: list[InteractionOut] = Field(description="the last 10, newest first")
    open_cases: list[ContextCase]
    notes: list[ContextNote] = Field(description="the latest 5, newest first")
    tags: list[str]
    has_open_complaint: bool
