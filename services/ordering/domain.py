"""Ordering's pure rules: which price list prices a product, merging requested lines, pricing them
from the read model for one buyer at one instant, the order total."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from libs.common.errors import FieldError, Invalid
from libs.common.limits import MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR
from services.ordering.checkout import Address, Checkout
from services.ordering.lifecycle import Action, Status

MAX_QUANTITY = MAX_LINE_QUANTITY


def code_key(code: str) -> str:
    """Product codes match case-insensitively."""
    return code.upper()


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


Scope = Literal["brand", "group", "organisation"]

# Most specific last: an organisation's own list beats its group's, which beats the brand's.
_SPECIFICITY: dict[Scope, int] = {"brand": 0, "group": 1, "organisation": 2}
_EARLIEST = datetime.min.replace(tzinfo=UTC)  # only compared once both lists have a valid_from


@dataclass(frozen=True)
class PriceListTerms:
    """One price list's offer for one product (catalog.price_list.v1, as ordering keeps it)."""

    list_id: str
    scope: Scope
    target_id: str | None  # brand id, group id or organisation id, by scope
    valid_from: datetime | None  # None: since always
    valid_until: datetime | None  # exclusive; None: open
    price_minor: int
    currency: str
    active: bool = True


def resolve_price(
    candidates: Iterable[PriceListTerms],
    *,
    brand_id: str | None,
    group_id: str | None,
    organisation_id: str | None,
    at: datetime,
) -> PriceListTerms | None:
    """The list that prices a product of `brand_id` for an organisation (of group `group_id`) at `at`.

    A list applies when it is active, valid at `at` (valid_from <= at < valid_until) and aimed at the
    product's brand, the organisation's group or the organisation itself. The most specific scope
    wins; within a scope the latest `valid_from`, then the greatest list id. None: no list applies,
    the product's base price does. Catalog applies the same rule (tests/contracts).
    """
    targets: dict[Scope, str | None] = {
        "brand": brand_id,
        "group": group_id,
        "organisation": organisation_id,
    }

    def applies(terms: PriceListTerms) -> bool:
        target = targets[terms.scope]
        return (
            terms.active
            and target is not None
            and terms.target_id == target
            and (terms.valid_from is None or terms.valid_from <= at)
            and (terms.valid_until is None or at < terms.valid_until)
        )

    return max(
        filter(applies, candidates),
        # A list valid "since always" started before any dated one.
        key=lambda t: (_SPECIFICITY[t.scope], t.valid_from is not None, t.valid_from or _EARLIEST, t.list_id),
        default=None,
    )


class Product(_Value):
    """A product as ordering last heard of it from catalog; `price_minor` is its base price."""

    product_id: uuid.UUID
    code: str
    name: str
    price_minor: int
    currency: str
    active: bool
    brand_id: uuid.UUID | None = None
    vat_rate_bp: int | None = None  # VAT in basis points (2000 = 20 %)
    status: str | None = None  # "active" | "retired"; None from events older than the field


class PriceList(_Value):
    """A price list as ordering last heard of it from catalog (full state of one version)."""

    price_list_id: uuid.UUID
    scope: Scope
    target_id: str  # by scope: the brand id, the group id or the organisation id
    brand_id: uuid.UUID | None
    currency: str
    valid_from: datetime | None
    valid_until: datetime | None
    active: bool
    prices: dict[uuid.UUID, int]  # product id → price in minor units


class OrganisationTerms(_Value):
    """An organisation's terms as catalog last described them."""

    organisation_id: str
    group_id: str | None
    assortment: frozenset[uuid.UUID] | None  # None: it may order any product
    entitlements: tuple[str, ...]


@dataclass(frozen=True)
class Buyer:
    """Whom an order is priced for: the caller's organisation and its customer group (catalog's terms),
    and the seller discount her own orders get (0 but for a seller)."""

    organisation_id: str | None
    group_id: str | None
    seller_discount_bp: int = 0


def seller_price(price_minor: int, discount_bp: int) -> int:
    """A unit price less the seller discount, the discount rounded half up to the minor unit (15 %
    of 9.99 is 1.4985, so 1.50 off: 8.49). Catalog shows the same (tests/contracts)."""
    return price_minor - (price_minor * discount_bp + 5_000) // 10_000


@dataclass(frozen=True)
class Offer:
    """One requested product as a buyer may order it: whether the organisation's assortment holds it,
    and the price lists that might price it (the read model's prefilter; `resolve_price` decides)."""

    product: Product
    in_assortment: bool = True
    price_lists: tuple[PriceListTerms, ...] = ()

    def price_for(self, buyer: Buyer, at: datetime) -> tuple[int, str, uuid.UUID | None]:
        """(unit price in minor units, its currency, the list that set it or None for the base price);
        a seller's price is less her discount."""
        chosen = resolve_price(
            self.price_lists,
            brand_id=str(self.product.brand_id) if self.product.brand_id else None,
            group_id=buyer.group_id,
            organisation_id=buyer.organisation_id,
            at=at,
        )
        if chosen is None:
            price, currency, list_id = self.product.price_minor, self.product.currency, None
        else:
            price, currency, list_id = chosen.price_minor, chosen.currency, uuid.UUID(chosen.list_id)
        return seller_price(price, buyer.seller_discount_bp), currency, list_id


class RequestedLine(_Value):
    """One distinct product code of a request; `position` is its first line's index in the request."""

    code: str
    quantity: int
    position: int


class PricedLine(_Value):
    product_id: uuid.UUID
    code: str
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int
    price_list_id: uuid.UUID | None = None  # the list that set the unit price; None: the base price
    vat_rate_bp: int = 0  # a product whose catalog event carried no rate is taxed at 0 %
    instead_of_fee: bool = False  # the product the buyer took instead of paying the delivery fee


class PricedOrder(_Value):
    lines: list[PricedLine]
    total_minor: int
    currency: str


class Order(_Value):
    """An order: who placed it, what it holds and what it costs, where it stands in its life.

    `total_minor` is the goods excluding VAT (what orders carried before checkout); `checkout` holds
    the rest (None for an order placed before checkout existed). `version` grows with every change:
    a decision names the version it was made on.
    """

    order_id: uuid.UUID
    tenant_id: str
    account_id: str
    organisation_id: str | None
    status: Status
    lines: list[PricedLine]
    total_minor: int
    currency: str
    submitted_at: datetime
    updated_at: datetime
    version: int = 1
    reference: str | None = None
    checkout: Checkout | None = None


class HistoryEntry(_Value):
    """One step of an order's life."""

    status: Status
    action: Action
    by_account: str | None
    reason: str | None
    at: datetime


class Quote(_Value):
    """A priced cart with the buyer's choices, valid until `expires_at`; `from_cart`: confirming it
    empties the buyer's cart."""

    quote_id: uuid.UUID
    tenant_id: str
    account_id: str
    organisation_id: str | None
    created_at: datetime
    expires_at: datetime
    lines: list[PricedLine]
    currency: str
    checkout: Checkout
    from_cart: bool
    asked: dict[str, Any]  # the choices as the buyer made them: confirming applies them again

    def same_prices(self, other: Quote) -> bool:
        """Whether `other` charges exactly what this quote did (lines, prices, totals)."""
        return (self.lines, self.currency, self.checkout.totals) == (
            other.lines,
            other.currency,
            other.checkout.totals,
        )


class OrderRejected(Invalid):
    """The request cannot become an order; every wrong line is named by its path in the request."""

    def __init__(self, problems: Sequence[FieldError]) -> None:
        super().__init__(
            problems,
            kind="order-rejected",
            title="The order cannot be submitted",
            detail="; ".join(p.message for p in problems),
        )


def merge_lines(lines: Iterable[tuple[str, int]]) -> list[RequestedLine]:
    """Add up the quantities of lines naming the same code (in any case), in first-seen order.

    Merging rather than refusing: a shopper who adds the same article twice means "twice as many".
    """
    merged: dict[str, RequestedLine] = {}
    for position, (code, quantity) in enumerate(lines):
        seen = merged.get(code_key(code))
        if seen is None:
            merged[code_key(code)] = RequestedLine(code=code, quantity=quantity, position=position)
        else:
            merged[code_key(code)] = seen.model_copy(update={"quantity": seen.quantity + quantity})
    too_many = [
        FieldError(
            field=f"lines.{line.position}.quantity",
            message=f"the lines for code {line.code} add up to {line.quantity}, more than {MAX_QUANTITY}",
            type="quantity-too-large",
        )
        for line in merged.values()
        if line.quantity > MAX_QUANTITY
    ]
    if too_many:
        raise OrderRejected(too_many)
    return list(merged.values())


def price_order(
    requested: Sequence[RequestedLine], offers: Mapping[str, Offer], buyer: Buyer, at: datetime
) -> PricedOrder:
    """Price each line for `buyer` at the instant `at` (`offers` keyed by `code_key`).

    Refuses unknown codes, products outside the buyer's assortment, products not for sale and a mix
    of currencies; the order's currency is that of its first orderable line's price (its price list's
    currency, or the product's when the base price applies).
    """
    problems: list[FieldError] = []
    lines: list[PricedLine] = []
    currency: str | None = None
    for line in requested:
        field = f"lines.{line.position}.code"
        offer = offers.get(code_key(line.code))
        if offer is None:
            problems.append(
                FieldError(field=field, message=f"unknown product code {line.code}", type="unknown-product")
            )
            continue
        product = offer.product
        if not offer.in_assortment:
            problems.append(
                FieldError(
                    field=field,
                    message=f"product {line.code} is not in your organisation's assortment",
                    type="not-in-assortment",
                )
            )
            continue
        if not product.active:
            problems.append(
                FieldError(
                    field=field, message=f"product {line.code} is not for sale", type="inactive-product"
                )
            )
            continue
        unit_price, price_currency, price_list_id = offer.price_for(buyer, at)
        currency = currency or price_currency
        if price_currency != currency:
            problems.append(
                FieldError(
                    field=field,
                    message=f"product {line.code} is priced in {price_currency}, the order in {currency}",
                    type="currency-mismatch",
                )
            )
            continue
        lines.append(
            PricedLine(
                product_id=product.product_id,
                code=product.code,
                name=product.name,
                quantity=line.quantity,
                unit_price_minor=unit_price,
                line_total_minor=line.quantity * unit_price,
                price_list_id=price_list_id,
                vat_rate_bp=product.vat_rate_bp or 0,
            )
        )
    if problems:
        raise OrderRejected(problems)
    if currency is None:
        raise OrderRejected([FieldError(field="lines", message="an order needs a line", type="no-lines")])
    total = sum(line.line_total_minor for line in lines)
    if total > MAX_ORDER_TOTAL_MINOR:
        message = f"the order total {total} is more than {MAX_ORDER_TOTAL_MINOR} minor units"
        raise OrderRejected([FieldError(field="lines", message=message, type="total-too-large")])
    return PricedOrder(lines=lines, total_minor=total, currency=currency)


# --- the cart ---


class CartLine(_Value):
    """A line of an account's cart as stored: a code and how many."""

    code: str
    quantity: int


class CartItem(_Value):
    """A cart line priced now: with its price when it can be ordered, else the reason it cannot."""

    code: str
    quantity: int
    product_id: uuid.UUID | None = None
    name: str | None = None
    unit_price_minor: int | None = None
    line_total_minor: int | None = None
    vat_rate_bp: int | None = None
    problem: str | None = None  # unknown-product, not-in-assortment, inactive-product, currency-mismatch


class PricedCart(_Value):
    items: list[CartItem]
    total_minor: int  # of the lines that can be ordered
    currency: str | None  # that of the first line that can be ordered; None for an empty cart


def price_cart(
    lines: Sequence[CartLine], offers: Mapping[str, Offer], buyer: Buyer, at: datetime
) -> PricedCart:
    """Each line priced for `buyer` at `at`, as an order would be; a line that could not be ordered
    keeps its place with the reason, and counts in no total (never dropped, never charged)."""
    items: list[CartItem] = []
    currency: str | None = None
    for line in lines:
        offer = offers.get(code_key(line.code))
        problem = offer_problem(offer)
        if offer is None or problem is not None:
            items.append(CartItem(code=line.code, quantity=line.quantity, problem=problem))
            continue
        product = offer.product
        unit_price, price_currency, _ = offer.price_for(buyer, at)
        currency = currency or price_currency
        known = {"product_id": product.product_id, "name": product.name, "vat_rate_bp": product.vat_rate_bp}
        if price_currency != currency:
            items.append(
                CartItem(code=product.code, quantity=line.quantity, problem="currency-mismatch", **known)
            )
            continue
        items.append(
            CartItem(
                code=product.code,
                quantity=line.quantity,
                unit_price_minor=unit_price,
                line_total_minor=unit_price * line.quantity,
                **known,
            )
        )
    total = sum(item.line_total_minor or 0 for item in items)
    return PricedCart(items=items, total_minor=total, currency=currency)


def offer_problem(offer: Offer | None) -> str | None:
    """Why a product cannot be ordered by this buyer now, as a stable type; None when it can."""
    if offer is None:
        return "unknown-product"
    if not offer.in_assortment:
        return "not-in-assortment"
    if not offer.product.active:
        return "inactive-product"
    return None


class CartRejected(Invalid):
    """Lines that cannot go in the cart, each named by its path in the request: nothing was added."""

    def __init__(self, problems: Sequence[FieldError]) -> None:
        super().__init__(
            problems,
            kind="cart-rejected",
            title="These lines cannot go in the cart",
            detail="; ".join(p.message for p in problems),
        )


class CartTemplate(_Value):
    """A cart saved under a name by its account, to load again."""

    template_id: uuid.UUID
    tenant_id: str
    account_id: str
    name: str
    created_at: datetime
    lines: list[CartLine]


# --- address books ---


class AddressOwner(_Value):
    """Whose book an address is in: an organisation's, or an account's that belongs to none."""

    kind: Literal["organisation", "account"]
    id: str


class BookAddress(_Value):
    address_id: uuid.UUID
    owner: AddressOwner
    address: Address
    is_default: bool


class AddressRequest(_Value):
    """A buyer's "keep this address": an order's address the admin may add to the book."""

    request_id: uuid.UUID
    order_id: uuid.UUID
    account_id: str
    organisation_id: str | None
    address: Address
    requested_at: datetime
