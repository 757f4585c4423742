"""Business limits: a unit price is at most 10^8 minor units, in a product's base price, a price
list, an import of either, and in the database."""

from __future__ import annotations

import json

import asyncpg
import pytest

from libs.common.limits import MAX_UNIT_PRICE_MINOR
from services.catalog.tests.conftest import Catalog

pytestmark = pytest.mark.fast

PUT_FIELDS = {"name", "price_minor", "currency", "active", "brand_id", "category_id", "ean"}
PUT_FIELDS |= {"names", "descriptions", "images", "vat_rate_bp"}


async def test_a_product_priced_at_the_limit_is_accepted_and_one_minor_unit_more_refused(
    catalog: Catalog,
) -> None:
    body = {"code": "OVER", "name": "Dear", "price_minor": MAX_UNIT_PRICE_MINOR + 1, "currency": "EUR"}
    status, problem, _ = await catalog.call("POST", "/products", catalog.admin_a, body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["price_minor"], problem

    product = await catalog.create("DEAR", MAX_UNIT_PRICE_MINOR)
    assert product["price_minor"] == MAX_UNIT_PRICE_MINOR
    whole = {k: v for k, v in product.items() if k in PUT_FIELDS} | {"price_minor": MAX_UNIT_PRICE_MINOR + 1}
    status, problem, _ = await catalog.call("PUT", f"/products/{product['id']}", catalog.admin_a, whole)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["price_minor"], problem
    assert [event["data"]["price_minor"] for _, event in await catalog.events()] == [MAX_UNIT_PRICE_MINOR]


async def test_a_price_list_price_is_at_most_the_limit(catalog: Catalog) -> None:
    brand = await catalog.brand()
    cream = await catalog.priced("CREAM", brand, 1000)
    body = {
        "name": "list",
        "scope": "brand",
        "brand_id": brand,
        "currency": "EUR",
        "prices": [{"product_id": cream, "price_minor": MAX_UNIT_PRICE_MINOR + 1}],
    }
    status, problem, _ = await catalog.call("POST", "/price-lists", catalog.admin_a, body)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["prices.0.price_minor"], problem

    price_list = await catalog.price_list(brand, {cream: MAX_UNIT_PRICE_MINOR})
    assert price_list["prices"][0]["price_minor"] == MAX_UNIT_PRICE_MINOR


async def test_an_import_over_the_price_limit_is_refused_naming_the_line(catalog: Catalog) -> None:
    brand = await catalog.brand()
    cream = await catalog.priced("CREAM", brand, 1000)
    price_list = await catalog.price_list(brand, {cream: 900})
    over, limit = MAX_UNIT_PRICE_MINOR + 1, MAX_UNIT_PRICE_MINOR
    for path, csv in (
        ("/imports/products", f"code,name,price_minor,currency\nNEW,New,{over},EUR\n"),
        (f"/imports/price-lists/{price_list['id']}", f"code;price_minor\nCREAM;{over}\n"),
    ):
        status, body, _ = await catalog.send(
            "POST", path, catalog.admin_a, csv.encode(), content_type="text/csv"
        )
        problem = json.loads(body)
        assert status == 422 and [(e["line"], e["field"]) for e in problem["errors"]] == [
            (2, "price_minor")
        ], problem
    for path, csv in (
        ("/imports/products", f"code,name,price_minor,currency\nNEW,New,{limit},EUR\n"),
        (f"/imports/price-lists/{price_list['id']}", f"code;price_minor\nCREAM;{limit}\n"),
    ):
        status, body, _ = await catalog.send(
            "POST", path, catalog.admin_a, csv.encode(), content_type="text/csv"
        )
        assert status == 200, body


@pytest.mark.parametrize("table", ["products", "price_list_prices"])
async def test_the_database_refuses_a_price_over_the_limit_written_directly(
    catalog: Catalog, table: str
) -> None:
    brand = await catalog.brand()
    cream = await catalog.priced("CREAM", brand, 1000)
    await catalog.price_list(brand, {cream: 900})
    with pytest.raises(asyncpg.CheckViolationError):
        await catalog.db.execute(
            f"UPDATE {table} SET price_minor = $1 WHERE tenant_id = $2",
            MAX_UNIT_PRICE_MINOR + 1,
            catalog.tenant_a,
        )
