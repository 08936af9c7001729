"""What every handler of the CRM's REST API shares (contactcenter/crm/api/customers.py): its stores,
the CRM settings on the app, publishing CRM events, recomputing value figures, and building
the operations table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from contactcenter.core.appkeys import BUS, CLOCK, POOL
from contactcenter.core.events import Event
from contactcenter.crm.cases import CaseStore
from contactcenter.crm.customers import CustomerStore
from contactcenter.crm.merge_reviews import ReviewStore
from contactcenter.crm.merges import MergeStore
from contactcenter.crm.notes import NoteStore
from contactcenter.crm.orders import OrderStore
from contactcenter.crm.settings import CrmSettings
from contactcenter.web.openapi import Call, Operation

log = structlog.get_logger("contactcenter.crm.api.customers")

CRM_SETTINGS = web.AppKey("crm_settings", CrmSettings)


@dataclass(frozen=True)
class Stores:
    customers: CustomerStore
    notes: NoteStore
    cases: CaseStore
    merges: MergeStore
    reviews: ReviewStore


def stores(call: Call) -> Stores:
    app = call.request.app
    pool = app[POOL]
    settings = app.get(CRM_SETTINGS)
    region = settings.default_phone_region if settings else None
    return Stores(
        CustomerStore(pool, default_region=region),
        NoteStore(pool),
        CaseStore(pool),
        MergeStore(pool),
        ReviewStore(pool),
    )


async def publish(call: Call, event_type: Callable[..., Event], **fields: Any) -> None:
    """Tell the consoles; the change is stored already, so a lost event only delays them."""
    from routing.worker import wall_clock_ms

    app = call.request.app
    at_ms = app.get(CLOCK, wall_clock_ms)()
    agent_id = call.who.agent_id if call.who else None
    event = event_type(at_ms=at_ms, agent_id=agent_id, **fields)
    try:
        await app[BUS].publish(event)
    except (RedisError, OSError) as exc:
        log.warning("crm_event_not_published", event_type=event.type, error=str(exc))


async def recompute(call: Call, *customer_ids: str) -> None:
    """Value figures follow orders that moved (a merge) or a tier set by hand."""

    settings = call.request.app.get(CRM_SETTINGS)
    if settings is None:
        return
    orders = OrderStore(call.request.app[POOL], settings)
    for customer_id in customer_ids:
        await orders.recompute_customer(customer_id)


# --- the table -------------------------------------------------------------------------------

C = "/api/customers/{customer_id}"
E404, E409 = (404,), (404, 409)


def _op(
    method: str, path: str, answer: Any, summary: str, role: Any, tag: str, **kw: Any
) -> Operation:
    return Operation(method, path, answer.__name__, summary, role, tag, answer=answer, **kw)
