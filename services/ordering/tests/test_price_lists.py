"""Orders priced from catalog's price lists and checked against assortments, from ordering's own read
model of catalog.price_list.v1 and catalog.organisation.v1: the most specific list valid at submission
wins, a withdrawn or expired list stops pricing at once, another organisation's list never applies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.common.events import Envelope
from libs.devstack.testing import wait_until
from services.ordering.tests.conftest import Caller, Ordering, price_list_event, product_event, terms_event

pytestmark = pytest.mark.fast

GROUP = "group-pharmacies"


@dataclass
class Brand:
    """Tenant A's brand with a mug (base 10.00 EUR), a tea (5.00) and a cup (2.00). Organisation org-1
    (partner_a) and org-2 (partner_a2) are both in GROUP."""

    ordering: Ordering
    brand: uuid.UUID
    mug: uuid.UUID
    tea: uuid.UUID
    cup: uuid.UUID

    def price_list(self, prices: dict[uuid.UUID, int], **kwargs: Any) -> tuple[uuid.UUID, Envelope]:
        """A fresh list of this brand (see `price_list_event`) and its id."""
        list_id = uuid.uuid4()
        return list_id, price_list_event(
            self.ordering.tenant_a, list_id, prices, brand_id=self.brand, **kwargs
        )

    def list_version(self, list_id: uuid.UUID, prices: dict[uuid.UUID, int], **kwargs: Any) -> Envelope:
        return price_list_event(self.ordering.tenant_a, list_id, prices, brand_id=self.brand, **kwargs)

    async def prices(self, caller: Caller, *codes: str) -> list[tuple[str, int, str | None]]:
        """(code, unit price, pricing list) of each line of a one-unit order of `codes` by `caller`."""
        status, order = await self.ordering.submit(caller, [{"code": code, "quantity": 1} for code in codes])
        assert status == 201, order
        return [(line["code"], line["unit_price_minor"], line["price_list_id"]) for line in order["lines"]]


@pytest.fixture
async def brand(ordering: Ordering) -> Brand:
    brand_id, mug, tea, cup = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await ordering.publish(
        ordering.product(mug, "MUG", 1000, brand_id=brand_id),
        ordering.product(tea, "TEA", 500, brand_id=brand_id),
        ordering.product(cup, "CUP", 200, brand_id=brand_id),
        terms_event(ordering.tenant_a, "org-1", group_id=GROUP),
        terms_event(ordering.tenant_a, "org-2", group_id=GROUP),
    )
    return Brand(ordering, brand_id, mug, tea, cup)


def instant(day: int, hour: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, tzinfo=UTC)


# --- the read model ---


async def test_price_list_versions_arriving_out_of_order_keep_the_highest(brand: Brand) -> None:
    ordering = brand.ordering
    list_id, first = brand.price_list({brand.mug: 900})
    await ordering.publish(
        first,
        brand.list_version(list_id, {brand.mug: 800, brand.tea: 400}, version=3),
        brand.list_version(list_id, {brand.mug: 1}, version=3),  # repeated version, other content
        brand.list_version(list_id, {brand.mug: 700}, version=2),  # older, arriving late
    )

    row = await ordering.db.fetchrow(
        "SELECT version, active FROM price_lists WHERE tenant_id = $1 AND price_list_id = $2",
        ordering.tenant_a,
        list_id,
    )
    assert dict(row) == {"version": 3, "active": True}
    assert await brand.prices(ordering.partner_a, "MUG", "TEA") == [
        ("MUG", 800, str(list_id)),
        ("TEA", 400, str(list_id)),
    ]


async def test_a_withdrawn_list_stops_pricing_and_an_older_version_does_not_revive_it(brand: Brand) -> None:
    ordering = brand.ordering
    list_id, listed = brand.price_list({brand.mug: 900})
    await ordering.publish(listed)
    assert await brand.prices(ordering.partner_a, "MUG") == [("MUG", 900, str(list_id))]

    await ordering.publish(
        brand.list_version(list_id, {brand.mug: 900}, version=2, active=False),
        brand.list_version(list_id, {brand.mug: 850}, version=1),
    )

    assert await brand.prices(ordering.partner_a, "MUG") == [("MUG", 1000, None)]
    kept = await ordering.db.fetchval(
        "SELECT count(*) FROM price_list_prices WHERE tenant_id = $1 AND price_list_id = $2",
        ordering.tenant_a,
        list_id,
    )
    assert kept == 0


async def test_organisation_terms_keep_the_highest_version(brand: Brand) -> None:
    ordering = brand.ordering
    await ordering.publish(
        terms_event(ordering.tenant_a, "org-9", group_id="vip", assortment=[brand.mug], version=3),
        terms_event(ordering.tenant_a, "org-9", group_id=None, entitlements=["ecommerce"], version=2),
    )

    row = await ordering.db.fetchrow(
        "SELECT group_id, restricted, entitlements, version FROM organisation_terms"
        " WHERE tenant_id = $1 AND organisation_id = 'org-9'",
        ordering.tenant_a,
    )
    assert dict(row) == {"group_id": "vip", "restricted": True, "entitlements": [], "version": 3}
    partner_9 = {**ordering.partner_a, "organisation_id": "org-9"}
    status, problem = await ordering.submit(partner_9, [{"code": "TEA", "quantity": 1}])
    assert (status, problem["errors"][0]["type"]) == (422, "not-in-assortment")

    await ordering.publish(
        terms_event(ordering.tenant_a, "org-9", group_id=None, entitlements=["ecommerce"], version=4)
    )
    assert await brand.prices(partner_9, "TEA") == [("TEA", 500, None)]


async def test_a_price_list_without_the_target_of_its_scope_is_dead_lettered(brand: Brand) -> None:
    ordering = brand.ordering
    event = brand.list_version(uuid.uuid4(), {brand.mug: 1}, group_id=GROUP)
    event = event.model_copy(update={"data": {**event.data, "group_id": None}})
    await ordering.service.publish("catalog.price_list.v1", event)

    async def dead() -> bool:
        return bool(
            await ordering.db.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", event.id)
        )

    await wait_until(dead, "the malformed list dead-lettered")
    error = await ordering.db.fetchval("SELECT error FROM dead_letters WHERE event_id = $1", event.id)
    assert "a group list needs its group id" in error
    assert await brand.prices(ordering.partner_a, "MUG") == [("MUG", 1000, None)]


# --- submission: which list prices a line ---


async def test_the_organisation_list_beats_the_group_list_beats_the_brand_list_beats_the_base_price(
    brand: Brand,
) -> None:
    ordering = brand.ordering
    brand_list, brand_event = brand.price_list({brand.mug: 900, brand.tea: 450})
    group_list, group_event = brand.price_list({brand.mug: 800}, group_id=GROUP)
    own_list, own_event = brand.price_list({brand.mug: 700}, organisation_id="org-1")
    await ordering.publish(brand_event, group_event, own_event)

    status, order = await ordering.submit(
        ordering.partner_a, [{"code": code, "quantity": 2} for code in ("MUG", "TEA", "CUP")]
    )
    assert status == 201, order
    assert [(line["code"], line["unit_price_minor"], line["price_list_id"]) for line in order["lines"]] == [
        ("MUG", 700, str(own_list)),
        ("TEA", 450, str(brand_list)),
        ("CUP", 200, None),
    ]
    assert order["total_minor"] == 2 * (700 + 450 + 200)
    [(_, event)] = await ordering.published()
    assert event["data"]["lines"] == order["lines"]
    assert (await ordering.call("GET", f"/orders/{order['order_id']}", ordering.partner_a))[:2] == (
        200,
        order,
    )

    # org-2 shares the group but not org-1's own list; org-3 has no terms, so no group either.
    assert await brand.prices(ordering.partner_a2, "MUG") == [("MUG", 800, str(group_list))]
    org_3 = {**ordering.partner_a, "organisation_id": "org-3"}
    assert await brand.prices(org_3, "MUG") == [("MUG", 900, str(brand_list))]
    # Without an organisation only the brand's list applies.
    assert await brand.prices(ordering.admin_a, "MUG") == [("MUG", 900, str(brand_list))]


async def test_another_organisations_or_another_tenants_list_never_applies(brand: Brand) -> None:
    ordering = brand.ordering
    _, theirs = brand.price_list({brand.mug: 1, brand.tea: 1}, organisation_id="org-2")
    await ordering.publish(
        theirs,
        product_event(ordering.tenant_b, brand.mug, "MUG", 1500, brand_id=brand.brand),
    )

    assert await brand.prices(ordering.partner_a, "MUG", "TEA") == [("MUG", 1000, None), ("TEA", 500, None)]
    # The same organisation id in tenant B is another organisation: tenant A's lists are not its own.
    org_2_of_b = {**ordering.partner_b, "organisation_id": "org-2"}
    status, order = await ordering.submit(org_2_of_b, [{"code": "MUG", "quantity": 1}])
    assert (status, order["lines"][0]["unit_price_minor"], order["lines"][0]["price_list_id"]) == (
        201,
        1500,
        None,
    )


async def test_a_list_takes_effect_at_its_valid_from_and_stops_at_its_valid_until(brand: Brand) -> None:
    ordering = brand.ordering
    standing, standing_event = brand.price_list({brand.mug: 900}, organisation_id="org-1")
    promotion, promotion_event = brand.price_list(
        {brand.mug: 600}, organisation_id="org-1", valid_from=instant(10), valid_until=instant(20)
    )
    await ordering.publish(standing_event, promotion_event)

    expected = {
        instant(10) - timedelta(microseconds=1): (900, standing),
        instant(10): (600, promotion),  # the later-starting list of the same scope wins while valid
        instant(20) - timedelta(microseconds=1): (600, promotion),
        instant(20): (900, standing),  # valid_until is exclusive
    }
    for at, (price, list_id) in expected.items():
        ordering.clock.stopped_at = at
        status, order = await ordering.submit(ordering.partner_a, [{"code": "MUG", "quantity": 1}])
        assert status == 201, order
        line = order["lines"][0]
        assert (line["unit_price_minor"], line["price_list_id"]) == (price, str(list_id)), at
        assert datetime.fromisoformat(order["submitted_at"]) == at


async def test_an_expired_list_gives_way_to_the_base_price(brand: Brand) -> None:
    ordering = brand.ordering
    _, expired = brand.price_list({brand.tea: 1}, valid_until=instant(1))
    await ordering.publish(expired)

    ordering.clock.stopped_at = instant(1, 12)
    assert await brand.prices(ordering.partner_a, "TEA") == [("TEA", 500, None)]


async def test_a_line_priced_by_a_list_in_another_currency_than_the_order_is_refused(brand: Brand) -> None:
    ordering = brand.ordering
    _, in_francs = brand.price_list({brand.tea: 480}, organisation_id="org-1", currency="CHF")
    await ordering.publish(in_francs)

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 1}, {"code": "TEA", "quantity": 1}]
    )

    assert status == 422
    assert problem["errors"] == [
        {
            "field": "lines.1.code",
            "message": "product TEA is priced in CHF, the order in EUR",
            "type": "currency-mismatch",
        }
    ]
    assert await ordering.counts() == (0, 0)


# --- submission: assortments ---


async def test_a_product_outside_the_assortment_is_refused_naming_its_line_and_nothing_is_stored(
    brand: Brand,
) -> None:
    ordering = brand.ordering
    await ordering.publish(
        terms_event(ordering.tenant_a, "org-1", group_id=GROUP, assortment=[brand.mug], version=2)
    )

    status, problem = await ordering.submit(
        ordering.partner_a, [{"code": "MUG", "quantity": 1}, {"code": "tea", "quantity": 1}]
    )

    assert status == 422
    assert problem["errors"] == [
        {
            "field": "lines.1.code",
            "message": "product tea is not in your organisation's assortment",
            "type": "not-in-assortment",
        }
    ]
    assert await ordering.counts() == (0, 0)
    # Unrestricted: another organisation of the tenant, and a caller of no organisation.
    assert await brand.prices(ordering.partner_a2, "TEA") == [("TEA", 500, None)]
    assert await brand.prices(ordering.admin_a, "TEA") == [("TEA", 500, None)]
    assert await brand.prices(ordering.partner_a, "MUG") == [("MUG", 1000, None)]


async def test_an_empty_assortment_allows_nothing(brand: Brand) -> None:
    ordering = brand.ordering
    await ordering.publish(terms_event(ordering.tenant_a, "org-2", assortment=[], version=2))

    status, problem = await ordering.submit(ordering.partner_a2, [{"code": "CUP", "quantity": 1}])

    assert status == 422
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("lines.0.code", "not-in-assortment")]
    assert await ordering.counts() == (0, 0)
