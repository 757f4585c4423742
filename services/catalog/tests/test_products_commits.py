"""Products where commits matter (the full tier): an update's time is later than the creation's
(one transaction has one `now()`), concurrent updates serialise and their events leave in commit
order, and reach the topic keyed by product."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from libs.devstack.testing import ServiceUnderTest
from services.catalog.tests.conftest import PRODUCTS_TOPIC, Catalog
from services.catalog.tests.test_products import changes

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def catalog(running_service: ServiceUnderTest) -> Catalog:
    return Catalog.fresh(running_service)


async def test_concurrent_updates_get_one_version_each_and_leave_in_commit_order(catalog: Catalog) -> None:
    product = await catalog.create("MUG", 100)
    path = f"/products/{product['id']}"

    answers = await asyncio.gather(
        *(catalog.call("PUT", path, catalog.admin_a, changes(price_minor=price)) for price in range(101, 107))
    )

    assert sorted(body["version"] for _, body, _ in answers) == [2, 3, 4, 5, 6, 7]
    versions = [event["data"]["version"] for _, event in await catalog.events()]
    assert versions == [1, 2, 3, 4, 5, 6, 7]  # outbox order is the order consumers will see
    final = max((body for _, body, _ in answers), key=lambda body: body["version"])
    assert (await catalog.call("GET", path, catalog.admin_a))[1] == final


async def test_product_events_reach_the_topic_keyed_by_product_in_order(catalog: Catalog) -> None:
    product = await catalog.create("MUG")
    await catalog.call("PUT", f"/products/{product['id']}", catalog.admin_a, changes())
    assert isinstance(catalog.service, ServiceUnderTest)
    isolated = catalog.service.isolated
    consumer = AIOKafkaConsumer(
        isolated.topic_prefix + PRODUCTS_TOPIC,
        bootstrap_servers=isolated.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes | None, dict[str, Any]]] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < 2:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        assert record.value is not None
                        event = json.loads(record.value)
                        if event["tenantid"] == catalog.tenant_a:
                            received.append((record.key, event))
    finally:
        await consumer.stop()

    assert [key for key, _ in received] == [product["id"].encode()] * 2
    assert [(e["type"], e["data"]["version"]) for _, e in received] == [
        ("catalog.product.created", 1),
        ("catalog.product.updated", 2),
    ]


async def test_an_update_bumps_the_version_and_announces_the_new_state(catalog: Catalog) -> None:
    product = await catalog.create("MUG", 1250)

    status, updated, _ = await catalog.call(
        "PUT", f"/products/{product['id']}", catalog.admin_a, changes(currency="USD", active=False)
    )

    assert status == 200, updated
    assert updated["version"] == 2 and updated["code"] == "MUG"
    assert (updated["name"], updated["price_minor"], updated["currency"], updated["active"]) == (
        "Crème riche",
        1490,
        "USD",
        False,
    )
    assert updated["created_at"] == product["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(product["updated_at"])
    events = await catalog.events()
    assert [e["type"] for _, e in events] == ["catalog.product.created", "catalog.product.updated"]
    key, event = events[1]
    assert key == event["subject"] == product["id"]
    assert event["data"] == {
        "product_id": product["id"],
        "code": "MUG",
        "name": "Crème riche",
        "price_minor": 1490,
        "currency": "USD",
        "active": False,
        "version": 2,
        "brand_id": None,
        "vat_rate_bp": 2000,
        "status": "retired",
        "category_id": None,
    }
