"""What loyalty keeps of the other services' announcements, so that it never calls them at run time:
members and their cards (identity's account facts), shops (identity's organisations of kind shop),
each tenant's time zone (identity's tenant settings), and the catalog's categories and products (the
counter names them, rules include or exclude them).

Each table holds the latest state announced; a late or repeated event changes nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.common.consumer import PermanentError
from libs.common.events import Envelope
from services.loyalty.store import Db

log = structlog.get_logger(__name__)

FACTS = "internal.identity.facts.v1"
FACTS_CHANGED = "identity.account.facts_changed"
ORGANISATIONS = "identity.organisation.v1"
ORGANISATION_CREATED = "identity.organisation.created"
ORGANISATION_UPDATED = "identity.organisation.updated"
TENANTS = "identity.tenant.v1"
TENANT_SETTINGS_CHANGED = "identity.tenant.settings_changed"
DEFAULT_ZONE = "UTC"  # until identity's settings of the tenant arrive
CATEGORIES = "catalog.category.v1"
CATEGORY_CHANGED = "catalog.category.changed"
CATEGORY_DELETED = "catalog.category.deleted"
PRODUCTS = "catalog.product.v1"
PRODUCT_CREATED = "catalog.product.created"
PRODUCT_UPDATED = "catalog.product.updated"


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class _Reading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Member(_Reading):
    """Loyalty's reading of identity.account.facts_changed, and a row of `members`."""

    account_id: str = Field(min_length=1)
    roles: list[str]
    card_number: str | None = None
    professional: bool = False
    shop_id: str | None = None
    sponsor_id: str | None = None
    changed_at: datetime

    @field_validator("changed_at")
    @classmethod
    def _in_utc(cls, at: datetime) -> datetime:
        return _utc(at)


class Shop(_Reading):
    """Loyalty's reading of identity.organisation.created/updated."""

    organisation_id: str = Field(min_length=1)
    name: str
    kind: str = "partner"


class Category(_Reading):
    """Loyalty's reading of catalog.category.changed (and, with its id alone, .deleted)."""

    category_id: uuid.UUID
    names: dict[str, str] = {}
    version: int = 0


class Product(_Reading):
    """Loyalty's reading of catalog.product.created/updated."""

    product_id: uuid.UUID
    code: str
    name: str
    brand_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    active: bool
    version: int


def _tenant(event: Envelope) -> str:
    if not event.tenantid:
        raise PermanentError(f"a {event.type} event without a tenant")
    return event.tenantid


# --- members ---

_MEMBER_COLUMNS = "account_id, roles, card_number, professional, shop_id, sponsor_id, changed_at"
# Whoever held this card before (a late event of a card moved to another account) lets it go.
_FREE_CARD = """
UPDATE members SET card_number = NULL
WHERE tenant_id = $1 AND card_number = $2 AND account_id <> $3 AND changed_at <= $4
"""
_PUT_MEMBER = f"""
INSERT INTO members (tenant_id, {_MEMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, account_id) DO UPDATE
SET roles = EXCLUDED.roles, card_number = EXCLUDED.card_number, professional = EXCLUDED.professional,
    shop_id = EXCLUDED.shop_id, sponsor_id = EXCLUDED.sponsor_id, changed_at = EXCLUDED.changed_at
WHERE members.changed_at <= EXCLUDED.changed_at
RETURNING (xmax = 0) AS created
"""
_MEMBER_BY_CARD = f"SELECT {_MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND card_number = upper($2)"
_MEMBER = f"SELECT {_MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND account_id = $2"


async def put_member(conn: asyncpg.Connection, tenant_id: str, member: Member) -> bool | None:
    """Keep the member's latest facts: True when she is new here, False when her facts changed,
    None when these facts are older than what is kept."""
    if member.card_number is not None:
        await conn.execute(_FREE_CARD, tenant_id, member.card_number, member.account_id, member.changed_at)
    m = member
    row = await conn.fetchrow(
        _PUT_MEMBER,
        tenant_id,
        m.account_id,
        m.roles,
        m.card_number,
        m.professional,
        m.shop_id,
        m.sponsor_id,
        m.changed_at,
    )
    return None if row is None else bool(row["created"])


async def member_by_card(db: Db, tenant_id: str, card_number: str) -> Member | None:
    row = await db.fetchrow(_MEMBER_BY_CARD, tenant_id, card_number.strip())
    return Member(**dict(row)) if row else None


async def member(db: Db, tenant_id: str, account_id: str) -> Member | None:
    row = await db.fetchrow(_MEMBER, tenant_id, account_id)
    return Member(**dict(row)) if row else None


async def forget_card(conn: asyncpg.Connection, tenant_id: str, account_id: str) -> str | None:
    """A deleted member's card number is personal data: it goes, her pseudonymous row stays. The
    number it held, if any (to scrub it from the events)."""
    number: str | None = await conn.fetchval(
        "UPDATE members m SET card_number = NULL, sponsor_id = NULL FROM members old"
        " WHERE m.tenant_id = $1 AND m.account_id = $2"
        " AND old.tenant_id = m.tenant_id AND old.account_id = m.account_id"
        " RETURNING old.card_number",
        tenant_id,
        account_id,
    )
    return number


# --- shops, categories, products ---


async def shops(db: Db, tenant_id: str) -> dict[str, str]:
    """The tenant's shops: name by id."""
    rows = await db.fetch("SELECT shop_id, name FROM shops WHERE tenant_id = $1 ORDER BY name", tenant_id)
    return {row["shop_id"]: row["name"] for row in rows}


async def categories(db: Db, tenant_id: str) -> dict[str, dict[str, str]]:
    """The tenant's categories: names per language by id."""
    rows = await db.fetch("SELECT category_id, names FROM categories WHERE tenant_id = $1", tenant_id)
    return {row["category_id"]: json.loads(row["names"]) for row in rows}


async def products_of(db: Db, tenant_id: str, product_ids: list[str]) -> list[Product]:
    """The products among these ids that the catalog announced (the others are unknown)."""
    rows = await db.fetch(
        "SELECT product_id, code, name, brand_id, category_id, active, version FROM products"
        " WHERE tenant_id = $1 AND product_id = ANY($2::text[])",
        tenant_id,
        product_ids,
    )
    return [Product(**dict(row)) for row in rows]


async def products(db: Db, tenant_id: str, limit: int = 500) -> list[Product]:
    """The tenant's active products, by name (what staff pick from at the counter)."""
    rows = await db.fetch(
        "SELECT product_id, code, name, brand_id, category_id, active, version FROM products"
        " WHERE tenant_id = $1 AND active ORDER BY name LIMIT $2",
        tenant_id,
        limit,
    )
    return [Product(**dict(row)) for row in rows]


# --- handlers ---


async def keep_shop(conn: asyncpg.Connection, event: Envelope) -> None:
    shop = Shop.model_validate(event.data)
    if shop.kind != "shop":
        return
    await conn.execute(
        "INSERT INTO shops (tenant_id, shop_id, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (tenant_id, shop_id) DO UPDATE SET name = EXCLUDED.name",
        _tenant(event),
        shop.organisation_id,
        shop.name,
    )


async def keep_category(conn: asyncpg.Connection, event: Envelope) -> None:
    category = Category.model_validate(event.data)
    await conn.execute(
        "INSERT INTO categories (tenant_id, category_id, names, version) VALUES ($1, $2, $3::jsonb, $4)"
        " ON CONFLICT (tenant_id, category_id)"
        " DO UPDATE SET names = EXCLUDED.names, version = EXCLUDED.version"
        " WHERE categories.version < EXCLUDED.version",
        _tenant(event),
        str(category.category_id),
        json.dumps(category.names),
        category.version,
    )


async def drop_category(conn: asyncpg.Connection, event: Envelope) -> None:
    category = Category.model_validate(event.data)
    await conn.execute(
        "DELETE FROM categories WHERE tenant_id = $1 AND category_id = $2",
        _tenant(event),
        str(category.category_id),
    )


async def keep_product(conn: asyncpg.Connection, event: Envelope) -> None:
    p = Product.model_validate(event.data)
    await conn.execute(
        "INSERT INTO products (tenant_id, product_id, code, name, brand_id, category_id, active, version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (tenant_id, product_id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name,"
        " brand_id = EXCLUDED.brand_id, category_id = EXCLUDED.category_id, active = EXCLUDED.active,"
        " version = EXCLUDED.version WHERE products.version < EXCLUDED.version",
        _tenant(event),
        str(p.product_id),
        p.code,
        p.name,
        str(p.brand_id) if p.brand_id else None,
        str(p.category_id) if p.category_id else None,
        p.active,
        p.version,
    )


class TenantSettings(_Reading):
    """Loyalty's reading of identity.tenant.settings_changed: the zone the tenant's days are in."""

    time_zone: str = Field(min_length=1)
    changed_at: datetime

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        ZoneInfo(name)  # an unknown zone raises: the event is dead-lettered rather than misread
        return name


async def keep_zone(conn: asyncpg.Connection, event: Envelope) -> None:
    """The tenant's time zone; an older change than the one held changes nothing."""
    settings = TenantSettings.model_validate(event.data)
    await conn.execute(
        "INSERT INTO tenant_zones (tenant_id, time_zone, changed_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (tenant_id) DO UPDATE"
        " SET time_zone = EXCLUDED.time_zone, changed_at = EXCLUDED.changed_at"
        " WHERE tenant_zones.changed_at < EXCLUDED.changed_at",
        _tenant(event),
        settings.time_zone,
        _utc(settings.changed_at),
    )


async def time_zone(db: Db, tenant_id: str) -> str:
    found: str | None = await db.fetchval(
        "SELECT time_zone FROM tenant_zones WHERE tenant_id = $1", tenant_id
    )
    return found or DEFAULT_ZONE


READINGS: dict[str, type[BaseModel]] = {
    TENANT_SETTINGS_CHANGED: TenantSettings,
    FACTS_CHANGED: Member,
    ORGANISATION_CREATED: Shop,
    ORGANISATION_UPDATED: Shop,
    CATEGORY_CHANGED: Category,
    CATEGORY_DELETED: Category,
    PRODUCT_CREATED: Product,
    PRODUCT_UPDATED: Product,
}
