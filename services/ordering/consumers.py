"""Ordering's consumers: the read model of catalog's products, price lists and organisation terms that
orders are priced and checked from (never a call to catalog), and of identity's tenants' time zones
and organisations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal, Self
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from libs.common.consumer import HandlerTable
from libs.common.events import Envelope
from libs.common.limits import MAX_UNIT_PRICE_MINOR
from services.ordering import erasure, placing, saga, store
from services.ordering.checkout import Address
from services.ordering.domain import OrganisationTerms, PriceList, Product

log = structlog.get_logger(__name__)

CATALOG_PRODUCTS = "catalog.product.v1"
CATALOG_PRICES = "catalog.price_list.v1"
CATALOG_ORGANISATIONS = "catalog.organisation.v1"
MAX_PRICES = 5_000  # per list: catalog refuses more (docs/contracts.md)


class _Reading(BaseModel):
    """A tolerant reading: fields ordering does not use are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CatalogProduct(_Reading):
    """Ordering's own reading of catalog.product.created / catalog.product.updated (full state).

    `brand_id`, `vat_rate_bp` and `status` were added to the event later: an older event without them
    reads as null.
    """

    product_id: uuid.UUID
    code: str = Field(min_length=1)
    name: str
    price_minor: int = Field(ge=0, le=MAX_UNIT_PRICE_MINOR)
    currency: str = Field(min_length=3, max_length=3)
    active: bool
    version: int = Field(ge=1)
    brand_id: uuid.UUID | None = None
    vat_rate_bp: int | None = Field(None, ge=0, le=10_000)
    status: str | None = None


def _utc(value: datetime | None) -> datetime | None:
    """Catalog publishes UTC; a time without its offset is read as UTC rather than dead-lettered."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class CatalogPrice(_Reading):
    product_id: uuid.UUID
    price_minor: int = Field(ge=0, le=MAX_UNIT_PRICE_MINOR)


class CatalogPriceList(_Reading):
    """Ordering's own reading of catalog.price_list.changed: the full state of one list."""

    price_list_id: uuid.UUID
    scope: Literal["brand", "group", "organisation"]
    brand_id: uuid.UUID | None = None
    group_id: str | None = None
    organisation_id: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    prices: list[CatalogPrice] = Field(max_length=MAX_PRICES)
    active: bool
    version: int = Field(ge=1)

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _names_its_target(self) -> Self:
        """A list without the target of its scope, or with two prices for one product, is malformed
        (dead-lettered): applying it would price something nobody meant to."""
        if self.target_id is None:
            raise ValueError(f"a {self.scope} list needs its {self.scope} id")
        if len({price.product_id for price in self.prices}) != len(self.prices):
            raise ValueError("a product is priced twice in the list")
        return self

    @property
    def target_id(self) -> str | None:
        if self.scope == "brand":
            return str(self.brand_id) if self.brand_id else None
        return self.group_id if self.scope == "group" else self.organisation_id


class CatalogOrganisationTerms(_Reading):
    """Ordering's own reading of catalog.organisation.terms_changed."""

    organisation_id: str = Field(min_length=1)
    group_id: str | None = None
    assortment: list[uuid.UUID] | None = None
    entitlements: list[str] = Field(default_factory=list)
    version: int = Field(ge=1)


def _event_time(event: Envelope) -> datetime:
    return event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)


async def record_product(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the product's new state; an older or repeated version changes nothing.

    A malformed payload raises ValidationError, which the consumer dead-letters at once.
    """
    data = CatalogProduct.model_validate(event.data)
    product = Product.model_validate(data.model_dump(exclude={"version"}))
    kept = await store.record_product(conn, event.tenantid, product, data.version, _event_time(event))
    if not kept:
        log.info("stale product event ignored", product_id=str(data.product_id), version=data.version)


async def record_price_list(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the list's new state (a withdrawn list stops pricing); an older or repeated version changes
    nothing. Validity dates need no event: submissions compare them with their own instant."""
    data = CatalogPriceList.model_validate(event.data)
    assert data.target_id is not None  # checked by the model
    price_list = PriceList(
        price_list_id=data.price_list_id,
        scope=data.scope,
        target_id=data.target_id,
        brand_id=data.brand_id,
        currency=data.currency,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        active=data.active,
        prices={price.product_id: price.price_minor for price in data.prices},
    )
    if not await store.record_price_list(conn, event.tenantid, price_list, data.version):
        log.info(
            "stale price list event ignored", price_list_id=str(data.price_list_id), version=data.version
        )


async def record_organisation_terms(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the organisation's new terms (group, assortment, entitlements); older versions change nothing."""
    data = CatalogOrganisationTerms.model_validate(event.data)
    terms = OrganisationTerms(
        organisation_id=data.organisation_id,
        group_id=data.group_id,
        assortment=frozenset(data.assortment) if data.assortment is not None else None,
        entitlements=tuple(data.entitlements),
    )
    if not await store.record_terms(conn, event.tenantid, terms, data.version):
        log.info(
            "stale organisation terms ignored", organisation_id=data.organisation_id, version=data.version
        )


class ContactAddress(_Reading):
    line1: str = Field(min_length=1)
    line2: str | None = None
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=2)


class Contact(_Reading):
    """Ordering's own reading of identity.contact.changed: a person's own address, which starts the
    address book of someone who belongs to no organisation (a consultant)."""

    account_id: str = Field(min_length=1)
    display_name: str
    phone: str | None = None
    address: ContactAddress | None = None


async def record_contact_address(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the person's identity address in her own book (the default when she chose none); a
    contact without an address takes it out."""
    data = Contact.model_validate(event.data)
    if data.address is None:
        await store.forget_identity_address(conn, event.tenantid, data.account_id)
        return
    address = Address(
        label="",
        recipient=data.display_name or data.account_id,
        line1=data.address.line1,
        line2=data.address.line2 or "",
        postal_code=data.address.postal_code,
        city=data.address.city,
        country=data.address.country.upper(),
        phone=data.phone or "",
    )
    await store.keep_identity_address(conn, event.tenantid, data.account_id, address, _event_time(event))


class CatalogSettings(_Reading):
    """Ordering's own reading of catalog.settings.changed: the seller discount it charges."""

    seller_discount_bp: int = Field(ge=0, le=10_000)
    version: int = Field(ge=1)


async def record_catalog_settings(conn: asyncpg.Connection, event: Envelope) -> None:
    data = CatalogSettings.model_validate(event.data)
    await store.record_seller_discount(conn, event.tenantid, data.seller_discount_bp, data.version)


class TenantSettings(_Reading):
    """Ordering's own reading of identity.tenant.settings_changed: the zone delivery days are counted in."""

    time_zone: str = Field(min_length=1)
    changed_at: datetime

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        ZoneInfo(name)  # an unknown zone raises: the event is dead-lettered rather than misread
        return name


class OrganisationCreated(_Reading):
    """Ordering's own reading of identity.organisation.created: which organisations a tenant has."""

    organisation_id: str = Field(min_length=1)


class Membership(_Reading):
    """Ordering's own reading of identity.account.registered and membership_changed: the account's
    organisation and roles (who validates whose orders)."""

    account_id: str = Field(min_length=1)
    roles: list[str]
    organisation_id: str | None = None
    registered_at: datetime | None = None
    changed_at: datetime | None = None

    @model_validator(mode="after")
    def _dated(self) -> Self:
        if self.changed_at is None and self.registered_at is None:
            raise ValueError("a membership without its time")
        return self

    @property
    def at(self) -> datetime:
        at = self.changed_at or self.registered_at
        assert at is not None  # checked by the model
        return _utc(at) or at


class AccountDeleted(_Reading):
    """Ordering's own reading of identity.account.deleted."""

    account_id: str = Field(min_length=1)


async def record_membership(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the account's organisation and roles; an older change than the one held changes nothing."""
    data = Membership.model_validate(event.data)
    await store.record_membership(
        conn, event.tenantid, data.account_id, data.organisation_id, data.roles, data.at
    )


async def erase_account(conn: asyncpg.Connection, event: Envelope) -> None:
    """Orders stay for accounting; the person's own data goes (services/ordering/erasure.py)."""
    data = AccountDeleted.model_validate(event.data)
    await erasure.erase_account(conn, event.tenantid, data.account_id)


async def record_tenant_zone(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep the tenant's time zone; an older change than the one held changes nothing."""
    data = TenantSettings.model_validate(event.data)
    await store.record_zone(conn, event.tenantid, data.time_zone, _utc(data.changed_at) or data.changed_at)


async def record_organisation(conn: asyncpg.Connection, event: Envelope) -> None:
    data = OrganisationCreated.model_validate(event.data)
    await store.record_organisation(conn, event.tenantid, data.organisation_id)


# The model each consumed event type is read with: producers' examples must satisfy it (tests/contracts).
READINGS: dict[str, type[BaseModel]] = {
    "catalog.product.created": CatalogProduct,
    "catalog.product.updated": CatalogProduct,
    "catalog.price_list.changed": CatalogPriceList,
    "catalog.organisation.terms_changed": CatalogOrganisationTerms,
    "identity.tenant.settings_changed": TenantSettings,
    "catalog.settings.changed": CatalogSettings,
    "identity.contact.changed": Contact,
    "identity.organisation.created": OrganisationCreated,
    "identity.account.registered": Membership,
    "identity.account.membership_changed": Membership,
    "identity.account.deleted": AccountDeleted,
    **saga.READINGS,
}

HANDLERS: HandlerTable = {
    CATALOG_PRODUCTS: {
        "catalog.product.created": record_product,
        "catalog.product.updated": record_product,
    },
    CATALOG_PRICES: {"catalog.price_list.changed": record_price_list},
    CATALOG_ORGANISATIONS: {"catalog.organisation.terms_changed": record_organisation_terms},
    "identity.tenant.v1": {"identity.tenant.settings_changed": record_tenant_zone},
    "catalog.settings.v1": {"catalog.settings.changed": record_catalog_settings},
    "internal.identity.contact.v1": {"identity.contact.changed": record_contact_address},
    "identity.organisation.v1": {"identity.organisation.created": record_organisation},
    "identity.account.v1": {
        "identity.account.registered": record_membership,
        "identity.account.membership_changed": record_membership,
        "identity.account.deleted": erase_account,
    },
    **saga.handlers(placing.enter_life),
}
