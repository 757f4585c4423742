"""Checkout's pure rules: the tenant's checkout settings, the delivery days, VAT per rate with its
rounding, the delivery fee, the eligible amount, and the quote they make of a priced cart."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from libs.common.errors import FieldError, Invalid
from libs.common.limits import MAX_ORDER_TOTAL_MINOR, MAX_UNIT_PRICE_MINOR

PaymentMode = Literal["cash_on_delivery", "pay_at_centre", "account_balance", "instalments"]
"""How an order is paid; the tenant enables some. `account_balance`: from the buyer's balance, at
once; `instalments`: by card in the tenant's number of parts."""

PAYMENT_MODES: tuple[PaymentMode, ...] = (
    "cash_on_delivery",
    "pay_at_centre",
    "account_balance",
    "instalments",
)
MAX_LEAD_DAYS = 60
MAX_QUOTE_MINUTES = 24 * 60


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckoutSettings(_Value):
    """What a tenant's admin sets for checkout; a tenant that set nothing has these defaults."""

    lead_time_days: int = Field(
        2, ge=0, le=MAX_LEAD_DAYS, description="Working days between ordering and the earliest delivery"
    )
    payment_modes: list[PaymentMode] = Field(
        default_factory=lambda: list[PaymentMode](["cash_on_delivery"]),
        min_length=1,
        description="The payment modes a buyer may choose, the first one preselected",
    )
    delivery_fee_minor: int = Field(
        0, ge=0, le=MAX_UNIT_PRICE_MINOR, description="The delivery fee excluding VAT, in minor units"
    )
    delivery_vat_rate_bp: int = Field(2000, ge=0, le=10_000, description="VAT on the fee, basis points")
    free_delivery_from_minor: int | None = Field(
        None,
        ge=0,
        le=MAX_ORDER_TOTAL_MINOR,
        description="Goods (excluding VAT) from this amount are delivered free; null: never free",
    )
    fee_product_codes: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Products a buyer may take instead of paying the fee: the fee buys the product",
    )
    quote_minutes: int = Field(15, ge=1, le=MAX_QUOTE_MINUTES, description="How long a quote holds")
    eligible_includes_vat: bool = Field(
        False,
        description="Whether the eligible amount (points, thresholds) includes VAT: B2B brands exclude"
        " it, retail merchants include it",
    )
    terms_version: str | None = Field(
        None,
        max_length=100,
        description="Version of the current terms of sale; when set, a buyer must accept it to order",
    )
    terms_url: str | None = Field(None, max_length=500, description="Where the buyer reads those terms")
    cancellation_costs_minor: int = Field(
        0,
        ge=0,
        le=MAX_ORDER_TOTAL_MINOR,
        description="Kept back from the refund of a paid order cancelled once confirmed, in minor units",
    )
    cancellation_costs_bp: int = Field(
        0, ge=0, le=10_000, description="And this share of what was paid, in basis points (500 = 5 %)"
    )
    instalments: int = Field(
        4, ge=2, le=12, description="How many parts an order paid in instalments is split in"
    )
    instalment_interval_days: int = Field(
        14, ge=1, le=62, description="Days between two instalments, the first due at confirmation"
    )
    return_deadline_days: int = Field(
        7, ge=1, le=60, description="Days the admin has to decide on a return; later, it is flagged overdue"
    )
    point_value_minor: int = Field(
        1, ge=0, le=10_000, description="What one loyalty point pays of an order, in minor units; 0: none"
    )
    max_points_share_bp: int = Field(
        5000, ge=0, le=10_000, description="At most this share of an order's total is paid with points"
    )


class Address(_Value):
    """A delivery address (a snapshot of it is kept on the order)."""

    label: str = Field("", max_length=100, description="How the buyer recognises it, e.g. Warehouse")
    recipient: str = Field(min_length=1, max_length=200, description="Who receives the parcel")
    line1: str = Field(min_length=1, max_length=200, description="Street and number")
    line2: str = Field("", max_length=200, description="Building, floor, …")
    postal_code: str = Field(min_length=1, max_length=20, description="Postal code")
    city: str = Field(min_length=1, max_length=100, description="City")
    country: str = Field(
        "FR", min_length=2, max_length=2, pattern="^[A-Z]{2}$", description="ISO 3166 country"
    )
    phone: str = Field("", max_length=30, description="A phone number for the carrier")


class PickupPoint(_Value):
    pickup_point_id: uuid.UUID
    name: str
    address: Address


# --- delivery days ---


def is_working_day(day: date, closed: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in closed


def earliest_delivery(
    ordered_at: datetime, zone: ZoneInfo, lead_time_days: int, closed: frozenset[date]
) -> date:
    """The first day a delivery can be asked for: `lead_time_days` working days after the day the
    order is placed (in the tenant's zone), itself a working day. Weekends and closed days do not count.
    """
    day = ordered_at.astimezone(zone).date()
    counted = 0
    while counted < lead_time_days or not is_working_day(day, closed):
        day += timedelta(days=1)
        if is_working_day(day, closed):
            counted += 1
    return day


def check_delivery_date(requested: date, earliest: date, closed: frozenset[date]) -> FieldError | None:
    field = "delivery_date"
    if requested < earliest:
        return FieldError(
            field=field, message=f"the earliest delivery date is {earliest.isoformat()}", type="too-early"
        )
    if not is_working_day(requested, closed):
        return FieldError(
            field=field, message=f"no delivery on {requested.isoformat()} (closed day)", type="closed-day"
        )
    return None


# --- VAT ---


def vat_of(base_minor: int, rate_bp: int) -> int:
    """VAT on an amount excluding VAT, rounded half up to the minor unit.

    The rounding rule: VAT is computed once per rate on the sum of that rate's amounts (lines and
    fee), never per line, and rounded half up (0.5 of a cent becomes a cent), so that the invoice's
    VAT per rate is exactly its base times its rate, rounded once.
    """
    return (base_minor * rate_bp + 5_000) // 10_000


class VatLine(_Value):
    rate_bp: int = Field(description="The VAT rate in basis points (2000 = 20 %)")
    base_minor: int = Field(description="What is taxed at this rate, excluding VAT")
    vat_minor: int = Field(description="VAT at this rate, rounded once half up")


def vat_breakdown(amounts: Sequence[tuple[int, int]]) -> list[VatLine]:
    """(amount excluding VAT, rate) pairs grouped by rate, highest rate first."""
    bases: dict[int, int] = {}
    for amount, rate in amounts:
        bases[rate] = bases.get(rate, 0) + amount
    return [
        VatLine(rate_bp=rate, base_minor=base, vat_minor=vat_of(base, rate))
        for rate, base in sorted(bases.items(), reverse=True)
    ]


# --- the quote ---


class TaxedLine(Protocol):
    """What the totals read of a priced line."""

    @property
    def line_total_minor(self) -> int: ...
    @property
    def vat_rate_bp(self) -> int: ...
    @property
    def instead_of_fee(self) -> bool: ...


class Choices(_Value):
    """What the buyer chose at checkout, resolved (the address copied from the book)."""

    reference: str | None = None
    instructions: str | None = None
    address: Address | None = None
    keep_address: bool = False
    pickup_point: PickupPoint | None = None
    delivery_date: date
    payment_mode: PaymentMode
    fee_product_code: str | None = None
    points: int | None = None
    gift_card_minor: int | None = None
    sponsor_points: int | None = None


class Totals(_Value):
    goods_minor: int = Field(
        description="The goods excluding VAT, after discounts (not the product the fee bought)"
    )
    delivery_fee_minor: int = Field(description="The delivery fee excluding VAT (0: free)")
    vat: list[VatLine] = Field(description="VAT per rate, fee included")
    total_excl_vat_minor: int = Field(description="goods + fee, excluding VAT")
    total_vat_minor: int = Field(description="The sum of the VAT per rate")
    total_incl_vat_minor: int = Field(description="What the buyer pays")
    eligible_minor: int = Field(
        description="The eligible amount: goods after discounts, without fees nor what points, vouchers"
        " or gift cards paid; excluding or including VAT per the tenant's setting"
    )


def quote_totals(lines: Sequence[TaxedLine], settings: CheckoutSettings, *, fee_waived: bool) -> Totals:
    """The totals of priced lines: the fee unless the goods reach the free-delivery threshold or the
    fee bought a product (`fee_waived`); VAT per rate over lines and fee; the eligible amount."""
    goods = sum(line.line_total_minor for line in lines if not line.instead_of_fee)
    fee_product = sum(line.line_total_minor for line in lines if line.instead_of_fee)
    threshold = settings.free_delivery_from_minor
    free = fee_waived or (threshold is not None and goods >= threshold)
    fee = 0 if free else settings.delivery_fee_minor
    amounts = [(line.line_total_minor, line.vat_rate_bp) for line in lines]
    if fee:
        amounts.append((fee, settings.delivery_vat_rate_bp))
    vat = vat_breakdown(amounts)
    total_vat = sum(v.vat_minor for v in vat)
    excl = goods + fee_product + fee
    goods_vat = sum(
        v.vat_minor
        for v in vat_breakdown(
            [(line.line_total_minor, line.vat_rate_bp) for line in lines if not line.instead_of_fee]
        )
    )
    eligible = goods + goods_vat if settings.eligible_includes_vat else goods
    return Totals(
        goods_minor=goods,
        delivery_fee_minor=fee,
        vat=vat,
        total_excl_vat_minor=excl,
        total_vat_minor=total_vat,
        total_incl_vat_minor=excl + total_vat,
        eligible_minor=eligible,
    )


class LoyaltyPaid(_Value):
    """What loyalty pays of an order: points and a gift card's amount as quoted; a code's share once
    loyalty holds it (the code is given at confirmation); the rest is due by the payment mode."""

    points: int = Field(0, description="Points spent on the order")
    points_minor: int = Field(0, description="What they pay, at the tenant's value of a point")
    sponsor_points: int = Field(0, description="Sponsor points spent on the order (earned on her team's)")
    sponsor_points_minor: int = Field(0, description="What they pay, at the same value")
    gift_card_minor: int = Field(0, description="What a gift card pays")
    code_minor: int = Field(0, description="What a code's discount takes off (known once loyalty holds it)")
    code_title: str | None = Field(None, description="The code's reward, once loyalty holds it")
    code_percent_bp: int = Field(0, description="Its rate (basis points), applied again if the order changes")
    due_minor: int = Field(description="What is left for the payment mode to collect")


def loyalty_paid(
    total_minor: int,
    settings: CheckoutSettings,
    points: int | None,
    gift_card_minor: int | None,
    sponsor_points: int | None = None,
) -> LoyaltyPaid | None:
    """What points (purchase and sponsor points alike) and a gift card pay of an order's total (VAT
    included): points at the tenant's value, together at most its share of the total; all of them
    never more than the total. CheckoutRejected naming the field otherwise; None when none is asked."""
    if not points and not gift_card_minor and not sponsor_points:
        return None
    problems: list[FieldError] = []
    field = "points" if points else "sponsor_points"
    value = settings.point_value_minor
    points_minor, sponsor_minor = (points or 0) * value, (sponsor_points or 0) * value
    if (points or sponsor_points) and value == 0:
        problems.append(FieldError(field, "points do not pay orders here", "points-not-accepted"))
    cap = total_minor * settings.max_points_share_bp // 10_000
    if points_minor + sponsor_minor > cap:
        most = cap // value if value else 0
        problems.append(FieldError(field, f"at most {most} points on this order", "too-many-points"))
    if points_minor + sponsor_minor + (gift_card_minor or 0) > total_minor:
        problems.append(
            FieldError("gift_card_minor", "points and the gift card pay more than the order", "more-than-due")
        )
    if problems:
        raise CheckoutRejected(problems)
    return LoyaltyPaid(
        points=points or 0,
        points_minor=points_minor,
        sponsor_points=sponsor_points or 0,
        sponsor_points_minor=sponsor_minor,
        gift_card_minor=gift_card_minor or 0,
        due_minor=total_minor - points_minor - sponsor_minor - (gift_card_minor or 0),
    )


def with_code(paid: LoyaltyPaid, title: str, percent_bp: int, total_minor: int) -> LoyaltyPaid:
    """The code loyalty held: its discount (of the total, VAT included) takes what is left due, no
    more."""
    code_minor = min(paid.due_minor, total_minor * percent_bp // 10_000)
    return paid.model_copy(
        update={
            "code_minor": code_minor,
            "code_title": title,
            "code_percent_bp": percent_bp,
            "due_minor": paid.due_minor - code_minor,
        }
    )


class Checkout(_Value):
    """What an order records of its checkout: the buyer's choices, the totals, the terms accepted,
    what loyalty pays of it."""

    choices: Choices
    totals: Totals
    terms_version: str | None = Field(description="The terms of sale the buyer accepted; null: none set")
    loyalty: LoyaltyPaid | None = Field(None, description="What points, a gift card and a code pay")

    def earning_totals(self) -> Totals:
        """The totals with the eligible amount less what loyalty paid: points, a gift card and a code
        earn no points."""
        if self.loyalty is None:
            return self.totals
        paid = (
            self.loyalty.points_minor
            + self.loyalty.sponsor_points_minor
            + self.loyalty.gift_card_minor
            + self.loyalty.code_minor
        )
        return self.totals.model_copy(update={"eligible_minor": max(0, self.totals.eligible_minor - paid)})


class CheckoutRejected(Invalid):
    """Choices that cannot make an order, each named by its field: nothing was quoted or ordered."""

    def __init__(self, problems: Sequence[FieldError]) -> None:
        super().__init__(
            problems,
            kind="checkout-rejected",
            title="The checkout cannot go on",
            detail="; ".join(p.message for p in problems),
        )
