"""REST operations on orders, and on one interaction with its transcript.

Agents read; supervisors and admins create, change and cancel orders (docs/crm.md, roles).
Every order change recomputes the customer's value figures in the same transaction
(contactcenter/crm/orders.py) and tells the consoles showing that customer.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import NotFound
from contactcenter.crm import events as ce
from contactcenter.crm.api.customers import CRM_SETTINGS, publish
from contactcenter.crm.orders import Order, OrderStore
from contactcenter.crm.settings import CrmSettings
from contactcenter.crm.store import CrmStore, ms_to_dt
from contactcenter.web.openapi import Call, Operation
from contactcenter.web.schemas import Change, EpochMs, PageQuery, Strict

OrderStatus = Literal["placed", "paid", "shipped", "delivered", "cancelled", "refunded"]
# The document says what the model checks: pydantic alone would describe any number or any
# string, and a generated "amount" would then almost never be one.
Money = Annotated[
    Decimal,
    Field(gt=Decimal(0), max_digits=14, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 999_999_999_999.99,
                    "multipleOf": 0.01,
                },
                {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$"},
            ],
            "description": "more than 0, at most two decimals: a number or a decimal string",
        },
        mode="validation",
    ),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class OrderIn(Strict):
    amount: Money
    currency: Currency
    ordered_at_ms: EpochMs
    status: OrderStatus = "placed"
    external_id: str | None = Field(None, min_length=1, max_length=100)


class OrderPatch(Strict):
    """Only the fields given change; none of them may be null."""

    amount: Change[Money] = None
    currency: Change[Currency] = None
    ordered_at_ms: Change[EpochMs] = None
    status: Change[OrderStatus] = None


class OrderOut(Strict):
    order_id: str
    external_id: str | None
    customer_id: str
    amount: str
    currency: str
    amount_base: str
    status: OrderStatus
    ordered_at_ms: int
    created_at_ms: int


class OrderPage(Strict):
    items: list[OrderOut]
    next: str | int | None


class MessageOut(Strict):
    message_id: str
    sender: Literal["customer", "agent", "system"]
    body: str
    at_ms: int
    client_msg_id: str | None


class TranscriptOut(Strict):
    contact_id: str
    customer_id: str
    channel: str
    queue: str
    state: str
    agent_id: str | None
    messages: list[MessageOut]


class ContactNotFound(NotFound):
    error_id = "contact.not_found"


def _orders(call: Call) -> OrderStore:
    app = call.request.app
    return OrderStore(app[POOL], app.get(CRM_SETTINGS) or CrmSettings())


async def _changed(call: Call, order: Order) -> Any:
    await publish(call, ce.CustomerUpdated, customer_id=order.customer_id, fields=["orders"])
    return order.wire()


async def list_orders(call: Call) -> Any:
    page = await _orders(call).list_orders(
        call.path("customer_id"), call.query_as(PageQuery).window()
    )
    return page.wire(Order.wire)


async def create_order(call: Call) -> Any:
    body = call.body_as(OrderIn)
    order = await _orders(call).create_order(
        call.path("customer_id"),
        amount=body.amount,
        currency=body.currency,
        ordered_at=ms_to_dt(body.ordered_at_ms),
        status=body.status,
        external_id=body.external_id,
    )
    return await _changed(call, order)


async def get_order(call: Call) -> Any:
    return (await _orders(call).order(call.path("order_id"))).wire()


async def update_order(call: Call) -> Any:
    body = call.body_as(OrderPatch)
    order = await _orders(call).update_order(
        call.path("order_id"),
        amount=body.amount,
        currency=body.currency,
        status=body.status,
        ordered_at=None if body.ordered_at_ms is None else ms_to_dt(body.ordered_at_ms),
    )
    return await _changed(call, order)


async def cancel_order(call: Call) -> Any:
    return await _changed(call, await _orders(call).cancel_order(call.path("order_id")))


async def get_transcript(call: Call) -> Any:
    contact_id = call.path("contact_id")
    try:
        uuid.UUID(contact_id)
    except ValueError:
        raise ContactNotFound("no such contact", contact_id=contact_id) from None
    record, messages = await CrmStore(call.request.app[POOL]).contact_with_transcript(contact_id)
    if record is None:
        raise ContactNotFound("no such contact", contact_id=contact_id)
    return {
        "contact_id": record.contact_id,
        "customer_id": record.customer_id,
        "channel": record.channel,
        "queue": record.queue,
        "state": record.state,
        "agent_id": record.agent_id,
        "messages": [m.wire() for m in messages],
    }


def _op(method: str, path: str, answer: Any, summary: str, role: Any, **kw: Any) -> Operation:
    return Operation(method, path, answer.__name__, summary, role, "orders", answer=answer, **kw)


C = "/api/customers/{customer_id}"
ORDER = "/api/orders/{order_id}"
ORDER_OPERATIONS: tuple[Operation, ...] = (
    _op("GET", C + "/orders", list_orders, "A customer's orders, newest first", "agent",
        query=PageQuery, response=OrderPage, errors=(404,)),
    _op("POST", C + "/orders", create_order, "Record an order (value figures follow)",
        "supervisor", body=OrderIn, response=OrderOut, status=201, errors=(404, 409)),
    _op("GET", ORDER, get_order, "One order", "agent", response=OrderOut, errors=(404,)),
    _op("PATCH", ORDER, update_order, "Change an order (value figures follow)", "supervisor",
        body=OrderPatch, response=OrderOut, errors=(404,)),
    _op("DELETE", ORDER, cancel_order, "Cancel an order (kept, status cancelled)", "supervisor",
        response=OrderOut, errors=(404,)),
    Operation("GET", "/api/contacts/{contact_id}/transcript", "get_transcript",
              "One interaction with its transcript", "agent", "customers",
              answer=get_transcript, response=TranscriptOut, errors=(404,)),
)  # fmt: skip
