"""Ordering's HTTP API: submit an order priced from the catalog read model, read the orders one may see."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency, outbox
from libs.common.api import (
    ORGANISATION,
    SELF,
    TENANT,
    Endpoint,
    Owner,
    grant,
    owned,
    path_uuid,
    roles,
    scope,
)
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.ordering import store
from services.ordering.domain import (
    MAX_QUANTITY,
    Order,
    PricedOrder,
    merge_lines,
    price_order,
)
from services.ordering.events import SERVICE, OrderSubmitted

MAX_LINES = 200
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many, newest first")


class OrderLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1, max_length=100, description="A catalog product code; case does not matter"
    )
    quantity: int = Field(strict=True, ge=1, le=MAX_QUANTITY, description="How many units")


class SubmitOrder(BaseModel):
    """What to order. Prices come from the catalog (the most specific price list valid now for the
    caller's organisation, else the product's base price), never from the request."""

    model_config = ConfigDict(extra="forbid")

    lines: list[OrderLineRequest] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="The products and quantities; lines naming the same code are added up into one",
    )


class OrderLineView(BaseModel):
    product_id: uuid.UUID = Field(description="The catalog product")
    code: str = Field(description="The product's code, as catalog spells it")
    name: str = Field(description="The product's name when the order was submitted")
    quantity: int = Field(description="How many units")
    unit_price_minor: int = Field(description="Price of one unit at submission, in minor units")
    line_total_minor: int = Field(description="quantity * unit_price_minor")
    price_list_id: uuid.UUID | None = Field(
        description="The price list that set the unit price; null: the product's base price"
    )


class OrderView(BaseModel):
    order_id: uuid.UUID = Field(description="The order's id")
    status: str = Field(description="Where the order stands: submitted")
    lines: list[OrderLineView] = Field(description="One line per product")
    total_minor: int = Field(description="Sum of the line totals, in minor units of `currency`")
    currency: str = Field(description="ISO 4217 currency of every amount")
    submitted_at: datetime = Field(description="When the order was submitted (UTC)")

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls.model_validate(order.model_dump(include=set(cls.model_fields)))


class OrderList(RootModel[list[OrderView]]):
    """Orders, newest first."""


async def submit_order(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, SubmitOrder)
    conn = await idempotency.once(request, body)
    submitted_at = now(request)  # prices are those valid then
    order = _new_order(caller, await _price(conn, caller, body, submitted_at), submitted_at)
    await store.add_order(conn, order)
    subject = str(order.order_id)
    await outbox.publish(conn, SERVICE, OrderSubmitted.of(order), subject=subject, tenant_id=order.tenant_id)
    return json_response(OrderView.of(order), status=201)


async def _price(conn: asyncpg.Connection, caller: Principal, body: SubmitOrder, at: datetime) -> PricedOrder:
    """The order priced from the read model for the caller's organisation at `at`, or a 422 naming
    each line that cannot be ordered (unknown, outside the organisation's assortment, not for sale,
    priced in another currency)."""
    requested = merge_lines((line.code, line.quantity) for line in body.lines)
    buyer, offers = await store.offers_by_code(
        conn,
        caller.tenant_id,
        [line.code for line in requested],
        organisation_id=caller.organisation_id,
        at=at,
    )
    return price_order(requested, offers, buyer, at)


def _new_order(caller: Principal, priced: PricedOrder, submitted_at: datetime) -> Order:
    return Order(
        order_id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        account_id=caller.account_id,
        organisation_id=caller.organisation_id,
        status="submitted",
        lines=priced.lines,
        total_minor=priced.total_minor,
        currency=priced.currency,
        submitted_at=submitted_at,
    )


async def list_orders(request: web.Request) -> web.Response:
    seen = scope(request)
    orders = await store.list_orders(
        request.app[POOL],
        seen.tenant_id,
        organisation_id=seen.organisation_id,
        account_id=seen.account_id,
        limit=read_query(request, OrderQuery).limit,
    )
    return json_response(OrderList([OrderView.of(order) for order in orders]))


async def order_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The order named in the path, with whoever placed it; an id that is not a UUID names no order."""
    order_id = path_uuid(request, "order_id")
    if order_id is None:
        return None
    order = await store.find_order(request.app[POOL], caller.tenant_id, order_id)
    if order is None:
        return None
    return Owner(order.tenant_id, order.organisation_id, order.account_id, resource=order)


async def get_order(request: web.Request) -> web.Response:
    order = owned(request, Order)
    return json_response(OrderView.of(order))


# Who reads orders: an admin the tenant's, a validator her organisation's (she approves them), every
# other role its own. Someone else's order answers exactly like a missing one (the guard's 404).
READERS = grant(admin=TENANT, validator=ORGANISATION, partner=SELF, seller=SELF, customer=SELF, shop=SELF)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/orders",
        submit_order,
        "Submit an order, priced from the catalog for the caller's organisation (its own list, else its"
        " group's, else the brand's, else the base price); products outside its assortment are refused",
        roles=roles("partner", "validator", "seller", "customer", "admin"),
        body=SubmitOrder,
        response=OrderView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/orders",
        list_orders,
        "The orders the caller may see (an admin's: the tenant's; a validator's: her organisation's;"
        f" anyone else's: their own), newest first; ?limit=1..{MAX_LIMIT}",
        roles=READERS,
        response=OrderList,
        query=OrderQuery,
    ),
    Endpoint(
        "GET",
        "/orders/{order_id}",
        get_order,
        "One order: its owner's, her organisation's for a validator, any of the tenant's for an admin",
        roles=READERS,
        response=OrderView,
        owner=order_owner,
    ),
]
