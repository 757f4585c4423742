"""Business limits: a unit price of at most 10^8 minor units (a catalog event over it is
dead-lettered, not applied), at most 10^5 units per line, an order total of at most 10^11."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from libs.common.limits import MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR, MAX_UNIT_PRICE_MINOR
from libs.devstack.testing import wait_until
from services.ordering.tests.conftest import Ordering, price_list_event

pytestmark = pytest.mark.fast


async def dead_lettered(ordering: Ordering, topic: str, event_id: uuid.UUID) -> str:
    async def dead() -> bool:
        count = await ordering.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", event_id)
        return bool(count)

    await wait_until(dead, f"event {event_id} dead-lettered")
    return str(await ordering.db.fetchval("SELECT error FROM dead_letters WHERE event_id = $1", event_id))


async def test_a_product_priced_over_the_limit_is_dead_lettered_and_never_sold(ordering: Ordering) -> None:
    dear, too_dear = uuid.uuid4(), uuid.uuid4()
    over = ordering.product(too_dear, "GOLD", MAX_UNIT_PRICE_MINOR + 1)
    await ordering.service.publish("catalog.product.v1", over)

    assert "price_minor" in await dead_lettered(ordering, "catalog.product.v1", over.id)
    await ordering.publish(ordering.product(dear, "SILVER", MAX_UNIT_PRICE_MINOR))
    status, order = await ordering.submit(ordering.partner_a, [{"code": "SILVER", "quantity": 1}])
    assert status == 201 and order["total_minor"] == MAX_UNIT_PRICE_MINOR, order
    status, problem = await ordering.submit(ordering.partner_a, [{"code": "GOLD", "quantity": 1}])
    assert status == 422 and problem["errors"][0]["type"] == "unknown-product", problem


async def test_a_price_list_price_over_the_limit_is_dead_lettered(ordering: Ordering) -> None:
    mug, brand = uuid.uuid4(), uuid.uuid4()
    await ordering.publish(ordering.product(mug, "MUG", 1000, brand_id=brand))
    event = price_list_event(ordering.tenant_a, uuid.uuid4(), {mug: MAX_UNIT_PRICE_MINOR + 1}, brand_id=brand)
    await ordering.service.publish("catalog.price_list.v1", event)

    assert "price_minor" in await dead_lettered(ordering, "catalog.price_list.v1", event.id)


async def test_a_line_of_up_to_the_quantity_limit_is_accepted_and_one_unit_more_refused(
    ordering: Ordering,
) -> None:
    await ordering.publish(ordering.product(uuid.uuid4(), "PIN", 1))

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "PIN", "quantity": MAX_LINE_QUANTITY + 1}]
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["lines.0.quantity"], problem
    assert await ordering.counts() == (0, 0)
    status, order = await ordering.submit(
        ordering.partner_a, [{"code": "PIN", "quantity": MAX_LINE_QUANTITY}]
    )
    assert status == 201 and order["lines"][0]["quantity"] == MAX_LINE_QUANTITY, order


async def test_an_order_total_up_to_the_limit_is_accepted_and_one_minor_unit_more_refused(
    ordering: Ordering,
) -> None:
    unit = MAX_ORDER_TOTAL_MINOR // MAX_LINE_QUANTITY
    await ordering.publish(
        ordering.product(uuid.uuid4(), "BAR", unit), ordering.product(uuid.uuid4(), "PIN", 1)
    )

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "BAR", "quantity": MAX_LINE_QUANTITY}, {"code": "PIN", "quantity": 1}]
    )
    assert status == 422 and [e["type"] for e in problem["errors"]] == ["total-too-large"], problem
    assert await ordering.counts() == (0, 0)
    status, order = await ordering.submit(
        ordering.partner_a, [{"code": "BAR", "quantity": MAX_LINE_QUANTITY}]
    )
    assert status == 201 and order["total_minor"] == MAX_ORDER_TOTAL_MINOR, order


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("total_minor", MAX_ORDER_TOTAL_MINOR + 1),
        ("quantity", MAX_LINE_QUANTITY + 1),
        ("unit_price_minor", MAX_UNIT_PRICE_MINOR + 1),
        ("line_total_minor", MAX_ORDER_TOTAL_MINOR + 1),
        ("price_minor", MAX_UNIT_PRICE_MINOR + 1),
    ],
)
async def test_the_database_refuses_amounts_over_the_limits_written_directly(
    ordering: Ordering, column: str, value: int
) -> None:
    await ordering.publish(ordering.product(uuid.uuid4(), "MUG", 1000))
    status, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
    assert status == 201, order
    table = {"total_minor": "orders", "price_minor": "products"}.get(column, "order_lines")
    key = "tenant_id = $2" if table == "products" else "order_id = $2::uuid"
    with pytest.raises(asyncpg.CheckViolationError):
        await ordering.db.execute(
            f"UPDATE {table} SET {column} = $1 WHERE {key}",
            value,
            ordering.tenant_a if table == "products" else order["order_id"],
        )
