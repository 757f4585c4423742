"""Placing an order: the buyer's choices checked and resolved, the lines priced into a quote, and a
quote turned into an order that enters its life (and announces it). Both checkout steps and the
one-call `POST /orders` go through here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.auth import Principal
from libs.common.errors import Conflict, FieldError, Invalid
from libs.common.events import IntegrationEvent
from libs.common.limits import MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from services.ordering import balance, instalments, saga, store
from services.ordering.checkout import (
    Address,
    Checkout,
    CheckoutRejected,
    CheckoutSettings,
    Choices,
    LoyaltyPaid,
    PaymentMode,
    check_delivery_date,
    earliest_delivery,
    loyalty_paid,
    quote_totals,
)
from services.ordering.domain import (
    AddressOwner,
    AddressRequest,
    HistoryEntry,
    Offer,
    Order,
    PricedLine,
    Quote,
    RequestedLine,
    code_key,
    offer_problem,
    price_order,
)
from services.ordering.events import (
    SERVICE,
    CodePayment,
    GiftCardPayment,
    OrderConfirmed,
    OrderHeldForApproval,
    OrderSubmitted,
    PaymentItem,
    PointsPayment,
    SponsorPointsPayment,
)
from services.ordering.lifecycle import Action, first_action, next_status


class CheckoutChoices(BaseModel):
    """What the buyer chooses at checkout; everything has a default (the address book's default
    address, the earliest delivery day, the tenant's first payment mode)."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(None, max_length=50, description="Your own reference for the order")
    instructions: str | None = Field(None, max_length=500, description="Delivery instructions")
    address_id: uuid.UUID | None = Field(None, description="An address of your address book")
    address: Address | None = Field(
        None, description="An address for this order only (instead of address_id)"
    )
    keep_address: bool = Field(False, description="Ask the admin to add `address` to the address book")
    pickup_point_id: uuid.UUID | None = Field(None, description="Collect at this pick-up point instead")
    delivery_date: date | None = Field(None, description="The day to deliver; default: the earliest")
    payment_mode: PaymentMode | None = Field(None, description="Among the tenant's; default: its first")
    fee_product_code: str | None = Field(
        None, max_length=100, description="A product offered instead of the delivery fee (the fee buys it)"
    )
    points: int | None = Field(
        None, ge=1, le=MAX_ENTRY_POINTS, description="Loyalty points to pay part of the order with"
    )
    gift_card_minor: int | None = Field(
        None,
        ge=1,
        le=MAX_ORDER_TOTAL_MINOR,
        description="What a gift card pays (its number and PIN are given when the quote is confirmed)",
    )
    sponsor_points: int | None = Field(
        None,
        ge=1,
        le=MAX_ENTRY_POINTS,
        description="Sponsor points (earned on her team's orders) to pay with",
    )


def book_of(caller: Principal) -> AddressOwner:
    """The address book a buyer orders from: her organisation's, else her own."""
    if caller.organisation_id is not None:
        return AddressOwner(kind="organisation", id=caller.organisation_id)
    return AddressOwner(kind="account", id=caller.account_id)


def earliest_day(context: store.CheckoutContext, at: datetime) -> date:
    """The earliest delivery day for an order placed at `at`."""
    return earliest_delivery(at, context.zone, context.settings.lead_time_days, context.closed)


async def resolve_choices(
    conn: asyncpg.Connection,
    caller: Principal,
    asked: CheckoutChoices,
    context: store.CheckoutContext,
    at: datetime,
) -> Choices:
    """The choices with their defaults, the address copied from the book; CheckoutRejected naming
    every wrong one."""
    problems: list[FieldError] = []
    tenant_id = caller.tenant_id

    address = asked.address
    pickup_point = None
    if asked.address is not None and asked.address_id is not None:
        problems.append(FieldError("address", "give address_id or address, not both", "address-twice"))
    if asked.pickup_point_id is not None:
        if asked.address is not None or asked.address_id is not None:
            problems.append(
                FieldError("pickup_point_id", "a pick-up point takes no delivery address", "address-twice")
            )
        pickup_point = await store.pickup_point(conn, tenant_id, asked.pickup_point_id)
        if pickup_point is None:
            problems.append(FieldError("pickup_point_id", "no such pick-up point", "unknown-pickup-point"))
    elif asked.address_id is not None:
        entry = await store.find_address(conn, tenant_id, asked.address_id)
        if entry is None or entry.owner != book_of(caller):
            problems.append(
                FieldError("address_id", "no such address in your address book", "unknown-address")
            )
        else:
            address = entry.address
    elif address is None:
        address = context.default_address
    if asked.keep_address and asked.address is None:
        problems.append(
            FieldError("keep_address", "only an address given for this order is kept", "no-address")
        )

    settings = context.settings
    earliest = earliest_day(context, at)
    delivery_date = asked.delivery_date or earliest
    if (problem := check_delivery_date(delivery_date, earliest, context.closed)) is not None:
        problems.append(problem)

    payment_mode = asked.payment_mode or settings.payment_modes[0]
    if payment_mode not in settings.payment_modes:
        modes = ", ".join(settings.payment_modes)
        problems.append(FieldError("payment_mode", f"choose one of {modes}", "payment-mode-not-offered"))

    fee_code = asked.fee_product_code
    if fee_code is not None and code_key(fee_code) not in {code_key(c) for c in settings.fee_product_codes}:
        problems.append(
            FieldError(
                "fee_product_code", f"{fee_code} is not offered instead of the fee", "not-a-fee-product"
            )
        )
    if problems:
        raise CheckoutRejected(problems)
    return Choices(
        reference=asked.reference or None,
        instructions=asked.instructions or None,
        address=None if pickup_point else address,
        keep_address=asked.keep_address,
        pickup_point=pickup_point,
        delivery_date=delivery_date,
        payment_mode=payment_mode,
        fee_product_code=fee_code,
        points=asked.points,
        gift_card_minor=asked.gift_card_minor,
        sponsor_points=asked.sponsor_points,
    )


async def make_quote(
    conn: asyncpg.Connection,
    caller: Principal,
    requested: Sequence[RequestedLine],
    asked: CheckoutChoices,
    at: datetime,
    *,
    from_cart: bool,
) -> Quote:
    """The lines priced for the caller at `at` with her choices: a quote valid for the tenant's time.

    Refuses (422) lines that cannot be ordered (OrderRejected) and wrong choices (CheckoutRejected).
    """
    context = await store.checkout_context(conn, caller.tenant_id, book_of(caller), at)
    settings = context.settings
    choices = await resolve_choices(conn, caller, asked, context, at)
    codes = [line.code for line in requested]
    if choices.fee_product_code:
        codes.append(choices.fee_product_code)
    buyer, offers = await store.offers_by_code(
        conn,
        caller.tenant_id,
        codes,
        organisation_id=caller.organisation_id,
        at=at,
        seller=caller.has_role("seller"),
    )
    if from_cart:
        # The cart's unavailable lines stay in it, flagged, and out of the quote (never charged).
        orderable = [line for line in requested if offer_problem(offers.get(code_key(line.code))) is None]
        requested = [line.model_copy(update={"position": i}) for i, line in enumerate(orderable)]
        if not requested:
            raise CheckoutRejected([FieldError("lines", "nothing in the cart can be ordered", "no-lines")])
    priced = price_order(requested, offers, buyer, at)
    lines = list(priced.lines)
    if choices.fee_product_code:
        lines.append(_fee_product(choices.fee_product_code, offers, settings, lines))
    totals = quote_totals(lines, settings, fee_waived=choices.fee_product_code is not None)
    if totals.total_incl_vat_minor > MAX_ORDER_TOTAL_MINOR:
        message = (
            f"the order total {totals.total_incl_vat_minor} is more than {MAX_ORDER_TOTAL_MINOR} minor units"
        )
        raise CheckoutRejected([FieldError("lines", message, "total-too-large")])
    return Quote(
        quote_id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        account_id=caller.account_id,
        organisation_id=caller.organisation_id,
        created_at=at,
        expires_at=at + timedelta(minutes=settings.quote_minutes),
        lines=lines,
        currency=priced.currency,
        checkout=Checkout(
            choices=choices,
            totals=totals,
            terms_version=settings.terms_version,
            loyalty=loyalty_paid(
                totals.total_incl_vat_minor,
                settings,
                choices.points,
                choices.gift_card_minor,
                choices.sponsor_points,
            ),
        ),
        from_cart=from_cart,
        asked=asked.model_dump(mode="json"),
    )


def _fee_product(
    code: str, offers: Mapping[str, Offer], settings: CheckoutSettings, lines: list[PricedLine]
) -> PricedLine:
    """The product taken instead of the delivery fee, priced at the fee, when a fee is due."""
    field = "fee_product_code"
    offer = offers.get(code_key(code))
    if offer is None or offer_problem(offer) is not None:
        raise CheckoutRejected(
            [FieldError(field, f"{code} cannot be ordered now", "fee-product-unavailable")]
        )
    goods = sum(line.line_total_minor for line in lines)
    threshold = settings.free_delivery_from_minor
    if settings.delivery_fee_minor == 0 or (threshold is not None and goods >= threshold):
        raise CheckoutRejected([FieldError(field, "delivery is free for this order", "no-fee-to-replace")])
    product = offer.product
    return PricedLine(
        product_id=product.product_id,
        code=product.code,
        name=product.name,
        quantity=1,
        unit_price_minor=settings.delivery_fee_minor,
        line_total_minor=settings.delivery_fee_minor,
        vat_rate_bp=product.vat_rate_bp or 0,
        instead_of_fee=True,
    )


def check_terms(quote: Quote, accepted: bool) -> None:
    """A tenant with terms of sale takes no order whose buyer did not accept them."""
    version = quote.checkout.terms_version
    if version is not None and not accepted:
        raise Invalid.field(
            "accept_terms",
            f"accept the terms of sale (version {version}) to order",
            "terms-not-accepted",
            kind="checkout-rejected",
            title="The checkout cannot go on",
        )


def loyalty_items(
    paid: LoyaltyPaid | None, code: str | None, gift_card: tuple[str, str] | None
) -> list[PaymentItem]:
    """What the buyer pays with loyalty: the quote's points, sponsor points and gift card amount, the
    code and the gift card's (number, PIN) given at confirmation (422 naming the field when the gift
    card is missing, or given for nothing)."""
    items: list[PaymentItem] = []
    if paid is not None and paid.points:
        items.append(PointsPayment(points=paid.points))
    if paid is not None and paid.sponsor_points:
        items.append(SponsorPointsPayment(points=paid.sponsor_points))
    if code:
        items.append(CodePayment(code=code))
    if paid is not None and paid.gift_card_minor:
        if gift_card is None:
            raise Invalid.field("gift_card", "give the gift card's number and PIN", "gift-card-missing")
        number, pin = gift_card
        items.append(GiftCardPayment(number=number, pin=pin, amount_minor=paid.gift_card_minor))
    elif gift_card is not None:
        raise Invalid.field("gift_card", "the quote pays nothing with a gift card", "no-gift-card-amount")
    return items


class QuoteChanged(Conflict):
    """The quote can no longer be confirmed as it was; the new one is in the problem (`quote`)."""

    def __init__(self, kind: str, detail: str, fresh: Quote) -> None:
        super().__init__(
            kind,
            "The quote changed",
            detail,
            extensions={"quote": fresh.model_dump(mode="json", exclude={"asked"})},
        )


async def place(
    conn: asyncpg.Connection,
    quote: Quote,
    at: datetime,
    *,
    roles: frozenset[str],
    loyalty_items: Sequence[PaymentItem] = (),
) -> Order:
    """The quote becomes an order entering its life under its organisation's approval policy:
    confirmed at once, or waiting for a validator (a validator's own order never waits). Paid at once
    when paid from the balance (409 when it does not hold enough: no order then). Announced on
    ordering.order.v1; "keep this address" goes to the admin.

    Paid partly with loyalty (`loyalty_items`), it is pending first: loyalty is asked to reserve the
    items, and the order enters its life when loyalty holds them (`saga`)."""
    by_validator = "validator" in roles
    action: Action = "reserve" if loyalty_items else "confirm"
    order = Order(
        order_id=uuid.uuid4(),
        tenant_id=quote.tenant_id,
        account_id=quote.account_id,
        organisation_id=quote.organisation_id,
        status=next_status(None, action),
        lines=quote.lines,
        total_minor=sum(line.line_total_minor for line in quote.lines),
        currency=quote.currency,
        submitted_at=at,
        updated_at=at,
        reference=quote.checkout.choices.reference,
        checkout=quote.checkout,
    )
    first, validators = await _first_action(conn, order, by_validator)
    if not loyalty_items:
        action = first
        order = order.model_copy(update={"status": next_status(None, action)})
    await store.add_order(conn, order, action)
    choices = quote.checkout.choices
    if choices.keep_address and choices.address is not None:
        request = AddressRequest(
            request_id=uuid.uuid4(),
            order_id=order.order_id,
            account_id=order.account_id,
            organisation_id=order.organisation_id,
            address=choices.address,
            requested_at=at,
        )
        await store.add_address_request(conn, order.tenant_id, request)
    if loyalty_items:  # an order that needs no approval has loyalty settle its items as it holds them
        await saga.start(
            conn, order, loyalty_items, by_validator=by_validator, settle=first == "confirm", at=at
        )
        return order
    await _begin(conn, order, action, validators, at)
    return order


async def _first_action(
    conn: asyncpg.Connection, order: Order, by_validator: bool
) -> tuple[Action, list[str]]:
    """How the order enters its life under its organisation's approval policy, and its validators."""
    threshold, validators = (
        await store.approval_of(conn, order.tenant_id, order.organisation_id)
        if order.organisation_id
        else (None, [])
    )
    assert order.checkout is not None
    action = first_action(threshold, order.checkout.totals.goods_minor, by_validator=by_validator)
    return action, validators


def due_of(order: Order) -> int:
    """What the order's payment mode collects: its total less what loyalty pays."""
    assert order.checkout is not None
    loyalty = order.checkout.loyalty
    return loyalty.due_minor if loyalty is not None else order.checkout.totals.total_incl_vat_minor


async def _begin(
    conn: asyncpg.Connection, order: Order, action: Action, validators: list[str], at: datetime
) -> None:
    """The order's life begins (it was created in its first state): paid from the balance when so
    (409 when it does not hold enough), announced (with its organisation's `validators`), its
    confirmation's work started."""
    assert order.checkout is not None
    if order.checkout.choices.payment_mode == "account_balance" and due_of(order) > 0:
        await balance.spend_on(conn, order, due_of(order), at)
    await announce(conn, order, OrderSubmitted.of(order))
    if action == "hold":
        await announce(conn, order, OrderHeldForApproval.of(order, validators, at))
    else:
        await confirmed(conn, order, at)
        await announce(conn, order, OrderConfirmed.of(order, validators, at))


async def enter_life(conn: asyncpg.Connection, order: Order, at: datetime, *, by_validator: bool) -> Order:
    """A pending order whose loyalty items are held enters its life as `place` would have placed it
    (the order locked by the caller); 409 when its balance cannot pay what is due."""
    action, validators = await _first_action(conn, order, by_validator)
    status = next_status(order.status, action)
    moved = await store.move_order(conn, order, status, action, at=at, by_account=order.account_id)
    assert moved, "the caller locked the order"
    entered = order.model_copy(update={"status": status, "version": order.version + 1, "updated_at": at})
    await _begin(conn, entered, action, validators, at)
    return entered


async def confirmed(conn: asyncpg.Connection, order: Order, at: datetime) -> None:
    """What an order's confirmation starts: its instalments, when it is paid so."""
    if order.checkout is not None and order.checkout.choices.payment_mode == "instalments":
        await instalments.schedule(conn, order, await store.checkout_settings(conn, order.tenant_id), at)


async def announce(conn: asyncpg.Connection, order: Order, event: IntegrationEvent) -> None:
    """Publish a step of the order, keyed by it (its steps stay in order)."""
    await outbox.publish(conn, SERVICE, event, subject=str(order.order_id), tenant_id=order.tenant_id)


def opening(order: Order) -> HistoryEntry:
    """The first step of a new order's history, as `place` recorded it."""
    first: dict[str, Action] = {"confirmed": "confirm", "pending": "reserve"}
    action = first.get(order.status, "hold")
    return HistoryEntry(
        status=order.status, action=action, by_account=order.account_id, reason=None, at=order.submitted_at
    )
