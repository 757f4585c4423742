"""A seller's own orders get the tenant's seller discount (catalog.settings.v1), in the cart as in
the order; anyone else pays her organisation's price."""

from __future__ import annotations

import uuid

import pytest

from services.ordering.tests.conftest import Ordering
from tests.contracts.examples import example_event

pytestmark = pytest.mark.fast


async def test_a_seller_pays_her_price_less_the_discount_and_a_partner_the_full_price(
    ordering: Ordering,
) -> None:
    seller = {"account_id": "seller-1", "tenant_id": ordering.tenant_a, "roles": ["seller"]}
    settings = example_event(
        "catalog.settings.changed",
        ordering.tenant_a,
        subject=ordering.tenant_a,
        seller_discount_bp=2000,
        version=2,
    )
    older = example_event(
        "catalog.settings.changed",
        ordering.tenant_a,
        subject=ordering.tenant_a,
        seller_discount_bp=5000,
        version=1,
    )
    await ordering.publish(ordering.product(uuid.uuid4(), "CREME", 1290), settings, older)

    status, order = await ordering.submit(seller, [{"code": "CREME", "quantity": 2}])
    assert status == 201, order
    assert (order["lines"][0]["unit_price_minor"], order["total_minor"]) == (1032, 2064)
    await ordering.call("POST", "/cart/lines", seller, {"lines": [{"code": "CREME"}]})
    _, cart, _ = await ordering.call("GET", "/cart", seller)
    assert cart["lines"][0]["unit_price_minor"] == 1032

    status, order = await ordering.submit(ordering.partner_a, [{"code": "CREME", "quantity": 2}])
    assert (status, order["lines"][0]["unit_price_minor"]) == (201, 1290)
    # Another tenant's sellers pay full price: the discount is tenant A's.
    other = {"account_id": "seller-b", "tenant_id": ordering.tenant_b, "roles": ["seller"]}
    await ordering.publish(
        ordering.product(uuid.uuid4(), "CREME", 1290).model_copy(update={"tenantid": ordering.tenant_b})
    )
    status, order = await ordering.submit(other, [{"code": "CREME", "quantity": 1}])
    assert (status, order["lines"][0]["unit_price_minor"]) == (201, 1290)
