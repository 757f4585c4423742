"""The products read model, built from catalog's events: newest version wins, per tenant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.ordering.tests.conftest import Ordering, at, product_event

pytestmark = pytest.mark.fast


async def product_row(ordering: Ordering, product_id: uuid.UUID) -> dict[str, Any]:
    row = await ordering.db.fetchrow(
        "SELECT code, price_minor, active, version FROM products WHERE tenant_id = $1 AND product_id = $2",
        ordering.tenant_a,
        product_id,
    )
    assert row is not None
    return dict(row)


async def test_newer_versions_apply_and_older_or_repeated_ones_change_nothing(ordering: Ordering) -> None:
    mug = uuid.uuid4()
    await ordering.publish(
        ordering.product(mug, "MUG", 1000, version=1),
        ordering.product(mug, "MUG", 1500, version=3),
        ordering.product(mug, "MUG", 9999, version=3),  # repeated version, other content
        ordering.product(mug, "MUG", 1, version=2, active=False),  # older, arriving late
    )

    assert await product_row(ordering, mug) == {
        "code": "MUG",
        "price_minor": 1500,
        "active": True,
        "version": 3,
    }
    status, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 2}])
    assert status == 201, order
    assert order["total_minor"] == 3000


async def test_each_tenant_has_its_own_products(ordering: Ordering) -> None:
    await ordering.publish(
        ordering.product(uuid.uuid4(), "MUG", 1000),
        product_event(ordering.tenant_b, uuid.uuid4(), "MUG", 700),
        product_event(ordering.tenant_b, uuid.uuid4(), "ONLY-B", 5),
    )

    assert (await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}]))[1][
        "total_minor"
    ] == 1000
    assert (await ordering.submit(ordering.partner_b, [{"code": "MUG", "quantity": 1}]))[1][
        "total_minor"
    ] == 700
    status, problem = await ordering.submit(ordering.partner_a, [{"code": "ONLY-B", "quantity": 1}])
    assert status == 422
    assert problem["errors"][0]["field"] == "lines.0.code"


async def test_a_code_moved_to_another_product_goes_to_the_most_recent_event_in_any_arrival_order(
    ordering: Ordering,
) -> None:
    old, new = uuid.uuid4(), uuid.uuid4()
    # In catalog, `old` was MUG, was renamed MUG-OLD, then `new` was created as MUG. The two products
    # are different keys, so ordering may see `new` claim MUG before `old` gives it up.
    await ordering.publish(
        ordering.product(new, "MUG", 2000, at=at(2)),
        ordering.product(old, "MUG", 1000, at=at(0)),
        ordering.product(old, "MUG-OLD", 1000, version=2, at=at(1)),
    )

    status, order = await ordering.submit(
        ordering.partner_a, [{"code": "mug", "quantity": 1}, {"code": "mug-old", "quantity": 1}]
    )

    assert status == 201, order
    assert [(line["product_id"], line["code"]) for line in order["lines"]] == [
        (str(new), "MUG"),
        (str(old), "MUG-OLD"),
    ]


async def test_brand_vat_and_status_are_kept_and_events_from_before_them_leave_them_empty(
    ordering: Ordering,
) -> None:
    branded, older, brand = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await ordering.publish(
        ordering.product(branded, "MUG", 1000, brand_id=brand),
        ordering.product(older, "TEA", 500),  # an event without brand_id, vat_rate_bp, status
    )

    rows = await ordering.db.fetch(
        "SELECT product_id, brand_id, vat_rate_bp, status FROM products WHERE tenant_id = $1",
        ordering.tenant_a,
    )
    assert {row["product_id"]: tuple(row)[1:] for row in rows} == {
        branded: (brand, 2000, "active"),
        older: (None, None, None),
    }
