"""Adding, changing and reading products: who may, what they see, what is refused, what is announced."""

from __future__ import annotations

from typing import Any

import pytest

from services.catalog.tests.conftest import Catalog

pytestmark = pytest.mark.fast

NOT_FOUND = "urn:comptoir:problem:not-found"


def changes(**overrides: Any) -> dict[str, Any]:
    """A valid PUT body: a product's whole state but its code."""
    return {
        "name": "Crème riche",
        "price_minor": 1490,
        "currency": "EUR",
        "active": True,
        "brand_id": None,
        "category_id": None,
        "ean": None,
        "names": {},
        "descriptions": {},
        "images": [],
        "vat_rate_bp": 2000,
        **overrides,
    }


async def test_an_admin_adds_a_product_and_its_full_state_is_announced(catalog: Catalog) -> None:
    body = {"code": "Sku-1.a_B", "name": "Crème de jour", "price_minor": 1250, "currency": "EUR"}
    status, product, _ = await catalog.call("POST", "/products", catalog.admin_a, body)

    assert status == 201, product
    assert {k: product[k] for k in body} == body  # the code is kept as typed
    assert product["active"] is True and product["version"] == 1
    assert product["created_at"] == product["updated_at"]
    assert (await catalog.call("GET", f"/products/{product['id']}", catalog.admin_a))[:2] == (200, product)

    [(key, event)] = await catalog.events()
    assert key == event["subject"] == product["id"]
    assert event["type"] == "catalog.product.created" and event["source"] == "catalog"
    assert event["tenantid"] == catalog.tenant_a
    assert event["dataschema"] == "urn:comptoir:event:catalog.product.created:v1"
    assert event["data"] == {
        "product_id": product["id"],
        "code": "Sku-1.a_B",
        "name": "Crème de jour",
        "price_minor": 1250,
        "currency": "EUR",
        "active": True,
        "version": 1,
        "brand_id": None,
        "vat_rate_bp": 2000,
        "status": "active",
        "category_id": None,
    }


async def test_partners_cannot_add_or_change_products_and_strangers_nothing(catalog: Catalog) -> None:
    product = await catalog.create("MUG")
    new = {"code": "TEA", "name": "Tea", "price_minor": 399, "currency": "EUR"}
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/products", new),
        ("PUT", f"/products/{product['id']}", changes()),
    ]
    for method, path, body in calls:
        status, problem, _ = await catalog.call(method, path, catalog.partner_a, body)
        assert status == 403, (method, path)
        assert "admin" in problem["detail"]
        status, _, _ = await catalog.call(method, path, None, body)
        assert status == 401
    for path in ("/products", f"/products/{product['id']}", "/products/by-code/MUG"):
        assert (await catalog.call("GET", path, None))[0] == 401
    assert await catalog.product_count() == 1
    assert len(await catalog.events()) == 1
    assert (await catalog.call("GET", f"/products/{product['id']}", catalog.admin_a))[1] == product


async def test_another_tenant_cannot_read_or_change_a_product_by_its_real_id(catalog: Catalog) -> None:
    product = await catalog.create("MUG")
    path = f"/products/{product['id']}"

    for method, body in (("GET", None), ("PUT", changes(price_minor=1))):
        status, problem, _ = await catalog.call(method, path, catalog.admin_b, body)
        assert status == 404, method
        # The shared guard answers: another tenant's product is exactly as absent as a missing one.
        assert problem["type"] == NOT_FOUND
    assert (await catalog.call("GET", "/products/by-code/MUG", catalog.admin_b))[0] == 404
    assert (await catalog.call("GET", "/products", catalog.admin_b))[:2] == (
        200,
        {"items": [], "next_after": None},
    )
    assert (await catalog.call("GET", path, catalog.admin_a))[1] == product
    assert len(await catalog.events()) == 1


async def test_unknown_or_malformed_product_ids_are_404(catalog: Catalog) -> None:
    for product_id in ("7b0cf1f4-9bd5-4a5e-8d1a-0d0d0d0d0d0d", "not-a-uuid"):
        path = f"/products/{product_id}"
        assert (await catalog.call("GET", path, catalog.admin_a))[0] == 404
        assert (await catalog.call("PUT", path, catalog.admin_a, changes()))[0] == 404
    assert await catalog.events() == []


async def test_a_code_taken_in_any_case_is_409_and_adds_nothing(catalog: Catalog) -> None:
    await catalog.create("Mug-1")

    body = {"code": "MUG-1", "name": "Another mug", "price_minor": 1, "currency": "EUR"}
    status, problem, _ = await catalog.call("POST", "/products", catalog.admin_a, body)

    assert status == 409
    assert problem["type"] == "urn:comptoir:problem:product-code-taken"
    assert "MUG-1" in problem["detail"]
    assert await catalog.product_count() == 1
    assert len(await catalog.events()) == 1
    # Codes are unique per tenant: another tenant may use the same one.
    assert (await catalog.call("POST", "/products", catalog.admin_b, body))[0] == 201


VALID = {"code": "MUG", "name": "Mug", "price_minor": 1250, "currency": "EUR"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_minor": -1}, "price_minor"),
        ({"price_minor": "1250"}, "price_minor"),
        ({"price_minor": 12.5}, "price_minor"),
        ({"price_minor": 2**63}, "price_minor"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"code": "MUG 1"}, "code"),
        ({"code": "mug/1"}, "code"),
        ({"code": "crème"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "X" * 33}, "code"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"name": "N" * 201}, "name"),
        ({"active": "yes"}, "active"),
        ({"colour": "red"}, "colour"),
        ({"code": None}, "code"),
    ],
)
async def test_an_invalid_new_product_is_422_naming_the_field_and_adds_nothing(
    catalog: Catalog, change: dict[str, Any], field: str
) -> None:
    status, problem, _ = await catalog.call("POST", "/products", catalog.admin_a, {**VALID, **change})

    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await catalog.product_count() == 0
    assert await catalog.events() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (changes(price_minor=-5), "price_minor"),
        (changes(currency="E1R"), "currency"),
        (changes(code="OTHER"), "code"),  # the code never changes
        ({k: v for k, v in changes().items() if k != "active"}, "active"),  # a PUT gives the whole state
        ({k: v for k, v in changes().items() if k != "vat_rate_bp"}, "vat_rate_bp"),
    ],
)
async def test_an_invalid_update_is_422_naming_the_field_and_changes_nothing(
    catalog: Catalog, body: dict[str, Any], field: str
) -> None:
    product = await catalog.create("MUG")

    status, problem, _ = await catalog.call("PUT", f"/products/{product['id']}", catalog.admin_a, body)

    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == [field]
    assert (await catalog.call("GET", f"/products/{product['id']}", catalog.admin_a))[1] == product
    assert len(await catalog.events()) == 1


async def test_malformed_json_is_400_and_adds_nothing(catalog: Catalog) -> None:
    headers = {**catalog.service.tokens.headers(**catalog.admin_a), "Content-Type": "application/json"}
    async with catalog.service.http.post(
        f"{catalog.service.url}/products", data=b"{not json", headers=headers
    ) as resp:
        assert resp.status == 400
    assert await catalog.product_count() == 0


async def test_a_replayed_create_answers_the_first_result_and_adds_once(catalog: Catalog) -> None:
    body = {"code": "MUG", "name": "Mug", "price_minor": 1250, "currency": "EUR"}

    first = await catalog.call("POST", "/products", catalog.admin_a, body, key="create-mug")
    again = await catalog.call("POST", "/products", catalog.admin_a, body, key="create-mug")

    assert first[0] == again[0] == 201
    assert again[1] == first[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert await catalog.product_count() == 1
    assert len(await catalog.events()) == 1
    # The same key with another body is refused rather than answered with the wrong product.
    tea = {**body, "code": "TEA"}
    other = await catalog.call("POST", "/products", catalog.admin_a, tea, key="create-mug")
    assert other[0] == 422 and other[1]["type"] == "urn:comptoir:problem:idempotency-key-reused"
    # Keys belong to one caller: another tenant's admin with the same key adds its own product.
    theirs = await catalog.call("POST", "/products", catalog.admin_b, body, key="create-mug")
    assert theirs[0] == 201 and theirs[1]["id"] != first[1]["id"]


async def test_partners_list_only_active_products_and_admins_list_all_by_code(catalog: Catalog) -> None:
    tea = await catalog.create("tea")
    mug = await catalog.create("MUG")
    old = await catalog.create("Apron", active=False)
    assert old["active"] is False

    status, seen_by_admin, _ = await catalog.call("GET", "/products?status=all", catalog.admin_a)
    assert status == 200 and seen_by_admin == {"items": [old, mug, tea], "next_after": None}
    status, seen_by_partner, _ = await catalog.call("GET", "/products", catalog.partner_a)
    assert status == 200 and seen_by_partner["items"] == [mug, tea]

    assert (await catalog.call("GET", f"/products/{old['id']}", catalog.partner_a))[0] == 404
    assert (await catalog.call("GET", f"/products/{old['id']}", catalog.admin_a))[1] == old
    assert (await catalog.call("GET", f"/products/{mug['id']}", catalog.partner_a))[1] == mug


async def test_a_product_is_found_by_its_code_in_any_case(catalog: Catalog) -> None:
    product = await catalog.create("Sku-42.b")

    for typed in ("Sku-42.b", "SKU-42.B", "sku-42.b"):
        status, found, _ = await catalog.call("GET", f"/products/by-code/{typed}", catalog.partner_a)
        assert (status, found) == (200, product), typed
    for unknown in ("SKU-43", "sku 42", "%C3%A9"):
        status, problem, _ = await catalog.call("GET", f"/products/by-code/{unknown}", catalog.partner_a)
        assert status == 404, unknown
        assert problem["type"] == NOT_FOUND

    await catalog.call("PUT", f"/products/{product['id']}", catalog.admin_a, changes(active=False))
    assert (await catalog.call("GET", "/products/by-code/SKU-42.B", catalog.partner_a))[0] == 404
    assert (await catalog.call("GET", "/products/by-code/SKU-42.B", catalog.admin_a))[0] == 200


async def test_an_admin_puts_a_withdrawn_product_back_on_sale_and_partners_see_it_again(
    catalog: Catalog,
) -> None:
    product = await catalog.create("MUG", active=False)
    path = f"/products/{product['id']}"
    assert (await catalog.call("GET", path, catalog.partner_a))[0] == 404

    status, back, _ = await catalog.call("PUT", path, catalog.admin_a, changes(active=True))

    assert status == 200 and back["active"] is True and back["version"] == 2
    assert (await catalog.call("GET", path, catalog.partner_a))[1] == back
    assert (await catalog.call("GET", "/products/by-code/mug", catalog.partner_a))[1] == back


@pytest.mark.parametrize(
    ("path", "field", "kind"),
    [
        ("/products?q=%00", "q", "control_character"),
        ("/products?q=cr%C3%A8me%0A", "q", "line_break"),
        ("/products/by-code/MUG%00", "code", "control_character"),
    ],
)
async def test_a_control_character_in_a_search_or_path_is_a_422_naming_it(
    catalog: Catalog, path: str, field: str, kind: str
) -> None:
    status, problem, _ = await catalog.call("GET", path, catalog.admin_a)

    assert status == 422, problem
    assert [(error["field"], error["type"]) for error in problem["errors"]] == [(field, kind)]


async def test_a_description_keeps_its_line_breaks_and_tabs_but_a_name_is_one_line(catalog: Catalog) -> None:
    product = await catalog.create("MUG")
    layout = "Ingrédients :\n\t- eau\r\n\t- glycérine"

    status, changed, _ = await catalog.call(
        "PUT", f"/products/{product['id']}", catalog.admin_a, changes(descriptions={"fr": layout})
    )
    assert status == 200, changed
    assert changed["descriptions"] == {"fr": layout}
    status, problem, _ = await catalog.call(
        "PUT", f"/products/{product['id']}", catalog.admin_a, changes(name="Crème\nriche")
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["name"], problem
