"""Catalog's SQL: products of each tenant, read and written in the caller's tenant only."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

from services.catalog.domain import Product, code_key

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # reads run on either; writes need a transaction

_COLUMNS = "id, tenant_id, code, name, price_minor, currency, active, version, created_at, updated_at"

# A code taken in this tenant, in any case, inserts nothing: the caller answers 409.
_INSERT = f"""
INSERT INTO products (id, tenant_id, code, name, price_minor, currency, active)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, upper(code)) DO NOTHING
RETURNING {_COLUMNS}
"""
_BY_ID = f"SELECT {_COLUMNS} FROM products WHERE tenant_id = $1 AND id = $2"
_LOCK = f"{_BY_ID} FOR UPDATE"
_UPDATE = f"""
UPDATE products
SET name = $3, price_minor = $4, currency = $5, active = $6, version = version + 1, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING {_COLUMNS}
"""
_BY_CODE = f"SELECT {_COLUMNS} FROM products WHERE tenant_id = $1 AND upper(code) = $2"
# `$2` true lists inactive products too (admins); ties of case are broken by the code as typed.
_LIST = f"""
SELECT {_COLUMNS} FROM products
WHERE tenant_id = $1 AND (active OR $2)
ORDER BY upper(code), code
"""


def _product(row: asyncpg.Record | None) -> Product | None:
    return Product(**dict(row)) if row else None


async def add_product(
    conn: asyncpg.Connection,
    tenant_id: str,
    code: str,
    name: str,
    price_minor: int,
    currency: str,
    active: bool,
) -> Product | None:
    """Insert a product at version 1; None (and nothing written) when the tenant already has the code."""
    row = await conn.fetchrow(_INSERT, uuid.uuid4(), tenant_id, code, name, price_minor, currency, active)
    return _product(row)


async def lock_product(conn: asyncpg.Connection, tenant_id: str, product_id: uuid.UUID) -> Product | None:
    """The product, locked until the transaction ends, so its events leave in commit order."""
    if not conn.is_in_transaction():
        raise RuntimeError("lock_product needs a transaction: the lock must cover the change and its event")
    return _product(await conn.fetchrow(_LOCK, tenant_id, product_id))


async def update_product(
    conn: asyncpg.Connection,
    tenant_id: str,
    product_id: uuid.UUID,
    name: str,
    price_minor: int,
    currency: str,
    active: bool,
) -> Product:
    """Write the new state of a product locked with `lock_product` and bump its version."""
    row = await conn.fetchrow(_UPDATE, tenant_id, product_id, name, price_minor, currency, active)
    product = _product(row)
    assert product is not None, "the product was locked by this transaction"
    return product


async def find_product(db: Db, tenant_id: str, product_id: uuid.UUID) -> Product | None:
    return _product(await db.fetchrow(_BY_ID, tenant_id, product_id))


async def find_by_code(db: Db, tenant_id: str, code: str) -> Product | None:
    """The tenant's product with this code, whatever the case it is written in."""
    return _product(await db.fetchrow(_BY_CODE, tenant_id, code_key(code)))


async def list_products(db: Db, tenant_id: str, *, include_inactive: bool) -> list[Product]:
    """The tenant's products ordered by code; inactive ones only when asked."""
    rows = await db.fetch(_LIST, tenant_id, include_inactive)
    return [Product(**dict(row)) for row in rows]
