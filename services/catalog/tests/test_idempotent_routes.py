"""Every route of catalog declared idempotent, replayed with its key: the first answer again, and
nothing changed. A route declared idempotent without a recipe here fails the first test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from libs.devstack.testing import Replayable, assert_replayed_once, idempotent_routes
from services.catalog.app import Settings, build_spec
from services.catalog.tests.conftest import Catalog
from services.catalog.tests.test_files import PDF_BYTES, PNG_BYTES

pytestmark = pytest.mark.fast


def _admin(catalog: Catalog, content_type: str | None = None) -> dict[str, str]:
    headers = catalog.service.tokens.headers(**catalog.admin_a)
    return headers | ({"Content-Type": content_type} if content_type else {})


async def _product(catalog: Catalog) -> Replayable:
    body = {"code": "MUG", "name": "Mug", "price_minor": 1250, "currency": "EUR"}
    return Replayable("POST", "/products", _admin(catalog), json=body)


async def _brand(catalog: Catalog) -> Replayable:
    return Replayable("POST", "/brands", _admin(catalog), json={"name": "CeraVe"})


async def _category(catalog: Catalog) -> Replayable:
    return Replayable("POST", "/categories", _admin(catalog), json={"names": {"fr": "Soins"}})


async def _group(catalog: Catalog) -> Replayable:
    return Replayable("POST", "/customer-groups", _admin(catalog), json={"name": "Pharmacies"})


async def _price_list(catalog: Catalog) -> Replayable:
    brand = await catalog.brand()
    product = await catalog.priced("MUG", brand, 1000)
    body = {
        "name": "Tarif 2026",
        "scope": "brand",
        "brand_id": brand,
        "currency": "EUR",
        "prices": [{"product_id": product, "price_minor": 900}],
    }
    return Replayable("POST", "/price-lists", _admin(catalog), json=body)


async def _document(catalog: Catalog) -> Replayable:
    brand = await catalog.brand()
    path = f"/brands/{brand}/documents?kind=terms-of-sale&period=2026&title=CGV&filename=cgv.pdf"
    return Replayable("POST", path, _admin(catalog, "application/octet-stream"), data=PDF_BYTES)


async def _asset(catalog: Catalog) -> Replayable:
    path = "/assets?title=Packshots&filename=packshots.png"
    return Replayable("POST", path, _admin(catalog, "application/octet-stream"), data=PNG_BYTES)


RECIPES: dict[tuple[str, str], Callable[[Catalog], Awaitable[Replayable]]] = {
    ("POST", "/products"): _product,
    ("POST", "/brands"): _brand,
    ("POST", "/categories"): _category,
    ("POST", "/customer-groups"): _group,
    ("POST", "/price-lists"): _price_list,
    ("POST", "/brands/{brand_id}/documents"): _document,
    ("POST", "/assets"): _asset,
}


def test_every_idempotent_route_has_a_recipe() -> None:
    assert set(RECIPES) == idempotent_routes(build_spec(Settings()))


@pytest.mark.parametrize("route", sorted(RECIPES), ids=" ".join)
async def test_a_replay_answers_the_first_result_and_changes_nothing(
    route: tuple[str, str], catalog: Catalog
) -> None:
    request = await RECIPES[route](catalog)
    await assert_replayed_once(catalog.service.http, catalog.service.url, request, catalog.service.db)
