"""Ordering's pure rules: merging lines, pricing from the read model for a buyer at an instant (price
lists, assortment), one currency per order. The shared table of price resolution cases lives in
tests/contracts/test_price_resolution.py; here, how orders use it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from libs.common.limits import MAX_LINE_QUANTITY, MAX_ORDER_TOTAL_MINOR
from services.ordering.domain import (
    Buyer,
    Offer,
    OrderRejected,
    PriceListTerms,
    Product,
    RequestedLine,
    Scope,
    code_key,
    merge_lines,
    price_order,
    resolve_price,
)

pytestmark = pytest.mark.fast

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
BRAND = uuid.uuid4()
ANYONE = Buyer(organisation_id=None, group_id=None)
PHARMACY = Buyer(organisation_id="org-1", group_id="group-1")


def catalog(*items: Product | Offer) -> dict[str, Offer]:
    offers = [item if isinstance(item, Offer) else Offer(item) for item in items]
    return {code_key(offer.product.code): offer for offer in offers}


def priced(
    lines: list[tuple[str, int]], offers: dict[str, Offer], buyer: Buyer = ANYONE
) -> list[tuple[str, int, uuid.UUID | None]]:
    order = price_order(merge_lines(lines), offers, buyer, NOW)
    return [(line.code, line.unit_price_minor, line.price_list_id) for line in order.lines]


def terms(
    scope: Scope,
    target: str,
    price_minor: int,
    *,
    currency: str = "EUR",
    valid_from: datetime | None = None,
) -> PriceListTerms:
    return PriceListTerms(
        list_id=str(uuid.uuid4()),
        scope=scope,
        target_id=target,
        valid_from=valid_from,
        valid_until=None,
        price_minor=price_minor,
        currency=currency,
    )


def product(code: str, price_minor: int, *, currency: str = "EUR", active: bool = True) -> Product:
    return Product(
        product_id=uuid.uuid4(),
        code=code,
        name=f"Product {code}",
        price_minor=price_minor,
        currency=currency,
        active=active,
        brand_id=BRAND,
    )


def test_lines_naming_the_same_code_in_any_case_are_added_up_in_first_seen_order() -> None:
    merged = merge_lines([("mug", 2), ("TEA", 1), ("Mug", 3)])

    assert merged == [
        RequestedLine(code="mug", quantity=5, position=0),
        RequestedLine(code="TEA", quantity=1, position=1),
    ]


def test_merged_quantities_may_not_exceed_the_line_limit() -> None:
    with pytest.raises(OrderRejected) as rejected:
        merge_lines([("MUG", MAX_LINE_QUANTITY - 1), ("mug", 2)])

    assert [p.field for p in rejected.value.errors] == ["lines.0.quantity"]
    assert "MUG" in rejected.value.errors[0].message
    assert [line.quantity for line in merge_lines([("MUG", MAX_LINE_QUANTITY - 1), ("mug", 1)])] == [
        MAX_LINE_QUANTITY
    ]


def test_lines_are_priced_from_the_catalog_and_the_total_is_the_sum_of_line_totals() -> None:
    mug, tea = product("MUG", 1250), product("TEA", 399)

    order = price_order(merge_lines([("mug", 2), ("tea", 3), ("MUG", 1)]), catalog(mug, tea), ANYONE, NOW)

    assert [
        (line.code, line.quantity, line.unit_price_minor, line.line_total_minor) for line in order.lines
    ] == [
        ("MUG", 3, 1250, 3750),
        ("TEA", 3, 399, 1197),
    ]
    assert order.lines[0].product_id == mug.product_id
    assert order.total_minor == 4947
    assert order.currency == "EUR"


def test_unknown_and_inactive_codes_are_each_named_by_their_line() -> None:
    requested = merge_lines([("MUG", 1), ("xyz", 1), ("OLD", 1), ("abc", 2)])

    with pytest.raises(OrderRejected) as rejected:
        price_order(requested, catalog(product("MUG", 100), product("OLD", 100, active=False)), ANYONE, NOW)

    assert [(p.field, p.type) for p in rejected.value.errors] == [
        ("lines.1.code", "unknown-product"),
        ("lines.2.code", "inactive-product"),
        ("lines.3.code", "unknown-product"),
    ]
    assert rejected.value.errors[0].message == "unknown product code xyz"
    assert "abc" in rejected.value.errors[2].message


def test_an_order_has_one_currency() -> None:
    requested = merge_lines([("MUG", 1), ("TEA", 1), ("CUP", 1)])

    with pytest.raises(OrderRejected) as rejected:
        price_order(
            requested,
            catalog(product("MUG", 100), product("TEA", 100, currency="USD"), product("CUP", 5)),
            ANYONE,
            NOW,
        )

    assert [(p.field, p.type) for p in rejected.value.errors] == [("lines.1.code", "currency-mismatch")]
    assert "USD" in rejected.value.errors[0].message


def test_an_order_total_up_to_the_business_limit_is_accepted_and_one_minor_unit_more_refused() -> None:
    assert MAX_ORDER_TOTAL_MINOR == MAX_LINE_QUANTITY * 10**6
    at_limit = price_order(
        merge_lines([("GOLD", MAX_LINE_QUANTITY)]), catalog(product("GOLD", 10**6)), ANYONE, NOW
    )
    assert at_limit.total_minor == MAX_ORDER_TOTAL_MINOR
    with pytest.raises(OrderRejected) as rejected:
        price_order(
            merge_lines([("GOLD", MAX_LINE_QUANTITY), ("CUP", 1)]),
            catalog(product("GOLD", 10**6), product("CUP", 1)),
            ANYONE,
            NOW,
        )
    assert [(p.field, p.type) for p in rejected.value.errors] == [("lines", "total-too-large")]


def test_nothing_to_price_is_refused() -> None:
    with pytest.raises(OrderRejected):
        price_order([], {}, ANYONE, NOW)


def test_a_line_is_priced_by_the_most_specific_list_and_records_it() -> None:
    mug = product("MUG", 1000)
    brand, group, own = (
        terms("brand", str(BRAND), 900),
        terms("group", "group-1", 800),
        terms("organisation", "org-1", 700),
    )
    offers = catalog(Offer(mug, price_lists=(brand, group, own)))

    assert priced([("MUG", 1)], offers, PHARMACY) == [("MUG", 700, uuid.UUID(own.list_id))]
    # Without an organisation only the brand's list can apply.
    assert priced([("MUG", 1)], offers) == [("MUG", 900, uuid.UUID(brand.list_id))]


def test_without_an_applicable_list_the_base_price_applies_and_no_list_is_recorded() -> None:
    later = terms("organisation", "org-1", 1, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    others = terms("organisation", "org-2", 2)
    offers = catalog(Offer(product("MUG", 1000), price_lists=(later, others)))

    assert priced([("MUG", 1)], offers, PHARMACY) == [("MUG", 1000, None)]


def test_a_list_in_another_currency_than_the_order_is_refused_naming_its_line() -> None:
    offers = catalog(
        product("MUG", 1000),
        Offer(product("TEA", 500), price_lists=(terms("organisation", "org-1", 450, currency="CHF"),)),
    )

    with pytest.raises(OrderRejected) as rejected:
        priced([("MUG", 1), ("TEA", 1)], offers, PHARMACY)

    assert [(p.field, p.type) for p in rejected.value.errors] == [("lines.1.code", "currency-mismatch")]
    assert "CHF" in rejected.value.errors[0].message


def test_the_order_takes_the_currency_of_its_first_lines_price_list() -> None:
    offers = catalog(
        Offer(product("MUG", 1000), price_lists=(terms("brand", str(BRAND), 950, currency="CHF"),))
    )

    order = price_order(merge_lines([("MUG", 2)]), offers, ANYONE, NOW)

    assert (order.currency, order.total_minor) == ("CHF", 1900)


def test_a_product_outside_the_assortment_is_refused_naming_its_line() -> None:
    offers = catalog(product("MUG", 1000), Offer(product("TEA", 500), in_assortment=False))

    with pytest.raises(OrderRejected) as rejected:
        priced([("MUG", 1), ("tea", 1)], offers, PHARMACY)

    assert [(p.field, p.type) for p in rejected.value.errors] == [("lines.1.code", "not-in-assortment")]
    assert rejected.value.errors[0].message == "product tea is not in your organisation's assortment"


def test_a_brand_list_never_prices_a_product_without_a_brand() -> None:
    # A product whose events predate brands has none: no brand list is aimed at it.
    assert (
        resolve_price(
            [terms("brand", str(BRAND), 1)], brand_id=None, group_id=None, organisation_id=None, at=NOW
        )
        is None
    )
