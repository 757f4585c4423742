"""Ordering's SQL: the catalog read model (products, price lists, organisation terms) and orders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.ordering.domain import (
    Buyer,
    CartLine,
    CartTemplate,
    Offer,
    Order,
    OrganisationTerms,
    PricedLine,
    PriceList,
    PriceListTerms,
    Product,
    code_key,
)

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
    (tenant_id, product_id, code, name, price_minor, currency, active, version, changed_at, code_held,
     brand_id, vat_rate_bp, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, product_id) DO UPDATE
SET code = EXCLUDED.code, name = EXCLUDED.name, price_minor = EXCLUDED.price_minor,
    currency = EXCLUDED.currency, active = EXCLUDED.active, version = EXCLUDED.version,
    changed_at = EXCLUDED.changed_at, code_held = EXCLUDED.code_held, brand_id = EXCLUDED.brand_id,
    vat_rate_bp = EXCLUDED.vat_rate_bp, status = EXCLUDED.status
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
        product.brand_id,
        product.vat_rate_bp,
        product.status,
    )
    return True


# --- price lists: the read model of catalog.price_list.v1 ---

_UPSERT_PRICE_LIST = """
INSERT INTO price_lists
    (tenant_id, price_list_id, scope, target_id, brand_id, currency, valid_from, valid_until, active, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, price_list_id) DO UPDATE
SET scope = EXCLUDED.scope, target_id = EXCLUDED.target_id, brand_id = EXCLUDED.brand_id,
    currency = EXCLUDED.currency, valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
    active = EXCLUDED.active, version = EXCLUDED.version
WHERE price_lists.version < EXCLUDED.version
RETURNING true
"""
_DELETE_PRICES = "DELETE FROM price_list_prices WHERE tenant_id = $1 AND price_list_id = $2"
_INSERT_PRICES = """
INSERT INTO price_list_prices (tenant_id, price_list_id, product_id, price_minor)
SELECT $1, $2, product_id, price_minor FROM unnest($3::uuid[], $4::bigint[]) AS p (product_id, price_minor)
"""


async def record_price_list(
    conn: asyncpg.Connection, tenant_id: str, price_list: PriceList, version: int
) -> bool:
    """Keep the list's state if `version` is newer than the one held; True when it was kept.

    A withdrawn list keeps its row (its version) and loses its prices: it prices nothing any more.
    """
    kept = await conn.fetchval(
        _UPSERT_PRICE_LIST,
        tenant_id,
        price_list.price_list_id,
        price_list.scope,
        price_list.target_id,
        price_list.brand_id,
        price_list.currency,
        price_list.valid_from,
        price_list.valid_until,
        price_list.active,
        version,
    )
    if not kept:
        return False
    await conn.execute(_DELETE_PRICES, tenant_id, price_list.price_list_id)
    if price_list.active and price_list.prices:
        await conn.execute(
            _INSERT_PRICES,
            tenant_id,
            price_list.price_list_id,
            list(price_list.prices),
            list(price_list.prices.values()),
        )
    return True


# --- organisation terms: the read model of catalog.organisation.v1 ---

_UPSERT_TERMS = """
INSERT INTO organisation_terms (tenant_id, organisation_id, group_id, restricted, entitlements, version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, organisation_id) DO UPDATE
SET group_id = EXCLUDED.group_id, restricted = EXCLUDED.restricted,
    entitlements = EXCLUDED.entitlements, version = EXCLUDED.version
WHERE organisation_terms.version < EXCLUDED.version
RETURNING true
"""
_DELETE_ASSORTMENT = "DELETE FROM organisation_assortments WHERE tenant_id = $1 AND organisation_id = $2"
_INSERT_ASSORTMENT = """
INSERT INTO organisation_assortments (tenant_id, organisation_id, product_id)
SELECT $1, $2, product_id FROM unnest($3::uuid[]) AS a (product_id)
"""


async def record_terms(
    conn: asyncpg.Connection, tenant_id: str, terms: OrganisationTerms, version: int
) -> bool:
    """Keep the organisation's terms if `version` is newer than the one held; True when they were kept."""
    kept = await conn.fetchval(
        _UPSERT_TERMS,
        tenant_id,
        terms.organisation_id,
        terms.group_id,
        terms.assortment is not None,
        list(terms.entitlements),
        version,
    )
    if not kept:
        return False
    await conn.execute(_DELETE_ASSORTMENT, tenant_id, terms.organisation_id)
    if terms.assortment:
        await conn.execute(_INSERT_ASSORTMENT, tenant_id, terms.organisation_id, list(terms.assortment))
    return True


# --- what a submission reads: one statement for the products, the buyer's terms and the lists ---

# One row per (product, candidate list), or one row with null list columns for a product no list
# prices. $3 (the organisation) may be null: no terms, no group, no organisation list, no assortment.
# `aimed` holds the lists that could concern this buyer at $4 (active, not expired, aimed at her
# organisation, her group or the brand of a requested product): a handful, found by index whatever
# the number of other organisations' lists. Each product then probes the prices of those lists by
# primary key. Which list applies is `resolve_price`'s decision; the SQL only narrows the candidates.
# The plan is pinned (MATERIALIZED, OFFSET 0, a scalar subquery rather than EXISTS): the planner
# cannot tell how many codes match and, guessing many, would hash every price of the tenant or the
# whole assortment rather than probe the primary keys of the few products asked for.
_OFFERS = """
WITH terms AS MATERIALIZED (
    SELECT group_id, restricted FROM organisation_terms WHERE tenant_id = $1 AND organisation_id = $3
), wanted AS MATERIALIZED (
    SELECT product_id, code, name, price_minor, currency, active, brand_id, vat_rate_bp FROM products
    WHERE tenant_id = $1 AND code_held
      AND upper(code) = ANY (ARRAY(SELECT upper(c) FROM unnest($2::text[]) AS c))
), aimed AS MATERIALIZED (
    SELECT price_list_id, scope, target_id, valid_from, valid_until, currency FROM price_lists
    WHERE tenant_id = $1 AND active AND (valid_until IS NULL OR valid_until > $4)
      AND (   (scope = 'organisation' AND target_id = $3::text)
           OR (scope = 'group' AND target_id = (SELECT group_id FROM terms))
           OR (scope = 'brand' AND target_id = ANY (ARRAY(SELECT brand_id::text FROM wanted))))
)
SELECT w.product_id, w.code, w.name, w.price_minor, w.currency, w.active, w.brand_id, w.vat_rate_bp,
       (SELECT group_id FROM terms) AS group_id,
       NOT coalesce((SELECT restricted FROM terms), false) OR coalesce((
           SELECT true FROM organisation_assortments oa
           WHERE oa.tenant_id = $1 AND oa.organisation_id = $3 AND oa.product_id = w.product_id
       ), false) AS in_assortment,
       l.price_list_id, l.scope, l.target_id, l.valid_from, l.valid_until,
       l.currency AS list_currency, l.price_minor AS list_price_minor
FROM wanted w
LEFT JOIN LATERAL (
    SELECT a.price_list_id, a.scope, a.target_id, a.valid_from, a.valid_until, a.currency, pp.price_minor
    FROM aimed a
    JOIN price_list_prices pp
      ON pp.tenant_id = $1 AND pp.product_id = w.product_id AND pp.price_list_id = a.price_list_id
    WHERE a.scope <> 'brand' OR a.target_id = w.brand_id::text
    OFFSET 0
) l ON true
"""

_PRODUCT_COLUMNS = (
    "product_id",
    "code",
    "name",
    "price_minor",
    "currency",
    "active",
    "brand_id",
    "vat_rate_bp",
)


async def offers_by_code(
    conn: asyncpg.Connection,
    tenant_id: str,
    codes: Sequence[str],
    *,
    organisation_id: str | None,
    at: datetime,
) -> tuple[Buyer, dict[str, Offer]]:
    """The buyer (the organisation and its group) and, keyed by `code_key`, the tenant's products
    holding these codes with whether the buyer may order them and the lists that may price them at `at`.
    """
    rows = await conn.fetch(_OFFERS, tenant_id, list(codes), organisation_id, at)
    products: dict[uuid.UUID, Product] = {}
    in_assortment: dict[uuid.UUID, bool] = {}
    lists: dict[uuid.UUID, list[PriceListTerms]] = {}
    group_id: str | None = None
    for row in rows:
        product_id = row["product_id"]
        if product_id not in products:
            products[product_id] = Product(**{column: row[column] for column in _PRODUCT_COLUMNS})
            in_assortment[product_id] = row["in_assortment"]
            lists[product_id] = []
            group_id = row["group_id"]
        if row["price_list_id"] is not None:
            lists[product_id].append(
                PriceListTerms(
                    list_id=str(row["price_list_id"]),
                    scope=row["scope"],
                    target_id=row["target_id"],
                    valid_from=row["valid_from"],
                    valid_until=row["valid_until"],
                    price_minor=row["list_price_minor"],
                    currency=row["list_currency"],
                )
            )
    offers = {
        code_key(product.code): Offer(product, in_assortment[pid], tuple(lists[pid]))
        for pid, product in products.items()
    }
    return Buyer(organisation_id=organisation_id, group_id=group_id), offers


# --- orders ---

# The order and its lines in one statement: one round trip, whatever the number of lines. The lines'
# foreign key is checked at the end of the statement, when the order is there.
_INSERT_ORDER = """
WITH new_order AS (
    INSERT INTO orders
        (order_id, tenant_id, account_id, organisation_id, status, total_minor, currency, submitted_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
)
INSERT INTO order_lines
    (order_id, line_no, product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id)
SELECT $1, line.no, line.product_id, line.code, line.name, line.quantity, line.unit_price_minor,
       line.line_total_minor, line.price_list_id
FROM unnest($9::uuid[], $10::text[], $11::text[], $12::integer[], $13::bigint[], $14::bigint[], $15::uuid[])
     WITH ORDINALITY
     AS line (product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id, no)
"""


async def add_order(conn: asyncpg.Connection, order: Order) -> None:
    lines = order.lines
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
        [line.product_id for line in lines],
        [line.code for line in lines],
        [line.name for line in lines],
        [line.quantity for line in lines],
        [line.unit_price_minor for line in lines],
        [line.line_total_minor for line in lines],
        [line.price_list_id for line in lines],
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
SELECT order_id, product_id, code, name, quantity, unit_price_minor, line_total_minor, price_list_id
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


# --- carts ---

_CART = """
SELECT code, quantity FROM cart_lines WHERE tenant_id = $1 AND account_id = $2 ORDER BY added_at, code_key
"""
# Adding a code the cart holds adds to its quantity; the sum stays within a line's limit.
_ADD_TO_CART = """
INSERT INTO cart_lines (tenant_id, account_id, code_key, code, quantity, added_at)
SELECT $1, $2, upper(l.code), l.code, l.quantity, $5::timestamptz + l.position * interval '1 microsecond'
FROM unnest($3::text[], $4::int[]) WITH ORDINALITY AS l(code, quantity, position)
ON CONFLICT (tenant_id, account_id, code_key)
DO UPDATE SET quantity = cart_lines.quantity + EXCLUDED.quantity
RETURNING code, quantity
"""
_EMPTY_CART = "DELETE FROM cart_lines WHERE tenant_id = $1 AND account_id = $2"
_PRODUCT_CODES = "SELECT product_id, code FROM products WHERE tenant_id = $1 AND product_id = ANY($2::uuid[])"


async def cart(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str) -> list[CartLine]:
    rows = await db.fetch(_CART, tenant_id, account_id)
    return [CartLine(code=row["code"], quantity=row["quantity"]) for row in rows]


async def add_to_cart(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, lines: Sequence[CartLine], at: datetime
) -> list[CartLine]:
    """The lines added (to the quantity of a code the cart holds, whatever its case): each line as
    it now stands."""
    rows = await conn.fetch(
        _ADD_TO_CART,
        tenant_id,
        account_id,
        [line.code for line in lines],
        [line.quantity for line in lines],
        at,
    )
    return [CartLine(code=row["code"], quantity=row["quantity"]) for row in rows]


async def replace_cart(
    conn: asyncpg.Connection, tenant_id: str, account_id: str, lines: Sequence[CartLine], at: datetime
) -> None:
    """The cart holds these lines from now on (a quantity changed, a line removed, or none left)."""
    await conn.execute(_EMPTY_CART, tenant_id, account_id)
    if lines:
        await add_to_cart(conn, tenant_id, account_id, lines, at)


async def product_codes(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The codes of these products of the tenant's catalog (those ordering knows)."""
    rows = await db.fetch(_PRODUCT_CODES, tenant_id, list(ids))
    return {row["product_id"]: row["code"] for row in rows}


# --- template baskets ---

_ADD_TEMPLATE = """
WITH template AS (
    INSERT INTO cart_templates (template_id, tenant_id, account_id, name, created_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING template_id
)
INSERT INTO cart_template_lines (template_id, position, code, quantity)
SELECT t.template_id, l.position, l.code, l.quantity
FROM template t, unnest($6::text[], $7::int[]) WITH ORDINALITY AS l(code, quantity, position)
RETURNING template_id
"""
_TEMPLATE_NAMED = (
    "SELECT true FROM cart_templates WHERE tenant_id = $1 AND account_id = $2 AND lower(name) = lower($3)"
)
_TEMPLATES = """
SELECT t.template_id, t.tenant_id, t.account_id, t.name, t.created_at,
       coalesce(array_agg(l.code ORDER BY l.position) FILTER (WHERE l.code IS NOT NULL), '{{}}') AS codes,
       coalesce(array_agg(l.quantity ORDER BY l.position) FILTER (WHERE l.code IS NOT NULL), '{{}}')
           AS quantities
FROM cart_templates t LEFT JOIN cart_template_lines l USING (template_id)
WHERE t.tenant_id = $1 AND {which}
GROUP BY t.template_id ORDER BY t.name
"""
_TEMPLATES_OF_ACCOUNT = _TEMPLATES.format(which="t.account_id = $2")
_TEMPLATE = _TEMPLATES.format(which="t.template_id = $2")
_DELETE_TEMPLATE = "DELETE FROM cart_templates WHERE tenant_id = $1 AND template_id = $2"


async def template_named(conn: asyncpg.Connection, tenant_id: str, account_id: str, name: str) -> bool:
    return bool(await conn.fetchval(_TEMPLATE_NAMED, tenant_id, account_id, name))


async def add_template(conn: asyncpg.Connection, template: CartTemplate) -> None:
    lines = template.lines
    await conn.execute(
        _ADD_TEMPLATE,
        template.template_id,
        template.tenant_id,
        template.account_id,
        template.name,
        template.created_at,
        [line.code for line in lines],
        [line.quantity for line in lines],
    )


def _template(row: Any) -> CartTemplate:
    lines = [CartLine(code=c, quantity=q) for c, q in zip(row["codes"], row["quantities"], strict=True)]
    return CartTemplate(
        template_id=row["template_id"],
        tenant_id=row["tenant_id"],
        account_id=row["account_id"],
        name=row["name"],
        created_at=row["created_at"],
        lines=lines,
    )


async def templates(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str
) -> list[CartTemplate]:
    return [_template(row) for row in await db.fetch(_TEMPLATES_OF_ACCOUNT, tenant_id, account_id)]


async def find_template(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, template_id: uuid.UUID
) -> CartTemplate | None:
    row = await db.fetchrow(_TEMPLATE, tenant_id, template_id)
    return _template(row) if row else None


async def delete_template(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, template_id: uuid.UUID
) -> None:
    await db.execute(_DELETE_TEMPLATE, tenant_id, template_id)
