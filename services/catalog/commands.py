"""Catalog's use cases: add a product and change one, each with its event in the same transaction."""

from __future__ import annotations

import uuid

import asyncpg

from libs.common import outbox
from libs.common.events import IntegrationEvent, envelope
from libs.common.http import Problem
from services.catalog import store
from services.catalog.domain import NewProduct, Product, ProductDetails
from services.catalog.events import SERVICE, ProductCreated, ProductUpdated


def product_not_found() -> Problem:
    return Problem(404, "No such product", type="product-not-found")


async def _publish(conn: asyncpg.Connection, product: Product, event: IntegrationEvent) -> None:
    await outbox.append(
        conn, event.topic, envelope(SERVICE, event, subject=str(product.id), tenant_id=product.tenant_id)
    )


async def create_product(conn: asyncpg.Connection, tenant_id: str, new: NewProduct) -> Product:
    """Add a product at version 1 and announce it; 409 when the tenant already has its code."""
    product = await store.add_product(
        conn, tenant_id, new.code, new.name, new.price_minor, new.currency, new.active
    )
    if product is None:
        raise Problem(
            409,
            "Product code already used",
            type="product-code-taken",
            detail=f"another product of this tenant already has code {new.code!r} (codes ignore case)",
        )
    await _publish(conn, product, ProductCreated.of(product))
    return product


async def update_product(
    conn: asyncpg.Connection, tenant_id: str, product_id: uuid.UUID, details: ProductDetails
) -> Product:
    """Replace a product's details, bump its version and announce its new state; 404 if not the tenant's."""
    # The lock orders concurrent updates of one product, so its outbox rows follow commit order.
    if await store.lock_product(conn, tenant_id, product_id) is None:
        raise product_not_found()
    product = await store.update_product(
        conn, tenant_id, product_id, details.name, details.price_minor, details.currency, details.active
    )
    await _publish(conn, product, ProductUpdated.of(product))
    return product
