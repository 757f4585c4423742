"""Catalog's use cases: each change is checked against the tenant's data, then written with its event
in the caller's transaction (the aggregate's row locked first, so events leave in commit order)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from libs.common import outbox
from libs.common.errors import Conflict, FieldError, Invalid, NotFound
from libs.common.events import IntegrationEvent
from services.catalog import pricing_store, store
from services.catalog.domain import (
    BrandDetails,
    CategoryDetails,
    GroupDetails,
    NewProduct,
    OrganisationTerms,
    PriceList,
    PriceListDetails,
    Product,
    ProductDetails,
    TermsDetails,
    moves_under_itself,
)
from services.catalog.events import (
    SERVICE,
    CategoryChanged,
    CategoryDeleted,
    OrganisationTermsChanged,
    PriceListChanged,
    ProductCreated,
    ProductUpdated,
)


def not_found(what: str) -> NotFound:
    return NotFound("not-found", f"No such {what}", f"this tenant has no such {what}")


def unknown_organisation(organisation_id: uuid.UUID, field: str | None = None) -> NotFound:
    """An organisation identity has not announced in this tenant: another tenant's, or none."""
    named = f"{field} names no" if field else "no"
    return NotFound(
        "unknown-organisation",
        "Unknown organisation",
        f"{named} organisation of this tenant: {organisation_id} (catalog learns new"
        " organisations from identity a moment after they are created)",
    )


async def publish(
    conn: asyncpg.Connection, tenant_id: str, subject: uuid.UUID, event: IntegrationEvent
) -> None:
    """Publish an event about one of the tenant's things (its id is the subject and Kafka key)."""
    await outbox.publish(conn, SERVICE, event, subject=str(subject), tenant_id=tenant_id)


@contextmanager
def ean_unique(ean: str | None) -> Iterator[None]:
    """Turn the tenant's EAN uniqueness, enforced by the database, into a 409 naming the EAN."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "products_ean":
            raise
        raise Conflict(
            "product-ean-taken", "EAN already used", f"another product of this tenant already has EAN {ean}"
        ) from None


# --- products ---


async def check_product_references(conn: asyncpg.Connection, tenant_id: str, details: ProductDetails) -> None:
    """A product's brand and category must be the tenant's: 422 naming the field otherwise."""
    if details.brand_id and await store.find_brand(conn, tenant_id, details.brand_id) is None:
        raise Invalid.field("brand_id", "no such brand in this tenant", "value_error")
    if details.category_id and await store.find_category(conn, tenant_id, details.category_id) is None:
        raise Invalid.field("category_id", "no such category in this tenant", "value_error")


async def create_product(conn: asyncpg.Connection, tenant_id: str, new: NewProduct) -> Product:
    """Add a product at version 1 and announce it; 409 when the tenant already has its code or EAN."""
    details = new.details()
    await check_product_references(conn, tenant_id, details)
    with ean_unique(details.ean):
        product = await store.add_product(conn, tenant_id, new.code, details)
    if product is None:
        raise Conflict(
            "product-code-taken",
            "Product code already used",
            f"another product of this tenant already has code {new.code!r} (codes ignore case)",
        )
    await publish(conn, tenant_id, product.id, ProductCreated.of(product))
    return product


async def update_product(
    conn: asyncpg.Connection, tenant_id: str, product_id: uuid.UUID, details: ProductDetails
) -> Product:
    """Replace a product's details, bump its version and announce its new state."""
    # The lock orders concurrent updates of one product, so its outbox rows follow commit order.
    if await store.lock_product(conn, tenant_id, product_id) is None:
        raise not_found("product")
    await check_product_references(conn, tenant_id, details)
    with ean_unique(details.ean):
        product = await store.update_product(conn, tenant_id, product_id, details)
    await publish(conn, tenant_id, product.id, ProductUpdated.of(product))
    return product


# --- brands ---


def _brand_name_taken(name: str) -> Conflict:
    return Conflict("brand-name-taken", "Brand name already used", f"this tenant already has brand {name!r}")


async def create_brand(conn: asyncpg.Connection, tenant_id: str, details: BrandDetails) -> store.Brand:
    brand = await store.add_brand(conn, tenant_id, details)
    if brand is None:
        raise _brand_name_taken(details.name)
    return brand


async def rename_brand(
    conn: asyncpg.Connection, tenant_id: str, brand_id: uuid.UUID, details: BrandDetails
) -> store.Brand:
    try:
        brand = await store.update_brand(conn, tenant_id, brand_id, details)
    except asyncpg.UniqueViolationError:
        raise _brand_name_taken(details.name) from None
    if brand is None:
        raise not_found("brand")
    return brand


# --- categories ---


async def create_category(
    conn: asyncpg.Connection, tenant_id: str, details: CategoryDetails
) -> store.Category:
    await store.lock_tree(conn, tenant_id)
    if details.parent_id and await store.find_category(conn, tenant_id, details.parent_id) is None:
        raise Invalid.field("parent_id", "no such category in this tenant", "value_error")
    category = await store.add_category(conn, tenant_id, details)
    await _publish_category(conn, tenant_id, category.id, CategoryChanged.of(category))
    return category


async def change_category(
    conn: asyncpg.Connection, tenant_id: str, category_id: uuid.UUID, details: CategoryDetails
) -> store.Category:
    """Rename or move a category; a move under itself or one of its descendants is refused (409)."""
    await store.lock_tree(conn, tenant_id)
    parent_of = await store.parents(conn, tenant_id)
    if category_id not in parent_of:
        raise not_found("category")
    if details.parent_id is not None and details.parent_id not in parent_of:
        raise Invalid.field("parent_id", "no such category in this tenant", "value_error")
    if moves_under_itself(category_id, details.parent_id, parent_of):
        raise Conflict(
            "category-cycle",
            "A category cannot move under itself",
            "the new parent is this category or one of its descendants: the tree would loop",
        )
    category = await store.update_category(conn, tenant_id, category_id, details)
    assert category is not None, "the tree is locked by this transaction"
    await _publish_category(conn, tenant_id, category.id, CategoryChanged.of(category))
    return category


async def delete_category(conn: asyncpg.Connection, tenant_id: str, category_id: uuid.UUID) -> None:
    await store.lock_tree(conn, tenant_id)
    if await store.category_in_use(conn, tenant_id, category_id):
        raise Conflict(
            "category-in-use", "Category in use", "move or delete its sub-categories and products first"
        )
    await store.delete_category(conn, tenant_id, category_id)
    await _publish_category(conn, tenant_id, category_id, CategoryDeleted(category_id=category_id))


async def _publish_category(
    conn: asyncpg.Connection, tenant_id: str, category_id: uuid.UUID, event: CategoryChanged | CategoryDeleted
) -> None:
    """Announce a change of the tree, keyed by the category: its changes stay in order."""
    await outbox.publish(conn, SERVICE, event, subject=str(category_id), tenant_id=tenant_id)


# --- customer groups ---


def _group_name_taken(name: str) -> Conflict:
    return Conflict("group-name-taken", "Group name already used", f"this tenant already has group {name!r}")


async def create_group(
    conn: asyncpg.Connection, tenant_id: str, details: GroupDetails
) -> pricing_store.Group:
    group = await pricing_store.add_group(conn, tenant_id, details)
    if group is None:
        raise _group_name_taken(details.name)
    return group


async def rename_group(
    conn: asyncpg.Connection, tenant_id: str, group_id: uuid.UUID, details: GroupDetails
) -> pricing_store.Group:
    try:
        group = await pricing_store.update_group(conn, tenant_id, group_id, details)
    except asyncpg.UniqueViolationError:
        raise _group_name_taken(details.name) from None
    if group is None:
        raise not_found("customer group")
    return group


async def delete_group(conn: asyncpg.Connection, tenant_id: str, group_id: uuid.UUID) -> None:
    if await pricing_store.group_in_use(conn, tenant_id, group_id):
        raise Conflict(
            "group-in-use",
            "Customer group in use",
            "organisations or price lists still name this group: change them first",
        )
    await pricing_store.delete_group(conn, tenant_id, group_id)


# --- organisation terms ---


async def replace_terms(
    conn: asyncpg.Connection, tenant_id: str, organisation_id: uuid.UUID, details: TermsDetails
) -> OrganisationTerms:
    """Set an organisation's group, assortment and entitlements as a whole, and announce them."""
    if details.group_id and await pricing_store.find_group(conn, tenant_id, details.group_id) is None:
        raise Invalid.field("group_id", "no such customer group in this tenant", "value_error")
    if details.assortment:
        known = await store.existing_products(conn, tenant_id, details.assortment)
        unknown = [str(product_id) for product_id in details.assortment if product_id not in known]
        if unknown:
            raise Invalid.field(
                "assortment", f"no such products in this tenant: {', '.join(unknown[:10])}", "value_error"
            )
    terms = OrganisationTerms(organisation_id=organisation_id, **details.model_dump())
    stored = await pricing_store.replace_terms(conn, tenant_id, terms)
    await publish(conn, tenant_id, organisation_id, OrganisationTermsChanged.of(stored))
    return stored


# --- price lists ---


async def _check_price_list(conn: asyncpg.Connection, tenant_id: str, details: PriceListDetails) -> None:
    """The list's brand and group are the tenant's, and it prices only products of its brand."""
    if await store.find_brand(conn, tenant_id, details.brand_id) is None:
        raise Invalid.field("brand_id", "no such brand in this tenant", "value_error")
    if details.group_id and await pricing_store.find_group(conn, tenant_id, details.group_id) is None:
        raise Invalid.field("group_id", "no such customer group in this tenant", "value_error")
    if details.organisation_id and not await pricing_store.organisation_known(
        conn, tenant_id, details.organisation_id
    ):
        raise unknown_organisation(details.organisation_id, "organisation_id")
    brand_of = await store.brands_of_products(conn, tenant_id, [p.product_id for p in details.prices])
    errors: list[FieldError] = []
    for index, entry in enumerate(details.prices):
        if entry.product_id not in brand_of:
            message = "no such product in this tenant"
        elif brand_of[entry.product_id] != details.brand_id:
            message = "this product is not of the list's brand"
        else:
            continue
        errors.append(FieldError(f"prices.{index}.product_id", message, "value_error"))
    if errors:
        raise Invalid(errors[:50])


def withdrawn() -> Conflict:
    return Conflict(
        "price-list-withdrawn",
        "Price list withdrawn",
        "a withdrawn list applies no more and cannot change: create a new one",
    )


async def create_price_list(conn: asyncpg.Connection, tenant_id: str, details: PriceListDetails) -> PriceList:
    await _check_price_list(conn, tenant_id, details)
    price_list = await pricing_store.add_price_list(conn, tenant_id, details)
    await publish(conn, tenant_id, price_list.id, PriceListChanged.of(price_list))
    return price_list


async def replace_price_list(
    conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID, details: PriceListDetails
) -> PriceList:
    """Replace a list's whole state (prices included), bump its version and announce it."""
    current = await pricing_store.lock_price_list(conn, tenant_id, list_id)
    if current is None:
        raise not_found("price list")
    if not current.active:
        raise withdrawn()
    await _check_price_list(conn, tenant_id, details)
    price_list = await pricing_store.replace_price_list(conn, tenant_id, list_id, details)
    await publish(conn, tenant_id, price_list.id, PriceListChanged.of(price_list))
    return price_list


async def withdraw_price_list(conn: asyncpg.Connection, tenant_id: str, list_id: uuid.UUID) -> PriceList:
    """Withdraw a list for good; withdrawing it again changes nothing and announces nothing."""
    current = await pricing_store.lock_price_list(conn, tenant_id, list_id)
    if current is None:
        raise not_found("price list")
    if not current.active:
        return current
    price_list = await pricing_store.withdraw_price_list(conn, tenant_id, list_id)
    await publish(conn, tenant_id, price_list.id, PriceListChanged.of(price_list))
    return price_list
