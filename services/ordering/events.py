"""Events ordering publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import IntegrationEvent, examples
from libs.common.limits import MAX_BALANCE, MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR, MAX_UNIT_PRICE_MINOR
from services.ordering.checkout import Address, PaymentMode, Totals
from services.ordering.domain import Order

if TYPE_CHECKING:
    from services.ordering.balance import BalanceEntry
    from services.ordering.returns import Return

SERVICE = "ordering"


class SubmittedLine(BaseModel):
    """One line of a submitted order, priced when the order was submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: uuid.UUID = Field(description="The catalog product ordered")
    code: str = Field(description="The product's code, as catalog spells it")
    name: str = Field(description="The product's name when the order was submitted")
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY, description="How many units")
    unit_price_minor: int = Field(
        ge=0, le=MAX_UNIT_PRICE_MINOR, description="Price of one unit in minor units of `currency`"
    )
    line_total_minor: int = Field(
        ge=0, le=MAX_ORDER_TOTAL_MINOR, description="quantity * unit_price_minor, in minor units"
    )
    price_list_id: uuid.UUID | None = Field(
        None,
        description="The catalog price list that set the unit price (the most specific one valid at"
        " submission for the submitter's organisation); null: the product's base price",
    )
    vat_rate_bp: int = Field(0, ge=0, le=10_000, description="The product's VAT rate, basis points")
    instead_of_fee: bool = Field(
        False, description="The product the buyer took instead of paying the delivery fee (priced at the fee)"
    )


class OrderSubmitted(IntegrationEvent):
    """A customer or partner submitted an order; prices are resolved from ordering's catalog read model
    (price lists, else base prices) for the submitter's organisation at the submission instant."""

    model_config = examples(
        {
            "order_id": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "account_id": "8d1c6a5e-3f2b-4c1d-9e7a-2b5f0c4d6e81",
            "organisation_id": "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c",
            "lines": [
                {
                    "product_id": "5a7e0c3b-2d1f-4e9a-8b6c-4d3e2f1a0b9c",
                    "code": "CREME-01",
                    "name": "Crème hydratante 50 ml",
                    "quantity": 2,
                    "unit_price_minor": 1190,
                    "line_total_minor": 2380,
                    "price_list_id": "4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0",
                    "vat_rate_bp": 2000,
                    "instead_of_fee": False,
                },
                {
                    "product_id": "6b8f1d4c-3e2a-4f0b-9c7d-5e4f3a2b1c0d",
                    "code": "BAUME-03",
                    "name": "Baume lèvres",
                    "quantity": 1,
                    "unit_price_minor": 890,
                    "line_total_minor": 890,
                    "price_list_id": None,
                    "vat_rate_bp": 550,
                    "instead_of_fee": False,
                },
            ],
            "total_minor": 3270,
            "currency": "EUR",
            "submitted_at": "2026-03-02T10:20:00Z",
        }
    )

    event_type = "ordering.order.submitted"
    topic = "ordering.order.v1"

    order_id: uuid.UUID = Field(description="The order, also the event's subject and Kafka key")
    account_id: str = Field(description="The account that submitted the order")
    organisation_id: str | None = Field(description="The submitter's organisation, if it belongs to one")
    lines: list[SubmittedLine] = Field(min_length=1, description="What was ordered, one line per product")
    total_minor: int = Field(
        ge=0, le=MAX_ORDER_TOTAL_MINOR, description="Sum of the line totals, in minor units of `currency`"
    )
    currency: str = Field(description="ISO 4217 currency of every amount of the order, e.g. EUR")
    submitted_at: datetime = Field(description="When the order was submitted (UTC)")

    @classmethod
    def of(cls, order: Order) -> Self:
        return cls(
            order_id=order.order_id,
            account_id=order.account_id,
            organisation_id=order.organisation_id,
            lines=[SubmittedLine.model_validate(line.model_dump()) for line in order.lines],
            total_minor=order.total_minor,
            currency=order.currency,
            submitted_at=order.submitted_at,
        )


_ORDER = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
_ACCOUNT = "8d1c6a5e-3f2b-4c1d-9e7a-2b5f0c4d6e81"
_VALIDATOR = "2c4e6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d"
_ORGANISATION = "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c"
_TOTALS = {
    "goods_minor": 2380,
    "delivery_fee_minor": 690,
    "vat": [{"rate_bp": 2000, "base_minor": 3070, "vat_minor": 614}],
    "total_excl_vat_minor": 3070,
    "total_vat_minor": 614,
    "total_incl_vat_minor": 3684,
    "eligible_minor": 2380,
}
_LINE = {
    "product_id": "5a7e0c3b-2d1f-4e9a-8b6c-4d3e2f1a0b9c",
    "code": "CREME-01",
    "name": "Crème hydratante 50 ml",
    "quantity": 2,
    "unit_price_minor": 1190,
    "line_total_minor": 2380,
    "price_list_id": None,
    "vat_rate_bp": 2000,
    "instead_of_fee": False,
}


class PickupPointRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pickup_point_id: uuid.UUID = Field(description="The tenant's pick-up point")
    name: str = Field(description="Its name when the order was placed")
    address: Address = Field(description="Its address")


class _OrderStep(IntegrationEvent):
    """An order moved in its life; keyed and subject by the order id, so its steps stay in order."""

    topic = "ordering.order.v1"

    order_id: uuid.UUID = Field(description="The order, also the event's subject and Kafka key")
    account_id: str = Field(description="The account that placed the order")
    organisation_id: str | None = Field(description="Its organisation, if it belongs to one")
    version: int = Field(ge=1, description="The order's version after this step (grows by one per step)")

    @staticmethod
    def header(order: Order) -> dict[str, Any]:
        """The fields every step of the order carries."""
        return {
            "order_id": order.order_id,
            "account_id": order.account_id,
            "organisation_id": order.organisation_id,
            "version": order.version,
        }


class OrderConfirmed(_OrderStep):
    """An order is confirmed (straight away, or once approved): what the brand's ERP needs to deliver it,
    and the eligible amount loyalty awards points on. A person's own address (a consultant's) never
    travels here: `delivery_address` is null with `address_withheld`, and the ERP reads it through
    its API client."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 1,
            "reference": "PO-2026-114",
            "instructions": "Deliver to the back door before 10:00",
            "lines": [_LINE],
            "currency": "EUR",
            "totals": _TOTALS,
            "delivery_date": "2026-03-05",
            "delivery_address": {
                "label": "Pharmacie",
                "recipient": "Pharmacie du Marché",
                "line1": "2 place du Marché",
                "line2": "",
                "postal_code": "69002",
                "city": "Lyon",
                "country": "FR",
                "phone": "",
            },
            "address_withheld": False,
            "pickup_point": None,
            "payment_mode": "cash_on_delivery",
            "terms_version": "2026-01",
            "validators": [_VALIDATOR],
            "approved_by": None,
            "confirmed_at": "2026-03-02T10:20:00Z",
        }
    )

    event_type = "ordering.order.confirmed"

    reference: str | None = Field(description="The customer's reference for the order")
    instructions: str | None = Field(description="Delivery instructions")
    lines: list[SubmittedLine] = Field(min_length=1, description="What was ordered, at the prices charged")
    currency: str = Field(description="ISO 4217 currency of every amount")
    totals: Totals = Field(description="Totals excluding and including VAT, VAT per rate, eligible amount")
    delivery_date: date = Field(description="The delivery day asked for, in the tenant's time zone")
    delivery_address: Address | None = Field(
        description="Where to deliver when it is the organisation's address; null for a pick-up point,"
        " an order without address, or a person's own address (see address_withheld)"
    )
    address_withheld: bool = Field(
        description="True when the address is a person's own: read it through the API (GET /orders/{id})"
    )
    pickup_point: PickupPointRef | None = Field(description="The pick-up point chosen, if any")
    payment_mode: PaymentMode = Field(description="How the order is paid")
    terms_version: str | None = Field(description="The terms of sale the buyer accepted; null: none set")
    validators: list[str] = Field(
        description="Accounts of the organisation's validators, who get a copy of the order"
    )
    approved_by: str | None = Field(
        None, description="The validator who approved it; null: it needed no approval"
    )
    confirmed_at: datetime = Field(description="When it was confirmed (UTC)")

    @classmethod
    def of(cls, order: Order, validators: list[str], at: datetime, approved_by: str | None = None) -> Self:
        assert order.checkout is not None
        choices = order.checkout.choices
        personal = order.organisation_id is None and choices.address is not None
        point = choices.pickup_point
        return cls(
            **cls.header(order),
            reference=order.reference,
            instructions=choices.instructions,
            lines=[SubmittedLine.model_validate(line.model_dump()) for line in order.lines],
            currency=order.currency,
            totals=order.checkout.earning_totals(),
            delivery_date=choices.delivery_date,
            delivery_address=None if personal else choices.address,
            address_withheld=personal,
            pickup_point=PickupPointRef.model_validate(point.model_dump()) if point else None,
            payment_mode=choices.payment_mode,
            terms_version=order.checkout.terms_version,
            validators=validators,
            approved_by=approved_by,
            confirmed_at=at,
        )


class CancellationRefund(BaseModel):
    """What a cancelled order's buyer got back of what she had paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    refunded_minor: int = Field(ge=0, le=MAX_BALANCE, description="Given back, in minor units")
    costs_minor: int = Field(
        ge=0, le=MAX_BALANCE, description="Kept back: the tenant's cancellation costs (a confirmed order)"
    )
    to: Literal["account_balance", "card"] = Field(
        description="Where the refund went: the balance it was paid from, or the card of its instalments"
    )


class OrderCancelled(_OrderStep):
    """An order was cancelled before it was shipped."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "by_account": _ACCOUNT,
            "reason": "Ordered twice",
            "cancelled_at": "2026-03-02T11:00:00Z",
            "refund": None,
        },
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": None,
            "version": 2,
            "by_account": _ACCOUNT,
            "reason": None,
            "cancelled_at": "2026-03-02T11:00:00Z",
            "refund": {"refunded_minor": 3780, "costs_minor": 500, "to": "account_balance"},
        },
    )

    event_type = "ordering.order.cancelled"

    by_account: str = Field(description="Who cancelled it")
    reason: str | None = Field(description="Why, when they said")
    cancelled_at: datetime = Field(description="When (UTC)")
    refund: CancellationRefund | None = Field(
        None, description="What went back to the buyer, when she had paid (absent: nothing was paid)"
    )


class OrderShipped(_OrderStep):
    """The brand shipped the order (its ERP said so, or an admin)."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "erp_order_number": "SO-88412",
            "invoice_reference": "INV-2026-0311",
            "shipped_at": "2026-03-04T08:00:00Z",
        }
    )

    event_type = "ordering.order.shipped"

    erp_order_number: str | None = Field(description="The ERP's own number for the order")
    invoice_reference: str | None = Field(description="The invoice's reference, once invoiced")
    shipped_at: datetime = Field(description="When (UTC)")


class OrderDelivered(_OrderStep):
    """The order reached its buyer."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 3,
            "erp_order_number": "SO-88412",
            "invoice_reference": "INV-2026-0311",
            "delivered_at": "2026-03-05T15:00:00Z",
        }
    )

    event_type = "ordering.order.delivered"

    erp_order_number: str | None = Field(description="The ERP's own number for the order")
    invoice_reference: str | None = Field(description="The invoice's reference, once invoiced")
    delivered_at: datetime = Field(description="When (UTC)")


class OrderHeldForApproval(_OrderStep):
    """An order waits for one of its organisation's validators (its goods exceed the organisation's
    threshold): the validators named here are asked to decide."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 1,
            "reference": "PO-2026-114",
            "lines": [_LINE],
            "currency": "EUR",
            "totals": _TOTALS,
            "validators": [_VALIDATOR],
            "held_at": "2026-03-02T10:20:00Z",
        }
    )

    event_type = "ordering.order.held_for_approval"

    reference: str | None = Field(description="The customer's reference for the order")
    lines: list[SubmittedLine] = Field(min_length=1, description="What was ordered")
    currency: str = Field(description="ISO 4217 currency of every amount")
    totals: Totals = Field(description="Totals excluding and including VAT")
    validators: list[str] = Field(description="Accounts that may approve it (the organisation's validators)")
    held_at: datetime = Field(description="When it started to wait (UTC)")

    @classmethod
    def of(cls, order: Order, validators: list[str], at: datetime) -> Self:
        assert order.checkout is not None
        return cls(
            **cls.header(order),
            reference=order.reference,
            lines=[SubmittedLine.model_validate(line.model_dump()) for line in order.lines],
            currency=order.currency,
            totals=order.checkout.totals,
            validators=validators,
            held_at=at,
        )


class OrderApproved(_OrderStep):
    """A validator approved the order; ordering.order.confirmed follows."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "by_account": _VALIDATOR,
            "approved_at": "2026-03-02T11:00:00Z",
        }
    )

    event_type = "ordering.order.approved"

    by_account: str = Field(description="The validator (or admin) who approved it")
    approved_at: datetime = Field(description="When (UTC)")


class OrderRefused(_OrderStep):
    """A validator refused the order, saying why; it goes no further."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "by_account": _VALIDATOR,
            "reason": "Over this month's budget",
            "refused_at": "2026-03-02T11:00:00Z",
        }
    )

    event_type = "ordering.order.refused"

    by_account: str = Field(description="The validator (or admin) who refused it")
    reason: str = Field(description="Why, for the orderer")
    refused_at: datetime = Field(description="When (UTC)")


class OrderPaymentRefused(_OrderStep):
    """An order goes no further, nobody having decided so, because what was to pay part of it failed:
    loyalty refused the points, code or gift card, gave them back on its own timeout, or never
    answered, or the balance could not pay the rest. Refused while it waited (announced as submitted
    just before when it was pending), cancelled once confirmed: what it was paid from the balance
    then goes back in full, and what it earned is taken back like a cancelled order's."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "reason": "loyalty refused the payment (gift_card: wrong PIN)",
            "refused_at": "2026-03-02T10:15:02Z",
            "refund": None,
        },
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": None,
            "version": 3,
            "reason": "loyalty released what paid the order",
            "refused_at": "2026-03-03T10:15:02Z",
            "refund": {"refunded_minor": 2184, "costs_minor": 0, "to": "account_balance"},
        },
    )

    event_type = "ordering.order.payment_refused"

    reason: str = Field(description="Why, for the orderer")
    refused_at: datetime = Field(description="When (UTC)")
    refund: CancellationRefund | None = Field(
        None, description="What went back to the buyer of a confirmed order (absent: nothing was paid)"
    )


class OrderModified(_OrderStep):
    """A validator changed a waiting order (lines, quantities, address, date) before deciding on it:
    its lines and totals as they are now."""

    model_config = examples(
        {
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": _ORGANISATION,
            "version": 2,
            "by_account": _VALIDATOR,
            "lines": [_LINE],
            "currency": "EUR",
            "totals": _TOTALS,
            "delivery_date": "2026-03-06",
            "modified_at": "2026-03-02T10:50:00Z",
        }
    )

    event_type = "ordering.order.modified"

    by_account: str = Field(description="The validator (or admin) who changed it")
    lines: list[SubmittedLine] = Field(min_length=1, description="The lines now")
    currency: str = Field(description="ISO 4217 currency of every amount")
    totals: Totals = Field(description="The totals now")
    delivery_date: date = Field(description="The delivery day now")
    modified_at: datetime = Field(description="When (UTC)")


class _BalanceMoved(IntegrationEvent):
    """An account balance moved; keyed and subject by the account, so its moves stay in order."""

    topic = "ordering.balance.v1"

    account_id: str = Field(description="Whose balance (identity's account id); also the subject and key")
    entry_id: uuid.UUID = Field(description="The ledger entry, unique")
    kind: Literal["top_up", "spend", "refund", "return"] = Field(
        description="top_up: a card payment; spend: an order paid from it; refund: an order's money back;"
        " return: goods sent back and accepted"
    )
    amount_minor: int = Field(ge=1, le=MAX_BALANCE, description="How much it moved, in minor units")
    balance_minor: int = Field(ge=0, le=MAX_BALANCE, description="The balance after it")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 currency of the balance")
    order_id: uuid.UUID | None = Field(description="The order it paid or refunded, if any")
    costs_minor: int = Field(ge=0, le=MAX_BALANCE, description="Cancellation costs kept back from a refund")
    at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, entry: BalanceEntry) -> Self:
        return cls(
            account_id=entry.account_id,
            entry_id=entry.entry_id,
            kind=entry.kind,
            amount_minor=abs(entry.amount_minor),
            balance_minor=entry.balance_after_minor,
            currency=entry.currency,
            order_id=entry.order_id,
            costs_minor=entry.costs_minor,
            at=entry.created_at,
        )


class BalanceCredited(_BalanceMoved):
    """Money came onto an account balance: a top-up by card, or an order's refund."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "2b9d7f41-6c3e-4a58-9e1d-0f7a5c3b8e26",
            "kind": "top_up",
            "amount_minor": 5000,
            "balance_minor": 7450,
            "currency": "EUR",
            "order_id": None,
            "costs_minor": 0,
            "at": "2026-03-02T09:58:00Z",
        },
        {
            "account_id": _ACCOUNT,
            "entry_id": "3c0e8a52-7d4f-4b69-8f2e-1a8b6d4c9f37",
            "kind": "refund",
            "amount_minor": 3780,
            "balance_minor": 7450,
            "currency": "EUR",
            "order_id": _ORDER,
            "costs_minor": 500,
            "at": "2026-03-02T11:00:00Z",
        },
    )

    event_type = "ordering.balance.credited"


class BalanceDebited(_BalanceMoved):
    """Money left an account balance: an order paid from it."""

    model_config = examples(
        {
            "account_id": _ACCOUNT,
            "entry_id": "4d1f9b63-8e5a-4c7a-9a3f-2b9c7e5d0a48",
            "kind": "spend",
            "amount_minor": 4280,
            "balance_minor": 3170,
            "currency": "EUR",
            "order_id": _ORDER,
            "costs_minor": 0,
            "at": "2026-03-02T10:20:00Z",
        }
    )

    event_type = "ordering.balance.debited"


_RETURN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
_RETURNED_LINE = {
    "product_id": "5a7e0c3b-2d1f-4e9a-8b6c-4d3e2f1a0b9c",
    "code": "CREME-01",
    "name": "Crème hydratante 50 ml",
    "quantity": 1,
    "unit_price_minor": 1190,
    "vat_rate_bp": 2000,
}


class ReturnedLine(BaseModel):
    """Goods going back: an order line, or part of its quantity, at the price it was ordered at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: uuid.UUID = Field(description="The catalog product")
    code: str = Field(description="The product's code")
    name: str = Field(description="Its name on the order")
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY, description="How many units go back")
    unit_price_minor: int = Field(ge=0, le=MAX_UNIT_PRICE_MINOR, description="Unit price excluding VAT")
    vat_rate_bp: int = Field(ge=0, le=10_000, description="Its VAT rate, basis points")


class _ReturnStep(IntegrationEvent):
    """A return moved; keyed and subject by the return id."""

    topic = "ordering.return.v1"

    return_id: uuid.UUID = Field(description="The return, also the event's subject and Kafka key")
    order_id: uuid.UUID = Field(description="The order the goods came with")
    account_id: str = Field(description="The buyer who sends them back")
    organisation_id: str | None = Field(description="Her organisation, if any")

    @staticmethod
    def header(subject: Return) -> dict[str, Any]:
        """The fields every step of the return carries."""
        return {
            "return_id": subject.return_id,
            "order_id": subject.order_id,
            "account_id": subject.account_id,
            "organisation_id": subject.organisation_id,
        }


class ReturnOpened(_ReturnStep):
    """A buyer opened a return (a claim) for goods of a delivered order; the admin decides by
    `due_at`. Her reason and photos stay in ordering (read through the API)."""

    model_config = examples(
        {
            "return_id": _RETURN,
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": None,
            "lines": [_RETURNED_LINE],
            "currency": "EUR",
            "amount_minor": 1428,
            "due_at": "2026-03-16T09:00:00Z",
            "requested_at": "2026-03-09T09:00:00Z",
        }
    )

    event_type = "ordering.return.opened"

    lines: list[ReturnedLine] = Field(min_length=1, description="What goes back")
    currency: str = Field(description="ISO 4217 currency of the amounts")
    amount_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR, description="The goods' price including VAT")
    due_at: datetime = Field(description="When the admin should have decided by (UTC)")
    requested_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, asked: Return) -> Self:
        return cls(
            **cls.header(asked),
            lines=asked.lines,
            currency=asked.currency,
            amount_minor=asked.amount_minor,
            due_at=asked.due_at,
            requested_at=asked.requested_at,
        )


class ReturnAccepted(_ReturnStep):
    """The admin accepted a return: `credited_minor` (the goods' price including VAT) went to the
    buyer's balance. `returned_goods_minor` of the order's `order_goods_minor` (both excluding VAT)
    came back: loyalty takes back that share of the order's points."""

    model_config = examples(
        {
            "return_id": _RETURN,
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": None,
            "lines": [_RETURNED_LINE],
            "currency": "EUR",
            "credited_minor": 1428,
            "returned_goods_minor": 1190,
            "order_goods_minor": 3270,
            "by_account": "0c9b8a7d-6e5f-4d3c-9b2a-1f0e9d8c7b6a",
            "accepted_at": "2026-03-10T14:00:00Z",
        }
    )

    event_type = "ordering.return.accepted"

    lines: list[ReturnedLine] = Field(min_length=1, description="What came back")
    currency: str = Field(description="ISO 4217 currency of the amounts")
    credited_minor: int = Field(ge=0, le=MAX_ORDER_TOTAL_MINOR, description="Credited to the buyer's balance")
    returned_goods_minor: int = Field(
        ge=0, le=MAX_ORDER_TOTAL_MINOR, description="The goods returned, excluding VAT"
    )
    order_goods_minor: int = Field(
        ge=0, le=MAX_ORDER_TOTAL_MINOR, description="The order's goods, excluding VAT"
    )
    by_account: str = Field(description="The admin who accepted it")
    accepted_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, accepted: Return, order: Order, by: str) -> Self:
        assert accepted.decided_at is not None
        return cls(
            **cls.header(accepted),
            lines=accepted.lines,
            currency=accepted.currency,
            credited_minor=accepted.amount_minor,
            returned_goods_minor=sum(line.quantity * line.unit_price_minor for line in accepted.lines),
            order_goods_minor=order.checkout.totals.goods_minor if order.checkout else order.total_minor,
            by_account=by,
            accepted_at=accepted.decided_at,
        )


class ReturnRefused(_ReturnStep):
    """The admin refused a return, saying why (for the buyer)."""

    model_config = examples(
        {
            "return_id": _RETURN,
            "order_id": _ORDER,
            "account_id": _ACCOUNT,
            "organisation_id": None,
            "reason": "The jar was opened",
            "by_account": "0c9b8a7d-6e5f-4d3c-9b2a-1f0e9d8c7b6a",
            "refused_at": "2026-03-10T14:00:00Z",
        }
    )

    event_type = "ordering.return.refused"

    reason: str = Field(description="Why, for the buyer")
    by_account: str = Field(description="The admin who refused it")
    refused_at: datetime = Field(description="When (UTC)")

    @classmethod
    def of(cls, refused: Return, by: str) -> Self:
        assert refused.decided_at is not None and refused.refusal is not None
        return cls(
            **cls.header(refused),
            reason=refused.refusal,
            by_account=by,
            refused_at=refused.decided_at,
        )


CHECKOUT_TOPIC = "internal.ordering.checkout.v1"
_CHECKOUT_ORDER = "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
_BUYER = "8d1c6a5e-3f2b-4c1d-9e7a-2b5f0c4d6e81"


class PointsPayment(BaseModel):
    kind: Literal["points"] = "points"
    points: int = Field(ge=1, description="Points to spend on the order")


class SponsorPointsPayment(BaseModel):
    kind: Literal["sponsor_points"] = "sponsor_points"
    points: int = Field(ge=1, description="Sponsor points to spend on the order")


class CodePayment(BaseModel):
    kind: Literal["code"] = "code"
    code: str = Field(description="A single-use code (a bearer secret)")


class GiftCardPayment(BaseModel):
    kind: Literal["gift_card"] = "gift_card"
    number: str = Field(description="The gift card's number")
    pin: str = Field(description="Its PIN (a bearer secret)")
    amount_minor: int = Field(ge=1, le=MAX_ORDER_TOTAL_MINOR, description="What to take off it")


PaymentItem = PointsPayment | SponsorPointsPayment | CodePayment | GiftCardPayment


class CheckoutSubmitted(IntegrationEvent):
    """The order is submitted paying partly with loyalty: reserve these items for it, all or none.
    Internal: it carries bearer secrets (a code, a gift card's number and PIN)."""

    model_config = examples(
        {
            "order_id": _CHECKOUT_ORDER,
            "account_id": _BUYER,
            "items": [
                {"kind": "points", "points": 300},
                {"kind": "code", "code": "K7QM-2XRT-P4ZD-9WLB"},
                {"kind": "gift_card", "number": "4839201756482913", "pin": "482913", "amount_minor": 2000},
            ],
            "submitted_at": "2026-05-04T10:00:00Z",
            "settle": False,
        }
    )

    event_type = "ordering.checkout.submitted"
    topic = CHECKOUT_TOPIC
    internal = True

    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    items: list[PaymentItem] = Field(
        description="What pays: points, a code, a gift card (one of each at most)"
    )
    submitted_at: datetime = Field(description="When (UTC)")
    settle: bool = Field(
        False,
        description="The order needs no approval: settle the items as they are held, no confirmation"
        " follows (false: hold them until ordering confirms or releases them)",
    )


class CheckoutStep(IntegrationEvent):
    order_id: uuid.UUID = Field(description="The order; also the subject and Kafka key")
    account_id: str = Field(description="The buyer")
    at: datetime = Field(description="When (UTC)")


class CheckoutAcknowledged(CheckoutStep):
    """The order waits for approval: keep what it pays with held (loyalty's timeout no longer applies)."""

    model_config = examples({"order_id": _CHECKOUT_ORDER, "account_id": _BUYER, "at": "2026-05-04T10:00:01Z"})
    event_type = "ordering.checkout.acknowledged"
    topic = CHECKOUT_TOPIC
    internal = True


class CheckoutConfirmed(CheckoutStep):
    """The order is confirmed: what loyalty holds for it is spent for good."""

    model_config = examples({"order_id": _CHECKOUT_ORDER, "account_id": _BUYER, "at": "2026-05-04T10:00:01Z"})
    event_type = "ordering.checkout.confirmed"
    topic = CHECKOUT_TOPIC
    internal = True


class CheckoutReleased(CheckoutStep):
    """The order was refused, cancelled or never completed: what loyalty holds for it comes back."""

    model_config = examples(
        {
            "order_id": _CHECKOUT_ORDER,
            "account_id": _BUYER,
            "at": "2026-05-04T12:00:00Z",
            "reason": "cancelled",
        }
    )
    event_type = "ordering.checkout.released"
    topic = CHECKOUT_TOPIC
    internal = True

    reason: str = Field(description="refused, cancelled, expired or payment-refused")
