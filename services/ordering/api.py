"""Ordering's HTTP API for orders: order in one call, read the orders one may see, and move one along
its life (cancel; shipped and delivered as the brand reports them)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
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
from libs.common.db import Announcements
from libs.common.errors import Conflict, Invalid
from libs.common.http import json_response, preferred_wait, read_json, read_query
from libs.common.payments import PAYMENTS, PaymentError, provider_unavailable
from libs.common.runtime import POOL
from services.ordering import balance, instalments, saga, store
from services.ordering.balance import BalancePayment
from services.ordering.checkout import Checkout
from services.ordering.domain import MAX_QUANTITY, HistoryEntry, Order, merge_lines
from services.ordering.events import (
    CancellationRefund,
    OrderCancelled,
    OrderDelivered,
    OrderShipped,
)
from services.ordering.lifecycle import Action, Status, next_status
from services.ordering.placing import (
    CheckoutChoices,
    announce,
    check_terms,
    loyalty_items,
    make_quote,
    opening,
    place,
)

MAX_LINES = 200
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many, newest first")
    status: Status | None = Field(
        None, description="Only orders in this state (awaiting_approval: to validate)"
    )
    reference: str | None = Field(None, max_length=50, description="Only references starting so (any case)")
    account_id: str | None = Field(None, max_length=100, description="Only the orders this account placed")
    since: date | None = Field(None, description="Placed on this day or later (UTC)")
    until: date | None = Field(None, description="Placed on this day or earlier (UTC)")


class OrderLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1, max_length=100, description="A catalog product code; case does not matter"
    )
    quantity: int = Field(strict=True, ge=1, le=MAX_QUANTITY, description="How many units")


class SubmitOrder(CheckoutChoices):
    """What to order, checked out in one call. Prices come from the catalog (the most specific price
    list valid now for the caller's organisation, else the product's base price), never from the
    request; the checkout choices default as at checkout."""

    model_config = ConfigDict(extra="forbid")

    lines: list[OrderLineRequest] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="The products and quantities; lines naming the same code are added up into one",
    )
    accept_terms: bool = Field(False, description="The buyer accepts the tenant's current terms of sale")


class OrderLineView(BaseModel):
    product_id: uuid.UUID = Field(description="The catalog product")
    code: str = Field(description="The product's code, as catalog spells it")
    name: str = Field(description="The product's name when the order was submitted")
    quantity: int = Field(description="How many units")
    unit_price_minor: int = Field(description="Price of one unit excluding VAT, in minor units")
    line_total_minor: int = Field(description="quantity * unit_price_minor")
    price_list_id: uuid.UUID | None = Field(
        description="The price list that set the unit price; null: the product's base price"
    )
    vat_rate_bp: int = Field(description="The VAT rate, in basis points (2000 = 20 %)")
    instead_of_fee: bool = Field(description="The product taken instead of paying the delivery fee")


class HistoryView(BaseModel):
    status: Status = Field(description="The state the step led to")
    action: Action = Field(description="What happened")
    by_account: str | None = Field(description="Who did it; null: the ERP or the system")
    reason: str | None = Field(description="Why, when a reason was given")
    at: datetime = Field(description="When (UTC)")


class OrderView(BaseModel):
    order_id: uuid.UUID = Field(description="The order's id")
    account_id: str = Field(description="Who placed it")
    organisation_id: str | None = Field(description="Her organisation, if any")
    status: Status = Field(description="Where the order stands in its life")
    version: int = Field(description="Grows with each step; a decision names the version it saw")
    reference: str | None = Field(description="The customer's reference")
    lines: list[OrderLineView] = Field(description="One line per product")
    total_minor: int = Field(description="Sum of the line totals excluding VAT, in minor units of `currency`")
    currency: str = Field(description="ISO 4217 currency of every amount")
    checkout: Checkout | None = Field(
        description="Choices, totals with VAT and terms accepted; null for an order placed before checkout"
    )
    submitted_at: datetime = Field(description="When the order was placed (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")
    history: list[HistoryView] | None = Field(None, description="Its life, oldest first (one order only)")
    balance_payment: BalancePayment | None = Field(
        None, description="What it took from the buyer's balance and gave back (one order paid so only)"
    )

    @classmethod
    def of(
        cls, order: Order, history: list[HistoryEntry] | None = None, paid: BalancePayment | None = None
    ) -> OrderView:
        view = cls.model_validate(order.model_dump(include=set(cls.model_fields)))
        if history is None:
            return view
        return view.model_copy(
            update={
                "history": [HistoryView.model_validate(h.model_dump()) for h in history],
                "balance_payment": paid,
            }
        )


class OrderList(RootModel[list[OrderView]]):
    """Orders, newest first."""


async def submit_order(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, SubmitOrder)
    conn = await idempotency.once(request, body)
    at = now(request)  # prices are those valid then
    requested = merge_lines((line.code, line.quantity) for line in body.lines)
    choices = CheckoutChoices.model_validate(body.model_dump(include=set(CheckoutChoices.model_fields)))
    quote = await make_quote(conn, caller, requested, choices, at, from_cart=False)
    check_terms(quote, body.accept_terms)
    if body.gift_card_minor:
        raise Invalid.field(
            "gift_card_minor",
            "a gift card pays through a quote: its PIN is given when it is confirmed",
            "quote-only",
        )
    items = loyalty_items(quote.checkout.loyalty, None, None)
    order = await place(conn, quote, at, roles=caller.roles, loyalty_items=items)
    return json_response(OrderView.of(order, [opening(order)]), status=201)


async def list_orders(request: web.Request) -> web.Response:
    seen, query = scope(request), read_query(request, OrderQuery)
    which = store.OrderFilter(
        organisation_id=seen.organisation_id,
        account_id=seen.account_id,
        status=query.status,
        reference=query.reference,
        orderer=query.account_id,
        since=datetime.combine(query.since, time(), UTC) if query.since else None,
        until=datetime.combine(query.until + timedelta(days=1), time(), UTC) if query.until else None,
    )
    orders = await store.list_orders(request.app[POOL], seen.tenant_id, which, limit=query.limit)
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


ORDER_MOVES = web.AppKey("order_moves", Announcements)
"""Wakes a request waiting on an order when a move of it commits (`store.move_order` rings it)."""
ORDER_MOVES_TOPIC = "order"
MOST_WAIT_S = 5.0  # the longest a reader may wait on a pending order: well within the gateway's patience


def _entered_life(order: Order | None) -> bool:
    return order is None or order.status != "pending"


async def get_order(request: web.Request) -> web.Response:
    order, db = owned(request, Order), request.app[POOL]
    if order.status == "pending" and (wait := preferred_wait(request, MOST_WAIT_S)):
        # Loyalty is checking what pays it: answer once it has (or after the wait the client prefers).
        found = await request.app[ORDER_MOVES].until(
            str(order.order_id),
            lambda: store.find_order(db, order.tenant_id, order.order_id),
            _entered_life,
            wait,
        )
        order = found or order
    paid = await balance.payment_of(db, order)
    return json_response(OrderView.of(order, await store.history(db, order.order_id), paid))


class CancelOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        None, ge=1, description="The version the decision was made on; default: the latest"
    )
    reason: str | None = Field(None, max_length=500, description="Why")


class StatusChange(BaseModel):
    """What the brand's ERP (or an admin) reports of an order's delivery."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["shipped", "delivered"] = Field(description="Where the order now stands")
    erp_order_number: str | None = Field(None, max_length=100, description="The ERP's own number for it")
    invoice_reference: str | None = Field(None, max_length=100, description="The invoice's reference")


async def step(
    request: web.Request,
    conn: asyncpg.Connection,
    action: Action,
    version: int | None,
    reason: str | None = None,
) -> tuple[Order, datetime]:
    """Move the order of the path, locked, by `action` (at `version` when named): 409 naming the state
    when the action does not apply, or when the order changed since that version (of two deciding
    at once, the second)."""
    caller = principal(request)
    seen = owned(request, Order)
    order = await store.find_order(conn, seen.tenant_id, seen.order_id, for_update=True)
    assert order is not None  # orders are never deleted
    if version is not None and version != order.version:
        raise Conflict(
            "order-changed",
            "The order changed since you read it",
            f"the order is at version {order.version} ({order.status}), not {version}",
            extensions={"order_status": order.status, "version": order.version},
        )
    status = next_status(order.status, action)
    at = now(request)
    await store.move_order(conn, order, status, action, at=at, by_account=caller.account_id, reason=reason)
    return order.model_copy(update={"status": status, "version": order.version + 1, "updated_at": at}), at


async def cancel_order(request: web.Request) -> web.Response:
    """Cancel, and give back to the balance what the order took from it: all of it while the order
    waited for approval, less the tenant's cancellation costs once it was confirmed."""
    body = await read_json(request, CancelOrder)
    conn = await idempotency.once(request, body)
    order, at = await step(request, conn, "cancel", body.version, body.reason)
    await saga.release(conn, order, "cancelled", at)  # what loyalty paid comes back
    history = await store.history(conn, order.order_id)
    was_confirmed = len(history) > 1 and history[-2].status == "confirmed"  # the state it left
    settings = await store.checkout_settings(conn, order.tenant_id) if was_confirmed else None

    def costs_of(paid_minor: int) -> int:
        return balance.cancellation_costs(paid_minor, settings) if settings is not None else 0

    event = OrderCancelled(
        **OrderCancelled.header(order),
        by_account=principal(request).account_id,
        reason=body.reason,
        cancelled_at=at,
        refund=await _refund(request, conn, order, costs_of, at),
    )
    await announce(conn, order, event)
    return json_response(OrderView.of(order, history, await balance.payment_of(conn, order)))


async def _refund(
    request: web.Request,
    conn: asyncpg.Connection,
    order: Order,
    costs_of: Callable[[int], int],
    at: datetime,
) -> CancellationRefund | None:
    """Give back what a cancelled order was paid: to the balance it came from, or to the card of its
    instalments (503, nothing cancelled, when the provider cannot be reached)."""
    if order.checkout is not None and order.checkout.choices.payment_mode == "instalments":
        try:
            refunded = await instalments.cancel(conn, request.app[PAYMENTS], order, costs_of, at)
        except PaymentError as exc:
            raise provider_unavailable() from exc
        return (
            CancellationRefund(refunded_minor=refunded[0], costs_minor=refunded[1], to="card")
            if refunded
            else None
        )
    back = await balance.refund_order(conn, order, costs_of(await balance.paid_for(conn, order)), at)
    if back is None:
        return None
    return CancellationRefund(
        refunded_minor=back.refunded_minor, costs_minor=back.costs_minor, to="account_balance"
    )


async def change_status(request: web.Request) -> web.Response:
    body = await read_json(request, StatusChange)
    action: Action = "ship" if body.status == "shipped" else "deliver"
    conn = await idempotency.once(request, body)
    order, at = await step(request, conn, action, None)
    await store.set_erp_references(conn, order, body.erp_order_number, body.invoice_reference)
    refs = {"erp_order_number": body.erp_order_number, "invoice_reference": body.invoice_reference}
    event: OrderShipped | OrderDelivered
    if action == "ship":
        event = OrderShipped(**OrderShipped.header(order), **refs, shipped_at=at)
    else:
        event = OrderDelivered(**OrderDelivered.header(order), **refs, delivered_at=at)
    await announce(conn, order, event)
    return json_response(OrderView.of(order, await store.history(conn, order.order_id)))


# Who reads orders: an admin the tenant's, a validator and a partner their organisation's (she
# approves them; a pharmacy's staff follow its orders), every other role its own. Someone else's
# order answers exactly like a missing one (the guard's 404). The brand's ERP (an API client, role
# integration) reads the tenant's orders to deliver them.
READERS = grant(
    admin=TENANT,
    integration=TENANT,
    validator=ORGANISATION,
    partner=ORGANISATION,
    seller=SELF,
    customer=SELF,
    shop=SELF,
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/orders",
        submit_order,
        "Order in one call: the lines priced from the catalog for the caller's organisation (its own"
        " list, else its group's, else the brand's, else the base price; products outside its assortment"
        " refused) with the checkout's choices and their defaults; terms acceptance when the tenant has"
        " terms of sale",
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
        "The orders the caller may see (an admin's and the ERP's: the tenant's; a validator's and a"
        " partner's: her organisation's; anyone else's: their own), newest first;"
        f" ?limit=1..{MAX_LIMIT}, and to search them ?status= (awaiting_approval: the validator's list),"
        " ?reference= (its start), ?account_id=, ?since=, ?until=",
        roles=READERS,
        response=OrderList,
        query=OrderQuery,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/cancel",
        cancel_order,
        "Cancel an order not shipped yet: her own for the buyer, the tenant's for an admin (409 naming"
        " the state when it cannot be cancelled any more)",
        roles=grant(admin=TENANT, partner=SELF, validator=SELF, seller=SELF, customer=SELF),
        body=CancelOrder,
        response=OrderView,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/status",
        change_status,
        "The brand's ERP (an API client) or an admin reports an order shipped or delivered, with the ERP's"
        " order number and invoice reference (409 naming the state when the order is not there yet)",
        roles=grant(admin=TENANT, integration=TENANT),
        body=StatusChange,
        response=OrderView,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/orders/{order_id}",
        get_order,
        "One order with its history: its owner's, her organisation's for a validator or a partner, any"
        " of the tenant's for an admin or the ERP. A pending order (loyalty checking what pays part of"
        " it) is answered once it has entered its life when the request says `Prefer: wait=N` (RFC 7240;"
        " at most 5 s), or after N seconds still pending",
        roles=READERS,
        response=OrderView,
        owner=order_owner,
    ),
]
