"""Catalog's SQL for customer groups, organisations' terms and price lists, within one tenant.

Tables written here only: customer_groups, organisations (the read model of identity's), organisation_terms,
assortment_items, price_lists, price_list_prices. Products, brands and categories are `store`'s."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.catalog.domain import GroupDetails, OrganisationTerms, PriceEntry, PriceList, PriceListDetails
from services.catalog.store import Db

# --- customer groups ---


@dataclass(frozen=True)
class Group:
    id: uuid.UUID
    tenant_id: str
    name: str
    created_at: datetime
    updated_at: datetime


_GROUP_COLUMNS = "id, tenant_id, name, created_at, updated_at"
_INSERT_GROUP = f"""
INSERT INTO customer_groups (id, tenant_id, name) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, lower(name)) DO NOTHING
RETURNING {_GROUP_COLUMNS}
"""
_UPDATE_GROUP = f"""
UPDATE customer_groups SET name = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2
RETURNING {_GROUP_COLUMNS}
"""
_GROUP = f"SELECT {_GROUP_COLUMNS} FROM customer_groups WHERE tenant_id = $1 AND id = $2"
_GROUPS = f"SELECT {_GROUP_COLUMNS} FROM customer_groups WHERE tenant_id = $1 ORDER BY lower(name)"
_GROUP_IN_USE = """
SELECT EXISTS (SELECT FROM organisation_terms WHERE tenant_id = $1 AND group_id = $2)
    OR EXISTS (SELECT FROM price_lists WHERE tenant_id = $1 AND group_id = $2)
"""
_DELETE_GROUP = "DELETE FROM customer_groups WHERE tenant_id = $1 AND id = $2"


async def add_group(conn: asyncpg.Connection, tenant_id: str, details: GroupDetails) -> Group | None:
    """A new group; None when the tenant has one of that name (in any case)."""
    row = await conn.fetchrow(_INSERT_GROUP, uuid.uuid4(), tenant_id, details.name)
    return Group(**dict(row)) if row else None


async def update_group(
    conn: asyncpg.Connection, tenant_id: str, group_id: uuid.UUID, details: GroupDetails
) -> Group | None:
    """Rename a group; raises UniqueViolationError when the name is another group's."""
    row = await conn.fetchrow(_UPDATE_GROUP, tenant_id, group_id, details.name)
    return Group(**dict(row)) if row else None


async def find_group(db: Db, tenant_id: str, group_id: uuid.UUID) -> Group | None:
    row = await db.fetchrow(_GROUP, tenant_id, group_id)
    return Group(**dict(row)) if row else None


async def list_groups(db: Db, tenant_id: str) -> list[Group]:
    return [Group(**dict(row)) for row in await db.fetch(_GROUPS, tenant_id)]


async def group_in_use(db: Db, tenant_id: str, group_id: uuid.UUID) -> bool:
    """Whether organisations or price lists still name the group (it may not be deleted then)."""
    return bool(await db.fetchval(_GROUP_IN_USE, tenant_id, group_id))


async def delete_group(conn: asyncpg.Connection, tenant_id: str, group_id: uuid.UUID) -> None:
    await conn.execute(_DELETE_GROUP, tenant_id, group_id)


# --- organisation terms ---

# The upsert locks the row until commit: concurrent changes of one organisation's terms take turns,
# so their versions and outbox rows follow commit order.
_UPSERT_TERMS = """
INSERT INTO organisation_terms (tenant_id, organisation_id, group_id, restricted, entitlements)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, organisation_id) DO UPDATE
SET group_id = excluded.group_id, restricted = excluded.restricted, entitlements = excluded.entitlements,
    version = organisation_terms.version + 1, updated_at = now()
RETURNING version
"""
_CLEAR_ASSORTMENT = "DELETE FROM assortment_items WHERE tenant_id = $1 AND organisation_id = $2"
_FILL_ASSORTMENT = """
INSERT INTO assortment_items (tenant_id, organisation_id, product_id)
SELECT $1, $2, unnest($3::uuid[])
"""
_TERMS = """
SELECT organisation_id, group_id, restricted, entitlements, version,
       CASE WHEN restricted THEN ARRAY(
           SELECT product_id FROM assortment_items a
           WHERE a.tenant_id = t.tenant_id AND a.organisation_id = t.organisation_id ORDER BY product_id::text
       ) END AS assortment
FROM organisation_terms t WHERE tenant_id = $1 AND organisation_id = $2
"""


# --- organisations, as identity announces them ---

_REMEMBER_ORGANISATION = """
INSERT INTO organisations (organisation_id, tenant_id, name) VALUES ($1, $2, $3)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, updated_at = now()
WHERE organisations.tenant_id = excluded.tenant_id
RETURNING true
"""
_ORGANISATION_KNOWN = (
    "SELECT EXISTS (SELECT FROM organisations WHERE tenant_id = $1 AND organisation_id = $2)"
)


async def remember_organisation(
    conn: asyncpg.Connection, tenant_id: str, organisation_id: uuid.UUID, name: str
) -> bool:
    """Record an organisation identity announced, or its new name; False (nothing changed) when
    the id is already known in another tenant."""
    return bool(await conn.fetchval(_REMEMBER_ORGANISATION, organisation_id, tenant_id, name))


async def organisation_known(db: Db, tenant_id: str, organisation_id: uuid.UUID) -> bool:
    """Whether identity announced this organisation as one of this tenant's."""
    return bool(await db.fetchval(_ORGANISATION_KNOWN, tenant_id, organisation_id))


async def replace_terms(
    conn: asyncpg.Connection, tenant_id: str, terms: OrganisationTerms
) -> OrganisationTerms:
    """Write an organisation's whole terms (its assortment too); returns them at their new version."""
    version = await conn.fetchval(
        _UPSERT_TERMS,
        tenant_id,
        terms.organisation_id,
        terms.group_id,
        terms.assortment is not None,
        terms.entitlements,
    )
    await conn.execute(_CLEAR_ASSORTMENT, tenant_id, terms.organisation_id)
    if terms.assortment:
        await conn.execute(_FILL_ASSORTMENT, tenant_id, terms.organisation_id, terms.assortment)
    return terms.model_copy(update={"version": version})


async def find_terms(db: Db, tenant_id: str, organisation_id: uuid.UUID) -> OrganisationTerms:
    """An organisation's terms; one that has none yet has the defaults (version 0)."""
    row = await db.fetchrow(_TERMS, tenant_id, organisation_id)
    if row is None:
        return OrganisationTerms(organisation_id=organisation_id)
    return OrganisationTerms(
        organisation_id=row["organisation_id"],
        group_id=row["group_id"],
        assortment=row["assortment"],
        entitlements=row["entitlements"],
        version=row["version"],
    )


# --- price lists ---

_LIST_COLUMNS = (
    "id, tenant_id, name, scope, brand_id, group_id, organisation_id, currency, valid_from, valid_until,"
    " active, version, created_at, updated_at"
)
_INSERT_LIST = f"""
INSERT INTO price_lists (id, tenant_id, name, scope, brand_id, group_id, organisation_id, currency,
                         valid_from, valid_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING {_LIST_COLUMNS}
"""
_UPDATE_LIST = f"""
UPDATE price_lists
SET name = $3, scope = $4, brand_id = $5, group_id = $6, organisation_id = $7, currency = $8,
    valid_from = $9, valid_until = $10, version = version + 1, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING {_LIST_COLUMNS}
"""
_WITHDRAW_LIST = f"""
UPDATE price_lists SET active = false, version = version + 1, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING {_LIST_COLUMNS}
"""
_LIST = f"SELECT {_LIST_COLUMNS} FROM price_lists WHERE tenant_id = $1 AND id = $2"
_LOCK_LIST = f"{_LIST} FOR UPDATE"
_LISTS = f"""
SELECT {_LIST_COLUMNS}, (SELECT count(*) FROM price_list_prices pp WHERE pp.price_list_id = l.id) AS size
FROM price_lists l
WHERE tenant_id = $1 AND ($2::uuid IS NULL OR brand_id = $2) AND ($3::boolean IS NULL OR active = $3)
ORDER BY created_at, id
"""
_PRICES = """
SELECT product_id, price_minor FROM price_list_prices WHERE price_list_id = $1 ORDER BY product_id::text
"""
_CLEAR_PRICES = "DELETE FROM price_list_prices WHERE price_list_id = $1"
_FILL_PRICES = """
INSERT INTO price_list_prices (tenant_id, price_list_id, product_id, price_minor)
SELECT $1, $2, product_id, price_minor FROM unnest($3::uuid[], $4::bigint[]) AS p (product_id, price_minor)
"""


def _list_args(details: PriceListDetails) -> tuple[Any, ...]:
    return (
        details.name,
        details.scope,
        details.brand_id,
        details.group_id,
        details.organisation_id,
        details.currency,
        details.valid_from,
        details.valid_until,
    )


async def _with_prices(db: Db, row: asyncpg.Record) -> PriceList:
    prices = [PriceEntry(**dict(price)) for price in await db.fetch(_PRICES, row["id"])]
    return PriceList.model_validate({**dict(row), "prices": prices})


async def _fill_prices(
    conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID, prices: list[PriceEntry]
) -> None:
    await conn.execute(_CLEAR_PRICES, list_id)
    await conn.execute(
        _FILL_PRICES, tenant_id, list_id, [p.product_id for p in prices], [p.price_minor for p in prices]
    )


async def add_price_list(conn: asyncpg.Connection, tenant_id: str, details: PriceListDetails) -> PriceList:
    row = await conn.fetchrow(_INSERT_LIST, uuid.uuid4(), tenant_id, *_list_args(details))
    assert row is not None
    await _fill_prices(conn, tenant_id, row["id"], details.prices)
    return await _with_prices(conn, row)


async def lock_price_list(conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID) -> PriceList | None:
    """The list, locked until the transaction ends, so its events leave in commit order."""
    if not conn.is_in_transaction():
        raise RuntimeError(
            "lock_price_list needs a transaction: the lock must cover the change and its event"
        )
    row = await conn.fetchrow(_LOCK_LIST, tenant_id, list_id)
    return await _with_prices(conn, row) if row else None


async def replace_price_list(
    conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID, details: PriceListDetails
) -> PriceList:
    """Write the whole new state of a list locked with `lock_price_list`, prices included."""
    row = await conn.fetchrow(_UPDATE_LIST, tenant_id, list_id, *_list_args(details))
    assert row is not None, "the list was locked by this transaction"
    await _fill_prices(conn, tenant_id, list_id, details.prices)
    return await _with_prices(conn, row)


async def withdraw_price_list(conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID) -> PriceList:
    row = await conn.fetchrow(_WITHDRAW_LIST, tenant_id, list_id)
    assert row is not None, "the list was locked by this transaction"
    return await _with_prices(conn, row)


async def find_price_list(db: Db, tenant_id: str, list_id: uuid.UUID) -> PriceList | None:
    row = await db.fetchrow(_LIST, tenant_id, list_id)
    return await _with_prices(db, row) if row else None


@dataclass(frozen=True)
class PriceListSummary:
    """A list without its prices, for listings."""

    price_list: PriceList
    size: int


async def list_price_lists(
    db: Db, tenant_id: str, *, brand_id: uuid.UUID | None, active: bool | None
) -> list[PriceListSummary]:
    rows = await db.fetch(_LISTS, tenant_id, brand_id, active)
    return [
        PriceListSummary(PriceList.model_validate({**dict(row), "prices": []}), row["size"]) for row in rows
    ]
