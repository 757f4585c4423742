"""Checkout's HTTP API: the tenant's checkout settings, closed days and pick-up points (its admin's),
address books, and the two steps: a quote of the cart, then its confirmation into an order."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

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
)
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Conflict, FieldError, Forbidden, Invalid
from libs.common.http import json_response, problem_response, read_json, read_query
from libs.common.runtime import POOL
from services.ordering import store
from services.ordering.api import OrderLineRequest, OrderView
from services.ordering.checkout import Address, Checkout, CheckoutSettings, PickupPoint
from services.ordering.domain import (
    AddressOwner,
    AddressRequest,
    BookAddress,
    PricedLine,
    Quote,
    RequestedLine,
    code_key,
    merge_lines,
)
from services.ordering.placing import (
    CheckoutChoices,
    QuoteChanged,
    book_of,
    check_terms,
    earliest_day,
    loyalty_items,
    make_quote,
    opening,
    place,
)

ORDERERS = roles("partner", "validator", "seller", "customer", "admin")
ADMIN = grant(admin=TENANT)
MAX_LINES = 200
MAX_CLOSED_DAYS = 366
CLOSED_DAYS_AHEAD = timedelta(days=400)


# --- settings, closed days, pick-up points ---


async def get_settings(request: web.Request) -> web.Response:
    return json_response(await store.checkout_settings(request.app[POOL], principal(request).tenant_id))


async def put_settings(request: web.Request) -> web.Response:
    body = await read_json(request, CheckoutSettings)
    async with request.app[POOL].acquire() as conn:
        await store.put_checkout_settings(conn, principal(request).tenant_id, body, now(request))
    return json_response(body)


class ClosedDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date = Field(description="A day without delivery, in the tenant's time zone")
    label: str = Field("", max_length=100, description="Why, e.g. Bastille Day")


class ClosedDays(BaseModel):
    """The tenant's closed days from today on (weekends are never delivery days)."""

    model_config = ConfigDict(extra="forbid")

    days: list[ClosedDay] = Field(max_length=MAX_CLOSED_DAYS, description="The days, any order")


async def _today(db: asyncpg.Connection | asyncpg.Pool, request: web.Request, tenant_id: str) -> date:
    return now(request).astimezone(await store.tenant_zone(db, tenant_id)).date()


async def get_closed_days(request: web.Request) -> web.Response:
    tenant_id, db = principal(request).tenant_id, request.app[POOL]
    found = await store.closed_days(db, tenant_id, await _today(db, request, tenant_id))
    return json_response(ClosedDays(days=[ClosedDay(day=day, label=label) for day, label in found.items()]))


async def put_closed_days(request: web.Request) -> web.Response:
    """Replace the closed days from today on; past ones stay as they were."""
    tenant_id = principal(request).tenant_id
    body = await read_json(request, ClosedDays)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        today = await _today(conn, request, tenant_id)
        problems = [
            FieldError(
                f"days.{i}.day", f"{d.day.isoformat()} is past or more than a year ahead", "day-out-of-range"
            )
            for i, d in enumerate(body.days)
            if not today <= d.day <= today + CLOSED_DAYS_AHEAD
        ]
        if problems:
            raise Invalid(problems)
        for day in await store.closed_days(conn, tenant_id, today):
            await store.delete_closed_day(conn, tenant_id, day)
        for closed in body.days:
            await store.add_closed_day(conn, tenant_id, closed.day, closed.label)
    return await get_closed_days(request)


class NewPickupPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, description="The point's name, e.g. Centre Lyon Part-Dieu"
    )
    address: Address = Field(description="Where it is")


class PickupPoints(RootModel[list[PickupPoint]]):
    """The tenant's pick-up points in service, by name."""


async def list_pickup_points(request: web.Request) -> web.Response:
    found = await store.pickup_points(request.app[POOL], principal(request).tenant_id)
    return json_response(PickupPoints(found))


async def add_pickup_point(request: web.Request) -> web.Response:
    body = await read_json(request, NewPickupPoint)
    conn = await idempotency.once(request, body)
    point = PickupPoint(pickup_point_id=uuid.uuid4(), name=body.name, address=body.address)
    await store.add_pickup_point(conn, principal(request).tenant_id, point)
    return json_response(point, status=201)


async def pickup_point_owner(request: web.Request, caller: Principal) -> Owner | None:
    point_id = path_uuid(request, "pickup_point_id")
    point = await store.pickup_point(request.app[POOL], caller.tenant_id, point_id) if point_id else None
    return Owner(caller.tenant_id, None, None, resource=point) if point else None


async def withdraw_pickup_point(request: web.Request) -> web.Response:
    point = owned(request, PickupPoint)
    async with request.app[POOL].acquire() as conn:
        await store.withdraw_pickup_point(conn, principal(request).tenant_id, point.pickup_point_id)
    return web.Response(status=204)


# --- address books ---


class BookAddressView(BaseModel):
    address_id: uuid.UUID = Field(description="The address's id")
    owner: AddressOwner = Field(description="Whose book: an organisation's, or an account's without one")
    address: Address
    is_default: bool = Field(description="Preselected at checkout")


class AddressBook(RootModel[list[BookAddressView]]):
    """Addresses, the default first."""


class NewAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Address
    is_default: bool = Field(False, description="Make it the book's default (the previous one stops being)")
    organisation_id: str | None = Field(
        None, max_length=100, description="An admin names the organisation whose book it goes in"
    )


class ChangeAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Address
    is_default: bool = Field(False, description="Make it the book's default")


def _book_view(entry: BookAddress) -> BookAddressView:
    return BookAddressView.model_validate(entry.model_dump())


class AddressQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str | None = Field(
        None, max_length=100, description="An admin's: this organisation's book"
    )


async def list_addresses(request: web.Request) -> web.Response:
    """The caller's book; an admin reads an organisation's with ?organisation_id."""
    caller = principal(request)
    asked = read_query(request, AddressQuery).organisation_id
    owner = book_of(caller)
    if asked and "admin" in caller.roles:
        owner = AddressOwner(kind="organisation", id=asked)
    found = await store.addresses(request.app[POOL], caller.tenant_id, owner)
    return json_response(AddressBook([_book_view(entry) for entry in found]))


async def add_address(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewAddress)
    conn = await idempotency.once(request, body)
    owner = await _book_to_manage(conn, caller, body.organisation_id)
    entry = BookAddress(
        address_id=uuid.uuid4(), owner=owner, address=body.address, is_default=body.is_default
    )
    await _put(conn, caller.tenant_id, entry, now(request))
    return json_response(_book_view(entry), status=201)


async def _book_to_manage(
    conn: asyncpg.Connection, caller: Principal, organisation_id: str | None
) -> AddressOwner:
    """Whose book the caller adds to: an admin names an organisation of the tenant; a validator
    manages her organisation's; someone without an organisation, her own."""
    if "admin" in caller.roles:
        if organisation_id is None:
            raise Invalid.field("organisation_id", "name the organisation whose book it is", "missing")
        if not await store.organisation_known(conn, caller.tenant_id, organisation_id):
            raise Invalid.field("organisation_id", "no such organisation", "unknown-organisation")
        return AddressOwner(kind="organisation", id=organisation_id)
    if organisation_id is not None and organisation_id != caller.organisation_id:
        raise Invalid.field("organisation_id", "you manage your own organisation's book only", "not-yours")
    if caller.organisation_id is not None and "validator" not in caller.roles:
        raise Invalid.field(
            "organisation_id", "your organisation's admins and validators manage its book", "not-yours"
        )
    return book_of(caller)


async def _put(conn: asyncpg.Connection, tenant_id: str, entry: BookAddress, at: datetime) -> None:
    async with conn.transaction():
        await store.put_address(conn, tenant_id, entry, at)


async def address_owner(request: web.Request, caller: Principal) -> Owner | None:
    address_id = path_uuid(request, "address_id")
    entry = await store.find_address(request.app[POOL], caller.tenant_id, address_id) if address_id else None
    if entry is None:
        return None
    organisation = entry.owner.id if entry.owner.kind == "organisation" else None
    account = entry.owner.id if entry.owner.kind == "account" else None
    return Owner(caller.tenant_id, organisation, account, resource=entry)


async def change_address(request: web.Request) -> web.Response:
    entry = owned(request, BookAddress)
    body = await read_json(request, ChangeAddress)
    changed = entry.model_copy(update={"address": body.address, "is_default": body.is_default})
    async with request.app[POOL].acquire() as conn:
        await _put(conn, principal(request).tenant_id, changed, now(request))
    return json_response(_book_view(changed))


async def delete_address(request: web.Request) -> web.Response:
    entry = owned(request, BookAddress)
    async with request.app[POOL].acquire() as conn:
        await store.delete_address(conn, principal(request).tenant_id, entry.address_id)
    return web.Response(status=204)


class AddressRequestView(BaseModel):
    request_id: uuid.UUID
    order_id: uuid.UUID = Field(description="The order the address was given for")
    account_id: str = Field(description="Who asked")
    organisation_id: str | None = Field(description="Whose book it would go in (else the account's)")
    address: Address
    requested_at: datetime


class AddressRequests(RootModel[list[AddressRequestView]]):
    """Addresses buyers asked to keep, oldest first."""


async def list_address_requests(request: web.Request) -> web.Response:
    found = await store.address_requests(request.app[POOL], principal(request).tenant_id)
    return json_response(AddressRequests([AddressRequestView.model_validate(r.model_dump()) for r in found]))


async def address_request_owner(request: web.Request, caller: Principal) -> Owner | None:
    request_id = path_uuid(request, "request_id")
    if request_id is None:
        return None
    asked = await store.find_address_request(request.app[POOL], caller.tenant_id, request_id)
    return Owner(caller.tenant_id, None, None, resource=asked) if asked else None


class AcceptAddress(BaseModel):
    request_id: uuid.UUID


async def accept_address_request(request: web.Request) -> web.Response:
    """The address goes in the book of the organisation (or of the account without one)."""
    asked = owned(request, AddressRequest)
    conn = await idempotency.once(request, AcceptAddress(request_id=asked.request_id))
    taken = await store.decide_address_request(
        conn, principal(request).tenant_id, asked.request_id, "accepted"
    )
    if taken is None:
        raise Conflict("address-request-decided", "Decided already", "the request was decided already")
    owner = (
        AddressOwner(kind="organisation", id=taken.organisation_id)
        if taken.organisation_id
        else AddressOwner(kind="account", id=taken.account_id)
    )
    entry = BookAddress(address_id=uuid.uuid4(), owner=owner, address=taken.address, is_default=False)
    await store.put_address(conn, principal(request).tenant_id, entry, now(request))
    return json_response(_book_view(entry), status=201)


async def decline_address_request(request: web.Request) -> web.Response:
    asked = owned(request, AddressRequest)
    async with request.app[POOL].acquire() as conn:
        await store.decide_address_request(conn, principal(request).tenant_id, asked.request_id, "declined")
    return web.Response(status=204)


# --- what a buyer may choose, the quote and its confirmation ---


class CheckoutOptions(BaseModel):
    earliest_delivery_date: date = Field(description="The first day a delivery may be asked for now")
    closed_days: list[date] = Field(description="Closed days from today on (weekends are never open)")
    payment_modes: list[str] = Field(description="The modes offered, the first preselected")
    addresses: list[BookAddressView] = Field(description="The caller's address book, the default first")
    pickup_points: list[PickupPoint] = Field(description="The tenant's pick-up points")
    delivery_fee_minor: int = Field(description="The delivery fee excluding VAT")
    free_delivery_from_minor: int | None = Field(description="Goods from this amount travel free")
    fee_product_codes: list[str] = Field(description="Products offered instead of the fee")
    terms_version: str | None = Field(description="The terms of sale to accept; null: none")
    terms_url: str | None = Field(description="Where to read them")
    point_value_minor: int = Field(
        description="What one loyalty point pays, in minor units; 0: points pay nothing"
    )
    max_points_share_bp: int = Field(description="At most this share of an order's total is paid with points")


async def checkout_options(request: web.Request) -> web.Response:
    caller, db = principal(request), request.app[POOL]
    at = now(request)
    context = await store.checkout_context(db, caller.tenant_id, book_of(caller), at)
    settings, today = context.settings, at.astimezone(context.zone).date()
    earliest, closed = earliest_day(context, at), sorted(day for day in context.closed if day >= today)
    book = await store.addresses(db, caller.tenant_id, book_of(caller))
    options = CheckoutOptions(
        earliest_delivery_date=earliest,
        closed_days=closed,
        payment_modes=list(settings.payment_modes),
        addresses=[_book_view(entry) for entry in book],
        pickup_points=await store.pickup_points(db, caller.tenant_id),
        delivery_fee_minor=settings.delivery_fee_minor,
        free_delivery_from_minor=settings.free_delivery_from_minor,
        fee_product_codes=settings.fee_product_codes,
        terms_version=settings.terms_version,
        terms_url=settings.terms_url,
        point_value_minor=settings.point_value_minor,
        max_points_share_bp=settings.max_points_share_bp,
    )
    return json_response(options)


class AskQuote(CheckoutChoices):
    """Quote the cart (or the lines given) with these choices."""

    model_config = ConfigDict(extra="forbid")

    lines: list[OrderLineRequest] | None = Field(
        None, max_length=MAX_LINES, description="What to quote; default: the caller's cart"
    )


class QuoteView(BaseModel):
    quote_id: uuid.UUID = Field(description="Confirm it with POST /checkout/quotes/{quote_id}/confirm")
    created_at: datetime
    expires_at: datetime = Field(description="Confirming later answers 409 with a new quote")
    lines: list[PricedLine] = Field(description="The lines at the prices charged, excluding VAT")
    currency: str
    checkout: Checkout = Field(description="The choices resolved, the totals with VAT, the terms to accept")

    @classmethod
    def of(cls, quote: Quote) -> QuoteView:
        return cls.model_validate(quote.model_dump(include=set(cls.model_fields)))


async def ask_quote(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, AskQuote)
    conn = await idempotency.once(request, body)
    at = now(request)
    if body.lines is None:
        cart = await store.cart(conn, caller.tenant_id, caller.account_id)
        requested = [
            RequestedLine(code=line.code, quantity=line.quantity, position=i) for i, line in enumerate(cart)
        ]
    else:
        requested = merge_lines((line.code, line.quantity) for line in body.lines)
    if not requested:
        raise Invalid.field("lines", "the cart is empty", "no-lines", kind="checkout-rejected")
    choices = CheckoutChoices.model_validate(body.model_dump(include=set(CheckoutChoices.model_fields)))
    quote = await make_quote(conn, caller, requested, choices, at, from_cart=body.lines is None)
    await store.add_quote(conn, quote)
    return json_response(QuoteView.of(quote), status=201)


async def quote_owner(request: web.Request, caller: Principal) -> Owner | None:
    quote_id = path_uuid(request, "quote_id")
    if quote_id is None:
        return None
    found = await store.find_quote(request.app[POOL], caller.tenant_id, quote_id)
    if found is None:
        return None
    quote = found[0]
    return Owner(quote.tenant_id, quote.organisation_id, quote.account_id, resource=quote)


async def get_quote(request: web.Request) -> web.Response:
    return json_response(QuoteView.of(owned(request, Quote)))


class GiftCardSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=4, max_length=40, pattern=r"^[0-9A-Za-z -]+$", description="Its number")
    pin: str = Field(min_length=4, max_length=8, pattern=r"^[0-9]+$", description="Its PIN")


class ConfirmQuote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept_terms: bool = Field(False, description="The buyer accepts the terms of sale the quote names")
    code: str | None = Field(
        None, min_length=4, max_length=40, description="A single-use code (promo code, voucher) to apply"
    )
    gift_card: GiftCardSecret | None = Field(
        None, description="The gift card that pays the quote's `gift_card_minor`, with its PIN"
    )


class _Confirming(ConfirmQuote):
    quote_id: uuid.UUID


async def confirm_quote(request: web.Request) -> web.Response:
    """Price the quote's lines again with its choices: the same prices make the order; a change, or an
    expired quote, answers 409 with the new quote to confirm instead."""
    caller, seen = principal(request), owned(request, Quote)
    body = await read_json(request, ConfirmQuote)
    # The code and the PIN stay out of the request's fingerprint (a fast hash of them could be guessed).
    confirming = _Confirming(quote_id=seen.quote_id, **body.model_dump())
    conn = await idempotency.once(request, confirming, exclude={"code": True, "gift_card": {"pin"}})
    found = await store.find_quote(conn, caller.tenant_id, seen.quote_id, for_update=True)
    assert found is not None  # quotes outlive their expiry by a day, and the guard just read it
    quote, order_id = found
    if quote.account_id != caller.account_id:
        raise Forbidden("not-your-quote", "Not your quote", "only the buyer confirms her quote")
    if order_id is not None:
        raise Conflict(
            "quote-used",
            "The quote was confirmed already",
            f"it became order {order_id}",
            extensions={"order_id": str(order_id)},
        )
    at = now(request)
    requested = [
        RequestedLine(code=line.code, quantity=line.quantity, position=i)
        for i, line in enumerate(line for line in quote.lines if not line.instead_of_fee)
    ]
    fresh = await make_quote(
        conn, caller, requested, CheckoutChoices.model_validate(quote.asked), at, from_cart=quote.from_cart
    )
    changed = not quote.same_prices(fresh) or quote.checkout.terms_version != fresh.checkout.terms_version
    if at >= quote.expires_at or changed:
        # Answered, not raised: the new quote is kept with the 409 that offers it (a replay of the
        # same key answers the same new quote).
        await store.add_quote(conn, fresh)
        if changed:
            detail = "prices or terms changed since the quote: see the new one"
            return problem_response(request, QuoteChanged("quote-changed", detail, fresh))
        detail = f"the quote expired at {quote.expires_at.isoformat()}"
        return problem_response(request, QuoteChanged("quote-expired", detail, fresh))
    check_terms(quote, body.accept_terms)
    secret = (body.gift_card.number, body.gift_card.pin) if body.gift_card else None
    items = loyalty_items(quote.checkout.loyalty, body.code, secret)
    order = await place(
        conn, quote.model_copy(update={"created_at": at}), at, roles=caller.roles, loyalty_items=items
    )
    await store.quote_used(conn, quote.quote_id, order.order_id)
    if quote.from_cart:
        await store.remove_from_cart(
            conn, caller.tenant_id, caller.account_id, [code_key(line.code) for line in requested]
        )
    return json_response(OrderView.of(order, [opening(order)]), status=201)


# A quote is its buyer's; an admin, as everywhere, reads the tenant's (only the buyer confirms hers).
BUYER = grant(partner=SELF, validator=SELF, seller=SELF, customer=SELF, admin=TENANT)
BOOK_READERS = grant(admin=TENANT, validator=ORGANISATION, partner=ORGANISATION, seller=SELF, customer=SELF)
BOOK_KEEPERS = grant(admin=TENANT, validator=ORGANISATION, seller=SELF, customer=SELF)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/checkout",
        checkout_options,
        "What the caller may choose at checkout now: earliest delivery day, closed days, payment modes,"
        " her address book, pick-up points, the fee and its free threshold, the terms of sale",
        roles=ORDERERS,
        response=CheckoutOptions,
    ),
    Endpoint(
        "GET",
        "/checkout/settings",
        get_settings,
        "The tenant's checkout settings",
        roles=ADMIN,
        response=CheckoutSettings,
    ),
    Endpoint(
        "PUT",
        "/checkout/settings",
        put_settings,
        "Replace the tenant's checkout settings (lead time, payment modes, fee and threshold, products"
        " instead of the fee, quote validity, eligible amount with or without VAT, terms of sale)",
        roles=ADMIN,
        body=CheckoutSettings,
        response=CheckoutSettings,
    ),
    Endpoint(
        "GET",
        "/checkout/closed-days",
        get_closed_days,
        "The tenant's closed days from today on",
        roles=ORDERERS,
        response=ClosedDays,
    ),
    Endpoint(
        "PUT",
        "/checkout/closed-days",
        put_closed_days,
        "Replace the tenant's closed days from today on (within a year); no delivery is asked for then",
        roles=ADMIN,
        body=ClosedDays,
        response=ClosedDays,
    ),
    Endpoint(
        "GET",
        "/pickup-points",
        list_pickup_points,
        "The tenant's pick-up points",
        roles=ORDERERS,
        response=PickupPoints,
    ),
    Endpoint(
        "POST",
        "/pickup-points",
        add_pickup_point,
        "Add a pick-up point",
        roles=ADMIN,
        body=NewPickupPoint,
        response=PickupPoint,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "DELETE",
        "/pickup-points/{pickup_point_id}",
        withdraw_pickup_point,
        "Withdraw a pick-up point (orders keep the copy they have)",
        roles=ADMIN,
        owner=pickup_point_owner,
        status=204,
    ),
    Endpoint(
        "GET",
        "/addresses",
        list_addresses,
        "The caller's address book (her organisation's, else her own); an admin reads an organisation's"
        " with ?organisation_id=",
        roles=BOOK_READERS,
        response=AddressBook,
        query=AddressQuery,
    ),
    Endpoint(
        "POST",
        "/addresses",
        add_address,
        "Add an address to a book: an admin to an organisation's (organisation_id), a validator to her"
        " organisation's, someone without an organisation to her own",
        roles=BOOK_KEEPERS,
        body=NewAddress,
        response=BookAddressView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "PUT",
        "/addresses/{address_id}",
        change_address,
        "Change an address of a book one keeps",
        roles=BOOK_KEEPERS,
        body=ChangeAddress,
        response=BookAddressView,
        owner=address_owner,
    ),
    Endpoint(
        "DELETE",
        "/addresses/{address_id}",
        delete_address,
        "Remove an address from a book one keeps (orders keep their copy)",
        roles=BOOK_KEEPERS,
        owner=address_owner,
        status=204,
    ),
    Endpoint(
        "GET",
        "/address-requests",
        list_address_requests,
        'Addresses buyers asked to keep ("keep this address" at checkout), oldest first',
        roles=ADMIN,
        response=AddressRequests,
    ),
    Endpoint(
        "POST",
        "/address-requests/{request_id}/accept",
        accept_address_request,
        "Add the asked address to the book of the buyer's organisation (or her own)",
        roles=ADMIN,
        owner=address_request_owner,
        response=BookAddressView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "DELETE",
        "/address-requests/{request_id}",
        decline_address_request,
        "Decline a request to keep an address",
        roles=ADMIN,
        owner=address_request_owner,
        status=204,
    ),
    Endpoint(
        "POST",
        "/checkout/quotes",
        ask_quote,
        "Quote the caller's cart (or the lines given) with her choices: lines, VAT per rate, fee, totals,"
        " eligible amount, valid for the tenant's quote time",
        roles=ORDERERS,
        body=AskQuote,
        response=QuoteView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/checkout/quotes/{quote_id}",
        get_quote,
        "One of the caller's quotes",
        roles=BUYER,
        response=QuoteView,
        owner=quote_owner,
    ),
    Endpoint(
        "POST",
        "/checkout/quotes/{quote_id}/confirm",
        confirm_quote,
        "Confirm a quote into an order (accept_terms when the tenant has terms of sale); 409 with the new"
        " quote when prices or terms changed or it expired",
        roles=BUYER,
        body=ConfirmQuote,
        response=OrderView,
        owner=quote_owner,
        status=201,
        idempotent=True,
        problems={409: "the quote changed, expired or was confirmed already"},
    ),
]
