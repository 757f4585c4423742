"""Events ordering publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import IntegrationEvent, examples
from libs.common.limits import MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR, MAX_UNIT_PRICE_MINOR
from services.ordering.domain import Order

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
                },
                {
                    "product_id": "6b8f1d4c-3e2a-4f0b-9c7d-5e4f3a2b1c0d",
                    "code": "BAUME-03",
                    "name": "Baume lèvres",
                    "quantity": 1,
                    "unit_price_minor": 890,
                    "line_total_minor": 890,
                    "price_list_id": None,
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
