"""Catalog's HTTP API: admins add and change products; every caller of the tenant reads them."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field, RootModel

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, Endpoint, Owner, owner, roles
from libs.common.auth import Principal, principal
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.catalog import commands, store
from services.catalog.domain import NewProduct, Product, ProductDetails, is_valid_code, visible_to

ADMIN_ROLE = "admin"


class ProductView(BaseModel):
    id: uuid.UUID = Field(description="The product's id")
    code: str = Field(description="The code partners type to order it, as the admin wrote it")
    name: str = Field(description="The product's name")
    price_minor: int = Field(description="Unit price in minor units of `currency` (cents)")
    currency: str = Field(description="ISO 4217 currency of the price")
    active: bool = Field(description="False once withdrawn: only admins still see it")
    version: int = Field(description="1 on creation, +1 on each change")
    created_at: datetime = Field(description="When the product was added (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")

    @classmethod
    def of(cls, product: Product) -> ProductView:
        return cls.model_validate(product.model_dump(include=set(cls.model_fields)))


class ProductList(RootModel[list[ProductView]]):
    """Products ordered by code."""


def _is_admin(caller: Principal) -> bool:
    return caller.has_role(ADMIN_ROLE)


def _owner_of(product: Product | None, caller: Principal) -> Owner | None:
    """A product belongs to its tenant; a withdrawn one is as absent as a missing one to non-admins."""
    if product is None or not visible_to(product, is_admin=_is_admin(caller)):
        return None
    return Owner(tenant_id=product.tenant_id, resource=product)


async def product_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The product named by id in the path; an id that is not a UUID names no product."""
    try:
        product_id = uuid.UUID(request.match_info["product_id"])
    except ValueError:
        return None
    return _owner_of(await store.find_product(request.app[POOL], caller.tenant_id, product_id), caller)


async def product_by_code_owner(request: web.Request, caller: Principal) -> Owner | None:
    """The product named by code in the path, in one query: quick order looks codes up as they are typed."""
    code = request.match_info["code"]
    # A malformed code names no product: no need to ask the database.
    if not is_valid_code(code):
        return None
    return _owner_of(await store.find_by_code(request.app[POOL], caller.tenant_id, code), caller)


def _product(request: web.Request) -> Product:
    """The product the route's owner lookup loaded."""
    product: Product = owner(request).resource
    return product


async def create_product(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, NewProduct)
    once = idempotency.Once.of(request, f"{caller.tenant_id}:{caller.account_id}:create_product", body)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        if (replayed := await once.replay(conn)) is not None:
            return replayed
        view = ProductView.of(await commands.create_product(conn, caller.tenant_id, body))
        await once.remember(conn, 201, view)
    return json_response(view, status=201)


async def update_product(request: web.Request) -> web.Response:
    found = _product(request)
    body = await read_json(request, ProductDetails)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        product = await commands.update_product(conn, found.tenant_id, found.id, body)
    return json_response(ProductView.of(product))


async def list_products(request: web.Request) -> web.Response:
    caller = principal(request)
    products = await store.list_products(
        request.app[POOL], caller.tenant_id, include_inactive=_is_admin(caller)
    )
    return json_response(ProductList([ProductView.of(p) for p in products]))


async def get_product(request: web.Request) -> web.Response:
    return json_response(ProductView.of(_product(request)))


async def get_product_by_code(request: web.Request) -> web.Response:
    return json_response(ProductView.of(_product(request)))


ADMIN = roles(ADMIN_ROLE)

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
    ),
    Endpoint(
        "GET",
        "/products",
        list_products,
        "The tenant's products by code (inactive ones for admins only)",
        roles=AUTHENTICATED,
        response=ProductList,
    ),
    Endpoint(
        "GET",
        "/products/by-code/{code}",
        get_product_by_code,
        "A product by its code, whatever its case",
        roles=AUTHENTICATED,
        response=ProductView,
        owner=product_by_code_owner,
    ),
    Endpoint(
        "GET",
        "/products/{product_id}",
        get_product,
        "A product by its id",
        roles=AUTHENTICATED,
        response=ProductView,
        owner=product_owner,
    ),
    Endpoint(
        "PUT",
        "/products/{product_id}",
        update_product,
        "Change a product's name, price, currency or availability (its code never changes)",
        roles=ADMIN,
        body=ProductDetails,
        response=ProductView,
        owner=product_owner,
    ),
]
