"""Ordering's consumers: keep the read model of catalog's products that orders are priced from."""

from __future__ import annotations

import uuid
from datetime import UTC

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common.consumer import HandlerTable
from libs.common.events import Envelope
from services.ordering import store
from services.ordering.domain import MAX_MINOR, Product

log = structlog.get_logger(__name__)

CATALOG_PRODUCTS = "catalog.product.v1"


class CatalogProduct(BaseModel):
    """Ordering's own reading of catalog.product.created / catalog.product.updated (full state)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: uuid.UUID
    code: str = Field(min_length=1)
    name: str
    price_minor: int = Field(ge=0, le=MAX_MINOR)
    currency: str = Field(min_length=3, max_length=3)
    active: bool
    version: int = Field(ge=1)


async def record_product(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the product's new state; an older or repeated version changes nothing.

    A malformed payload raises ValidationError, which the consumer dead-letters at once.
    """
    data = CatalogProduct.model_validate(event.data)
    product = Product.model_validate(data.model_dump(exclude={"version"}))
    changed_at = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
    kept = await store.record_product(conn, event.tenantid, product, data.version, changed_at)
    if not kept:
        log.info("stale product event ignored", product_id=str(data.product_id), version=data.version)


HANDLERS: HandlerTable = {
    CATALOG_PRODUCTS: {
        "catalog.product.created": record_product,
        "catalog.product.updated": record_product,
    },
}
