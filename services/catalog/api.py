"""Catalog's HTTP API for products, brands and categories: admins change them; every caller of the
tenant browses them, within their organisation's assortment and at their organisation's prices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, Endpoint, Owner, owned, path_uuid
from libs.common.auth import Principal, principal
from libs.common.clock import now
from libs.common.errors import Forbidden
from libs.common.http import json_response, read_json, read_query
from libs.common.runtime import POOL
from services.catalog import commands, store
from services.catalog.access import (
    ADMIN,
    brand_owner,
    is_admin,
    owned_by_tenant,
    pricing_viewer,
    the_brand,
    viewer_of,
)
from services.catalog.domain import (
    CODE_PATTERN,
    BrandDetails,
    CategoryDetails,
    Locale,
    NewCategory,
    NewProduct,
    ProductDetails,
    ProductStatus,
    ShownProduct,
    UnitPrice,
    Viewer,
    is_valid_code,
    price_for,
)

PriceSource = Literal["base", "brand", "group", "organisation"]


class PriceView(BaseModel):
    price_minor: int = Field(description="What the caller's organisation pays for one unit, in minor units")
    currency: str = Field(description="ISO 4217 currency of that price")
    source: PriceSource = Field(
        description="base: the product's base price; brand, group or organisation: the scope of the price"
        " list that set it"
    )
    price_list_id: uuid.UUID | None = Field(description="The price list that set it; null for the base price")

    @classmethod
    def of(cls, price: UnitPrice) -> PriceView:
        offer = price.offer
        return cls(
            price_minor=price.price_minor,
            currency=price.currency,
            source=offer.scope if offer else "base",
            price_list_id=uuid.UUID(offer.list_id) if offer else None,
        )


class ProductView(BaseModel):
    id: uuid.UUID = Field(description="The product's id")
    code: str = Field(description="The code partners type to order it, as the admin wrote it")
    name: str = Field(description="The product's default name")
    display_name: str = Field(description="The name in the asked locale, else the default name")
    display_description: str | None = Field(description="The description in the asked locale, else any")
    names: dict[Locale, str] = Field(description="The name per locale")
    descriptions: dict[Locale, str] = Field(description="The description per locale")
    ean: str | None = Field(description="EAN-13 or EAN-8 barcode")
    brand_id: uuid.UUID | None = Field(description="The product's brand")
    category_id: uuid.UUID | None = Field(description="The product's category")
    images: list[str] = Field(description="URLs of the product's pictures, main first")
    vat_rate_bp: int = Field(description="VAT rate in basis points: 2000 = 20 %")
    price_minor: int = Field(
        description="Base unit price in minor units of `currency`: where no list applies"
    )
    currency: str = Field(description="ISO 4217 currency of the base price")
    price: PriceView = Field(description="What the caller's organisation pays now (resolved by catalog)")
    active: bool = Field(description="False once retired: only admins still see it")
    status: ProductStatus = Field(description="active or retired")
    version: int = Field(description="1 on creation, +1 on each change")
    created_at: datetime = Field(description="When the product was added (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")

    @classmethod
    def of(
        cls, shown: ShownProduct, viewer: Viewer, at: datetime, locale: Locale | None = None
    ) -> ProductView:
        product = shown.product
        return cls(
            **product.model_dump(include=set(cls.model_fields)),
            display_name=product.name_in(locale),
            display_description=product.description_in(locale),
            price=PriceView.of(price_for(shown, viewer, at)),
            status=product.status,
        )


class ProductPage(BaseModel):
    items: list[ProductView] = Field(description="Products by code")
    next_after: str | None = Field(description="Pass it as `after` for the next page; null on the last page")


class ProductQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, min_length=1, max_length=100, description="Text in the code, EAN or a name")
    brand_id: uuid.UUID | None = Field(None, description="Only this brand's products")
    category_id: uuid.UUID | None = Field(None, description="Only products of this category or below it")
    status: Literal["active", "retired", "all"] = Field(
        "active", description="retired and all are for admins only"
    )
    locale: Locale | None = Field(None, description="Locale of `display_name`: fr, en or ru")
    after: str | None = Field(None, pattern=CODE_PATTERN, description="The `next_after` of the previous page")
    limit: int = Field(50, ge=1, le=200, description="Products per page")


class LocaleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Locale | None = Field(None, description="Locale of `display_name`: fr, en or ru")


def _locale(request: web.Request) -> Locale | None:
    return read_query(request, LocaleQuery).locale


# --- products ---


def _owner_of(shown: ShownProduct | None) -> Owner | None:
    return Owner(tenant_id=shown.product.tenant_id, resource=shown) if shown else None


async def product_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The product named by id, if the caller may see it: retired ones and those outside the caller's
    organisation's assortment are as absent as missing ones."""
    product_id = path_uuid(request, "product_id")
    if product_id is None:
        return None
    return _owner_of(await store.shown_by_id(request.app[POOL], viewer_of(caller), product_id))


async def product_by_code_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The product named by code, in one query (visibility, assortment and offers included): quick
    order looks codes up as they are typed."""
    code = request.match_info["code"]
    # A malformed code names no product: no need to ask the database.
    if not is_valid_code(code):
        return None
    return _owner_of(await store.shown_by_code(request.app[POOL], viewer_of(caller), code))


def _shown(request: web.Request) -> ShownProduct:
    """The product the route's owner lookup loaded."""
    return owned(request, ShownProduct)


async def _view_after_write(
    conn: asyncpg.Connection, request: web.Request, product_id: uuid.UUID
) -> ProductView:
    viewer = await pricing_viewer(request)
    shown = await store.shown_by_id(conn, viewer, product_id)
    assert shown is not None, "admins see every product of their tenant"
    return ProductView.of(shown, viewer, now(request))


async def create_product(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewProduct)

    conn = await idempotency.once(request, body)
    product = await commands.create_product(conn, caller.tenant_id, body)
    view = await _view_after_write(conn, request, product.id)
    return json_response(view, status=201)


async def update_product(request: web.Request) -> web.Response:
    found = _shown(request).product
    body = await read_json(request, ProductDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.update_product(conn, found.tenant_id, found.id, body)
        view = await _view_after_write(conn, request, found.id)
    return json_response(view)


async def list_products(request: web.Request) -> web.Response:
    caller = principal(request)
    query = read_query(request, ProductQuery)
    if query.status != "active" and not is_admin(caller):
        raise Forbidden("forbidden", "Forbidden", "only admins see retired products")
    viewer = await pricing_viewer(request)
    filters = store.Browse(
        active=query.status in ("active", "all"),
        retired=query.status in ("retired", "all"),
        brand_id=query.brand_id,
        category_id=query.category_id,
        text=query.q,
        after=query.after,
        limit=query.limit + 1,  # one more tells whether another page follows
    )
    found = await store.browse(request.app[POOL], viewer, filters)
    page, more = found[: query.limit], len(found) > query.limit
    at = now(request)
    return json_response(
        ProductPage(
            items=[ProductView.of(shown, viewer, at, query.locale) for shown in page],
            next_after=page[-1].product.code if more else None,
        )
    )


async def get_product(request: web.Request) -> web.Response:
    viewer = await pricing_viewer(request)
    return json_response(ProductView.of(_shown(request), viewer, now(request), _locale(request)))


async def get_product_by_code(request: web.Request) -> web.Response:
    viewer = await pricing_viewer(request)
    return json_response(ProductView.of(_shown(request), viewer, now(request), _locale(request)))


class ProductPrice(PriceView):
    product_id: uuid.UUID = Field(description="The product priced")
    at: datetime = Field(description="The moment the price was resolved at (UTC)")


async def get_product_price(request: web.Request) -> web.Response:
    shown = _shown(request)
    at = now(request)
    price = PriceView.of(price_for(shown, await pricing_viewer(request), at))
    return json_response(ProductPrice(**price.model_dump(), product_id=shown.product.id, at=at))


# --- brands ---


class BrandView(BaseModel):
    id: uuid.UUID = Field(description="The brand's id")
    name: str = Field(description="The brand's name")
    version: int = Field(description="1 on creation, +1 on each change")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, brand: store.Brand) -> BrandView:
        return cls(
            id=brand.id,
            name=brand.name,
            version=brand.version,
            created_at=brand.created_at,
            updated_at=brand.updated_at,
        )


class BrandList(RootModel[list[BrandView]]):
    """The tenant's brands by name."""


async def create_brand(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, BrandDetails)

    conn = await idempotency.once(request, body)
    brand = await commands.create_brand(conn, caller.tenant_id, body)
    return json_response(BrandView.of(brand), status=201)


async def rename_brand(request: web.Request) -> web.Response:
    brand = the_brand(request)
    body = await read_json(request, BrandDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        renamed = await commands.rename_brand(conn, brand.tenant_id, brand.id, body)
    return json_response(BrandView.of(renamed))


async def list_brands(request: web.Request) -> web.Response:
    brands = await store.list_brands(request.app[POOL], principal(request).tenant_id)
    return json_response(BrandList([BrandView.of(brand) for brand in brands]))


async def get_brand(request: web.Request) -> web.Response:
    return json_response(BrandView.of(the_brand(request)))


# --- categories ---


class CategoryView(BaseModel):
    id: uuid.UUID = Field(description="The category's id")
    parent_id: uuid.UUID | None = Field(description="Its parent, null at the top of the tree")
    names: dict[Locale, str] = Field(description="Its name per locale")
    version: int = Field(description="1 on creation, +1 on each change")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, category: store.Category) -> CategoryView:
        return cls(
            id=category.id,
            parent_id=category.parent_id,
            names=category.names,
            version=category.version,
            created_at=category.created_at,
            updated_at=category.updated_at,
        )


class CategoryList(RootModel[list[CategoryView]]):
    """The tenant's whole category tree, flat: each category names its parent."""


category_owner = owned_by_tenant("category_id", store.find_category)


def _category(request: web.Request) -> store.Category:
    return owned(request, store.Category)


async def create_category(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewCategory)

    conn = await idempotency.once(request, body)
    category = await commands.create_category(conn, caller.tenant_id, body)
    return json_response(CategoryView.of(category), status=201)


async def change_category(request: web.Request) -> web.Response:
    category = _category(request)
    body = await read_json(request, CategoryDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        changed = await commands.change_category(conn, category.tenant_id, category.id, body)
    return json_response(CategoryView.of(changed))


async def delete_category(request: web.Request) -> web.Response:
    category = _category(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await commands.delete_category(conn, category.tenant_id, category.id)
    return web.Response(status=204)


async def list_categories(request: web.Request) -> web.Response:
    categories = await store.list_categories(request.app[POOL], principal(request).tenant_id)
    return json_response(CategoryList([CategoryView.of(category) for category in categories]))


async def get_category(request: web.Request) -> web.Response:
    return json_response(CategoryView.of(_category(request)))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/products",
        create_product,
        "Add a product to the tenant's catalog",
        roles=ADMIN,
        body=NewProduct,
        response=ProductView,
        status=201,
        idempotent=True,
        problems={409: "The code or EAN is taken"},
    ),
    Endpoint(
        "GET",
        "/products",
        list_products,
        "Browse the products the caller may see, by code, a page at a time, at the caller's prices",
        roles=AUTHENTICATED,
        query=ProductQuery,
        response=ProductPage,
    ),
    Endpoint(
        "GET",
        "/products/by-code/{code}",
        get_product_by_code,
        "A product by its code, whatever its case (404 outside the caller's assortment)",
        roles=AUTHENTICATED,
        query=LocaleQuery,
        response=ProductView,
        owner=product_by_code_owner,
    ),
    Endpoint(
        "GET",
        "/products/{product_id}",
        get_product,
        "A product by its id (404 outside the caller's assortment)",
        roles=AUTHENTICATED,
        query=LocaleQuery,
        response=ProductView,
        owner=product_owner,
    ),
    Endpoint(
        "GET",
        "/products/{product_id}/price",
        get_product_price,
        "What the caller's organisation pays for the product now, and which price list set it",
        roles=AUTHENTICATED,
        response=ProductPrice,
        owner=product_owner,
    ),
    Endpoint(
        "PUT",
        "/products/{product_id}",
        update_product,
        "Replace a product's whole state but its code (active false retires it)",
        roles=ADMIN,
        body=ProductDetails,
        response=ProductView,
        owner=product_owner,
        problems={409: "The EAN is taken"},
    ),
    Endpoint(
        "POST",
        "/brands",
        create_brand,
        "Add a brand",
        roles=ADMIN,
        body=BrandDetails,
        response=BrandView,
        status=201,
        idempotent=True,
        problems={409: "The name is taken"},
    ),
    Endpoint("GET", "/brands", list_brands, "The tenant's brands", roles=AUTHENTICATED, response=BrandList),
    Endpoint(
        "GET",
        "/brands/{brand_id}",
        get_brand,
        "A brand",
        roles=AUTHENTICATED,
        response=BrandView,
        owner=brand_owner,
    ),
    Endpoint(
        "PUT",
        "/brands/{brand_id}",
        rename_brand,
        "Rename a brand",
        roles=ADMIN,
        body=BrandDetails,
        response=BrandView,
        owner=brand_owner,
        problems={409: "The name is taken"},
    ),
    Endpoint(
        "POST",
        "/categories",
        create_category,
        "Add a category, at the top of the tree or under a parent",
        roles=ADMIN,
        body=NewCategory,
        response=CategoryView,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/categories",
        list_categories,
        "The tenant's category tree (flat, each naming its parent)",
        roles=AUTHENTICATED,
        response=CategoryList,
    ),
    Endpoint(
        "GET",
        "/categories/{category_id}",
        get_category,
        "A category",
        roles=AUTHENTICATED,
        response=CategoryView,
        owner=category_owner,
    ),
    Endpoint(
        "PUT",
        "/categories/{category_id}",
        change_category,
        "Rename or move a category (409 under itself or its descendants)",
        roles=ADMIN,
        body=CategoryDetails,
        response=CategoryView,
        owner=category_owner,
        problems={409: "The category would move under itself"},
    ),
    Endpoint(
        "DELETE",
        "/categories/{category_id}",
        delete_category,
        "Delete a category without sub-categories or products",
        roles=ADMIN,
        status=204,
        owner=category_owner,
        problems={409: "The category holds sub-categories or products"},
    ),
]
