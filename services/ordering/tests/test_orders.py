"""Submitting and reading orders: prices from the read model, refusals, idempotency, who sees what."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from libs.common.limits import MAX_LINE_QUANTITY
from services.ordering.tests.conftest import Caller, Ordering

pytestmark = pytest.mark.fast


@dataclass
class Shop:
    """Ordering with a mug at 12.50 EUR and a tea at 3.99 EUR in tenant A's catalog."""

    ordering: Ordering
    mug: uuid.UUID
    tea: uuid.UUID


@pytest.fixture
async def shop(ordering: Ordering) -> Shop:
    mug, tea = uuid.uuid4(), uuid.uuid4()
    await ordering.publish(ordering.product(mug, "MUG", 1250), ordering.product(tea, "TEA", 399))
    return Shop(ordering, mug, tea)


async def test_an_order_is_priced_from_the_catalog_and_published_with_it(shop: Shop) -> None:
    ordering = shop.ordering
    status, order = await ordering.submit(
        ordering.partner_a,
        [{"code": "mug", "quantity": 2}, {"code": "TEA", "quantity": 3}, {"code": "Mug", "quantity": 1}],
    )

    assert status == 201, order
    assert order["status"] == "confirmed"
    assert order["lines"] == [
        {
            "product_id": str(shop.mug),
            "code": "MUG",
            "name": "Product MUG",
            "quantity": 3,
            "unit_price_minor": 1250,
            "line_total_minor": 3750,
            "price_list_id": None,
            "vat_rate_bp": 0,
            "instead_of_fee": False,
        },
        {
            "product_id": str(shop.tea),
            "code": "TEA",
            "name": "Product TEA",
            "quantity": 3,
            "unit_price_minor": 399,
            "line_total_minor": 1197,
            "price_list_id": None,
            "vat_rate_bp": 0,
            "instead_of_fee": False,
        },
    ]
    assert (order["total_minor"], order["currency"]) == (4947, "EUR")
    row = await ordering.db.fetchrow(
        "SELECT account_id, organisation_id FROM orders WHERE tenant_id = $1", ordering.tenant_a
    )
    assert dict(row) == {"account_id": "partner-a1", "organisation_id": "org-1"}

    [(key, event)] = await ordering.published()
    assert key == order["order_id"]
    assert (event["type"], event["subject"], event["tenantid"]) == (
        "ordering.order.submitted",
        order["order_id"],
        ordering.tenant_a,
    )
    assert event["data"] == {
        "order_id": order["order_id"],
        "account_id": "partner-a1",
        "organisation_id": "org-1",
        "lines": order["lines"],
        "total_minor": 4947,
        "currency": "EUR",
        "submitted_at": event["data"]["submitted_at"],
    }
    assert (await ordering.call("GET", f"/orders/{order['order_id']}", ordering.partner_a))[:2] == (
        200,
        order,
    )
    [(_, confirmed)] = await ordering.published("ordering.order.confirmed")
    assert confirmed["data"]["lines"] == order["lines"]
    assert confirmed["data"]["totals"] == order["checkout"]["totals"]
    assert (confirmed["data"]["version"], confirmed["data"]["validators"]) == (1, [])


async def test_a_client_cannot_set_a_price(shop: Shop) -> None:
    ordering = shop.ordering
    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 1, "unit_price_minor": 1}]
    )

    assert status == 422
    assert [e["field"] for e in problem["errors"]] == ["lines.0.unit_price_minor"]
    assert await ordering.counts() == (0, 0)


async def test_unknown_codes_are_refused_naming_each_and_nothing_is_created(shop: Shop) -> None:
    ordering = shop.ordering
    status, problem = await ordering.submit(
        ordering.partner_a,
        [{"code": "MUG", "quantity": 1}, {"code": "XYZ", "quantity": 1}, {"code": "nope", "quantity": 1}],
    )

    assert status == 422
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [
        ("lines.1.code", "unknown product code XYZ"),
        ("lines.2.code", "unknown product code nope"),
    ]
    assert await ordering.counts() == (0, 0)


async def test_a_product_no_longer_for_sale_is_refused(shop: Shop) -> None:
    ordering = shop.ordering
    await ordering.publish(ordering.product(shop.tea, "TEA", 399, version=2, active=False))

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 1}, {"code": "TEA", "quantity": 1}]
    )

    assert status == 422
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("lines.1.code", "inactive-product")]
    assert await ordering.counts() == (0, 0)


async def test_products_in_different_currencies_cannot_share_an_order(shop: Shop) -> None:
    ordering = shop.ordering
    await ordering.publish(ordering.product(uuid.uuid4(), "HAT", 900, currency="CHF"))

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 1}, {"code": "HAT", "quantity": 1}]
    )

    assert status == 422
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("lines.1.code", "currency-mismatch")]
    assert await ordering.counts() == (0, 0)


MALFORMED = {
    "no line": {"lines": []},
    "zero units": {"lines": [{"code": "MUG", "quantity": 0}]},
    "too many units": {"lines": [{"code": "MUG", "quantity": MAX_LINE_QUANTITY + 1}]},
    "quantity as text": {"lines": [{"code": "MUG", "quantity": "2"}]},
    "too many lines": {"lines": [{"code": "MUG", "quantity": 1}] * 201},
    "unknown field": {"lines": [{"code": "MUG", "quantity": 1}], "account_id": "someone-else"},
}


async def test_malformed_orders_are_refused(shop: Shop) -> None:
    ordering = shop.ordering
    for case, body in MALFORMED.items():
        status, problem, _ = await ordering.call("POST", "/orders", ordering.partner_a, body)
        assert status == 422, case
        assert problem["errors"], case
    assert await ordering.counts() == (0, 0)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/orders", {"lines": [{"code": "MUG\u0000", "quantity": 1}]}, "lines.0.code"),
        (
            "/orders",
            {"lines": [{"code": "MUG", "quantity": 1}, {"code": "TEA\n", "quantity": 1}]},
            "lines.1.code",
        ),
        ("/orders?limit=%00", None, "limit"),
    ],
)
async def test_a_control_character_is_a_422_naming_the_field_and_submits_nothing(
    shop: Shop, path: str, body: dict[str, Any] | None, field: str
) -> None:
    ordering = shop.ordering
    status, problem, _ = await ordering.call("POST" if body else "GET", path, ordering.partner_a, body)
    assert status == 422, problem
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await ordering.counts() == (0, 0)


async def test_the_same_idempotency_key_submits_once_and_answers_the_first_result(shop: Shop) -> None:
    ordering = shop.ordering
    lines = [{"code": "MUG", "quantity": 1}]
    status, first = await ordering.submit(ordering.partner_a, lines, key="order-1")
    again_status, again, headers = await ordering.call(
        "POST", "/orders", ordering.partner_a, {"lines": lines}, key="order-1"
    )

    assert (status, again_status) == (201, 201)
    assert again == first
    assert headers["Idempotent-Replayed"] == "true"
    assert await ordering.counts() == (1, 1)

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 2}], key="order-1"
    )
    assert status == 422
    assert problem["type"].endswith("idempotency-key-reused")
    # Keys belong to their caller: another account's "order-1" is an order of its own.
    assert (await ordering.submit(ordering.partner_a2, lines, key="order-1"))[0] == 201
    assert await ordering.counts() == (2, 2)


async def test_an_order_is_seen_by_its_owner_and_the_tenant_admin_only(shop: Shop) -> None:
    ordering = shop.ordering
    _, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
    path = f"/orders/{order['order_id']}"

    for stranger in (ordering.partner_b, ordering.admin_b, ordering.partner_a2):
        status, problem, _ = await ordering.call("GET", path, stranger)
        assert status == 404, stranger
        # The shared guard answers: someone else's order is exactly as absent as a missing one.
        assert problem["type"] == "urn:comptoir:problem:not-found"
    for allowed in (ordering.partner_a, ordering.admin_a):
        assert (await ordering.call("GET", path, allowed))[:2] == (200, order)
    assert (await ordering.call("GET", "/orders/not-an-id", ordering.partner_a))[0] == 404
    assert (await ordering.call("GET", f"/orders/{uuid.uuid4()}", ordering.admin_a))[0] == 404


async def test_a_partner_lists_only_their_own_orders_and_an_admin_all_of_the_tenant(shop: Shop) -> None:
    ordering = shop.ordering
    _, first = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
    _, other = await ordering.submit(ordering.partner_a2, [{"code": "TEA", "quantity": 1}])
    _, second = await ordering.submit(ordering.partner_a, [{"code": "TEA", "quantity": 2}])

    async def listed(caller: Caller) -> list[str]:
        status, body, _ = await ordering.call("GET", "/orders", caller)
        assert status == 200
        return [order["order_id"] for order in body]

    assert await listed(ordering.partner_a) == [second["order_id"], first["order_id"]]
    assert await listed(ordering.partner_a2) == [other["order_id"]]
    assert await listed(ordering.admin_a) == [second["order_id"], other["order_id"], first["order_id"]]
    assert await listed(ordering.admin_b) == []
    status, body, _ = await ordering.call("GET", "/orders?limit=1", ordering.admin_a)
    assert (status, [o["order_id"] for o in body]) == (200, [second["order_id"]])
    assert (await ordering.call("GET", "/orders?limit=0", ordering.admin_a))[0] == 422


async def test_an_account_without_an_ordering_role_cannot_submit(shop: Shop) -> None:
    ordering = shop.ordering
    shop_account: Caller = {"account_id": "shop-1", "tenant_id": ordering.tenant_a, "roles": ["shop"]}

    assert (await ordering.submit(shop_account, [{"code": "MUG", "quantity": 1}]))[0] == 403
    assert (await ordering.call("GET", "/orders", shop_account))[:2] == (200, [])


async def test_a_validator_sees_her_organisations_orders_and_not_another_organisations(shop: Shop) -> None:
    ordering = shop.ordering
    _, mine = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])  # org-1
    _, theirs = await ordering.submit(ordering.partner_a2, [{"code": "TEA", "quantity": 1}])  # org-2
    _, own = await ordering.submit(ordering.validator_a, [{"code": "TEA", "quantity": 2}])  # org-1
    validator = ordering.validator_a

    for order in (mine, own):
        assert (await ordering.call("GET", f"/orders/{order['order_id']}", validator))[:2] == (200, order)
    status, problem, _ = await ordering.call("GET", f"/orders/{theirs['order_id']}", validator)
    assert status == 404 and problem["type"] == "urn:comptoir:problem:not-found"
    status, listed, _ = await ordering.call("GET", "/orders", validator)
    assert (status, [o["order_id"] for o in listed]) == (200, [own["order_id"], mine["order_id"]])

    # The same role in another tenant, even with the same organisation id, sees nothing of tenant A.
    elsewhere = {**validator, "tenant_id": ordering.tenant_b}
    assert (await ordering.call("GET", f"/orders/{mine['order_id']}", elsewhere))[0] == 404
    assert (await ordering.call("GET", "/orders", elsewhere))[:2] == (200, [])


async def test_a_validator_without_an_organisation_sees_only_her_own_orders(shop: Shop) -> None:
    ordering = shop.ordering
    loner: Caller = {"account_id": "validator-x", "tenant_id": ordering.tenant_a, "roles": ["validator"]}
    _, partners = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
    _, own = await ordering.submit(loner, [{"code": "TEA", "quantity": 1}])

    assert (await ordering.call("GET", f"/orders/{own['order_id']}", loner))[:2] == (200, own)
    assert (await ordering.call("GET", f"/orders/{partners['order_id']}", loner))[0] == 404
    status, listed, _ = await ordering.call("GET", "/orders", loner)
    assert (status, [o["order_id"] for o in listed]) == (200, [own["order_id"]])


async def test_a_partner_follows_her_organisations_orders_and_no_other(shop: Shop) -> None:
    ordering = shop.ordering
    _, validators = await ordering.submit(ordering.validator_a, [{"code": "MUG", "quantity": 1}])  # org-1
    _, own = await ordering.submit(ordering.partner_a, [{"code": "TEA", "quantity": 1}])  # org-1 too
    _, elsewhere = await ordering.submit(ordering.partner_a2, [{"code": "TEA", "quantity": 1}])  # org-2

    assert (await ordering.call("GET", f"/orders/{validators['order_id']}", ordering.partner_a))[0] == 200
    assert (await ordering.call("GET", f"/orders/{elsewhere['order_id']}", ordering.partner_a))[0] == 404
    status, listed, _ = await ordering.call("GET", "/orders", ordering.partner_a)
    assert (status, {o["order_id"] for o in listed}) == (200, {own["order_id"], validators["order_id"]})


async def test_reading_orders_needs_a_token_with_an_ordering_role(shop: Shop) -> None:
    ordering = shop.ordering
    _, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
    no_role: Caller = {"account_id": "partner-a1", "tenant_id": ordering.tenant_a, "roles": ["auditor"]}
    for path in ("/orders", f"/orders/{order['order_id']}"):
        async with ordering.service.http.get(ordering.service.url + path) as resp:
            assert resp.status == 401, path
        assert (await ordering.call("GET", path, no_role))[0] == 403, path
