"""Instalments over HTTP: an order's schedule, the buyer paying the instalment that waits for her on
the provider's page (her card saved for the next ones), and the admin's list of flagged ones."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import SELF, TENANT, Endpoint, grant, owned
from libs.common.auth import principal
from libs.common.clock import now
from libs.common.http import json_response, read_json, read_query
from libs.common.payments import CALLBACK_URL, PAYMENTS, PaymentError, provider_unavailable
from libs.common.runtime import POOL
from services.ordering import instalments
from services.ordering.api import READERS, order_owner
from services.ordering.balance_api import PaymentStarted, return_url
from services.ordering.domain import Order
from services.ordering.instalments import Instalment, InstalmentStatus

DEFAULT_LIMIT, MAX_LIMIT = 100, 500


class InstalmentList(RootModel[list[Instalment]]):
    """Instalments, the next due first."""


class PayInstalment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str | None = Field(
        None, max_length=2000, description="Where the provider sends the buyer back (this platform's own URL)"
    )


class InstalmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: InstalmentStatus | None = Field(None, description="Only these (flagged: every charge failed)")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="At most this many")


async def order_instalments(request: web.Request) -> web.Response:
    order = owned(request, Order)
    return json_response(InstalmentList(await instalments.of_order(request.app[POOL], order.order_id)))


async def pay(request: web.Request) -> web.Response:
    body = await read_json(request, PayInstalment)
    back = return_url(request, body.return_url)
    conn = await idempotency.once(request, body)
    try:
        started = await instalments.start_payment(
            conn,
            request.app[PAYMENTS],
            owned(request, Order),
            callback_url=request.app[CALLBACK_URL],
            return_url=back,
            at=now(request),
        )
    except PaymentError as exc:
        raise provider_unavailable() from exc
    return json_response(
        PaymentStarted(payment=started.payment, redirect_url=started.redirect_url), status=201
    )


async def tenant_instalments(request: web.Request) -> web.Response:
    query = read_query(request, InstalmentQuery)
    found = await instalments.of_tenant(
        request.app[POOL], principal(request).tenant_id, query.status, query.limit
    )
    return json_response(InstalmentList(found))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/orders/{order_id}/instalments",
        order_instalments,
        "An order's instalments: amounts, due times, what was paid, what failed",
        roles=READERS,
        response=InstalmentList,
        owner=order_owner,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/instalments/pay",
        pay,
        "Pay the instalment waiting for the buyer (the first, or one whose card charges failed) on the"
        " provider's page (`redirect_url`), saving her card for the next ones; 409 when none waits",
        roles=grant(partner=SELF, validator=SELF, seller=SELF, customer=SELF),
        body=PayInstalment,
        response=PaymentStarted,
        status=201,
        owner=order_owner,
        idempotent=True,
        problems={503: "the payment provider cannot be reached: nothing was charged"},
    ),
    Endpoint(
        "GET",
        "/instalments",
        tenant_instalments,
        "The tenant's instalments, the next due first; ?status=flagged: those whose every charge failed,"
        " for the admin to follow up",
        roles=grant(admin=TENANT),
        response=InstalmentList,
        query=InstalmentQuery,
    ),
]
