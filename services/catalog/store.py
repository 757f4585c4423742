"""Catalog's SQL for products, brands and categories, always within one tenant.

Tables: products, brands, categories are written here only; customer_groups, organisations,
organisation_terms, assortment_items, price_lists and price_list_prices in `pricing_store`;
documents and assets in `files_store`. The viewer's queries below also read the organisation's
terms and the price lists' offers, on purpose: one round trip on the quick-order path.

Reads for callers go through `Viewer`: what a caller may see (retired products and other
organisations' assortments are for admins only) is decided in the same query that finds the products,
which also brings each product's price list offers, so the caller's price needs no second query.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.catalog.domain import (
    BrandDetails,
    CategoryDetails,
    Locale,
    PriceListTerms,
    Product,
    ProductDetails,
    ShownProduct,
    Viewer,
    code_key,
)

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool  # reads run on either; writes need a transaction


_FIELDS = [
    "id",
    "tenant_id",
    "code",
    "name",
    "price_minor",
    "currency",
    "active",
    "version",
    "created_at",
    "updated_at",
    "brand_id",
    "category_id",
    "ean",
    "names",
    "descriptions",
    "images",
    "vat_rate_bp",
]
_COLUMNS = ", ".join(_FIELDS)
_P_COLUMNS = ", ".join(f"p.{field}" for field in _FIELDS)

# A code taken in this tenant, in any case, inserts nothing: the caller answers 409. A taken EAN
# raises a unique violation (products_ean), which the caller answers with a 409 too.
_INSERT = f"""
INSERT INTO products (id, tenant_id, code, name, price_minor, currency, active, brand_id, category_id, ean,
                      names, descriptions, images, vat_rate_bp)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14)
ON CONFLICT (tenant_id, upper(code)) DO NOTHING
RETURNING {_COLUMNS}
"""
_BY_ID = f"SELECT {_COLUMNS} FROM products WHERE tenant_id = $1 AND id = $2"
_LOCK = f"{_BY_ID} FOR UPDATE"
_BY_CODES = (
    f"SELECT {_COLUMNS} FROM products WHERE tenant_id = $1 AND upper(code) = ANY($2::text[]) ORDER BY id"
)
_LOCK_BY_CODES = f"{_BY_CODES} FOR UPDATE"
_UPDATE = f"""
UPDATE products
SET name = $3, price_minor = $4, currency = $5, active = $6, brand_id = $7, category_id = $8, ean = $9,
    names = $10::jsonb, descriptions = $11::jsonb, images = $12, vat_rate_bp = $13,
    version = version + 1, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING {_COLUMNS}
"""
_BRANDS_OF = "SELECT id, brand_id FROM products WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
_EAN_OWNERS = "SELECT ean, id FROM products WHERE tenant_id = $1 AND ean = ANY($2::text[])"
_EXISTING_IDS = "SELECT id FROM products WHERE tenant_id = $1 AND id = ANY($2::uuid[])"

# What a viewer sees: $1 tenant, $2 their organisation (null: none), $3 true when they see everything.
# Terms: the organisation's group and whether an assortment restricts it (no row: unrestricted).
_TERMS = """terms AS (
    SELECT group_id, restricted FROM organisation_terms WHERE tenant_id = $1 AND organisation_id = $2
)"""
_VISIBLE = """($3 OR (p.active AND (
    NOT EXISTS (SELECT FROM terms WHERE restricted)
    OR EXISTS (SELECT FROM assortment_items a
               WHERE a.tenant_id = $1 AND a.organisation_id = $2 AND a.product_id = p.id)
)))"""
# Offers of the active lists aimed at this product's brand, the viewer's group or organisation;
# `resolve_price` picks among them (validity, specificity), so the rule lives in one place.
_OFFERS = """(
    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'list_id', l.id::text,
        'scope', l.scope,
        'target_id', (CASE l.scope WHEN 'brand' THEN l.brand_id WHEN 'group' THEN l.group_id
                      ELSE l.organisation_id END)::text,
        'valid_from', l.valid_from,
        'valid_until', l.valid_until,
        'price_minor', pp.price_minor,
        'currency', l.currency,
        'active', l.active)), '[]')
    FROM price_list_prices pp JOIN price_lists l ON l.id = pp.price_list_id
    WHERE pp.tenant_id = $1 AND pp.product_id = p.id AND l.active
      AND ((l.scope = 'brand' AND l.brand_id = p.brand_id)
           OR (l.scope = 'group' AND l.group_id = (SELECT group_id FROM terms))
           OR (l.scope = 'organisation' AND l.organisation_id = $2))
) AS offers"""
_SHOWN_SELECT = (
    f"SELECT {_P_COLUMNS}, (SELECT group_id::text FROM terms) AS group_id, {_OFFERS} FROM products p"
)

# Quick order's hot path: one query finds the product, checks the assortment and brings its offers.
_SHOWN_BY_CODE = f"WITH {_TERMS} {_SHOWN_SELECT} WHERE p.tenant_id = $1 AND upper(p.code) = $4 AND {_VISIBLE}"
_SHOWN_BY_ID = f"WITH {_TERMS} {_SHOWN_SELECT} WHERE p.tenant_id = $1 AND p.id = $4 AND {_VISIBLE}"
_SHOWN_OF_BRAND = f"""
WITH {_TERMS} {_SHOWN_SELECT}
WHERE p.tenant_id = $1 AND p.brand_id = $4 AND p.active AND {_VISIBLE}
ORDER BY upper(p.code), p.code
"""
# Browsing: $4 statuses wanted (active flags), $5 brand, $6 category (with its subtree), $7 a LIKE
# pattern on code, EAN and names, $8 the code after which the page starts (keyset), $9 the page size.
_BROWSE = f"""
WITH RECURSIVE {_TERMS},
subtree AS (
    SELECT id FROM categories WHERE tenant_id = $1 AND id = $6
    UNION
    SELECT c.id FROM categories c JOIN subtree s ON c.parent_id = s.id WHERE c.tenant_id = $1
)
{_SHOWN_SELECT}
WHERE p.tenant_id = $1 AND {_VISIBLE}
  AND p.active = ANY($4::boolean[])
  AND ($5::uuid IS NULL OR p.brand_id = $5)
  AND ($6::uuid IS NULL OR p.category_id IN (SELECT id FROM subtree))
  AND ($7::text IS NULL OR upper(p.code) LIKE upper($7) OR p.ean LIKE $7 OR p.name ILIKE $7
       OR EXISTS (SELECT FROM jsonb_each_text(p.names) n WHERE n.value ILIKE $7))
  AND ($8::text IS NULL OR upper(p.code) > upper($8))
ORDER BY upper(p.code), p.code
LIMIT $9
"""


def _product(row: asyncpg.Record | dict[str, Any]) -> Product:
    data = {field: row[field] for field in _FIELDS}
    data["names"] = json.loads(data["names"])
    data["descriptions"] = json.loads(data["descriptions"])
    return Product.model_validate(data)


def _shown(row: asyncpg.Record) -> ShownProduct:
    offers = [
        PriceListTerms(
            list_id=offer["list_id"],
            scope=offer["scope"],
            target_id=offer["target_id"],
            valid_from=datetime.fromisoformat(offer["valid_from"]) if offer["valid_from"] else None,
            valid_until=datetime.fromisoformat(offer["valid_until"]) if offer["valid_until"] else None,
            price_minor=offer["price_minor"],
            currency=offer["currency"],
            active=offer["active"],
        )
        for offer in json.loads(row["offers"])
    ]
    return ShownProduct(_product(row), offers, row["group_id"])


def _detail_args(details: ProductDetails) -> tuple[Any, ...]:
    return (
        details.name,
        details.price_minor,
        details.currency,
        details.active,
        details.brand_id,
        details.category_id,
        details.ean,
        json.dumps(details.names),
        json.dumps(details.descriptions),
        details.images,
        details.vat_rate_bp,
    )


def _viewer_args(viewer: Viewer) -> tuple[Any, ...]:
    return viewer.tenant_id, viewer.organisation_id, viewer.sees_everything


async def add_product(
    conn: asyncpg.Connection, tenant_id: str, code: str, details: ProductDetails
) -> Product | None:
    """Insert a product at version 1; None (and nothing written) when the tenant already has the code."""
    row = await conn.fetchrow(_INSERT, uuid.uuid4(), tenant_id, code, *_detail_args(details))
    return _product(row) if row else None


async def lock_product(conn: asyncpg.Connection, tenant_id: str, product_id: uuid.UUID) -> Product | None:
    """The product, locked until the transaction ends, so its events leave in commit order."""
    if not conn.is_in_transaction():
        raise RuntimeError("lock_product needs a transaction: the lock must cover the change and its event")
    row = await conn.fetchrow(_LOCK, tenant_id, product_id)
    return _product(row) if row else None


async def lock_products_by_code(
    conn: asyncpg.Connection, tenant_id: str, codes: Sequence[str]
) -> list[Product]:
    """The tenant's products with these codes (any case), locked in id order (no deadlock between two)."""
    rows = await conn.fetch(_LOCK_BY_CODES, tenant_id, [code_key(code) for code in codes])
    return [_product(row) for row in rows]


async def find_products_by_code(db: Db, tenant_id: str, codes: Sequence[str]) -> list[Product]:
    """The tenant's products with these codes (any case)."""
    rows = await db.fetch(_BY_CODES, tenant_id, [code_key(code) for code in codes])
    return [_product(row) for row in rows]


async def update_product(
    conn: asyncpg.Connection, tenant_id: str, product_id: uuid.UUID, details: ProductDetails
) -> Product:
    """Write the new state of a product locked with `lock_product` and bump its version."""
    row = await conn.fetchrow(_UPDATE, tenant_id, product_id, *_detail_args(details))
    assert row is not None, "the product was locked by this transaction"
    return _product(row)


async def find_product(db: Db, tenant_id: str, product_id: uuid.UUID) -> Product | None:
    row = await db.fetchrow(_BY_ID, tenant_id, product_id)
    return _product(row) if row else None


async def brands_of_products(
    db: Db, tenant_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """The brand of each of these products that the tenant has (missing ids are absent)."""
    return {row["id"]: row["brand_id"] for row in await db.fetch(_BRANDS_OF, tenant_id, list(ids))}


async def existing_products(db: Db, tenant_id: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    return {row["id"] for row in await db.fetch(_EXISTING_IDS, tenant_id, list(ids))}


async def ean_owners(db: Db, tenant_id: str, eans: Sequence[str]) -> dict[str, uuid.UUID]:
    """Which product of the tenant holds each of these EANs."""
    return {row["ean"]: row["id"] for row in await db.fetch(_EAN_OWNERS, tenant_id, list(eans))}


async def shown_by_code(db: Db, viewer: Viewer, code: str) -> ShownProduct | None:
    """The product with this code (any case) if the viewer may see it, with its offers: one query."""
    row = await db.fetchrow(_SHOWN_BY_CODE, *_viewer_args(viewer), code_key(code))
    return _shown(row) if row else None


async def shown_by_id(db: Db, viewer: Viewer, product_id: uuid.UUID) -> ShownProduct | None:
    row = await db.fetchrow(_SHOWN_BY_ID, *_viewer_args(viewer), product_id)
    return _shown(row) if row else None


async def shown_of_brand(db: Db, viewer: Viewer, brand_id: uuid.UUID) -> list[ShownProduct]:
    """The brand's active products the viewer may see, by code, with their offers."""
    return [_shown(row) for row in await db.fetch(_SHOWN_OF_BRAND, *_viewer_args(viewer), brand_id)]


@dataclass(frozen=True)
class Browse:
    """Filters of a catalog page. `text` matches code, EAN or a name; `after` is the last code seen."""

    active: bool = True
    retired: bool = False
    brand_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    text: str | None = None
    after: str | None = None
    limit: int = 50


def _like(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its own % _ and \\ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def browse(db: Db, viewer: Viewer, filters: Browse) -> list[ShownProduct]:
    """A page of the products the viewer may see, by code, starting after `filters.after`."""
    statuses = [flag for flag, wanted in ((True, filters.active), (False, filters.retired)) if wanted]
    rows = await db.fetch(
        _BROWSE,
        *_viewer_args(viewer),
        statuses,
        filters.brand_id,
        filters.category_id,
        _like(filters.text) if filters.text else None,
        filters.after,
        filters.limit,
    )
    return [_shown(row) for row in rows]


# --- brands ---


@dataclass(frozen=True)
class Brand:
    id: uuid.UUID
    tenant_id: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


_BRAND_COLUMNS = "id, tenant_id, name, version, created_at, updated_at"
_INSERT_BRAND = f"""
INSERT INTO brands (id, tenant_id, name) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, lower(name)) DO NOTHING
RETURNING {_BRAND_COLUMNS}
"""
_UPDATE_BRAND = f"""
UPDATE brands SET name = $3, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2
RETURNING {_BRAND_COLUMNS}
"""
_BRAND = f"SELECT {_BRAND_COLUMNS} FROM brands WHERE tenant_id = $1 AND id = $2"
_BRANDS = f"SELECT {_BRAND_COLUMNS} FROM brands WHERE tenant_id = $1 ORDER BY lower(name)"


async def add_brand(conn: asyncpg.Connection, tenant_id: str, details: BrandDetails) -> Brand | None:
    """A new brand; None when the tenant has one of that name (in any case)."""
    row = await conn.fetchrow(_INSERT_BRAND, uuid.uuid4(), tenant_id, details.name)
    return Brand(**dict(row)) if row else None


async def update_brand(
    conn: asyncpg.Connection, tenant_id: str, brand_id: uuid.UUID, details: BrandDetails
) -> Brand | None:
    """Rename a brand; raises UniqueViolationError when the name is another brand's."""
    row = await conn.fetchrow(_UPDATE_BRAND, tenant_id, brand_id, details.name)
    return Brand(**dict(row)) if row else None


async def find_brand(db: Db, tenant_id: str, brand_id: uuid.UUID) -> Brand | None:
    row = await db.fetchrow(_BRAND, tenant_id, brand_id)
    return Brand(**dict(row)) if row else None


async def list_brands(db: Db, tenant_id: str) -> list[Brand]:
    return [Brand(**dict(row)) for row in await db.fetch(_BRANDS, tenant_id)]


# --- categories ---


@dataclass(frozen=True)
class Category:
    id: uuid.UUID
    tenant_id: str
    parent_id: uuid.UUID | None
    names: dict[Locale, str]
    version: int
    created_at: datetime
    updated_at: datetime


_CATEGORY_COLUMNS = "id, tenant_id, parent_id, names, version, created_at, updated_at"
_INSERT_CATEGORY = f"""
INSERT INTO categories (id, tenant_id, parent_id, names) VALUES ($1, $2, $3, $4::jsonb)
RETURNING {_CATEGORY_COLUMNS}
"""
_UPDATE_CATEGORY = f"""
UPDATE categories SET parent_id = $3, names = $4::jsonb, version = version + 1, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING {_CATEGORY_COLUMNS}
"""
_CATEGORY = f"SELECT {_CATEGORY_COLUMNS} FROM categories WHERE tenant_id = $1 AND id = $2"
_CATEGORIES = f"SELECT {_CATEGORY_COLUMNS} FROM categories WHERE tenant_id = $1 ORDER BY created_at, id"
_PARENTS = "SELECT id, parent_id FROM categories WHERE tenant_id = $1"
# One tree per tenant: its changes take turns, so two concurrent moves cannot close a loop together.
_LOCK_TREE = "SELECT pg_advisory_xact_lock(hashtextextended('catalog.categories:' || $1, 0))"
_CATEGORY_IN_USE = """
SELECT EXISTS (SELECT FROM categories WHERE tenant_id = $1 AND parent_id = $2)
    OR EXISTS (SELECT FROM products WHERE tenant_id = $1 AND category_id = $2)
"""
_DELETE_CATEGORY = "DELETE FROM categories WHERE tenant_id = $1 AND id = $2"


def _category(row: asyncpg.Record) -> Category:
    return Category(**{**dict(row), "names": json.loads(row["names"])})


async def lock_tree(conn: asyncpg.Connection, tenant_id: str) -> None:
    await conn.execute(_LOCK_TREE, tenant_id)


async def parents(db: Db, tenant_id: str) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each category's parent: the whole tree of the tenant (categories number in the hundreds)."""
    return {row["id"]: row["parent_id"] for row in await db.fetch(_PARENTS, tenant_id)}


async def add_category(conn: asyncpg.Connection, tenant_id: str, details: CategoryDetails) -> Category:
    row = await conn.fetchrow(
        _INSERT_CATEGORY, uuid.uuid4(), tenant_id, details.parent_id, json.dumps(details.names)
    )
    assert row is not None
    return _category(row)


async def update_category(
    conn: asyncpg.Connection, tenant_id: str, category_id: uuid.UUID, details: CategoryDetails
) -> Category | None:
    row = await conn.fetchrow(
        _UPDATE_CATEGORY, tenant_id, category_id, details.parent_id, json.dumps(details.names)
    )
    return _category(row) if row else None


async def category_in_use(db: Db, tenant_id: str, category_id: uuid.UUID) -> bool:
    """Whether a category still has sub-categories or products (it may not be deleted then)."""
    return bool(await db.fetchval(_CATEGORY_IN_USE, tenant_id, category_id))


async def delete_category(conn: asyncpg.Connection, tenant_id: str, category_id: uuid.UUID) -> None:
    await conn.execute(_DELETE_CATEGORY, tenant_id, category_id)


async def find_category(db: Db, tenant_id: str, category_id: uuid.UUID) -> Category | None:
    row = await db.fetchrow(_CATEGORY, tenant_id, category_id)
    return _category(row) if row else None


async def list_categories(db: Db, tenant_id: str) -> list[Category]:
    return [_category(row) for row in await db.fetch(_CATEGORIES, tenant_id)]
