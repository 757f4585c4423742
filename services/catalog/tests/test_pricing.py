"""Customer groups, organisations' terms and price lists: who may write them, what is announced, and the
price each caller sees, resolved by catalog from the caller's organisation (never sent by the client)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.devstack.testing import wait_until
from services.catalog.tests.conftest import ORGANISATIONS_TOPIC, Catalog, organisation_event

pytestmark = pytest.mark.fast

PRICES_TOPIC = "catalog.price_list.v1"
TERMS_TOPIC = "catalog.organisation.v1"
UNKNOWN_ORGANISATION = "urn:comptoir:problem:unknown-organisation"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def price_of(catalog: Catalog, product_id: str, caller: dict[str, Any]) -> tuple[int, str]:
    status, price, _ = await catalog.call("GET", f"/products/{product_id}/price", caller)
    assert status == 200, price
    return price["price_minor"], price["source"]


async def test_groups_are_created_renamed_listed_and_deleted_only_when_unused(catalog: Catalog) -> None:
    group = await catalog.admin("POST", "/customer-groups", {"name": "Pharmacies"}, 201)
    assert (await catalog.call("POST", "/customer-groups", catalog.admin_a, {"name": "PHARMACIES"}))[0] == 409
    renamed = await catalog.admin("PUT", f"/customer-groups/{group['id']}", {"name": "Officines"})
    assert renamed["name"] == "Officines"
    assert [g["name"] for g in await catalog.admin("GET", "/customer-groups")] == ["Officines"]
    org = await catalog.organisation()
    await catalog.terms(org, group_id=group["id"])

    status, problem, _ = await catalog.call("DELETE", f"/customer-groups/{group['id']}", catalog.admin_a)
    assert status == 409 and problem["type"] == "urn:comptoir:problem:group-in-use"

    await catalog.terms(org, group_id=None)
    assert (await catalog.call("DELETE", f"/customer-groups/{group['id']}", catalog.admin_a))[0] == 204
    assert await catalog.admin("GET", "/customer-groups") == []


async def test_terms_changes_are_announced_in_full_with_a_version_per_organisation(catalog: Catalog) -> None:
    group = (await catalog.admin("POST", "/customer-groups", {"name": "Pharmacies"}, 201))["id"]
    product = (await catalog.create("MUG"))["id"]
    org = await catalog.organisation()
    assert (await catalog.admin("GET", f"/organisations/{org}/terms"))["version"] == 0

    await catalog.terms(org, group_id=group, assortment=[product], entitlements=["ecommerce", "ecommerce"])
    await catalog.terms(org, entitlements=[])

    events = await catalog.events(TERMS_TOPIC)
    assert [key for key, _ in events] == [org, org]
    assert [(e["type"], e["tenantid"]) for _, e in events] == [
        ("catalog.organisation.terms_changed", catalog.tenant_a)
    ] * 2
    assert [e["data"] for _, e in events] == [
        {
            "organisation_id": org,
            "group_id": group,
            "assortment": [product],
            "entitlements": ["ecommerce"],
            "version": 1,
        },
        {"organisation_id": org, "group_id": None, "assortment": None, "entitlements": [], "version": 2},
    ]


async def test_an_organisations_users_read_its_terms_and_no_other_organisations(catalog: Catalog) -> None:
    org, other = await catalog.organisation(), await catalog.organisation()
    await catalog.terms(org, entitlements=["ecommerce"])

    status, terms, _ = await catalog.call("GET", f"/organisations/{org}/terms", catalog.member_of(org))
    assert status == 200 and terms["entitlements"] == ["ecommerce"]
    assert (await catalog.call("GET", f"/organisations/{org}/terms", catalog.member_of(other)))[0] == 404
    assert (await catalog.call("GET", f"/organisations/{org}/terms", catalog.partner_a))[0] == 404  # no org
    assert (await catalog.call("PUT", f"/organisations/{org}/terms", catalog.member_of(org), {}))[0] == 403
    # Identity signed her token naming her organisation: she reads its terms (none yet) even before
    # catalog hears of it.
    newcomer = str(uuid.uuid4())
    status, terms, _ = await catalog.call(
        "GET", f"/organisations/{newcomer}/terms", catalog.member_of(newcomer)
    )
    assert status == 200 and terms["version"] == 0


def _organisation_list(brand_id: str, organisation_id: str) -> dict[str, Any]:
    return {
        "name": "x",
        "scope": "organisation",
        "organisation_id": organisation_id,
        "brand_id": brand_id,
        "currency": "EUR",
        "prices": [],
    }


async def test_no_tenant_can_give_terms_or_lists_to_another_tenants_organisation_or_to_none(
    catalog: Catalog,
) -> None:
    theirs = await catalog.organisation(tenant=catalog.tenant_b)
    nobodys = str(uuid.uuid4())
    brand = await catalog.brand()

    for org in (theirs, nobodys):
        for method, body in (("GET", None), ("PUT", {"entitlements": ["ecommerce"]})):
            status, problem, _ = await catalog.call(
                method, f"/organisations/{org}/terms", catalog.admin_a, body
            )
            assert (status, problem["type"]) == (404, UNKNOWN_ORGANISATION), (method, org, problem)
        status, problem, _ = await catalog.call(
            "POST", "/price-lists", catalog.admin_a, _organisation_list(brand, org)
        )
        assert (status, problem["type"]) == (404, UNKNOWN_ORGANISATION), problem
        assert "organisation_id" in problem["detail"]
    assert await catalog.events(TERMS_TOPIC) == [] and await catalog.events(PRICES_TOPIC) == []
    assert (
        await catalog.db.fetchval(
            "SELECT count(*) FROM organisation_terms WHERE organisation_id = ANY($1::uuid[])",
            [theirs, nobodys],
        )
        == 0
    )

    # Its own tenant's admin gives it terms and a list, as if nobody had tried.
    their_brand = (await catalog.call("POST", "/brands", catalog.admin_b, {"name": "B"}))[1]["id"]
    status, terms, _ = await catalog.call(
        "PUT", f"/organisations/{theirs}/terms", catalog.admin_b, {"entitlements": ["b2b"]}
    )
    assert status == 200 and terms["version"] == 1
    status, _, _ = await catalog.call(
        "POST", "/price-lists", catalog.admin_b, _organisation_list(their_brand, theirs)
    )
    assert status == 201


async def test_terms_are_accepted_once_identity_has_announced_the_organisation(catalog: Catalog) -> None:
    org = str(uuid.uuid4())
    status, problem, _ = await catalog.call("PUT", f"/organisations/{org}/terms", catalog.admin_a, {})
    assert (status, problem["type"]) == (404, UNKNOWN_ORGANISATION)

    await catalog.announce(organisation_event(catalog.tenant_a, org, "Pharmacie du Marché"))
    assert (await catalog.terms(org, entitlements=["ecommerce"]))["version"] == 1
    # A rename changes nothing here; an announcement naming it in another tenant moves nothing.
    await catalog.announce(
        organisation_event(catalog.tenant_a, org, "Grande Pharmacie", "identity.organisation.updated")
    )
    moved = organisation_event(catalog.tenant_b, org, "Grande Pharmacie", "identity.organisation.updated")
    await catalog.service.publish(ORGANISATIONS_TOPIC, moved)

    async def dead_lettered() -> bool:
        return bool(
            await catalog.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", moved.id)
        )

    await wait_until(dead_lettered, "the announcement in another tenant to be dead-lettered")
    assert (await catalog.admin("GET", f"/organisations/{org}/terms"))["entitlements"] == ["ecommerce"]
    status, problem, _ = await catalog.call("PUT", f"/organisations/{org}/terms", catalog.admin_b, {})
    assert (status, problem["type"]) == (404, UNKNOWN_ORGANISATION)


async def test_a_price_list_is_created_replaced_and_withdrawn_each_time_announced_in_full(
    catalog: Catalog,
) -> None:
    brand = await catalog.brand()
    mug, tea = await catalog.priced("MUG", brand, 1000), await catalog.priced("TEA", brand, 500)
    since = datetime(2025, 1, 1, tzinfo=UTC)

    created = await catalog.price_list(brand, {mug: 900}, valid_from=iso(since))
    path = f"/price-lists/{created['id']}"
    replaced = await catalog.admin(
        "PUT",
        path,
        {
            "name": "CeraVe 2025",
            "scope": "brand",
            "brand_id": brand,
            "currency": "EUR",
            "valid_from": iso(since),
            "prices": [{"product_id": mug, "price_minor": 880}, {"product_id": tea, "price_minor": 450}],
        },
    )
    withdrawn = await catalog.admin("POST", f"{path}/withdraw")
    again = await catalog.admin("POST", f"{path}/withdraw")

    assert (created["version"], replaced["version"], withdrawn["version"], again["version"]) == (1, 2, 3, 3)
    assert (withdrawn["active"], again["active"]) == (False, False)
    events = await catalog.events(PRICES_TOPIC)
    assert [key for key, _ in events] == [created["id"]] * 3  # withdrawing twice announces once
    assert events[1][1]["type"] == "catalog.price_list.changed"
    assert events[1][1]["data"] == {
        "price_list_id": created["id"],
        "name": "CeraVe 2025",
        "scope": "brand",
        "brand_id": brand,
        "group_id": None,
        "organisation_id": None,
        "currency": "EUR",
        "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": None,
        "prices": sorted(
            [{"product_id": mug, "price_minor": 880}, {"product_id": tea, "price_minor": 450}],
            key=lambda p: str(p["product_id"]),
        ),
        "active": True,
        "version": 2,
    }
    assert events[2][1]["data"]["active"] is False and events[2][1]["data"]["version"] == 3
    status, problem, _ = await catalog.call(
        "PUT",
        path,
        catalog.admin_a,
        {"name": "x", "scope": "brand", "brand_id": brand, "currency": "EUR", "prices": []},
    )
    assert status == 409 and problem["type"] == "urn:comptoir:problem:price-list-withdrawn"
    listed = await catalog.admin("GET", f"/price-lists?brand_id={brand}")
    assert [(pl["id"], pl["size"], pl["active"]) for pl in listed] == [(created["id"], 2, False)]


async def test_a_price_list_prices_only_its_brands_products_of_the_tenant_and_at_most_5000(
    catalog: Catalog,
) -> None:
    brand, other_brand = await catalog.brand("A"), await catalog.brand("B")
    mine, foreign = await catalog.priced("MINE", brand, 1), await catalog.priced("FOREIGN", other_brand, 1)
    base = {"name": "x", "scope": "brand", "brand_id": brand, "currency": "EUR"}

    for prices, field in (
        ([{"product_id": foreign, "price_minor": 1}], "prices.0.product_id"),
        (
            [{"product_id": mine, "price_minor": 1}, {"product_id": str(uuid.uuid4()), "price_minor": 1}],
            "prices.1.product_id",
        ),
        ([{"product_id": str(uuid.uuid4()), "price_minor": 1} for _ in range(5001)], "prices"),
    ):
        status, problem, _ = await catalog.call(
            "POST", "/price-lists", catalog.admin_a, {**base, "prices": prices}
        )
        assert status == 422, problem
        assert problem["errors"][0]["field"] == field
    for change in ({"brand_id": str(uuid.uuid4())}, {"scope": "group", "group_id": str(uuid.uuid4())}):
        status, problem, _ = await catalog.call(
            "POST", "/price-lists", catalog.admin_a, {**base, **change, "prices": []}
        )
        assert status == 422, problem
    assert await catalog.events(PRICES_TOPIC) == []


async def test_each_caller_sees_the_price_of_the_most_specific_list_valid_now(catalog: Catalog) -> None:
    brand = await catalog.brand()
    mug = await catalog.priced("MUG", brand, 1000)
    group = (await catalog.admin("POST", "/customer-groups", {"name": "Pharmacies"}, 201))["id"]
    in_group, own_list, plain = [await catalog.organisation() for _ in range(3)]
    await catalog.terms(in_group, group_id=group)
    await catalog.terms(own_list, group_id=group)
    now = datetime.now(UTC)

    assert await price_of(catalog, mug, catalog.member_of(plain)) == (1000, "base")
    await catalog.price_list(brand, {mug: 900})
    await catalog.price_list(brand, {mug: 850}, scope="group", group_id=group)
    await catalog.price_list(brand, {mug: 800}, scope="organisation", organisation_id=own_list)
    # Lists that do not apply now: expired, not yet valid, withdrawn.
    await catalog.price_list(
        brand,
        {mug: 1},
        scope="organisation",
        organisation_id=in_group,
        valid_until=iso(now - timedelta(minutes=1)),
    )
    await catalog.price_list(
        brand,
        {mug: 2},
        scope="organisation",
        organisation_id=in_group,
        valid_from=iso(now + timedelta(days=1)),
    )
    withdrawn = await catalog.price_list(brand, {mug: 3}, scope="organisation", organisation_id=plain)
    await catalog.admin("POST", f"/price-lists/{withdrawn['id']}/withdraw")

    assert await price_of(catalog, mug, catalog.member_of(plain)) == (900, "brand")
    assert await price_of(catalog, mug, catalog.member_of(in_group)) == (850, "group")
    assert await price_of(catalog, mug, catalog.member_of(own_list)) == (800, "organisation")
    assert await price_of(catalog, mug, catalog.partner_a) == (900, "brand")  # no organisation
    # The same price in browsing and by code; the base price stays visible as such.
    status, page, _ = await catalog.call("GET", "/products", catalog.member_of(own_list))
    assert [(p["price"]["price_minor"], p["price_minor"]) for p in page["items"]] == [(800, 1000)]
    status, found, _ = await catalog.call("GET", "/products/by-code/mug", catalog.member_of(in_group))
    assert status == 200
    assert found["price"]["price_minor"] == 850 and found["price"]["source"] == "group"


async def test_a_price_cannot_be_chosen_by_the_client(catalog: Catalog) -> None:
    brand = await catalog.brand()
    mug = await catalog.priced("MUG", brand, 1000)
    org = await catalog.organisation()
    await catalog.price_list(brand, {mug: 700}, scope="organisation", organisation_id=org)

    # Naming another organisation, a group or a price in the query changes nothing: 422, not a price.
    for query in (f"?organisation_id={org}", "?price_minor=1"):
        assert (await catalog.call("GET", f"/products{query}", catalog.partner_a))[0] == 422
    assert await price_of(catalog, mug, catalog.partner_a) == (1000, "base")


async def test_a_seller_sees_her_price_less_the_tenants_seller_discount_announced_to_ordering(
    catalog: Catalog,
) -> None:
    product = (await catalog.create("CREME", 1290))["id"]
    seller = {
        "account_id": "seller-1",
        "tenant_id": catalog.tenant_a,
        "roles": ["seller"],
        "organisation_id": None,
    }
    assert (await catalog.admin("GET", "/settings"))["seller_discount_bp"] == 0
    assert await price_of(catalog, product, seller) == (1290, "base")

    changed = await catalog.admin("PUT", "/settings", {"seller_discount_bp": 2000})
    assert (changed["seller_discount_bp"], changed["version"]) == (2000, 1)
    assert (await price_of(catalog, product, seller))[0] == 1032
    assert (await price_of(catalog, product, catalog.partner_a))[0] == 1290  # not a seller
    status, listed, _ = await catalog.call("GET", "/products", seller)
    assert [p["price"]["price_minor"] for p in listed["items"]] == [1032]

    assert (await catalog.call("PUT", "/settings", seller, {"seller_discount_bp": 0}))[0] == 403
    status, problem, _ = await catalog.call(
        "PUT", "/settings", catalog.admin_a, {"seller_discount_bp": 10_001}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "seller_discount_bp")
    [(key, event)] = await catalog.events("catalog.settings.v1")
    assert (key, event["type"], event["data"]["seller_discount_bp"]) == (
        catalog.tenant_a,
        "catalog.settings.changed",
        2000,
    )
