"""Shops: organisations of kind shop with their details, their staff, the customers they register, and
the account facts the other services learn of each account."""

from __future__ import annotations

import uuid
from typing import Any

from services.identity.tests.conftest import Identity

SHOP = {
    "name": "Boutique Bellecour",
    "kind": "shop",
    "address": {"line1": "3 place Bellecour", "postal_code": "69002", "city": "Lyon", "country": "FR"},
    "phone": "+33478000000",
    "opening_hours": "Mon-Sat 9:00-19:00",
}


async def _facts(identity: Identity, account_id: str) -> list[dict[str, Any]]:
    return [
        event["data"]
        for topic, _, event in await identity.published(account_id)
        if topic == "internal.identity.facts.v1"
    ]


async def test_a_manager_creates_a_shop_with_its_details_and_edits_them(identity: Identity) -> None:
    _, admin = await identity.create_tenant()

    status, shop = await identity.call("POST", "/organisations", SHOP, token=admin)

    assert status == 201, shop
    assert shop["kind"] == "shop" and shop["opening_hours"] == "Mon-Sat 9:00-19:00"
    assert shop["address"]["city"] == "Lyon" and shop["phone"] == "+33478000000"
    assert len(shop["customer_code"]) == 10  # generated: none was given
    [created] = await identity.db.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' AS data FROM outbox WHERE key = $1",
        shop["organisation_id"],
    )
    assert '"kind": "shop"' in created["data"] and "customer_code" not in created["data"]

    path = f"/organisations/{shop['organisation_id']}"
    status, edited = await identity.call(
        "PATCH", path, {"opening_hours": "Every day 8:00-20:00"}, token=admin
    )
    assert status == 200 and edited == shop | {"opening_hours": "Every day 8:00-20:00"}
    status, edited = await identity.call("PATCH", path, {"phone": None}, token=admin)
    assert status == 200 and edited["phone"] is None and edited["address"] == shop["address"]
    for body in ({"kind": "partner"}, {"phone": "not a phone"}, {"opening_hours": ""}):
        assert (await identity.call("PATCH", path, body, token=admin))[0] == 422, body
    assert (await identity.call("GET", path, token=admin))[1]["phone"] is None


async def test_staff_register_customers_at_their_own_shop_and_their_facts_are_published(
    identity: Identity,
) -> None:
    tenant, admin = await identity.create_tenant()
    shop = (await identity.call("POST", "/organisations", SHOP, token=admin))[1]["organisation_id"]
    other = (await identity.call("POST", "/organisations", SHOP | {"name": "Gare"}, token=admin))[1]
    _, staff = await identity.member(tenant, admin, "caisse@bellecour.test", ["shop"], organisation_id=shop)
    customer = {"email": "ines@example.test", "display_name": "Inès", "professional": True}

    status, created = await identity.call("POST", "/accounts/customers", customer, token=staff)

    assert status == 201, created
    status, account = await identity.call("GET", f"/accounts/{created['account_id']}", token=admin)
    assert account["home_shop_id"] == shop and account["professional"] is True
    [facts] = await _facts(identity, created["account_id"])
    assert facts["card_number"] == created["card_number"] and facts["shop_id"] == shop
    assert facts["roles"] == ["customer"] and facts["professional"] is True

    # Staff cannot register at another shop; an admin names any shop of the tenant, and only those.
    named = customer | {"email": "x@example.test", "shop_id": other["organisation_id"]}
    status, problem = await identity.call("POST", "/accounts/customers", named, token=staff)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["shop_id"]
    status, created = await identity.call("POST", "/accounts/customers", named, token=admin)
    assert (
        status == 201
        and (await _facts(identity, created["account_id"]))[0]["shop_id"] == other["organisation_id"]
    )
    for shop_id in (str(uuid.uuid4()), await identity.organisation(admin, "C-9", "A partner")):
        body = customer | {"email": f"{shop_id[:8]}@example.test", "shop_id": shop_id}
        status, problem = await identity.call("POST", "/accounts/customers", body, token=admin)
        assert status == 422 and problem["errors"][0]["type"] == "unknown_shop", shop_id


async def test_an_admin_makes_a_customer_professional_and_the_change_is_published(identity: Identity) -> None:
    tenant, admin = await identity.create_tenant()
    customer_id, _ = await identity.member(tenant, admin, "pro@example.test", ["customer"])
    path = f"/accounts/{customer_id}"

    status, account = await identity.call("PATCH", path, {"professional": True}, token=admin)
    assert status == 200 and account["professional"] is True
    assert (await identity.call("PATCH", path, {"professional": True}, token=admin))[0] == 200

    facts = await _facts(identity, customer_id)
    assert [f["professional"] for f in facts] == [False, True]  # the same change twice: announced once
    assert "identity.account.membership_changed" not in await identity.event_types(customer_id)
