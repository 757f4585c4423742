"""Events ordering publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import IntegrationEvent
from libs.common.limits import MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR, MAX_UNIT_PRICE_MINOR

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
