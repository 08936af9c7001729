"""The CRM's REST API under /api: customers, identities, notes, tags, cases, interactions,
merges and the merge review list, with its OpenAPI document and a docs page.

Roles (docs/crm.md, "The API"): agents read and annotate (profile, identities, notes, tags,
cases); supervisors and admins also merge, unmerge, decide reviews, set value tiers by hand
and account managers, and delete (notes, identities). Changes a console may be showing are
published as CRM events (contactcenter/crm/events.py) once stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import Forbidden
from contactcenter.crm import events as ce
from contactcenter.crm.api import schemas as s
from contactcenter.crm.api.common import (
    CRM_SETTINGS,
    E404,
    E409,
    C,
    Stores,
    _op,
    publish,
    recompute,
    stores,
)
from contactcenter.crm.api.merges import (
    MERGE_OPERATIONS,
    decide_review,
    get_merge,
    list_reviews,
    merge_customers,
    undo_merge,
)
from contactcenter.crm.context import customer_context, interactions
from contactcenter.crm.customers import Customer, CustomerNotFound
from contactcenter.crm.settings import CrmSettings
from contactcenter.web.openapi import DOCS_HTML, Call, Operation, add_operations, openapi_document
from contactcenter.web.schemas import PageQuery

# the handlers' shared pieces live in crm_api_common, the merges' in crm_api_merges
__all__ = [
    "CRM_SETTINGS",
    "E404",
    "E409",
    "OPERATIONS",
    "C",
    "Stores",
    "decide_review",
    "get_merge",
    "list_reviews",
    "merge_customers",
    "publish",
    "recompute",
    "setup_crm_api",
    "stores",
    "undo_merge",
]

# --- customers -------------------------------------------------------------------------------


async def search_customers(call: Call) -> Any:
    q = call.query_as(s.CustomerSearch)
    page = await stores(call).customers.search(
        name=q.name, phone=q.phone, email=q.email, region=q.region, window=q.window()
    )
    return page.wire(Customer.wire)


async def create_customer(call: Call) -> Any:
    body = call.body_as(s.CustomerIn)
    customers = stores(call).customers
    customer = await customers.create(
        body.display_name,
        language=body.language,
        # each with its own region: normalised here, the store's normalising leaves E.164 be
        identities=[
            (i.kind, customers.normalise(i.kind, i.value, i.region), i.shared)
            for i in body.identities
        ],
    )
    return customer.wire()


async def get_customer(call: Call) -> Any:
    return (await stores(call).customers.get(call.path("customer_id"))).wire()


async def update_customer(call: Call) -> Any:
    changes = call.body_as(s.CustomerPatch).model_dump(exclude_unset=True)
    if "tier_by_hand" in changes and not call.agent.is_supervisor:
        raise Forbidden("only supervisors and admins set a tier by hand", field="tier_by_hand")
    customer = await stores(call).customers.update(call.path("customer_id"), changes)
    if "tier_by_hand" in changes:
        await recompute(call, customer.customer_id)
        customer = await stores(call).customers.get(customer.customer_id)
    await publish(call, ce.CustomerUpdated, customer_id=customer.customer_id, fields=list(changes))
    return customer.wire()


async def set_account_manager(call: Call) -> Any:
    agent_id = call.body_as(s.AccountManagerIn).agent_id
    customer = await stores(call).customers.set_account_manager(
        call.path("customer_id"), str(agent_id) if agent_id else None
    )
    await publish(
        call, ce.CustomerUpdated, customer_id=customer.customer_id, fields=["account_manager"]
    )
    return customer.wire()


async def get_context(call: Call) -> Any:
    context = await customer_context(call.request.app[POOL], call.path("customer_id"))
    if context is None:
        raise CustomerNotFound("no such customer", customer_id=call.path("customer_id"))
    return context


async def list_interactions(call: Call) -> Any:
    window = call.query_as(PageQuery).window()
    page = await interactions(call.request.app[POOL], call.path("customer_id"), window)
    return page.wire(lambda i: i)


# --- identities ------------------------------------------------------------------------------


async def list_identities(call: Call) -> Any:
    customer = await stores(call).customers.get(call.path("customer_id"))
    return {"identities": [i.wire() for i in customer.identities]}


async def add_identity(call: Call) -> Any:
    body = call.body_as(s.IdentityIn)
    customers = stores(call).customers
    customer = await customers.get(call.path("customer_id"))
    identity = await customers.add_identity(
        customer.customer_id,
        body.kind,
        body.value,
        shared=body.shared,
        primary=body.primary,
        region=body.region,
    )
    await publish(call, ce.CustomerUpdated, customer_id=customer.customer_id, fields=["identities"])
    return identity.wire()


async def remove_identity(call: Call) -> Any:
    region = call.query_as(s.RegionQuery).region
    customers = stores(call).customers
    customer = await customers.get(call.path("customer_id"))
    await customers.remove_identity(
        customer.customer_id, call.path("kind"), call.path("value"), region=region
    )
    await publish(call, ce.CustomerUpdated, customer_id=customer.customer_id, fields=["identities"])
    return await list_identities(call)


# --- notes and tags --------------------------------------------------------------------------


async def list_notes(call: Call) -> Any:
    window = call.query_as(PageQuery).window()
    page = await stores(call).notes.notes(call.path("customer_id"), window)
    return page.wire(lambda n: n.wire())


async def add_note(call: Call) -> Any:
    text = call.body_as(s.NoteIn).body
    note = await stores(call).notes.add_note(call.path("customer_id"), call.agent.agent_id, text)
    await publish(
        call, ce.CustomerNoteAdded, customer_id=note.customer_id, note_id=note.note_id, body=text
    )
    return note.wire()


async def delete_note(call: Call) -> Any:
    note = await stores(call).notes.delete_note(call.path("customer_id"), call.path("note_id"))
    await publish(call, ce.CustomerNoteDeleted, customer_id=note.customer_id, note_id=note.note_id)
    return note.wire()


async def list_tags(call: Call) -> Any:
    return {"tags": await stores(call).notes.tags(call.path("customer_id"))}


async def _tags_changed(call: Call, tags: list[str]) -> Any:
    customer_id = await _survivor_id(call)
    await publish(call, ce.CustomerTagsChanged, customer_id=customer_id, tags=tags)
    return {"tags": tags}


async def add_tags(call: Call) -> Any:
    new = call.body_as(s.TagsIn).tags
    return await _tags_changed(
        call, await stores(call).notes.add_tags(call.path("customer_id"), new)
    )


async def remove_tag(call: Call) -> Any:
    tag = call.path("tag")
    return await _tags_changed(
        call, await stores(call).notes.remove_tag(call.path("customer_id"), tag)
    )


async def _survivor_id(call: Call) -> str:
    from contactcenter.crm.customers import survivor_of

    return str(await survivor_of(call.request.app[POOL], call.path("customer_id")))


# --- cases -----------------------------------------------------------------------------------


async def list_customer_cases(call: Call) -> Any:
    q = call.query_as(s.CaseListQuery)
    page = await stores(call).cases.for_customer(
        call.path("customer_id"), open_only=q.status == "open", window=q.window()
    )
    return page.wire(lambda c: c.wire())


async def open_case(call: Call) -> Any:
    body = call.body_as(s.CaseIn)
    case = await stores(call).cases.open_case(
        str(body.customer_id),
        body.kind,
        body.subject,
        priority=body.priority,
        owner_id=str(body.owner_id) if body.owner_id else None,
        due_at_ms=body.due_at_ms,
        created_by=call.agent.agent_id,
        contact_ids=[str(c) for c in body.contact_ids],
    )
    await publish(
        call,
        ce.CaseOpened,
        customer_id=case.customer_id,
        case_id=case.case_id,
        kind=case.kind,
        subject=case.subject,
        priority=case.priority,
    )
    return case.wire()


async def get_case(call: Call) -> Any:
    return (await stores(call).cases.get(call.path("case_id"))).wire()


async def _case_changed(call: Call, wire: dict[str, Any]) -> Any:
    await publish(
        call,
        ce.CaseUpdated,
        customer_id=wire["customer_id"],
        case_id=wire["case_id"],
        status=wire["status"],
        priority=wire["priority"],
        owner_id=wire["owner_id"],
        due_at_ms=wire["due_at_ms"],
    )
    return wire


async def update_case(call: Call) -> Any:
    changes = call.body_as(s.CasePatch).model_dump(exclude_unset=True)
    if changes.get("owner_id") is not None:
        changes["owner_id"] = str(changes["owner_id"])
    case = await stores(call).cases.update(call.path("case_id"), changes)
    return await _case_changed(call, case.wire())


async def link_contact(call: Call) -> Any:
    contact_id = str(call.body_as(s.CaseLinkIn).contact_id)
    case = await stores(call).cases.link_contact(call.path("case_id"), contact_id)
    return await _case_changed(call, case.wire())


# --- the table -------------------------------------------------------------------------------

OPERATIONS: tuple[Operation, ...] = (
    _op("GET", "/api/customers", search_customers, "Search customers by name prefix, phone or"
        " email", "agent", "customers", query=s.CustomerSearch, response=s.CustomerPage),
    _op("POST", "/api/customers", create_customer, "Create a customer with its identities",
        "agent", "customers", body=s.CustomerIn, response=s.CustomerOut, status=201,
        errors=(409,)),
    _op("GET", C, get_customer, "A customer (a merged one: its survivor)", "agent", "customers",
        response=s.CustomerOut, errors=E404),
    _op("PATCH", C, update_customer, "Change name, language or (supervisors) tier by hand",
        "agent", "customers", body=s.CustomerPatch, response=s.CustomerOut, errors=(403, 404)),
    _op("PUT", C + "/account-manager", set_account_manager, "Set or clear the account manager",
        "supervisor", "customers", body=s.AccountManagerIn, response=s.CustomerOut, errors=E404),
    _op("GET", C + "/context", get_context, "The context that travels with routing offers",
        "agent", "customers", response=s.ContextOut, errors=E404),
    _op("GET", C + "/interactions", list_interactions, "Contact history on every channel,"
        " newest first", "agent", "customers", query=PageQuery, response=s.InteractionPage,
        errors=E404),
    _op("GET", C + "/identities", list_identities, "The customer's identities", "agent",
        "identities", response=s.IdentitiesOut, errors=E404),
    _op("POST", C + "/identities", add_identity, "Add an identity (shared: a second holder)",
        "agent", "identities", body=s.IdentityIn, response=s.IdentityOut, status=201,
        errors=E409),
    _op("DELETE", C + "/identities/{kind}/{value}", remove_identity, "Remove an identity (a"
        " shared one's next holder becomes primary)", "supervisor", "identities",
        query=s.RegionQuery, response=s.IdentitiesOut, errors=E404),
    _op("GET", C + "/notes", list_notes, "Notes, newest first", "agent", "notes",
        query=PageQuery, response=s.NotePage, errors=E404),
    _op("POST", C + "/notes", add_note, "Write a note", "agent", "notes", body=s.NoteIn,
        response=s.NoteOut, status=201, errors=E404),
    _op("DELETE", C + "/notes/{note_id}", delete_note, "Delete a note", "supervisor", "notes",
        response=s.NoteOut, errors=E404),
    _op("GET", C + "/tags", list_tags, "Tags", "agent", "tags", response=s.TagsOut,
        errors=E404),
    _op("POST", C + "/tags", add_tags, "Add tags (lower-cased)", "agent", "tags",
        body=s.TagsIn, response=s.TagsOut, errors=E404),
    _op("DELETE", C + "/tags/{tag}", remove_tag, "Remove a tag", "agent", "tags",
        response=s.TagsOut, errors=E404),
    _op("GET", C + "/cases", list_customer_cases, "The customer's cases, newest first",
        "agent", "cases", query=s.CaseListQuery, response=s.CasePage, errors=E404),
    _op("POST", "/api/cases", open_case, "Open a complaint or a request", "agent", "cases",
        body=s.CaseIn, response=s.CaseOut, status=201, errors=E409),
    _op("GET", "/api/cases/{case_id}", get_case, "A case", "agent", "cases",
        response=s.CaseOut, errors=E404),
    _op("PATCH", "/api/cases/{case_id}", update_case, "Change status, priority, owner, due"
        " time or subject", "agent", "cases", body=s.CasePatch, response=s.CaseOut,
        errors=E404),
    _op("POST", "/api/cases/{case_id}/contacts", link_contact, "Link a contact of the same"
        " customer", "agent", "cases", body=s.CaseLinkIn, response=s.CaseOut, errors=E409),
    *MERGE_OPERATIONS,
)  # fmt: skip


def setup_crm_api(
    app: web.Application,
    *,
    crm_settings: CrmSettings | None = None,
    more: tuple[Operation, ...] = (),
) -> None:
    """Serve the CRM API, /api/openapi.json and /api/docs on `app` (before it starts).
    With `crm_settings`, national phone numbers are read in its default region and value
    figures are recomputed after merges and tiers set by hand."""
    if crm_settings is not None:
        app[CRM_SETTINGS] = crm_settings

    async def openapi_json(_call: Call) -> Any:
        return document

    async def api_docs(_call: Call) -> Any:
        return web.Response(text=DOCS_HTML, content_type="text/html")

    docs = (
        _op("GET", "/api/openapi.json", openapi_json, "This document", "public", "docs"),
        _op("GET", "/api/docs", api_docs, "A page rendering this document", "public", "docs",
            content_type="text/html"),
    )  # fmt: skip
    document = openapi_document([*OPERATIONS, *more, *docs])
    add_operations(app, [*OPERATIONS, *more, *docs])
