"""Ordering's pricing rules at their exact edges: a list's first and last instants, the tie-breaks
between lists of one scope, every problem of a request named (not only the first), and what a
refusal says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.common.errors import FieldError, Invalid
from services.ordering.domain import (
    Buyer,
    Offer,
    OrderRejected,
    PriceListTerms,
    Product,
    RequestedLine,
    code_key,
    merge_lines,
    price_order,
    resolve_price,
)

pytestmark = pytest.mark.fast

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
BRAND = uuid.uuid4()
PHARMACY = Buyer(organisation_id="org-1", group_id="group-1")


def product(code: str, price_minor: int = 500, *, currency: str = "EUR", active: bool = True) -> Product:
    return Product(
        product_id=uuid.uuid4(),
        code=code,
        name=f"Product {code}",
        price_minor=price_minor,
        currency=currency,
        active=active,
        brand_id=BRAND,
    )


def a_list(
    scope: str = "brand",
    target: str = str(BRAND),
    price_minor: int = 400,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    list_id: uuid.UUID | None = None,
) -> PriceListTerms:
    return PriceListTerms(
        list_id=str(list_id or uuid.uuid4()),
        scope=scope,  # type: ignore[arg-type]
        target_id=target,
        valid_from=since,
        valid_until=until,
        price_minor=price_minor,
        currency="EUR",
    )


def resolved(*lists: PriceListTerms, at: datetime = NOW) -> PriceListTerms | None:
    return resolve_price(lists, brand_id=str(BRAND), group_id="group-1", organisation_id="org-1", at=at)


def problems_of(requested: list[RequestedLine], offers: dict[str, Offer]) -> list[FieldError]:
    with pytest.raises(OrderRejected) as rejected:
        price_order(requested, offers, PHARMACY, NOW)
    return rejected.value.errors


def test_codes_are_keyed_upper_cased_as_the_read_model_keys_them() -> None:
    assert code_key("mug-1.a") == "MUG-1.A"


def test_a_list_applies_from_its_first_instant_and_not_at_its_end() -> None:
    window = a_list(since=NOW, until=NOW + DAY)
    assert resolved(window, at=NOW) == window
    assert resolved(window, at=NOW - timedelta(microseconds=1)) is None
    assert resolved(window, at=NOW + DAY - timedelta(microseconds=1)) == window
    assert resolved(window, at=NOW + DAY) is None


def test_within_a_scope_a_dated_list_beats_one_valid_since_always() -> None:
    dated = a_list(since=NOW - DAY, list_id=uuid.UUID(int=1))
    always = a_list(list_id=uuid.UUID(int=2))
    assert resolved(always, dated) == dated
    assert resolved(dated, always) == dated


def test_within_a_scope_the_latest_start_beats_a_greater_list_id() -> None:
    later = a_list(since=NOW - DAY, list_id=uuid.UUID(int=1))
    earlier = a_list(since=NOW - 2 * DAY, list_id=uuid.UUID(int=2))
    assert resolved(earlier, later) == later


def test_a_group_list_prices_for_the_buyers_group() -> None:
    group_list = a_list("group", "group-1", 350)
    offer = Offer(product("MUG"), price_lists=(group_list,))
    assert offer.price_for(PHARMACY, NOW) == (350, "EUR", uuid.UUID(group_list.list_id))
    assert offer.price_for(Buyer(organisation_id="org-1", group_id=None), NOW) == (500, "EUR", None)


def test_a_brand_list_never_prices_a_product_without_a_brand() -> None:
    unbranded = product("MUG").model_copy(update={"brand_id": None})
    offer = Offer(unbranded, price_lists=(a_list("brand", "None", 100),))
    assert offer.price_for(PHARMACY, NOW) == (500, "EUR", None)


def test_every_unknown_or_unorderable_line_is_named_not_only_the_first() -> None:
    offers = {
        "OUT": Offer(product("OUT"), in_assortment=False),
        "OUT2": Offer(product("OUT2"), in_assortment=False),
        "OLD": Offer(product("OLD", active=False)),
        "OLD2": Offer(product("OLD2", active=False)),
    }
    lines = merge_lines([("nope", 1), ("nope2", 1), ("out", 1), ("out2", 1), ("old", 1), ("old2", 1)])
    assert [(p.field, p.type) for p in problems_of(lines, offers)] == [
        ("lines.0.code", "unknown-product"),
        ("lines.1.code", "unknown-product"),
        ("lines.2.code", "not-in-assortment"),
        ("lines.3.code", "not-in-assortment"),
        ("lines.4.code", "inactive-product"),
        ("lines.5.code", "inactive-product"),
    ]


def test_every_line_in_another_currency_is_named_not_only_the_first() -> None:
    offers = {
        "EUR": Offer(product("EUR")),
        "USD": Offer(product("USD", currency="USD")),
        "GBP": Offer(product("GBP", currency="GBP")),
    }
    lines = merge_lines([("eur", 1), ("usd", 1), ("gbp", 1)])
    assert [(p.field, p.type) for p in problems_of(lines, offers)] == [
        ("lines.1.code", "currency-mismatch"),
        ("lines.2.code", "currency-mismatch"),
    ]


def test_an_empty_request_is_refused_on_its_lines() -> None:
    no_lines = FieldError(field="lines", message="an order needs a line", type="no-lines")
    assert problems_of([], {}) == [no_lines]


def test_merged_lines_over_100000_are_refused_as_too_large() -> None:
    assert [line.quantity for line in merge_lines([("mug", 60_000), ("MUG", 40_000)])] == [100_000]
    with pytest.raises(OrderRejected) as rejected:
        merge_lines([("mug", 60_000), ("MUG", 40_001)])
    problems = [(p.field, p.type) for p in rejected.value.errors]
    assert problems == [("lines.0.quantity", "quantity-too-large")]


def test_a_refusal_reads_as_its_problems_messages() -> None:
    refusal = OrderRejected(
        [
            FieldError(field="lines.0.code", message="unknown product code A", type="unknown-product"),
            FieldError(field="lines.1.code", message="unknown product code B", type="unknown-product"),
        ]
    )
    assert str(refusal) == "unknown product code A; unknown product code B"


def test_a_refused_order_is_an_invalid_request_naming_every_line_and_saying_why() -> None:
    problems = [
        FieldError("lines.0.code", "unknown product code XYZ", "unknown-product"),
        FieldError("lines.1.quantity", "too many", "quantity-too-large"),
    ]
    refused = OrderRejected(problems)
    assert isinstance(refused, Invalid)
    assert (refused.kind, refused.title) == ("order-rejected", "The order cannot be submitted")
    assert refused.detail == "unknown product code XYZ; too many"
    assert refused.errors == problems
