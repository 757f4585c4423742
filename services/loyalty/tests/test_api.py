"""Reading balances and ledgers, and setting the earning rule: who may, what they see, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from services.loyalty.tests.conftest import DEFAULT_POINTS_PER_UNIT, Loyalty

pytestmark = pytest.mark.fast


async def test_a_member_without_points_has_a_zero_balance_and_no_account_for_admins(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    assert await loyalty.call("GET", "/accounts/me", member) == (
        200,
        {"account_id": member["account_id"], "balance": 0, "sponsor_balance": 0, "closed_at": None},
    )
    assert await loyalty.ledger(member) == []
    for path in (f"/accounts/{member['account_id']}", f"/accounts/{member['account_id']}/ledger"):
        for caller in (loyalty.admin_a, member):
            status, problem = await loyalty.call("GET", path, caller)
            assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found"


async def test_an_admin_reads_a_members_account_and_another_tenant_cannot(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    account_path = f"/accounts/{member['account_id']}"

    assert await loyalty.call("GET", account_path, loyalty.admin_a) == (
        200,
        {"account_id": member["account_id"], "balance": 20, "sponsor_balance": 0, "closed_at": None},
    )
    status, ledger = await loyalty.call("GET", f"{account_path}/ledger", loyalty.admin_a)
    assert status == 200 and [e["points"] for e in ledger] == [20]

    for path in (account_path, f"{account_path}/ledger"):
        status, _ = await loyalty.call("GET", path, loyalty.admin_b)
        assert status == 404
    # The same account id used with another tenant's token is another member, with nothing.
    stranger = {**member, "tenant_id": loyalty.tenant_b}
    assert await loyalty.balance(stranger) == 0
    assert await loyalty.ledger(stranger) == []


async def test_a_shop_reaches_a_member_only_through_her_card(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    shop_a = {"account_id": "shop-a", "tenant_id": loyalty.tenant_a, "roles": ["shop"]}
    account_path = f"/accounts/{member['account_id']}"

    for path in (account_path, f"{account_path}/ledger"):
        assert (await loyalty.call("GET", path, shop_a))[0] == 404  # /cards/{number} instead
    # The earning rule stays the admin's.
    assert (await loyalty.call("GET", "/rules/earning", shop_a))[0] == 403


async def test_a_member_reads_her_own_account_by_id_but_not_anothers(loyalty: Loyalty) -> None:
    member, other = loyalty.member_a, loyalty.member(loyalty.tenant_a, "marc")
    await loyalty.publish(loyalty.order(member, 1000), loyalty.order(other, 500))
    mine, theirs = f"/accounts/{member['account_id']}", f"/accounts/{other['account_id']}"

    assert await loyalty.call("GET", mine, member) == (
        200,
        {"account_id": member["account_id"], "balance": 20, "sponsor_balance": 0, "closed_at": None},
    )
    assert (await loyalty.call("GET", f"{mine}/ledger", member))[1] == await loyalty.ledger(member)
    for path in (theirs, f"{theirs}/ledger"):
        status, problem = await loyalty.call("GET", path, member)
        # Someone else's account answers exactly like a missing one: its existence is not revealed.
        assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found", path


async def test_members_cannot_call_admin_routes_and_strangers_nothing(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    await loyalty.publish(loyalty.order(member, 1000))
    admin_calls: list[tuple[str, str, Any]] = [
        ("GET", "/rules/earning", None),
        ("PUT", "/rules/earning", {"points_per_unit": 50}),
    ]
    for method, path, body in admin_calls:
        status, problem = await loyalty.call(method, path, member, body)
        assert status == 403, (method, path)
        assert "admin" in problem["detail"]
    no_role = {**member, "roles": ["auditor"]}
    for path in (f"/accounts/{member['account_id']}", f"/accounts/{member['account_id']}/ledger"):
        assert (await loyalty.call("GET", path, no_role))[0] == 403, path
        assert (await loyalty.call("GET", path, None))[0] == 401, path
    for path in ("/accounts/me", "/accounts/me/ledger"):
        status, _ = await loyalty.call("GET", path, None)
        assert status == 401
    status, rule = await loyalty.call("GET", "/rules/earning", loyalty.admin_a)
    assert rule["points_per_unit"] == DEFAULT_POINTS_PER_UNIT


async def test_an_admin_sets_the_tenants_earning_rule(loyalty: Loyalty) -> None:
    assert await loyalty.call("GET", "/rules/earning", loyalty.admin_a) == (
        200,
        {"points_per_unit": DEFAULT_POINTS_PER_UNIT, "is_default": True, "updated_at": None},
    )

    status, rule = await loyalty.call("PUT", "/rules/earning", loyalty.admin_a, {"points_per_unit": 5})
    assert status == 200
    assert rule["points_per_unit"] == 5 and rule["is_default"] is False and rule["updated_at"]
    assert await loyalty.call("GET", "/rules/earning", loyalty.admin_a) == (200, rule)
    status, other = await loyalty.call("GET", "/rules/earning", loyalty.admin_b)
    assert other["points_per_unit"] == DEFAULT_POINTS_PER_UNIT and other["is_default"] is True


async def test_bad_rule_bodies_are_refused_and_change_nothing(loyalty: Loyalty) -> None:
    admin = loyalty.admin_a
    status, before = await loyalty.call("PUT", "/rules/earning", admin, {"points_per_unit": 3})
    assert status == 200
    bad_bodies: list[Any] = [
        {"points_per_unit": -1},
        {"points_per_unit": 3, "bonus": 1},
        {},
        {"points_per_unit": "4"},
        {"points_per_unit": 1.5},
        {"points_per_unit": True},
        {"points_per_unit": None},
        {"points_per_unit": 10**9},
        [4],
    ]
    for body in bad_bodies:
        status, problem = await loyalty.call("PUT", "/rules/earning", admin, body)
        assert status == 422, body
        assert problem["errors"], body
    headers = loyalty.service.tokens.headers(**admin)
    async with loyalty.service.http.put(
        f"{loyalty.service.url}/rules/earning",
        data=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400
    async with loyalty.service.http.put(
        f"{loyalty.service.url}/rules/earning", data=b"points_per_unit=4", headers=headers
    ) as resp:
        assert resp.status == 415

    assert await loyalty.call("GET", "/rules/earning", admin) == (200, before)


async def test_the_ledger_lists_newest_first_and_honours_its_limit(loyalty: Loyalty) -> None:
    member = loyalty.member_a
    orders = [loyalty.order(member, total) for total in (100, 200, 300)]
    # One key puts them on one partition, so they are applied in this order.
    await loyalty.publish(*orders, key=member["account_id"])

    ledger = await loyalty.ledger(member)
    assert [e["cause_id"] for e in ledger] == [o.data["order_id"] for o in reversed(orders)]
    status, latest = await loyalty.call("GET", "/accounts/me/ledger?limit=2", member)
    assert status == 200 and latest == ledger[:2]
    for query in ("limit=0", "limit=501", "limit=x", "page=2"):
        status, _ = await loyalty.call("GET", f"/accounts/me/ledger?{query}", member)
        assert status == 422, query


async def test_openapi_and_event_catalog_describe_the_routes_and_points_events(loyalty: Loyalty) -> None:
    status, doc = await loyalty.call("GET", "/openapi.json", None)
    assert status == 200
    assert doc["paths"]["/rules/earning"]["put"]["x-roles"] == {"admin": "tenant"}
    assert doc["paths"]["/accounts/me"]["get"]["x-roles"] == {"*": "tenant"}
    status, catalog = await loyalty.call("GET", "/events.json", None)
    awarded = catalog["loyalty.points.awarded"]
    assert awarded["topic"] == "loyalty.points.v1" and awarded["internal"] is False
    fields = awarded["schema"]["properties"]
    assert set(fields) == {
        "account_id",
        "entry_id",
        "points",
        "balance",
        "cause_type",
        "cause_id",
        "awarded_at",
        "pot",
    }
    assert all(field.get("description") for field in fields.values())
    forfeited = catalog["loyalty.points.forfeited"]
    assert forfeited["topic"] == "loyalty.points.v1" and forfeited["internal"] is False
    fields = forfeited["schema"]["properties"]
    assert set(fields) == {
        "account_id",
        "entry_id",
        "points",
        "balance",
        "cause_type",
        "cause_id",
        "forfeited_at",
    }
    assert all(field.get("description") for field in fields.values())
    member_route = doc["paths"]["/accounts/{account_id}"]["get"]["x-roles"]
    assert member_route == {
        "admin": "tenant",
        "shop": "self",
        "partner": "self",
        "validator": "self",
        "seller": "self",
        "customer": "self",
    }
