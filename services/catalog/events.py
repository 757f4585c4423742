"""Events catalog publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import Field

from libs.common.events import IntegrationEvent
from services.catalog.domain import Product

SERVICE = "catalog"
PRODUCTS_TOPIC = "catalog.product.v1"


class _ProductState(IntegrationEvent):
    """The full state of a product after the change, so a consumer needs no earlier event."""

    topic = PRODUCTS_TOPIC

    product_id: uuid.UUID = Field(description="The product's id; also the subject and Kafka key")
    code: str = Field(
        description="The code partners type to order it, as the admin wrote it; compare it upper-cased"
    )
    name: str = Field(description="The product's name")
    price_minor: int = Field(ge=0, description="Unit price in minor units of `currency` (cents)")
    currency: str = Field(description="ISO 4217 currency of the price, e.g. EUR")
    active: bool = Field(description="False once the product is withdrawn: it can no longer be ordered")
    version: int = Field(
        ge=1, description="1 on creation, +1 on each change: a consumer keeps the highest it has seen"
    )

    @classmethod
    def of(cls, product: Product) -> Self:
        return cls(
            product_id=product.id,
            code=product.code,
            name=product.name,
            price_minor=product.price_minor,
            currency=product.currency,
            active=product.active,
            version=product.version,
        )


class ProductCreated(_ProductState):
    """A product was added to the tenant's catalog (version 1)."""

    event_type = "catalog.product.created"


class ProductUpdated(_ProductState):
    """A product's name, price, currency or availability changed; carries the new full state."""

    event_type = "catalog.product.updated"
