"""The cart's HTTP API: an account's cart kept server-side, priced live from the read model."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Self

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from libs.common import idempotency
from libs.common.api import (
    ORGANISATION,
    SELF,
    TENANT,
    Endpoint,
    Owner,
    exactly_one_of,
    grant,
    owned,
    path_uuid,
    roles,
)
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Conflict, FieldError, Invalid
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.ordering import store
from services.ordering.api import order_owner
from services.ordering.domain import (
    MAX_QUANTITY,
    CartItem,
    CartLine,
    CartRejected,
    CartTemplate,
    Order,
    PricedCart,
    code_key,
    offer_problem,
    price_cart,
)

MAX_CART_LINES = 200
ORDERERS = roles("partner", "validator", "seller", "customer", "admin")
# A template is its owner's (an admin, as everywhere, reaches the tenant's).
OWN = grant(partner=SELF, validator=SELF, seller=SELF, customer=SELF, admin=TENANT)
PROBLEMS = {
    "unknown-product": "unknown product code",
    "not-in-assortment": "not in your organisation's assortment",
    "inactive-product": "not for sale",
}


class CartLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of("code", "product_id"))

    code: str | None = Field(None, min_length=1, max_length=100, description="A product code (or product_id)")
    product_id: uuid.UUID | None = Field(None, description="A product's id (or code)")
    quantity: int = Field(1, strict=True, ge=1, le=MAX_QUANTITY, description="How many to add (1 by default)")

    @model_validator(mode="after")
    def _one_product(self) -> Self:
        if (self.code is None) == (self.product_id is None):
            raise ValueError("give the product's code or its id, one of them")
        return self


class AddToCart(BaseModel):
    """Lines to add: a code already in the cart adds to its quantity. All or nothing: a line that
    cannot be ordered now refuses the request, naming it."""

    model_config = ConfigDict(extra="forbid")

    lines: list[CartLineRequest] = Field(min_length=1, max_length=MAX_CART_LINES, description="What to add")


class CartLineSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=100, description="A product code")
    quantity: int = Field(strict=True, ge=1, le=MAX_QUANTITY, description="How many")


class ReplaceCart(BaseModel):
    """The whole cart from now on: change a quantity, remove a line (leave it out), or empty it."""

    model_config = ConfigDict(extra="forbid")

    lines: list[CartLineSet] = Field(max_length=MAX_CART_LINES, description="Every line, in order")


class CartItemView(BaseModel):
    code: str = Field(description="The product's code")
    quantity: int = Field(description="How many")
    product_id: uuid.UUID | None = Field(description="The product, when the code names one")
    name: str | None = Field(description="The product's name")
    unit_price_minor: int | None = Field(
        description="Its price now for the caller, excl. VAT; null if unavailable"
    )
    line_total_minor: int | None = Field(description="quantity * unit_price_minor; null if unavailable")
    vat_rate_bp: int | None = Field(
        description="Its VAT rate in basis points (2000 = 20 %), if catalog gave one"
    )
    available: bool = Field(description="Whether the line can be ordered now")
    problem: str | None = Field(
        description="Why it cannot: unknown-product, not-in-assortment, inactive-product, currency-mismatch"
    )

    @classmethod
    def of(cls, item: CartItem) -> CartItemView:
        return cls(**item.model_dump(), available=item.problem is None)


class CartView(BaseModel):
    lines: list[CartItemView] = Field(description="The cart's lines in the order they were added")
    total_minor: int = Field(
        description="Sum of the available lines, excl. VAT, in minor units of `currency`"
    )
    currency: str | None = Field(description="The currency of the available lines; null when none is")

    @classmethod
    def of(cls, cart: PricedCart) -> CartView:
        return cls(
            lines=[CartItemView.of(i) for i in cart.items],
            total_minor=cart.total_minor,
            currency=cart.currency,
        )


async def get_cart(request: web.Request) -> web.Response:
    caller = principal(request)
    async with request.app[POOL].acquire() as conn:
        lines = await store.cart(conn, caller.tenant_id, caller.account_id)
        return json_response(CartView.of(await _price(request, conn, caller, lines)))


async def _price(
    request: web.Request, conn: asyncpg.Connection, caller: Principal, lines: Sequence[CartLine]
) -> PricedCart:
    at = now(request)
    buyer, offers = await store.offers_by_code(
        conn,
        caller.tenant_id,
        [line.code for line in lines],
        organisation_id=caller.organisation_id,
        at=at,
        seller=caller.has_role("seller"),
    )
    return price_cart(lines, offers, buyer, at)


async def add_to_cart(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, AddToCart)
    conn = await idempotency.once(request, body)
    ids = [line.product_id for line in body.lines if line.product_id is not None]
    codes = await store.product_codes(conn, caller.tenant_id, ids) if ids else {}
    problems: list[FieldError] = []
    wanted: list[tuple[int, CartLine]] = []
    for position, line in enumerate(body.lines):
        code = line.code if line.code is not None else codes.get(line.product_id)  # type: ignore[arg-type]
        if code is None:
            problems.append(FieldError(f"lines.{position}.product_id", "unknown product", "unknown-product"))
        else:
            wanted.append((position, CartLine(code=code, quantity=line.quantity)))
    at = now(request)
    buyer, offers = await store.offers_by_code(
        conn,
        caller.tenant_id,
        [line.code for _, line in wanted],
        organisation_id=caller.organisation_id,
        at=at,
        seller=caller.has_role("seller"),
    )
    held = {
        code_key(line.code): line.quantity
        for line in await store.cart(conn, caller.tenant_id, caller.account_id)
    }
    for position, asked in wanted:
        key = code_key(asked.code)
        problem = offer_problem(offers.get(key))
        field = (
            f"lines.{position}.code"
            if body.lines[position].code is not None
            else f"lines.{position}.product_id"
        )
        if problem is not None:
            problems.append(FieldError(field, f"{asked.code}: {PROBLEMS[problem]}", problem))
            continue
        held[key] = held.get(key, 0) + asked.quantity
        if held[key] > MAX_QUANTITY:
            message = f"{asked.code}: the cart would hold more than {MAX_QUANTITY}"
            problems.append(FieldError(f"lines.{position}.quantity", message, "quantity-too-large"))
    if problems:
        raise CartRejected(problems)
    await store.add_to_cart(conn, caller.tenant_id, caller.account_id, [asked for _, asked in wanted], at)
    lines = await store.cart(conn, caller.tenant_id, caller.account_id)
    return json_response(CartView.of(price_cart(lines, offers, buyer, at)))


async def replace_cart(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, ReplaceCart)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        held = {code_key(line.code) for line in await store.cart(conn, caller.tenant_id, caller.account_id)}
        at = now(request)
        _, offers = await store.offers_by_code(
            conn,
            caller.tenant_id,
            [line.code for line in body.lines],
            organisation_id=caller.organisation_id,
            at=at,
            seller=caller.has_role("seller"),
        )
        problems: list[FieldError] = []
        seen: set[str] = set()
        for position, line in enumerate(body.lines):
            key = code_key(line.code)
            if key in seen:
                problems.append(
                    FieldError(f"lines.{position}.code", f"{line.code} is given twice", "duplicate-code")
                )
            seen.add(key)
            # A line the cart holds stays even when it became unavailable; a new one must be orderable.
            problem = None if key in held else offer_problem(offers.get(key))
            if problem is not None:
                problems.append(
                    FieldError(f"lines.{position}.code", f"{line.code}: {PROBLEMS[problem]}", problem)
                )
        if problems:
            raise CartRejected(problems)
        lines = [CartLine(code=line.code, quantity=line.quantity) for line in body.lines]
        await store.replace_cart(conn, caller.tenant_id, caller.account_id, lines, at)
        return json_response(CartView.of(await _price(request, conn, caller, lines)))


class Reorder(BaseModel):
    """What a reorder asks (its path): the order whose lines go into the cart again."""

    order_id: uuid.UUID


async def reorder(request: web.Request) -> web.Response:
    """The order's lines into the caller's cart, priced now; a line that cannot be ordered any more
    goes in too, flagged with its reason, for her to see rather than to lose."""
    caller, order = principal(request), owned(request, Order)
    conn = await idempotency.once(request, Reorder(order_id=order.order_id))
    lines = [CartLine(code=line.code, quantity=line.quantity) for line in order.lines]
    return await _add_as_they_are(request, conn, caller, lines)


class SaveTemplate(BaseModel):
    """Save the caller's cart, as it is, under a name of hers."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, description="The template's name, unique among hers whatever its case"
    )


class TemplateView(BaseModel):
    template_id: uuid.UUID = Field(description="The template's id")
    name: str = Field(description="Its name")
    created_at: datetime = Field(description="When it was saved (UTC)")
    lines: list[CartLineSet] = Field(description="Its codes and quantities, in order")

    @classmethod
    def of(cls, template: CartTemplate) -> TemplateView:
        lines = [CartLineSet(code=line.code, quantity=line.quantity) for line in template.lines]
        return cls(
            template_id=template.template_id, name=template.name, created_at=template.created_at, lines=lines
        )


class TemplateList(RootModel[list[TemplateView]]):
    pass


async def save_template(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, SaveTemplate)
    conn = await idempotency.once(request, body)
    lines = await store.cart(conn, caller.tenant_id, caller.account_id)
    if not lines:
        raise Invalid([FieldError("name", "the cart is empty: there is nothing to save", "empty-cart")])
    name = " ".join(body.name.split())
    if await store.template_named(conn, caller.tenant_id, caller.account_id, name):
        raise Conflict("template-name-taken", "Template name taken", f"a template of yours is named {name!r}")
    template = CartTemplate(
        template_id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        account_id=caller.account_id,
        name=name,
        created_at=now(request),
        lines=lines,
    )
    await store.add_template(conn, template)
    return json_response(TemplateView.of(template), status=201)


async def list_templates(request: web.Request) -> web.Response:
    caller = principal(request)
    found = await store.templates(request.app[POOL], caller.tenant_id, caller.account_id)
    return json_response(TemplateList([TemplateView.of(template) for template in found]))


async def template_owner(request: web.Request, caller: Principal) -> Owner | None:
    template_id = path_uuid(request, "template_id")
    if template_id is None:
        return None
    template = await store.find_template(request.app[POOL], caller.tenant_id, template_id)
    if template is None:
        return None
    return Owner(template.tenant_id, None, template.account_id, resource=template)


class LoadTemplate(BaseModel):
    """What loading a template asks (its path): the template whose lines go into the cart."""

    template_id: uuid.UUID


async def load_template(request: web.Request) -> web.Response:
    """The template's lines into the cart, added to what it holds; what cannot be ordered any more
    goes in flagged."""
    caller, template = principal(request), owned(request, CartTemplate)
    conn = await idempotency.once(request, LoadTemplate(template_id=template.template_id))
    return await _add_as_they_are(request, conn, caller, template.lines)


async def delete_template(request: web.Request) -> web.Response:
    template = owned(request, CartTemplate)
    await store.delete_template(request.app[POOL], template.tenant_id, template.template_id)
    return web.Response(status=204)


async def _add_as_they_are(
    request: web.Request, conn: asyncpg.Connection, caller: Principal, lines: Sequence[CartLine]
) -> web.Response:
    """Add lines to the cart without asking whether they can be ordered now (the cart shows it),
    within a line's quantity limit."""
    held = {
        code_key(line.code): line.quantity
        for line in await store.cart(conn, caller.tenant_id, caller.account_id)
    }
    too_many = [
        FieldError(
            f"lines.{position}.quantity",
            f"{line.code}: the cart would hold more than {MAX_QUANTITY}",
            "quantity-too-large",
        )
        for position, line in enumerate(lines)
        if held.get(code_key(line.code), 0) + line.quantity > MAX_QUANTITY
    ]
    if too_many:
        raise CartRejected(too_many)
    await store.add_to_cart(conn, caller.tenant_id, caller.account_id, lines, now(request))
    held_now = await store.cart(conn, caller.tenant_id, caller.account_id)
    return json_response(CartView.of(await _price(request, conn, caller, held_now)))


async def empty_cart(request: web.Request) -> web.Response:
    caller = principal(request)
    async with request.app[POOL].acquire() as conn:
        await store.replace_cart(conn, caller.tenant_id, caller.account_id, [], now(request))
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/cart",
        get_cart,
        "The caller's cart, priced now for her organisation",
        roles=ORDERERS,
        response=CartView,
    ),
    Endpoint(
        "POST",
        "/cart/lines",
        add_to_cart,
        "Add lines to the caller's cart by code or product id (quantity 1 by default; a code it holds adds"
        " up); all or nothing, each line that cannot be ordered now named",
        roles=ORDERERS,
        body=AddToCart,
        response=CartView,
        idempotent=True,
    ),
    Endpoint(
        "PUT",
        "/cart",
        replace_cart,
        "Replace the caller's cart: change quantities, remove lines (left out), reorder them",
        roles=ORDERERS,
        body=ReplaceCart,
        response=CartView,
    ),
    Endpoint("DELETE", "/cart", empty_cart, "Empty the caller's cart", roles=ORDERERS, status=204),
    Endpoint(
        "GET",
        "/cart/templates",
        list_templates,
        "The caller's template baskets, by name",
        roles=ORDERERS,
        response=TemplateList,
    ),
    Endpoint(
        "POST",
        "/cart/templates",
        save_template,
        "Save the caller's cart as a template basket under a name (409 when one of hers has it)",
        roles=ORDERERS,
        body=SaveTemplate,
        response=TemplateView,
        status=201,
        idempotent=True,
        problems={409: "A template of the caller's has this name"},
    ),
    Endpoint(
        "POST",
        "/cart/templates/{template_id}/load",
        load_template,
        "Add a template basket of the caller's to her cart, priced now (what cannot be ordered any"
        " more flagged)",
        roles=OWN,
        response=CartView,
        owner=template_owner,
        idempotent=True,
    ),
    Endpoint(
        "DELETE",
        "/cart/templates/{template_id}",
        delete_template,
        "Delete a template basket of the caller's",
        roles=OWN,
        owner=template_owner,
        status=204,
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/reorder",
        reorder,
        "Put an order's lines into the caller's cart again, priced now (a line that cannot be ordered"
        " any more goes in flagged): her own orders, her organisation's for a validator or a partner, the"
        " tenant's for an admin",
        roles=grant(admin=TENANT, validator=ORGANISATION, partner=ORGANISATION, seller=SELF, customer=SELF),
        response=CartView,
        owner=order_owner,
        idempotent=True,
    ),
]
