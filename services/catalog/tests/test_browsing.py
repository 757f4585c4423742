"""Brands, the category tree, rich products, and browsing them: filters, search, pages, locales and the
organisation's assortment (an organisation sees only the products of its assortment)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.catalog.tests.conftest import Catalog

pytestmark = pytest.mark.fast

NOT_FOUND = "urn:comptoir:problem:not-found"


async def codes(catalog: Catalog, query: str, caller: dict[str, Any] | None = None) -> list[str]:
    status, page, _ = await catalog.call("GET", f"/products{query}", caller or catalog.admin_a)
    assert status == 200, page
    return [item["code"] for item in page["items"]]


async def test_a_product_carries_brand_category_ean_locales_images_and_vat(catalog: Catalog) -> None:
    brand = await catalog.brand("Vichy")
    category = (await catalog.admin("POST", "/categories", {"names": {"fr": "Soins", "en": "Care"}}, 201))[
        "id"
    ]
    body = {
        "code": "VIC-1",
        "name": "Minéral 89",
        "price_minor": 2490,
        "currency": "EUR",
        "brand_id": brand,
        "category_id": category,
        "ean": "3337875597210",
        "names": {"fr": "Minéral 89 booster", "ru": "Минерал 89"},
        "descriptions": {"fr": "Fortifiant quotidien."},
        "images": ["https://cdn.example.com/vic-1.png"],
        "vat_rate_bp": 550,
    }

    product = await catalog.admin("POST", "/products", body, 201)

    assert {k: product[k] for k in body} == body
    assert product["status"] == "active" and product["display_name"] == "Minéral 89"
    assert product["price"] == {
        "price_minor": 2490,
        "currency": "EUR",
        "source": "base",
        "price_list_id": None,
    }
    seen = await catalog.admin("GET", f"/products/{product['id']}?locale=ru")
    assert (seen["display_name"], seen["display_description"]) == ("Минерал 89", "Fortifiant quotidien.")
    [(_, event)] = await catalog.events()
    assert (event["data"]["brand_id"], event["data"]["vat_rate_bp"], event["data"]["status"]) == (
        brand,
        550,
        "active",
    )
    assert event["data"]["category_id"] == category  # the counter's rules and segments read it


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ean": "3337875597211"}, "ean"),  # wrong check digit
        ({"ean": "33378755972"}, "ean"),
        ({"brand_id": str(uuid.uuid4())}, "brand_id"),
        ({"category_id": str(uuid.uuid4())}, "category_id"),
        ({"vat_rate_bp": -1}, "vat_rate_bp"),
        ({"names": {"xx": "?"}}, "names.xx.[key]"),
    ],
)
async def test_a_product_with_a_bad_ean_or_an_unknown_brand_or_category_is_422(
    catalog: Catalog, change: dict[str, Any], field: str
) -> None:
    body = {"code": "MUG", "name": "Mug", "price_minor": 1, "currency": "EUR", **change}

    status, problem, _ = await catalog.call("POST", "/products", catalog.admin_a, body)

    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await catalog.product_count() == 0 and await catalog.events() == []


async def test_another_tenants_brand_is_unknown_here(catalog: Catalog) -> None:
    theirs = (await catalog.call("POST", "/brands", catalog.admin_b, {"name": "Theirs"}))[1]["id"]
    body = {"code": "MUG", "name": "Mug", "price_minor": 1, "currency": "EUR", "brand_id": theirs}

    status, problem, _ = await catalog.call("POST", "/products", catalog.admin_a, body)

    assert status == 422 and problem["errors"][0]["field"] == "brand_id"
    assert (await catalog.call("GET", f"/brands/{theirs}", catalog.partner_a))[0] == 404


async def test_an_ean_is_unique_in_the_tenant(catalog: Catalog) -> None:
    await catalog.create("A", ean="4006381333931")
    other = await catalog.create("B")

    status, problem, _ = await catalog.call(
        "POST",
        "/products",
        catalog.admin_a,
        {"code": "C", "name": "C", "price_minor": 1, "currency": "EUR", "ean": "4006381333931"},
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:product-ean-taken"
    put = {
        k: other[k]
        for k in (
            "name",
            "price_minor",
            "currency",
            "active",
            "brand_id",
            "category_id",
            "names",
            "descriptions",
            "images",
            "vat_rate_bp",
        )
    }
    status, problem, _ = await catalog.call(
        "PUT", f"/products/{other['id']}", catalog.admin_a, {**put, "ean": "4006381333931"}
    )
    assert status == 409
    assert await catalog.product_count() == 2 and len(await catalog.events()) == 2


async def test_brand_names_are_unique_whatever_their_case_and_partners_read_brands(catalog: Catalog) -> None:
    brand = await catalog.brand("La Roche-Posay")
    assert (await catalog.call("POST", "/brands", catalog.admin_a, {"name": "la roche-posay"}))[0] == 409
    other = await catalog.brand("CeraVe")
    assert (await catalog.call("PUT", f"/brands/{other}", catalog.admin_a, {"name": "LA ROCHE-POSAY"}))[
        0
    ] == 409

    renamed = await catalog.admin("PUT", f"/brands/{brand}", {"name": "La Roche-Posay Pro"})

    assert renamed["version"] == 2
    status, brands, _ = await catalog.call("GET", "/brands", catalog.partner_a)
    assert status == 200 and [b["name"] for b in brands] == ["CeraVe", "La Roche-Posay Pro"]


async def test_the_category_tree_refuses_a_move_under_its_own_descendant(catalog: Catalog) -> None:
    face = (await catalog.admin("POST", "/categories", {"names": {"fr": "Visage"}}, 201))["id"]
    creams = (
        await catalog.admin("POST", "/categories", {"parent_id": face, "names": {"fr": "Crèmes"}}, 201)
    )["id"]
    night = (
        await catalog.admin("POST", "/categories", {"parent_id": creams, "names": {"en": "Night"}}, 201)
    )["id"]

    for new_parent in (night, face):
        status, problem, _ = await catalog.call(
            "PUT",
            f"/categories/{face}",
            catalog.admin_a,
            {"parent_id": new_parent, "names": {"fr": "Visage"}},
        )
        assert status == 409, problem
        assert problem["type"] == "urn:comptoir:problem:category-cycle"

    moved = await catalog.admin("PUT", f"/categories/{night}", {"parent_id": face, "names": {"en": "Night"}})
    assert moved["parent_id"] == face and moved["version"] == 2
    tree = await catalog.admin("GET", "/categories")
    assert {c["id"]: c["parent_id"] for c in tree} == {face: None, creams: face, night: face}
    unknown = {"parent_id": str(uuid.uuid4()), "names": {"fr": "X"}}
    assert (await catalog.call("POST", "/categories", catalog.admin_a, unknown))[0] == 422
    assert (await catalog.call("POST", "/categories", catalog.admin_a, {"names": {}}))[0] == 422


async def test_a_category_in_use_cannot_be_deleted(catalog: Catalog) -> None:
    face = (await catalog.admin("POST", "/categories", {"names": {"fr": "Visage"}}, 201))["id"]
    creams = (
        await catalog.admin("POST", "/categories", {"parent_id": face, "names": {"fr": "Crèmes"}}, 201)
    )["id"]
    await catalog.create("MUG", category_id=creams)

    assert (await catalog.call("DELETE", f"/categories/{face}", catalog.admin_a))[0] == 409
    assert (await catalog.call("DELETE", f"/categories/{creams}", catalog.admin_a))[0] == 409
    empty = (await catalog.admin("POST", "/categories", {"names": {"fr": "Vide"}}, 201))["id"]
    assert (await catalog.call("DELETE", f"/categories/{empty}", catalog.admin_a))[0] == 204
    assert (await catalog.call("GET", f"/categories/{empty}", catalog.admin_a))[0] == 404


async def test_the_category_tree_is_announced_category_by_category(catalog: Catalog) -> None:
    face = (await catalog.admin("POST", "/categories", {"names": {"fr": "Visage"}}, 201))["id"]
    creams = (
        await catalog.admin("POST", "/categories", {"parent_id": face, "names": {"fr": "Crèmes"}}, 201)
    )["id"]
    await catalog.admin(
        "PUT", f"/categories/{creams}", {"parent_id": None, "names": {"fr": "Crèmes", "en": "Creams"}}
    )
    assert (await catalog.call("DELETE", f"/categories/{face}", catalog.admin_a))[0] == 204
    refused = await catalog.call(
        "PUT", f"/categories/{creams}", catalog.admin_a, {"parent_id": creams, "names": {"fr": "X"}}
    )
    assert refused[0] == 409  # refused: nothing announced

    announced = [(key, e["type"], e["data"]) for key, e in await catalog.events("catalog.category.v1")]
    assert announced == [
        (
            face,
            "catalog.category.changed",
            {"category_id": face, "parent_id": None, "names": {"fr": "Visage"}, "version": 1},
        ),
        (
            creams,
            "catalog.category.changed",
            {"category_id": creams, "parent_id": face, "names": {"fr": "Crèmes"}, "version": 1},
        ),
        (
            creams,
            "catalog.category.changed",
            {
                "category_id": creams,
                "parent_id": None,
                "names": {"fr": "Crèmes", "en": "Creams"},
                "version": 2,
            },
        ),
        (face, "catalog.category.deleted", {"category_id": face}),
    ]


async def test_browsing_filters_by_brand_and_by_category_with_its_subtree(catalog: Catalog) -> None:
    vichy, cerave = await catalog.brand("Vichy"), await catalog.brand("CeraVe")
    face = (await catalog.admin("POST", "/categories", {"names": {"fr": "Visage"}}, 201))["id"]
    creams = (
        await catalog.admin("POST", "/categories", {"parent_id": face, "names": {"fr": "Crèmes"}}, 201)
    )["id"]
    body = (await catalog.admin("POST", "/categories", {"names": {"fr": "Corps"}}, 201))["id"]
    await catalog.priced("V-FACE", vichy, 100, category_id=face)
    await catalog.priced("V-CREAM", vichy, 100, category_id=creams)
    await catalog.priced("C-CREAM", cerave, 100, category_id=creams)
    await catalog.priced("C-BODY", cerave, 100, category_id=body)
    await catalog.priced("NOTHING", None, 100)

    assert await codes(catalog, f"?brand_id={vichy}") == ["V-CREAM", "V-FACE"]
    assert await codes(catalog, f"?category_id={face}") == ["C-CREAM", "V-CREAM", "V-FACE"]
    assert await codes(catalog, f"?category_id={creams}&brand_id={cerave}") == ["C-CREAM"]
    assert await codes(catalog, f"?category_id={body}", catalog.partner_a) == ["C-BODY"]
    assert await codes(catalog, f"?brand_id={uuid.uuid4()}") == []


async def test_search_finds_code_name_localized_name_and_ean_whatever_the_case(catalog: Catalog) -> None:
    await catalog.create("HYD-50", name="Hydrating cream", names={"ru": "Увлажняющий крем"})
    await catalog.create("CLN-10", name="Cleanser 100%", ean="4006381333931")
    await catalog.create("OTHER_1", name="Other")

    assert await codes(catalog, "?q=hyd") == ["HYD-50"]
    assert await codes(catalog, "?q=CREAM") == ["HYD-50"]
    assert await codes(catalog, "?q=крем") == ["HYD-50"]
    assert await codes(catalog, "?q=4006381") == ["CLN-10"]
    assert await codes(catalog, "?q=100%25") == ["CLN-10"]  # % is a character, not a wildcard
    assert await codes(catalog, "?q=R_1") == ["OTHER_1"]  # _ too
    assert await codes(catalog, "?q=zzz") == []


async def test_pages_follow_each_other_by_code_without_gaps_or_repeats(catalog: Catalog) -> None:
    for number in range(7):
        await catalog.create(f"P{number}")

    seen: list[str] = []
    after = ""
    pages = 0
    while True:
        status, page, _ = await catalog.call("GET", f"/products?limit=3{after}", catalog.partner_a)
        assert status == 200
        seen += [item["code"] for item in page["items"]]
        pages += 1
        if page["next_after"] is None:
            break
        after = f"&after={page['next_after']}"
    assert seen == [f"P{n}" for n in range(7)] and pages == 3
    for bad in ("?limit=0", "?limit=201", "?after=a%20b", "?status=gone", "?locale=de", "?colour=red"):
        assert (await catalog.call("GET", f"/products{bad}", catalog.partner_a))[0] == 422, bad


async def test_only_admins_see_retired_products_and_filter_by_status(catalog: Catalog) -> None:
    await catalog.create("LIVE")
    await catalog.create("GONE", active=False)

    assert await codes(catalog, "") == ["LIVE"]
    assert await codes(catalog, "?status=retired") == ["GONE"]
    assert await codes(catalog, "?status=all") == ["GONE", "LIVE"]
    assert await codes(catalog, "", catalog.partner_a) == ["LIVE"]
    status, problem, _ = await catalog.call("GET", "/products?status=retired", catalog.partner_a)
    assert status == 403 and "admins" in problem["detail"]


async def test_an_organisation_sees_only_its_assortment_when_browsing_by_code_and_by_id(
    catalog: Catalog,
) -> None:
    mine = await catalog.create("MINE")
    other = await catalog.create("OTHER")
    org, free_org = await catalog.organisation(), str(uuid.uuid4())
    terms = await catalog.terms(org, assortment=[mine["id"]])
    assert terms["assortment"] == [mine["id"]] and terms["version"] == 1
    member, free = catalog.member_of(org), catalog.member_of(free_org)
    validator = catalog.member_of(org, role="validator")

    for caller in (member, validator):
        assert await codes(catalog, "", caller) == ["MINE"]
        assert await codes(catalog, "?q=OTH", caller) == []
        status, problem, _ = await catalog.call("GET", "/products/by-code/other", caller)
        assert (status, problem["type"]) == (404, NOT_FOUND)
        assert (await catalog.call("GET", f"/products/{other['id']}", caller))[0] == 404
        assert (await catalog.call("GET", f"/products/{other['id']}/price", caller))[0] == 404
        assert (await catalog.call("GET", "/products/by-code/mine", caller))[0] == 200
    # Unrestricted: an organisation without terms, a user without organisation, an admin.
    for caller in (free, catalog.partner_a, catalog.admin_a):
        assert await codes(catalog, "", caller) == ["MINE", "OTHER"]
        assert (await catalog.call("GET", "/products/by-code/OTHER", caller))[0] == 200

    # Back to the whole catalog: the assortment is null again.
    await catalog.terms(org, assortment=None)
    assert await codes(catalog, "", member) == ["MINE", "OTHER"]


async def test_terms_name_only_products_and_groups_of_the_tenant(catalog: Catalog) -> None:
    org = await catalog.organisation()
    theirs = (
        await catalog.call(
            "POST",
            "/products",
            catalog.admin_b,
            {"code": "X", "name": "X", "price_minor": 1, "currency": "EUR"},
        )
    )[1]["id"]

    for body, field in (
        ({"assortment": [theirs]}, "assortment"),
        ({"group_id": str(uuid.uuid4())}, "group_id"),
        ({"entitlements": ["Not Valid"]}, "entitlements.0"),
        ({"colour": "red"}, "colour"),
    ):
        status, problem, _ = await catalog.call("PUT", f"/organisations/{org}/terms", catalog.admin_a, body)
        assert status == 422, body
        assert problem["errors"][0]["field"] == field
    assert await catalog.events("catalog.organisation.v1") == []
    assert (await catalog.call("PUT", "/organisations/not-a-uuid/terms", catalog.admin_a, {}))[0] == 404
