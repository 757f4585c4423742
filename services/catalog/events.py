"""Events catalog publishes (docs/contracts.md): their JSON Schemas are generated from these models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Self

from pydantic import BaseModel, ConfigDict, Field

from libs.common.events import IntegrationEvent, examples
from libs.common.limits import MAX_UNIT_PRICE_MINOR
from services.catalog.domain import OrganisationTerms, PriceList, PriceScope, Product, ProductStatus

if TYPE_CHECKING:
    from services.catalog.store import Category

SERVICE = "catalog"
PRODUCTS_TOPIC = "catalog.product.v1"
PRICES_TOPIC = "catalog.price_list.v1"
ORGANISATIONS_TOPIC = "catalog.organisation.v1"
CATEGORIES_TOPIC = "catalog.category.v1"

# The things the examples speak of; other services' examples name the same ones.
_ORGANISATION = "0f6b2c1e-7a3d-4e5f-8b9c-1d2e3f4a5b6c"  # identity's organisation id
_BRAND = "b7e4d2c1-9a8f-4b6e-8d3c-2f1e0a9b8c7d"
_GROUP = "9c8b7a6f-5e4d-4c3b-8a2f-1e0d9c8b7a6f"
_CREME = "5a7e0c3b-2d1f-4e9a-8b6c-4d3e2f1a0b9c"
_BAUME = "6b8f1d4c-3e2a-4f0b-9c7d-5e4f3a2b1c0d"
_PRICE_LIST = "4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0"
_CARE = "3d2c1b0a-9f8e-4d7c-b6a5-f4e3d2c1b0a9"
_FACE = "2c1b0a9f-8e7d-4c6b-a5f4-e3d2c1b0a9f8"
_PRODUCT = {
    "product_id": _CREME,
    "code": "CREME-01",
    "name": "Crème hydratante 50 ml",
    "price_minor": 1290,
    "currency": "EUR",
    "active": True,
    "version": 1,
    "brand_id": _BRAND,
    "vat_rate_bp": 2000,
    "status": "active",
    "category_id": _FACE,
}


class _ProductState(IntegrationEvent):
    """The full state of a product after the change, so a consumer needs no earlier event."""

    topic = PRODUCTS_TOPIC

    product_id: uuid.UUID = Field(description="The product's id; also the subject and Kafka key")
    code: str = Field(
        description="The code partners type to order it, as the admin wrote it; compare it upper-cased"
    )
    name: str = Field(description="The product's default name")
    price_minor: int = Field(
        ge=0,
        le=MAX_UNIT_PRICE_MINOR,
        description="Base unit price in minor units of `currency` (cents), used where no price list applies",
    )
    currency: str = Field(description="ISO 4217 currency of the base price, e.g. EUR")
    active: bool = Field(description="False once the product is retired: it can no longer be ordered")
    version: int = Field(
        ge=1, description="1 on creation, +1 on each change: a consumer keeps the highest it has seen"
    )
    brand_id: uuid.UUID | None = Field(
        description="The product's brand (brand price lists aim at it), or null"
    )
    vat_rate_bp: int = Field(ge=0, le=10_000, description="VAT rate in basis points: 2000 = 20 %")
    status: ProductStatus = Field(description="active or retired; `active` is status == 'active'")
    category_id: uuid.UUID | None = Field(
        None, description="The product's category (catalog.category.v1), or null"
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
            brand_id=product.brand_id,
            vat_rate_bp=product.vat_rate_bp,
            status=product.status,
            category_id=product.category_id,
        )


class ProductCreated(_ProductState):
    """A product was added to the tenant's catalog (version 1)."""

    model_config = examples(_PRODUCT)

    event_type = "catalog.product.created"


class ProductUpdated(_ProductState):
    """A product changed (details, base price, brand, VAT or status); carries the new full state."""

    model_config = examples(
        _PRODUCT | {"price_minor": 1350, "version": 2},
        _PRODUCT | {"active": False, "status": "retired", "version": 3},
    )

    event_type = "catalog.product.updated"


class PriceOfProduct(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: uuid.UUID = Field(description="The product priced")
    price_minor: int = Field(
        ge=0, le=MAX_UNIT_PRICE_MINOR, description="Its unit price in this list, in minor units of `currency`"
    )


class PriceListChanged(IntegrationEvent):
    """A price list was created, replaced or withdrawn: its full state, so consumers need no earlier event.

    Resolution (same in every service): a list applies while active and valid (valid_from <= at <
    valid_until, nulls open) to its target; organisation lists beat group lists beat brand lists;
    among one scope the latest valid_from wins, then the greatest price_list_id.
    """

    model_config = examples(
        {
            "price_list_id": _PRICE_LIST,
            "name": "Pharmacie du Marché 2026",
            "scope": "organisation",
            "brand_id": _BRAND,
            "group_id": None,
            "organisation_id": _ORGANISATION,
            "currency": "EUR",
            "valid_from": "2026-03-01T00:00:00Z",
            "valid_until": None,
            "prices": [{"product_id": _CREME, "price_minor": 1190}],
            "active": True,
            "version": 1,
        }
    )

    event_type = "catalog.price_list.changed"
    topic = PRICES_TOPIC

    price_list_id: uuid.UUID = Field(description="The list's id; also the subject and Kafka key")
    name: str = Field(description="What admins call the list")
    scope: PriceScope = Field(description="brand, group or organisation: whom the list is for")
    brand_id: uuid.UUID = Field(
        description="The brand whose products the list prices (target of a brand list)"
    )
    group_id: uuid.UUID | None = Field(description="The customer group of a group list, else null")
    organisation_id: uuid.UUID | None = Field(
        description="The organisation of an organisation list, else null"
    )
    currency: str = Field(description="ISO 4217 currency of every price of the list")
    valid_from: datetime | None = Field(description="Start of validity, UTC; null = since always")
    valid_until: datetime | None = Field(description="End of validity, UTC, exclusive; null = open-ended")
    prices: list[PriceOfProduct] = Field(max_length=5_000, description="The list's prices, at most 5,000")
    active: bool = Field(description="False once the list is withdrawn: it applies no more")
    version: int = Field(ge=1, description="1, 2, … per list: a consumer keeps the highest it has seen")

    @classmethod
    def of(cls, price_list: PriceList) -> Self:
        return cls(
            price_list_id=price_list.id,
            name=price_list.name,
            scope=price_list.scope,
            brand_id=price_list.brand_id,
            group_id=price_list.group_id,
            organisation_id=price_list.organisation_id,
            currency=price_list.currency,
            valid_from=price_list.valid_from,
            valid_until=price_list.valid_until,
            prices=[
                PriceOfProduct(product_id=p.product_id, price_minor=p.price_minor) for p in price_list.prices
            ],
            active=price_list.active,
            version=price_list.version,
        )


class OrganisationTermsChanged(IntegrationEvent):
    """An organisation's terms changed: its customer group, assortment and entitlements, in full."""

    model_config = examples(
        {
            "organisation_id": _ORGANISATION,
            "group_id": _GROUP,
            "assortment": [_CREME, _BAUME],
            "entitlements": ["ecommerce"],
            "version": 1,
        }
    )

    event_type = "catalog.organisation.terms_changed"
    topic = ORGANISATIONS_TOPIC

    organisation_id: uuid.UUID = Field(description="The organisation (identity's id); subject and Kafka key")
    group_id: uuid.UUID | None = Field(description="Its customer group (whose price lists apply), or null")
    assortment: list[uuid.UUID] | None = Field(
        description="The only products it may see and order; null = unrestricted"
    )
    entitlements: list[str] = Field(description="Contract entitlements, e.g. 'ecommerce'")
    version: int = Field(ge=1, description="1, 2, … per organisation: a consumer keeps the highest")

    @classmethod
    def of(cls, terms: OrganisationTerms) -> Self:
        return cls(
            organisation_id=terms.organisation_id,
            group_id=terms.group_id,
            assortment=terms.assortment,
            entitlements=terms.entitlements,
            version=terms.version,
        )


SETTINGS_TOPIC = "catalog.settings.v1"


class SettingsChanged(IntegrationEvent):
    """The tenant's catalog settings, in full, each time its admin changes them; keyed and subject by
    the tenant id (also the envelope's `tenantid`): a consumer keeps the highest version."""

    model_config = examples({"seller_discount_bp": 2000, "version": 1, "changed_at": "2026-03-01T09:00:00Z"})

    event_type = "catalog.settings.changed"
    topic = SETTINGS_TOPIC

    seller_discount_bp: int = Field(
        ge=0,
        le=10_000,
        description="The discount on every product a seller orders for herself, in basis points (2000 ="
        " 20 %), taken off the price her organisation's terms give, the discount rounded half up",
    )
    version: int = Field(ge=1, description="1, 2, … per tenant: a consumer keeps the highest")
    changed_at: datetime = Field(description="When they were set (UTC)")


class CategoryChanged(IntegrationEvent):
    """A category of the tenant's tree was created, renamed or moved: its full state, so a consumer
    rebuilds the tree from the latest event of each category."""

    model_config = examples(
        {"category_id": _FACE, "parent_id": _CARE, "names": {"fr": "Visage", "en": "Face"}, "version": 2}
    )

    event_type = "catalog.category.changed"
    topic = CATEGORIES_TOPIC

    category_id: uuid.UUID = Field(description="The category; also the subject and Kafka key")
    parent_id: uuid.UUID | None = Field(description="Its parent category, or null at the top of the tree")
    names: dict[str, str] = Field(description="Its name per language (fr, en, ru)")
    version: int = Field(ge=1, description="1 on creation, +1 on each change: keep the highest seen")

    @classmethod
    def of(cls, category: Category) -> Self:
        return cls(
            category_id=category.id,
            parent_id=category.parent_id,
            names=dict(category.names),
            version=category.version,
        )


class CategoryDeleted(IntegrationEvent):
    """A category left the tree (it held no sub-category and no product)."""

    model_config = examples({"category_id": _FACE})

    event_type = "catalog.category.deleted"
    topic = CATEGORIES_TOPIC

    category_id: uuid.UUID = Field(description="The category; also the subject and Kafka key")


EVENTS: list[type[IntegrationEvent]] = [
    ProductCreated,
    ProductUpdated,
    PriceListChanged,
    OrganisationTermsChanged,
    SettingsChanged,
    CategoryChanged,
    CategoryDeleted,
]
