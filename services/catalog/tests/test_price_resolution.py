"""The price resolution rule (docs/contracts.md), table-driven: which list's offer sets a product's
price for an organisation at a moment. Ordering applies the same rule to its read model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.catalog.domain import PriceListTerms, Product, resolve_price, unit_price

pytestmark = pytest.mark.fast

AT = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BRAND, OTHER_BRAND = "b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"
GROUP, OTHER_GROUP = "90000000-0000-4000-8000-000000000001", "90000000-0000-4000-8000-000000000002"
ORG, OTHER_ORG = "0a000000-0000-4000-8000-000000000001", "0a000000-0000-4000-8000-000000000002"


def offer(
    list_id: str,
    scope: str,
    target: str | None,
    price: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    active: bool = True,
) -> PriceListTerms:
    return PriceListTerms(list_id, scope, target, since, until, price, "EUR", active)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    offers: list[PriceListTerms]
    expected: str | None  # the list id that sets the price; None: the product's base price
    brand_id: str | None = BRAND
    group_id: str | None = GROUP
    organisation_id: str | None = ORG


CASES = {
    "no list at all: base price": Case([], None),
    "only the brand's list": Case([offer("brand", "brand", BRAND, 900)], "brand"),
    "group over brand": Case(
        [offer("brand", "brand", BRAND, 900), offer("group", "group", GROUP, 850)], "group"
    ),
    "organisation over group over brand": Case(
        [
            offer("brand", "brand", BRAND, 900),
            offer("org", "organisation", ORG, 800),
            offer("group", "group", GROUP, 850),
        ],
        "org",
    ),
    "organisation over a group list that started later": Case(
        [
            offer("org", "organisation", ORG, 800, since=AT - 9 * DAY),
            offer("group", "group", GROUP, 850, since=AT),
        ],
        "org",
    ),
    "another organisation's list does not apply": Case(
        [offer("theirs", "organisation", OTHER_ORG, 1), offer("group", "group", GROUP, 850)], "group"
    ),
    "another group's list does not apply": Case(
        [offer("theirs", "group", OTHER_GROUP, 1), offer("brand", "brand", BRAND, 900)], "brand"
    ),
    "another brand's list does not apply": Case([offer("theirs", "brand", OTHER_BRAND, 1)], None),
    "a product without brand gets no brand list": Case(
        [offer("brand", "brand", BRAND, 900)], None, brand_id=None
    ),
    "an organisation without group gets no group list": Case(
        [offer("group", "group", GROUP, 850), offer("brand", "brand", BRAND, 900)], "brand", group_id=None
    ),
    "no organisation: only brand lists": Case(
        [
            offer("org", "organisation", ORG, 800),
            offer("group", "group", GROUP, 850),
            offer("b", "brand", BRAND, 9),
        ],
        "b",
        group_id=None,
        organisation_id=None,
    ),
    "expired organisation list falls back to the group's": Case(
        [offer("org", "organisation", ORG, 800, until=AT - DAY), offer("group", "group", GROUP, 850)], "group"
    ),
    "a list ends exactly at its valid_until (exclusive)": Case(
        [offer("org", "organisation", ORG, 800, until=AT), offer("brand", "brand", BRAND, 900)], "brand"
    ),
    "a list not yet valid does not apply": Case(
        [offer("org", "organisation", ORG, 800, since=AT + DAY), offer("brand", "brand", BRAND, 900)], "brand"
    ),
    "a list applies from its valid_from instant": Case(
        [offer("org", "organisation", ORG, 800, since=AT), offer("brand", "brand", BRAND, 900)], "org"
    ),
    "a one-second window around the moment applies": Case(
        [offer("flash", "brand", BRAND, 1, since=AT, until=AT + timedelta(seconds=1))], "flash"
    ),
    "a withdrawn list does not apply": Case(
        [offer("org", "organisation", ORG, 800, active=False), offer("group", "group", GROUP, 850)], "group"
    ),
    "only withdrawn and expired lists: base price": Case(
        [offer("gone", "brand", BRAND, 1, active=False), offer("old", "brand", BRAND, 2, until=AT - DAY)],
        None,
    ),
    "overlapping lists of one scope: the latest valid_from wins": Case(
        [
            offer("spring", "brand", BRAND, 900, since=AT - 60 * DAY),
            offer("june", "brand", BRAND, 880, since=AT - 10 * DAY),
            offer("always", "brand", BRAND, 950),
        ],
        "june",
    ),
    "a dated list beats an undated one of the same scope": Case(
        [offer("zzz-undated", "group", GROUP, 1), offer("aaa-dated", "group", GROUP, 2, since=AT - DAY)],
        "aaa-dated",
    ),
    "same scope and start: the greatest list id wins": Case(
        [
            offer("list-a", "brand", BRAND, 1, since=AT - DAY),
            offer("list-b", "brand", BRAND, 2, since=AT - DAY),
        ],
        "list-b",
    ),
    "same scope, both undated: the greatest list id wins": Case(
        [offer("list-b", "organisation", ORG, 2), offer("list-a", "organisation", ORG, 1)], "list-b"
    ),
    "a newer list that expired leaves the older one in force": Case(
        [
            offer("older", "brand", BRAND, 900, since=AT - 60 * DAY),
            offer("newer", "brand", BRAND, 880, since=AT - 10 * DAY, until=AT - DAY),
        ],
        "older",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_most_specific_list_valid_at_the_moment_sets_the_price(case: Case) -> None:
    found = resolve_price(
        case.offers,
        brand_id=case.brand_id,
        group_id=case.group_id,
        organisation_id=case.organisation_id,
        at=AT,
    )

    assert (found.list_id if found else None) == case.expected


def test_the_answer_does_not_depend_on_the_order_of_the_offers() -> None:
    for case in CASES.values():
        for offers in (case.offers, list(reversed(case.offers))):
            found = resolve_price(
                iter(offers),
                brand_id=case.brand_id,
                group_id=case.group_id,
                organisation_id=case.organisation_id,
                at=AT,
            )
            assert (found.list_id if found else None) == case.expected


def test_a_list_takes_effect_and_ends_at_its_instants_without_any_event() -> None:
    offers = [
        offer("summer", "organisation", ORG, 700, since=AT, until=AT + DAY),
        offer("b", "brand", BRAND, 900),
    ]

    def at(moment: datetime) -> str | None:
        found = resolve_price(offers, brand_id=BRAND, group_id=GROUP, organisation_id=ORG, at=moment)
        return found.list_id if found else None

    assert [
        at(AT - timedelta(microseconds=1)),
        at(AT),
        at(AT + DAY - timedelta(microseconds=1)),
        at(AT + DAY),
    ] == [
        "b",
        "summer",
        "summer",
        "b",
    ]


def test_without_an_applicable_list_the_product_costs_its_base_price() -> None:
    product = Product(
        id=uuid.uuid4(),
        tenant_id="brand-a",
        code="MUG",
        name="Mug",
        price_minor=1250,
        currency="EUR",
        active=True,
        version=1,
        created_at=AT,
        updated_at=AT,
        brand_id=uuid.UUID(BRAND),
    )
    listed = [offer("group", "group", GROUP, 990)]

    base = unit_price(product, listed, group_id=None, organisation_id=ORG, at=AT)
    priced = unit_price(product, listed, group_id=GROUP, organisation_id=ORG, at=AT)

    assert (base.price_minor, base.currency, base.offer) == (1250, "EUR", None)
    assert (priced.price_minor, priced.offer.list_id if priced.offer else None) == (990, "group")
