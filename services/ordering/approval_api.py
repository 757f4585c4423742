"""The approval workflow's HTTP API: an organisation's policy (its admin's), and a validator's
decisions on the orders waiting for her: approve, refuse with a reason, or modify before deciding.
Each decision names the version it was made on: of two validators deciding at once, one wins and
the other gets 409."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from libs.common import idempotency
from libs.common.api import ORGANISATION, TENANT, Endpoint, Owner, grant, owned
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.http import json_response, read_json
from libs.common.limits import MAX_ORDER_TOTAL_MINOR
from libs.common.runtime import POOL
from services.ordering import balance, saga, store
from services.ordering.api import MAX_LINES, OrderLineRequest, OrderView, order_owner, step
from services.ordering.checkout import Address, LoyaltyPaid, with_code
from services.ordering.domain import Order, merge_lines
from services.ordering.events import OrderApproved, OrderConfirmed, OrderModified, OrderRefused, SubmittedLine
from services.ordering.placing import CheckoutChoices, announce, confirmed, due_of, make_quote

DECIDERS = grant(admin=TENANT, validator=ORGANISATION)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The order's version the decision was made on (409 if it moved)")


class Refusal(Decision):
    reason: str = Field(min_length=1, max_length=500, description="Why, for the orderer")


class Modification(Decision):
    """What the validator changes; what is left out stays as it was."""

    lines: list[OrderLineRequest] | None = Field(
        None, min_length=1, max_length=MAX_LINES, description="Every line from now on (priced now)"
    )
    address: Address | None = Field(None, description="Another delivery address")
    delivery_date: date | None = Field(None, description="Another delivery day")


async def approve(request: web.Request) -> web.Response:
    body = await read_json(request, Decision)
    conn = await idempotency.once(request, body)
    order, at = await step(request, conn, "approve", body.version)
    by = principal(request).account_id
    await announce(conn, order, OrderApproved(**OrderApproved.header(order), by_account=by, approved_at=at))
    validators = (
        (await store.approval_of(conn, order.tenant_id, order.organisation_id))[1]
        if order.organisation_id
        else []
    )
    await confirmed(conn, order, at)
    await saga.confirmed(conn, order, at)
    await announce(conn, order, OrderConfirmed.of(order, validators, at, approved_by=by))
    return json_response(OrderView.of(order, await store.history(conn, order.order_id)))


async def refuse(request: web.Request) -> web.Response:
    body = await read_json(request, Refusal)
    conn = await idempotency.once(request, body)
    order, at = await step(request, conn, "refuse", body.version, body.reason)
    await balance.refund_order(conn, order, 0, at)  # a refused order costs its buyer nothing
    await saga.release(conn, order, "refused", at)  # nor what loyalty paid
    by = principal(request).account_id
    await announce(
        conn,
        order,
        OrderRefused(**OrderRefused.header(order), by_account=by, reason=body.reason, refused_at=at),
    )
    return json_response(OrderView.of(order, await store.history(conn, order.order_id)))


async def modify(request: web.Request) -> web.Response:
    """Price the changed order again for its orderer (her organisation's prices now) with the same
    choices but those changed; it keeps waiting for a decision."""
    body = await read_json(request, Modification)
    conn = await idempotency.once(request, body)
    seen = owned(request, Order)
    assert seen.checkout is not None  # an order waiting for approval went through checkout
    orderer = Principal(
        account_id=seen.account_id,
        tenant_id=seen.tenant_id,
        roles=frozenset(),
        organisation_id=seen.organisation_id,
    )
    choices = seen.checkout.choices
    asked = CheckoutChoices(
        reference=choices.reference,
        instructions=choices.instructions,
        address=body.address or choices.address,
        pickup_point_id=choices.pickup_point.pickup_point_id
        if choices.pickup_point and not body.address
        else None,
        delivery_date=body.delivery_date or choices.delivery_date,
        payment_mode=choices.payment_mode,
        fee_product_code=choices.fee_product_code,
        points=choices.points,  # what loyalty holds for the order pays the changed one too
        gift_card_minor=choices.gift_card_minor,
        sponsor_points=choices.sponsor_points,
    )
    wanted = body.lines or [
        OrderLineRequest(code=line.code, quantity=line.quantity)
        for line in seen.lines
        if not line.instead_of_fee
    ]
    at = now(request)
    requested = merge_lines((line.code, line.quantity) for line in wanted)
    quote = await make_quote(conn, orderer, requested, asked, at, from_cart=False)
    order, _ = await step(request, conn, "modify", body.version)
    paid, held = quote.checkout.loyalty, seen.checkout.loyalty
    if held is not None and held.code_title is not None:  # the code loyalty holds, on the new total
        total = quote.checkout.totals.total_incl_vat_minor
        paid = with_code(paid or LoyaltyPaid(due_minor=total), held.code_title, held.code_percent_bp, total)
    changed = order.model_copy(
        update={
            "lines": quote.lines,
            "total_minor": sum(line.line_total_minor for line in quote.lines),
            "checkout": quote.checkout.model_copy(
                update={"terms_version": seen.checkout.terms_version, "loyalty": paid}
            ),
        }
    )
    await store.replace_lines(conn, changed)
    if choices.payment_mode == "account_balance":
        await balance.settle_change(conn, changed, due_of(changed), at)
    event = OrderModified(
        **OrderModified.header(changed),
        by_account=principal(request).account_id,
        lines=[SubmittedLine.model_validate(line.model_dump()) for line in changed.lines],
        currency=changed.currency,
        totals=quote.checkout.totals,
        delivery_date=quote.checkout.choices.delivery_date,
        modified_at=at,
    )
    await announce(conn, changed, event)
    return json_response(OrderView.of(changed, await store.history(conn, changed.order_id)))


# --- the organisations' policies ---


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold_minor: int = Field(
        ge=0,
        le=MAX_ORDER_TOTAL_MINOR,
        description="Orders whose goods (excluding VAT) exceed this wait for a validator; 0: every order",
    )


class PolicyView(ApprovalPolicy):
    organisation_id: str = Field(description="The organisation")
    validators: list[str] = Field(description="Its members holding the validator role, who decide")


async def organisation_owner(request: web.Request, caller: Principal) -> Owner | None:
    """An organisation of the caller's tenant, as identity announced it."""
    organisation_id = request.match_info["organisation_id"]
    async with request.app[POOL].acquire() as conn:
        known = await store.organisation_known(conn, caller.tenant_id, organisation_id)
    return Owner(caller.tenant_id, organisation_id, None, resource=organisation_id) if known else None


async def get_policy(request: web.Request) -> web.Response:
    organisation_id, db = owned(request, str), request.app[POOL]
    tenant_id = principal(request).tenant_id
    threshold, validators = await store.approval_of(db, tenant_id, organisation_id)
    if threshold is None:
        return web.Response(status=204)
    return json_response(
        PolicyView(organisation_id=organisation_id, threshold_minor=threshold, validators=validators)
    )


async def put_policy(request: web.Request) -> web.Response:
    organisation_id = owned(request, str)
    body = await read_json(request, ApprovalPolicy)
    tenant_id = principal(request).tenant_id
    await store.put_approval_policy(
        request.app[POOL], tenant_id, organisation_id, body.threshold_minor, now(request)
    )
    _, validators = await store.approval_of(request.app[POOL], tenant_id, organisation_id)
    return json_response(
        PolicyView(
            organisation_id=organisation_id, threshold_minor=body.threshold_minor, validators=validators
        )
    )


async def delete_policy(request: web.Request) -> web.Response:
    organisation_id = owned(request, str)
    await store.delete_approval_policy(request.app[POOL], principal(request).tenant_id, organisation_id)
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/orders/{order_id}/approve",
        approve,
        "Approve an order waiting for approval (a validator of its organisation, or an admin); it is"
        " confirmed. 409 when it moved since `version`, or is no longer waiting",
        roles=DECIDERS,
        body=Decision,
        response=OrderView,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/refuse",
        refuse,
        "Refuse an order waiting for approval, with the reason the orderer reads (409 as for approving)",
        roles=DECIDERS,
        body=Refusal,
        response=OrderView,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/modify",
        modify,
        "Change a waiting order's lines, address or delivery day (priced again now); it keeps waiting"
        " for a decision (409 as for approving)",
        roles=DECIDERS,
        body=Modification,
        response=OrderView,
        owner=order_owner,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/organisations/{organisation_id}/approval-policy",
        get_policy,
        "The organisation's approval policy and its validators (204: no policy, no approval needed)",
        roles=grant(admin=TENANT, validator=ORGANISATION),
        response=PolicyView,
        owner=organisation_owner,
    ),
    Endpoint(
        "PUT",
        "/organisations/{organisation_id}/approval-policy",
        put_policy,
        "Set the organisation's approval threshold (goods excluding VAT; 0: every order waits)",
        roles=grant(admin=TENANT),
        body=ApprovalPolicy,
        response=PolicyView,
        owner=organisation_owner,
    ),
    Endpoint(
        "DELETE",
        "/organisations/{organisation_id}/approval-policy",
        delete_policy,
        "Remove the organisation's policy: its orders need no approval any more",
        roles=grant(admin=TENANT),
        owner=organisation_owner,
        status=204,
    ),
]
