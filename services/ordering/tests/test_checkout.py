"""Checkout in two steps on the fast tier: the quote of the cart with the buyer's choices, its
confirmation into an order, and every way a checkout is refused without changing anything."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from libs.common.events import Envelope
from services.ordering.tests.conftest import Ordering
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast

# A Wednesday, 10:00 in Paris: with two working days of lead time the earliest delivery is Friday.
WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
FRIDAY = date(2026, 3, 6)
ADDRESS = {
    "recipient": "Pharmacie du Marché",
    "line1": "2 place du Marché",
    "postal_code": "69002",
    "city": "Lyon",
}


def zone_event(tenant_id: str, zone: str) -> Envelope:
    return example_event(
        "identity.tenant.settings_changed", tenant_id, subject=tenant_id, time_zone=zone, changed_at=WEDNESDAY
    )


@pytest.fixture
async def shop(ordering: Ordering) -> Ordering:
    """Tenant A in Paris, a cream at 19.99 (20 % VAT) and a balm at 10.01 (5.5 %), a 6.90 fee below 50."""
    brand = uuid.uuid4()
    await ordering.publish(
        ordering.product(uuid.uuid4(), "CREAM", 1999, brand_id=brand),
        ordering.product(uuid.uuid4(), "BALM", 1001, brand_id=brand),
        ordering.product(uuid.uuid4(), "SAMPLE", 300, brand_id=brand),
        zone_event(ordering.tenant_a, "Europe/Paris"),
    )
    await ordering.db.execute(
        "UPDATE products SET vat_rate_bp = 550 WHERE tenant_id = $1 AND code = 'BALM'", ordering.tenant_a
    )
    status, _, _ = await ordering.call(
        "PUT",
        "/checkout/settings",
        ordering.admin_a,
        {
            "delivery_fee_minor": 690,
            "free_delivery_from_minor": 5000,
            "payment_modes": ["cash_on_delivery", "pay_at_centre"],
            "fee_product_codes": ["SAMPLE"],
            "terms_version": "2026-01",
        },
    )
    assert status == 200
    ordering.clock.stopped_at = WEDNESDAY
    return ordering


async def cart(ordering: Ordering, *lines: tuple[str, int]) -> None:
    body = {"lines": [{"code": code, "quantity": quantity} for code, quantity in lines]}
    status, answer, _ = await ordering.call("POST", "/cart/lines", ordering.partner_a, body)
    assert status == 200, answer


async def quote(ordering: Ordering, **choices: Any) -> tuple[int, Any]:
    status, body, _ = await ordering.call("POST", "/checkout/quotes", ordering.partner_a, choices)
    return status, body


async def confirm(ordering: Ordering, quote_id: str, accept: bool = True) -> tuple[int, Any]:
    path = f"/checkout/quotes/{quote_id}/confirm"
    status, body, _ = await ordering.call(
        "POST", path, ordering.partner_a, {"accept_terms": accept}, key=str(uuid.uuid4())
    )
    return status, body


async def test_a_quote_of_the_cart_is_confirmed_into_an_order_with_its_choices(shop: Ordering) -> None:
    await cart(shop, ("CREAM", 1), ("BALM", 1))
    status, q = await quote(shop, reference="PO-114", instructions="Back door", address=ADDRESS)
    assert status == 201, q
    totals = q["checkout"]["totals"]
    assert (totals["goods_minor"], totals["delivery_fee_minor"]) == (3000, 690)
    assert [(v["rate_bp"], v["vat_minor"]) for v in totals["vat"]] == [(2000, 538), (550, 55)]
    assert totals["total_incl_vat_minor"] == 4283
    choices = q["checkout"]["choices"]
    assert (choices["delivery_date"], choices["payment_mode"]) == (FRIDAY.isoformat(), "cash_on_delivery")
    assert q["checkout"]["terms_version"] == "2026-01"
    assert datetime.fromisoformat(q["expires_at"]) - datetime.fromisoformat(q["created_at"]) == timedelta(
        minutes=15
    )

    status, order = await confirm(shop, q["quote_id"])
    assert status == 201, order
    assert (order["status"], order["reference"], order["checkout"]) == ("confirmed", "PO-114", q["checkout"])
    assert [h["action"] for h in order["history"]] == ["confirm"]
    _, held, _ = await shop.call("GET", "/cart", shop.partner_a)
    assert held["lines"] == []  # what was ordered left the cart
    [(_, event)] = await shop.published("ordering.order.confirmed")
    assert event["data"]["reference"] == "PO-114"
    assert event["data"]["delivery_address"]["city"] == "Lyon"  # the organisation's address
    assert event["data"]["terms_version"] == "2026-01"

    # Confirmed once: a second confirmation is a conflict naming the order.
    status, problem = await confirm(shop, q["quote_id"])
    assert (status, problem["type"], problem["order_id"]) == (
        409,
        "urn:comptoir:problem:quote-used",
        order["order_id"],
    )


async def test_a_quote_whose_prices_changed_answers_409_with_the_new_quote(shop: Ordering) -> None:
    await cart(shop, ("CREAM", 2))
    _, q = await quote(shop)
    cream = await shop.db.fetchval(
        "SELECT product_id FROM products WHERE tenant_id = $1 AND code = 'CREAM'", shop.tenant_a
    )
    await shop.publish(shop.product(cream, "CREAM", 2499, version=2))

    path, key = f"/checkout/quotes/{q['quote_id']}/confirm", str(uuid.uuid4())
    status, problem, _ = await shop.call("POST", path, shop.partner_a, {"accept_terms": True}, key)
    assert (status, problem["type"]) == (409, "urn:comptoir:problem:quote-changed")
    fresh = problem["quote"]
    # Sent again (a lost answer): the same new quote, not another one.
    again = await shop.call("POST", path, shop.partner_a, {"accept_terms": True}, key)
    assert (again[0], again[1], again[2]["Idempotent-Replayed"]) == (409, problem, "true")
    assert again[2]["Content-Type"].startswith("application/problem+json")
    assert fresh["lines"][0]["unit_price_minor"] == 2499
    assert await shop.counts() == (0, 0)  # no order

    status, order = await confirm(shop, fresh["quote_id"])  # the new quote holds
    assert status == 201, order
    assert order["lines"][0]["unit_price_minor"] == 2499


async def test_an_expired_quote_answers_409_with_a_new_one(shop: Ordering) -> None:
    await cart(shop, ("CREAM", 1))
    _, q = await quote(shop)
    shop.clock.stopped_at = WEDNESDAY + timedelta(minutes=16)
    status, problem = await confirm(shop, q["quote_id"])
    assert (status, problem["type"]) == (409, "urn:comptoir:problem:quote-expired")
    assert problem["quote"]["checkout"]["totals"] == q["checkout"]["totals"]
    assert await shop.counts() == (0, 0)


async def test_terms_of_sale_must_be_accepted(shop: Ordering) -> None:
    await cart(shop, ("CREAM", 1))
    _, q = await quote(shop)
    status, problem = await confirm(shop, q["quote_id"], accept=False)
    assert status == 422
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("accept_terms", "terms-not-accepted")]
    assert await shop.counts() == (0, 0)
    status, problem = await shop.submit(shop.partner_a, [{"code": "CREAM", "quantity": 1}])
    assert (status, problem["errors"][0]["field"]) == (422, "accept_terms")


@pytest.mark.parametrize(
    ("choices", "field", "kind"),
    [
        ({"delivery_date": "2026-03-05"}, "delivery_date", "too-early"),
        ({"delivery_date": "2026-03-07"}, "delivery_date", "closed-day"),  # a Saturday
        ({"delivery_date": "2026-03-10"}, "delivery_date", "closed-day"),  # the tenant's closed day
        ({"payment_mode": "pay_at_centre", "delivery_date": "2026-03-09"}, None, None),
        ({"address_id": str(uuid.UUID(int=1))}, "address_id", "unknown-address"),
        ({"pickup_point_id": str(uuid.UUID(int=1))}, "pickup_point_id", "unknown-pickup-point"),
        ({"fee_product_code": "CREAM"}, "fee_product_code", "not-a-fee-product"),
        ({"keep_address": True}, "keep_address", "no-address"),
    ],
)
async def test_wrong_choices_are_named_and_change_nothing(
    shop: Ordering, choices: dict[str, Any], field: str | None, kind: str | None
) -> None:
    await shop.call(
        "PUT", "/checkout/closed-days", shop.admin_a, {"days": [{"day": "2026-03-10", "label": "Inventory"}]}
    )
    await cart(shop, ("CREAM", 1))
    status, answer = await quote(shop, **choices)
    if field is None:
        assert status == 201, answer
        return
    assert status == 422, answer
    assert [(e["field"], e["type"]) for e in answer["errors"]] == [(field, kind)]
    assert await shop.db.fetchval("SELECT count(*) FROM quotes WHERE tenant_id = $1", shop.tenant_a) == 0


async def test_a_product_instead_of_the_fee_and_free_delivery_above_the_threshold(shop: Ordering) -> None:
    await cart(shop, ("CREAM", 1))
    status, q = await quote(shop, fee_product_code="sample")
    assert status == 201, q
    assert [(x["code"], x["unit_price_minor"], x["instead_of_fee"]) for x in q["lines"]] == [
        ("CREAM", 1999, False),
        ("SAMPLE", 690, True),
    ]
    assert q["checkout"]["totals"]["delivery_fee_minor"] == 0
    assert q["checkout"]["totals"]["eligible_minor"] == 1999

    await cart(shop, ("CREAM", 2))  # 3 creams: 59.97, above the threshold
    _, free = await quote(shop)
    assert free["checkout"]["totals"]["delivery_fee_minor"] == 0
    status, problem = await quote(shop, fee_product_code="SAMPLE")
    assert (status, problem["errors"][0]["type"]) == (422, "no-fee-to-replace")


async def test_the_address_book_gives_the_default_and_keep_this_address_asks_the_admin(
    shop: Ordering,
) -> None:
    status, added, _ = await shop.call(
        "POST", "/addresses", shop.validator_a, {"address": {**ADDRESS, "label": "Shop"}, "is_default": True}
    )
    assert status == 201, added
    status, _, _ = await shop.call("POST", "/addresses", shop.partner_a, {"address": ADDRESS})
    assert status == 403  # partners order from the book, validators and admins keep it
    await cart(shop, ("CREAM", 1))
    _, q = await quote(shop)
    assert q["checkout"]["choices"]["address"]["label"] == "Shop"

    other = {**ADDRESS, "line1": "9 rue Neuve"}
    _, q = await quote(shop, address=other, keep_address=True)
    status, order = await confirm(shop, q["quote_id"])
    assert status == 201, order
    _, requests, _ = await shop.call("GET", "/address-requests", shop.admin_a)
    [asked] = requests
    assert (asked["order_id"], asked["address"]["line1"]) == (order["order_id"], "9 rue Neuve")
    status, kept, _ = await shop.call("POST", f"/address-requests/{asked['request_id']}/accept", shop.admin_a)
    assert status == 201, kept
    _, book, _ = await shop.call("GET", "/addresses", shop.partner_a)
    assert [entry["address"]["line1"] for entry in book] == ["2 place du Marché", "9 rue Neuve"]


async def test_a_pickup_point_replaces_the_address(shop: Ordering) -> None:
    status, point, _ = await shop.call(
        "POST", "/pickup-points", shop.admin_a, {"name": "Centre Part-Dieu", "address": ADDRESS}
    )
    assert status == 201, point
    await cart(shop, ("CREAM", 1))
    _, q = await quote(shop, pickup_point_id=point["pickup_point_id"])
    assert q["checkout"]["choices"]["pickup_point"]["name"] == "Centre Part-Dieu"
    assert q["checkout"]["choices"]["address"] is None
    await shop.call("DELETE", f"/pickup-points/{point['pickup_point_id']}", shop.admin_a)
    status, problem = await confirm(shop, q["quote_id"])
    assert (status, problem["errors"][0]["field"]) == (422, "pickup_point_id")


async def test_an_order_moves_along_its_life_and_a_wrong_step_names_its_state(shop: Ordering) -> None:
    status, order = await shop.submit(shop.partner_a, [{"code": "CREAM", "quantity": 1}], accept_terms=True)
    assert status == 201, order
    path = f"/orders/{order['order_id']}"
    status, shipped, _ = await shop.call(
        "POST", f"{path}/status", shop.admin_a, {"status": "shipped", "erp_order_number": "SO-1"}
    )
    assert (status, shipped["status"], shipped["version"]) == (200, "shipped", 2)
    status, problem, _ = await shop.call("POST", f"{path}/cancel", shop.partner_a, {})
    assert (status, problem["type"], problem["order_status"]) == (
        409,
        "urn:comptoir:problem:order-state-conflict",
        "shipped",
    )
    status, delivered, _ = await shop.call("POST", f"{path}/status", shop.admin_a, {"status": "delivered"})
    assert [h["status"] for h in delivered["history"]] == ["confirmed", "shipped", "delivered"]
    types = [
        event["type"]
        for _, event in await shop.published(
            "ordering.order.confirmed",
            "ordering.order.shipped",
            "ordering.order.delivered",
            "ordering.order.cancelled",
        )
    ]
    assert types == ["ordering.order.confirmed", "ordering.order.shipped", "ordering.order.delivered"]


async def test_a_cancellation_on_a_stale_version_is_a_conflict(shop: Ordering) -> None:
    _, order = await shop.submit(shop.partner_a, [{"code": "CREAM", "quantity": 1}], accept_terms=True)
    path = f"/orders/{order['order_id']}/cancel"
    status, problem, _ = await shop.call("POST", path, shop.partner_a, {"version": 7})
    assert (status, problem["type"], problem["version"]) == (409, "urn:comptoir:problem:order-changed", 1)
    status, cancelled, _ = await shop.call("POST", path, shop.partner_a, {"version": 1, "reason": "twice"})
    assert (status, cancelled["status"]) == (200, "cancelled")
    status, problem, _ = await shop.call("POST", path, shop.partner_a, {})
    assert (status, problem["order_status"]) == (409, "cancelled")
