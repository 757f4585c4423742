"""Ordering's SQL: the catalog read model (products) and orders with their lines."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.ordering.domain import Order, PricedLine, Product, code_key

# --- products: the read model of catalog.product.v1 ---

# Serialises the claims on one code by events of different products (they run on other partitions).
_LOCK_CODE = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_STORED_VERSION = "SELECT version FROM products WHERE tenant_id = $1 AND product_id = $2 FOR UPDATE"
_CODE_HOLDER = """
SELECT product_id, changed_at FROM products
WHERE tenant_id = $1 AND upper(code) = upper($2) AND code_held AND product_id <> $3
FOR UPDATE
"""
_RELEASE_CODE = "UPDATE products SET code_held = false WHERE tenant_id = $1 AND product_id = $2"
_UPSERT_PRODUCT = """
INSERT INTO products
    (tenant_id, product_id, code, name, price_minor, currency, active, version, changed_at, code_held)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, product_id) DO UPDATE
SET code = EXCLUDED.code, name = EXCLUDED.name, price_minor = EXCLUDED.price_minor,
    currency = EXCLUDED.currency, active = EXCLUDED.active, version = EXCLUDED.version,
    changed_at = EXCLUDED.changed_at, code_held = EXCLUDED.code_held
WHERE products.version < EXCLUDED.version
"""


async def record_product(
    conn: asyncpg.Connection, tenant_id: str, product: Product, version: int, changed_at: datetime
) -> bool:
    """Keep the product's state if `version` is newer than the one held; True when it was kept.

    If another product holds the code, the one whose catalog event is more recent keeps it.
    """
    await conn.execute(_LOCK_CODE, f"ordering.product-code:{tenant_id}:{code_key(product.code)}")
    stored = await conn.fetchval(_STORED_VERSION, tenant_id, product.product_id)
    if stored is not None and stored >= version:
        return False
    holder = await conn.fetchrow(_CODE_HOLDER, tenant_id, product.code, product.product_id)
    held = holder is None or holder["changed_at"] <= changed_at
    if holder is not None and held:
        await conn.execute(_RELEASE_CODE, tenant_id, holder["product_id"])
    await conn.execute(
        _UPSERT_PRODUCT,
        tenant_id,
        product.product_id,
        product.code,
        product.name,
        product.price_minor,
        product.currency,
        product.active,
        version,
        changed_at,
        held,
    )
    return True


_PRODUCTS_BY_CODE = """
SELECT product_id, code, name, price_minor, currency, active FROM products
WHERE tenant_id = $1 AND code_held AND upper(code) = ANY (SELECT upper(c) FROM unnest($2::text[]) AS c)
"""


async def products_by_code(
    conn: asyncpg.Connection, tenant_id: str, codes: Sequence[str]
) -> dict[str, Product]:
    """The tenant's products holding these codes, keyed by `code_key`."""
    rows = await conn.fetch(_PRODUCTS_BY_CODE, tenant_id, list(codes))
    return {code_key(row["code"]): Product(**dict(row)) for row in rows}


# --- orders ---

_INSERT_ORDER = """
INSERT INTO orders
    (order_id, tenant_id, account_id, organisation_id, status, total_minor, currency, submitted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_INSERT_LINE = """
INSERT INTO order_lines
    (order_id, line_no, product_id, code, name, quantity, unit_price_minor, line_total_minor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


async def add_order(conn: asyncpg.Connection, order: Order) -> None:
    await conn.execute(
        _INSERT_ORDER,
        order.order_id,
        order.tenant_id,
        order.account_id,
        order.organisation_id,
        order.status,
        order.total_minor,
        order.currency,
        order.submitted_at,
    )
    await conn.executemany(
        _INSERT_LINE,
        [
            (
                order.order_id,
                line_no,
                line.product_id,
                line.code,
                line.name,
                line.quantity,
                line.unit_price_minor,
                line.line_total_minor,
            )
            for line_no, line in enumerate(order.lines, start=1)
        ],
    )


_ORDER_COLUMNS = (
    "order_id, tenant_id, account_id, organisation_id, status, total_minor, currency, submitted_at"
)
_ORDER = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND order_id = $2"
# One statement per scope rather than `$2 IS NULL OR ...`: each gets a plan that uses its own index.
_NEWEST_FIRST = "ORDER BY submitted_at DESC, order_id DESC"
_ORDERS_OF_TENANT = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 {_NEWEST_FIRST} LIMIT $2"
_ORDERS_OF_ORGANISATION = f"""
SELECT {_ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND organisation_id = $2 {_NEWEST_FIRST} LIMIT $3
"""
_ORDERS_OF_ACCOUNT = f"""
SELECT {_ORDER_COLUMNS} FROM orders
WHERE tenant_id = $1 AND account_id = $2 AND ($3::text IS NULL OR organisation_id = $3)
{_NEWEST_FIRST} LIMIT $4
"""
_LINES = """
SELECT order_id, product_id, code, name, quantity, unit_price_minor, line_total_minor
FROM order_lines WHERE order_id = ANY ($1::uuid[]) ORDER BY order_id, line_no
"""


async def find_order(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, order_id: uuid.UUID
) -> Order | None:
    """The tenant's order with its lines; whether the caller may see it is the guard's business."""
    row = await conn.fetchrow(_ORDER, tenant_id, order_id)
    return (await _with_lines(conn, [row]))[0] if row else None


async def list_orders(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant_id: str,
    *,
    organisation_id: str | None,
    account_id: str | None,
    limit: int,
) -> list[Order]:
    """The tenant's orders, newest first: only the organisation's, only the account's, when given."""
    if account_id is not None:
        rows = await conn.fetch(_ORDERS_OF_ACCOUNT, tenant_id, account_id, organisation_id, limit)
    elif organisation_id is not None:
        rows = await conn.fetch(_ORDERS_OF_ORGANISATION, tenant_id, organisation_id, limit)
    else:
        rows = await conn.fetch(_ORDERS_OF_TENANT, tenant_id, limit)
    return await _with_lines(conn, rows)


async def _with_lines(conn: asyncpg.Connection | asyncpg.Pool, rows: Sequence[Any]) -> list[Order]:
    lines: dict[uuid.UUID, list[PricedLine]] = {row["order_id"]: [] for row in rows}
    for line in await conn.fetch(_LINES, list(lines)):
        fields = dict(line)
        lines[fields.pop("order_id")].append(PricedLine(**fields))
    return [Order(**dict(row), lines=lines[row["order_id"]]) for row in rows]
