"""Ordering's pure rules: merging lines, pricing from the read model, one currency per order."""

from __future__ import annotations

import uuid

import pytest

from services.ordering.domain import (
    MAX_MINOR,
    OrderRejected,
    Product,
    RequestedLine,
    code_key,
    merge_lines,
    price_order,
)


def catalog(*products: Product) -> dict[str, Product]:
    return {code_key(p.code): p for p in products}


def product(code: str, price_minor: int, *, currency: str = "EUR", active: bool = True) -> Product:
    return Product(
        product_id=uuid.uuid4(),
        code=code,
        name=f"Product {code}",
        price_minor=price_minor,
        currency=currency,
        active=active,
    )


def test_lines_naming_the_same_code_in_any_case_are_added_up_in_first_seen_order() -> None:
    merged = merge_lines([("mug", 2), ("TEA", 1), ("Mug", 3)])

    assert merged == [
        RequestedLine(code="mug", quantity=5, position=0),
        RequestedLine(code="TEA", quantity=1, position=1),
    ]


def test_merged_quantities_may_not_exceed_the_line_limit() -> None:
    with pytest.raises(OrderRejected) as rejected:
        merge_lines([("MUG", 9000), ("mug", 1000)])

    assert [p.field for p in rejected.value.problems] == ["lines.0.quantity"]
    assert "MUG" in rejected.value.problems[0].message


def test_lines_are_priced_from_the_catalog_and_the_total_is_the_sum_of_line_totals() -> None:
    mug, tea = product("MUG", 1250), product("TEA", 399)

    order = price_order(merge_lines([("mug", 2), ("tea", 3), ("MUG", 1)]), catalog(mug, tea))

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
        price_order(requested, catalog(product("MUG", 100), product("OLD", 100, active=False)))

    assert [(p.field, p.type) for p in rejected.value.problems] == [
        ("lines.1.code", "unknown-product"),
        ("lines.2.code", "inactive-product"),
        ("lines.3.code", "unknown-product"),
    ]
    assert rejected.value.problems[0].message == "unknown product code xyz"
    assert "abc" in rejected.value.problems[2].message


def test_an_order_has_one_currency() -> None:
    requested = merge_lines([("MUG", 1), ("TEA", 1), ("CUP", 1)])

    with pytest.raises(OrderRejected) as rejected:
        price_order(
            requested, catalog(product("MUG", 100), product("TEA", 100, currency="USD"), product("CUP", 5))
        )

    assert [(p.field, p.type) for p in rejected.value.problems] == [("lines.1.code", "currency-mismatch")]
    assert "USD" in rejected.value.problems[0].message


def test_a_total_beyond_what_can_be_stored_is_refused() -> None:
    with pytest.raises(OrderRejected):
        price_order(merge_lines([("GOLD", 2)]), catalog(product("GOLD", MAX_MINOR)))


def test_nothing_to_price_is_refused() -> None:
    with pytest.raises(OrderRejected):
        price_order([], {})
