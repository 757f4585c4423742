"""The cart: kept per account, priced when read, lines that cannot be ordered any more kept with the
reason, all-or-nothing additions that name each refused line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from libs.common.limits import MAX_LINE_QUANTITY
from services.ordering.tests.conftest import Caller, Ordering, terms_event

pytestmark = pytest.mark.fast


@dataclass
class Shop:
    """Tenant A's catalog: a mug at 12.50 EUR (VAT 20 %) and a tea at 3.99 EUR."""

    ordering: Ordering
    mug: uuid.UUID
    tea: uuid.UUID

    async def cart(self, caller: Caller) -> dict[str, Any]:
        status, cart, _ = await self.ordering.call("GET", "/cart", caller)
        assert status == 200, cart
        return dict(cart)

    async def add(self, caller: Caller, *lines: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
        status, body, _ = await self.ordering.call("POST", "/cart/lines", caller, {"lines": list(lines)}, key)
        return status, body


@pytest.fixture
async def shop(ordering: Ordering) -> Shop:
    mug, tea = uuid.uuid4(), uuid.uuid4()
    brand = uuid.uuid4()
    await ordering.publish(
        ordering.product(mug, "MUG", 1250, brand_id=brand), ordering.product(tea, "TEA", 399, brand_id=brand)
    )
    return Shop(ordering, mug, tea)


def _lines(cart: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (line["code"], line["quantity"], line["line_total_minor"], line["problem"]) for line in cart["lines"]
    ]


async def test_lines_added_by_code_or_id_are_priced_now_and_add_up(shop: Shop) -> None:
    partner = shop.ordering.partner_a
    assert await shop.cart(partner) == {"lines": [], "total_minor": 0, "currency": None}
    status, cart = await shop.add(partner, {"code": "mug"}, {"product_id": str(shop.tea), "quantity": 3})
    assert status == 200, cart
    assert _lines(cart) == [("MUG", 1, 1250, None), ("TEA", 3, 1197, None)]
    assert cart["total_minor"] == 2447 and cart["currency"] == "EUR"
    assert cart["lines"][0]["vat_rate_bp"] == 2000 and cart["lines"][0]["available"] is True

    await shop.add(partner, {"code": "Mug", "quantity": 2})
    assert _lines(await shop.cart(partner)) == [("MUG", 3, 3750, None), ("TEA", 3, 1197, None)]
    # Another account's cart, and another tenant's, are theirs.
    assert (await shop.cart(shop.ordering.validator_a))["lines"] == []
    assert (await shop.cart(shop.ordering.partner_b))["lines"] == []


async def test_an_addition_with_a_line_that_cannot_be_ordered_adds_nothing_and_names_it(shop: Shop) -> None:
    partner = shop.ordering.partner_a
    status, problem = await shop.add(
        partner,
        {"code": "MUG"},
        {"code": "NOPE"},
        {"product_id": str(uuid.uuid4())},
        {"code": "TEA", "quantity": 0},
    )
    assert status == 422, problem
    status, problem = await shop.add(
        partner, {"code": "MUG"}, {"code": "NOPE"}, {"product_id": str(uuid.uuid4())}
    )
    assert status == 422 and problem["type"] == "urn:comptoir:problem:cart-rejected"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("lines.2.product_id", "unknown-product"),
        ("lines.1.code", "unknown-product"),
    ]
    assert (await shop.cart(partner))["lines"] == []
    status, problem = await shop.add(partner, {"code": "MUG", "product_id": str(shop.mug)})
    assert status == 422  # a code or an id, not both


async def test_a_line_whose_product_left_the_assortment_or_was_retired_stays_unavailable_with_the_reason(
    shop: Shop,
) -> None:
    ordering, partner = shop.ordering, shop.ordering.partner_a
    await shop.add(partner, {"code": "MUG", "quantity": 2}, {"code": "TEA"})
    await ordering.publish(
        terms_event(ordering.tenant_a, "org-1", assortment=[shop.tea]),
        ordering.product(shop.tea, "TEA", 399, version=2, active=False, brand_id=uuid.uuid4()),
    )
    cart = await shop.cart(partner)
    assert _lines(cart) == [("MUG", 2, None, "not-in-assortment"), ("TEA", 1, None, "inactive-product")]
    assert cart["total_minor"] == 0 and [line["available"] for line in cart["lines"]] == [False, False]
    # Changing what the cart holds keeps them; a new code must be orderable.
    status, cart, _ = await ordering.call(
        "PUT", "/cart", partner, {"lines": [{"code": "TEA", "quantity": 5}]}
    )
    assert status == 200 and _lines(cart) == [("TEA", 5, None, "inactive-product")]
    status, problem, _ = await ordering.call(
        "PUT", "/cart", partner, {"lines": [{"code": "MUG", "quantity": 1}]}
    )
    assert status == 422 and problem["errors"][0]["type"] == "not-in-assortment"


async def test_quantities_change_lines_go_and_the_cart_empties(shop: Shop) -> None:
    ordering, partner = shop.ordering, shop.ordering.partner_a
    await shop.add(partner, {"code": "MUG"}, {"code": "TEA"})
    status, cart, _ = await ordering.call(
        "PUT", "/cart", partner, {"lines": [{"code": "TEA", "quantity": 4}, {"code": "MUG", "quantity": 1}]}
    )
    assert status == 200 and _lines(cart) == [("TEA", 4, 1596, None), ("MUG", 1, 1250, None)]
    assert _lines(await shop.cart(partner)) == [("TEA", 4, 1596, None), ("MUG", 1, 1250, None)]
    status, problem, _ = await ordering.call(
        "PUT", "/cart", partner, {"lines": [{"code": "TEA", "quantity": 1}, {"code": "tea", "quantity": 2}]}
    )
    assert status == 422 and problem["errors"][0]["type"] == "duplicate-code"
    status, _, _ = await ordering.call("DELETE", "/cart", partner)
    assert status == 204 and (await shop.cart(partner))["lines"] == []


async def test_a_line_holds_at_most_the_quantity_an_order_line_may(shop: Shop) -> None:
    partner = shop.ordering.partner_a
    await shop.add(partner, {"code": "MUG", "quantity": MAX_LINE_QUANTITY})
    status, problem = await shop.add(partner, {"code": "MUG"})
    assert status == 422 and problem["errors"][0] == {
        "field": "lines.0.quantity",
        "message": f"MUG: the cart would hold more than {MAX_LINE_QUANTITY}",
        "type": "quantity-too-large",
    }


async def test_an_addition_retried_with_its_key_adds_once(shop: Shop) -> None:
    partner = shop.ordering.partner_a
    for _ in range(2):
        status, cart = await shop.add(partner, {"code": "MUG", "quantity": 2}, key="add-mugs")
        assert status == 200 and _lines(cart) == [("MUG", 2, 2500, None)]
    assert _lines(await shop.cart(partner)) == [("MUG", 2, 2500, None)]


async def test_only_people_who_order_have_a_cart(shop: Shop) -> None:
    shop_account = {"account_id": "shop-a", "tenant_id": shop.ordering.tenant_a, "roles": ["shop"]}
    status, _, _ = await shop.ordering.call("GET", "/cart", shop_account)
    assert status == 403


async def test_a_past_order_goes_back_into_the_cart_priced_now_with_what_is_gone_flagged(shop: Shop) -> None:
    ordering, partner = shop.ordering, shop.ordering.partner_a
    status, order = await ordering.submit(
        partner, [{"code": "MUG", "quantity": 2}, {"code": "TEA", "quantity": 1}]
    )
    assert status == 201, order
    await ordering.publish(
        ordering.product(shop.tea, "TEA", 399, version=2, active=False, brand_id=uuid.uuid4())
    )
    await shop.add(partner, {"code": "MUG"})
    status, cart, _ = await ordering.call("POST", f"/orders/{order['order_id']}/reorder", partner)
    assert status == 200, cart
    assert _lines(cart) == [("MUG", 3, 3750, None), ("TEA", 1, None, "inactive-product")]
    # Someone else's order is not hers to reorder; another tenant's is unknown.
    assert (await ordering.call("POST", f"/orders/{order['order_id']}/reorder", ordering.partner_a2))[
        0
    ] == 404
    assert (await ordering.call("POST", f"/orders/{order['order_id']}/reorder", ordering.partner_b))[0] == 404


async def test_a_cart_saved_as_a_template_loads_again_later_and_is_its_owners_alone(shop: Shop) -> None:
    ordering, partner = shop.ordering, shop.ordering.partner_a
    status, problem, _ = await ordering.call("POST", "/cart/templates", partner, {"name": "Weekly"})
    assert status == 422 and problem["errors"][0]["type"] == "empty-cart"
    await shop.add(partner, {"code": "MUG", "quantity": 2}, {"code": "TEA", "quantity": 5})
    status, template, _ = await ordering.call(
        "POST", "/cart/templates", partner, {"name": "  Weekly  order "}
    )
    assert status == 201, template
    assert template["name"] == "Weekly order"
    assert template["lines"] == [{"code": "MUG", "quantity": 2}, {"code": "TEA", "quantity": 5}]
    status, problem, _ = await ordering.call("POST", "/cart/templates", partner, {"name": "WEEKLY ORDER"})
    assert status == 409 and problem["type"] == "urn:comptoir:problem:template-name-taken"

    await ordering.call("DELETE", "/cart", partner)
    await ordering.publish(
        ordering.product(shop.tea, "TEA", 399, version=2, active=False, brand_id=uuid.uuid4())
    )
    path = f"/cart/templates/{template['template_id']}"
    status, cart, _ = await ordering.call("POST", f"{path}/load", partner)
    assert status == 200 and _lines(cart) == [("MUG", 2, 2500, None), ("TEA", 5, None, "inactive-product")]
    status, listed, _ = await ordering.call("GET", "/cart/templates", partner)
    assert status == 200 and [t["name"] for t in listed] == ["Weekly order"]

    # Not even her organisation's validator sees it.
    validator = ordering.validator_a
    assert (await ordering.call("GET", "/cart/templates", validator))[1] == []
    assert (await ordering.call("POST", f"{path}/load", validator))[0] == 404
    assert (await ordering.call("DELETE", path, validator))[0] == 404
    assert (await ordering.call("DELETE", path, partner))[0] == 204
    assert (await ordering.call("GET", "/cart/templates", partner))[1] == []
