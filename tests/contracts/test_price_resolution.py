"""Catalog and ordering resolve a price the same way: one table of cases, run against both.

Both services implement the rule in their own domain (no shared code, docs/contracts.md):
catalog to show a partner her price and write the Excel price list, ordering to price an order line
from its read model. Each case is written in a neutral form (plain values, times as ISO 8601
strings) and turned into each service's own `PriceListTerms`; both must pick the expected list.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import fields
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest

from services.catalog import domain as catalog
from services.ordering import domain as ordering

pytestmark = pytest.mark.fast

SERVICES = {"catalog": catalog, "ordering": ordering}

# The product's brand, another brand, the buyer's organisation and group, and others.
BRAND, OTHER_BRAND = "b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"
ORG, OTHER_ORG = "0a000000-0000-4000-8000-000000000001", "0a000000-0000-4000-8000-000000000002"
GROUP, OTHER_GROUP = "90000000-0000-4000-8000-000000000001", "90000000-0000-4000-8000-000000000002"

# Lists, named for what they are; ids are UUIDs as catalog publishes them, so "greatest id" compares
# what it compares in production.
BRAND_LIST = "1b000000-0000-4000-8000-000000000001"
BRAND_LIST_2 = "1b000000-0000-4000-8000-000000000002"
GROUP_LIST = "19000000-0000-4000-8000-000000000001"
ORG_LIST = "10000000-0000-4000-8000-00000000000a"
ORG_LIST_2 = "10000000-0000-4000-8000-00000000000b"

AT = "2030-03-15T12:00:00+00:00"
BUYER = {"brand_id": BRAND, "group_id": GROUP, "organisation_id": ORG, "at": AT}


def offer(list_id: str, scope: str, target_id: str | None, price: int = 100, **terms: Any) -> dict[str, Any]:
    """A candidate in the neutral form: always valid and active unless `terms` say otherwise."""
    return {
        "list_id": list_id,
        "scope": scope,
        "target_id": target_id,
        "valid_from": None,
        "valid_until": None,
        "price": price,
        "currency": "EUR",
        "active": True,
    } | terms


brand_list = offer(BRAND_LIST, "brand", BRAND, 900)
group_list = offer(GROUP_LIST, "group", GROUP, 800)
org_list = offer(ORG_LIST, "organisation", ORG, 700)

# name → (candidates, buyer and instant, the list id expected or None for the base price)
CASES: dict[str, dict[str, Any]] = {
    "no list at all": {"candidates": [], **BUYER, "expected": None},
    "the brand's list": {"candidates": [brand_list], **BUYER, "expected": BRAND_LIST},
    "organisation over group over brand": {
        "candidates": [brand_list, org_list, group_list],
        **BUYER,
        "expected": ORG_LIST,
    },
    "group over brand": {"candidates": [group_list, brand_list], **BUYER, "expected": GROUP_LIST},
    "a more specific list wins even at a higher price": {
        "candidates": [brand_list, offer(ORG_LIST, "organisation", ORG, 5000)],
        **BUYER,
        "expected": ORG_LIST,
    },
    "a brand list of another brand": {
        "candidates": [offer(BRAND_LIST, "brand", OTHER_BRAND)],
        **BUYER,
        "expected": None,
    },
    "a product without a brand has no brand list": {
        "candidates": [brand_list],
        **BUYER,
        "brand_id": None,
        "expected": None,
    },
    "a group list when the organisation has no group": {
        "candidates": [brand_list, group_list],
        **BUYER,
        "group_id": None,
        "expected": BRAND_LIST,
    },
    "another group's list": {
        "candidates": [brand_list, offer(GROUP_LIST, "group", OTHER_GROUP, 1)],
        **BUYER,
        "expected": BRAND_LIST,
    },
    "another organisation's list": {
        "candidates": [group_list, offer(ORG_LIST, "organisation", OTHER_ORG, 1)],
        **BUYER,
        "expected": GROUP_LIST,
    },
    "no organisation: only brand lists": {
        "candidates": [brand_list, group_list, org_list],
        **BUYER,
        "organisation_id": None,
        "group_id": None,
        "expected": BRAND_LIST,
    },
    "expired": {
        "candidates": [offer(ORG_LIST, "organisation", ORG, valid_until="2030-03-01T00:00:00+00:00")],
        **BUYER,
        "expected": None,
    },
    "an expired organisation list gives way to the group's": {
        "candidates": [
            group_list,
            offer(ORG_LIST, "organisation", ORG, valid_until="2030-03-15T11:59:59+00:00"),
        ],
        **BUYER,
        "expected": GROUP_LIST,
    },
    "not yet valid": {
        "candidates": [
            brand_list,
            offer(ORG_LIST, "organisation", ORG, valid_from="2030-03-15T12:00:01+00:00"),
        ],
        **BUYER,
        "expected": BRAND_LIST,
    },
    "valid_from is inclusive at the exact instant": {
        "candidates": [brand_list, offer(ORG_LIST, "organisation", ORG, valid_from=AT)],
        **BUYER,
        "expected": ORG_LIST,
    },
    "valid_until is exclusive at the exact instant": {
        "candidates": [brand_list, offer(ORG_LIST, "organisation", ORG, valid_until=AT)],
        **BUYER,
        "expected": BRAND_LIST,
    },
    "valid until a microsecond after": {
        "candidates": [
            brand_list,
            offer(ORG_LIST, "organisation", ORG, valid_until="2030-03-15T12:00:00.000001+00:00"),
        ],
        **BUYER,
        "expected": ORG_LIST,
    },
    "validity given in another offset is the same instant": {
        "candidates": [offer(ORG_LIST, "organisation", ORG, valid_until="2030-03-15T13:00:00+01:00")],
        **BUYER,
        "expected": None,
    },
    "withdrawn": {
        "candidates": [offer(BRAND_LIST, "brand", BRAND, active=False)],
        **BUYER,
        "expected": None,
    },
    "a withdrawn organisation list gives way to the group's": {
        "candidates": [group_list, offer(ORG_LIST, "organisation", ORG, active=False)],
        **BUYER,
        "expected": GROUP_LIST,
    },
    "overlapping lists of one scope: the latest valid_from wins": {
        "candidates": [
            offer(ORG_LIST_2, "organisation", ORG, valid_from="2030-01-01T00:00:00+00:00"),
            offer(ORG_LIST, "organisation", ORG, valid_from="2030-03-01T00:00:00+00:00"),
        ],
        **BUYER,
        "expected": ORG_LIST,
    },
    "overlapping lists of one scope: a dated list beats one valid since always": {
        "candidates": [
            offer(ORG_LIST_2, "organisation", ORG),
            offer(ORG_LIST, "organisation", ORG, valid_from="2020-01-01T00:00:00+00:00"),
        ],
        **BUYER,
        "expected": ORG_LIST,
    },
    "overlapping lists of one scope from the same instant: the greatest list id": {
        "candidates": [
            offer(BRAND_LIST_2, "brand", BRAND, valid_from="2030-01-01T00:00:00+00:00"),
            offer(BRAND_LIST, "brand", BRAND, valid_from="2030-01-01T00:00:00+00:00"),
        ],
        **BUYER,
        "expected": BRAND_LIST_2,
    },
    "overlapping lists of one scope both valid since always: the greatest list id": {
        "candidates": [offer(BRAND_LIST, "brand", BRAND), offer(BRAND_LIST_2, "brand", BRAND)],
        **BUYER,
        "expected": BRAND_LIST_2,
    },
    "overlapping, the newer one not yet valid: the older applies": {
        "candidates": [
            offer(ORG_LIST_2, "organisation", ORG, valid_from="2030-01-01T00:00:00+00:00"),
            offer(ORG_LIST, "organisation", ORG, valid_from="2030-04-01T00:00:00+00:00"),
        ],
        **BUYER,
        "expected": ORG_LIST_2,
    },
}


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _resolve(service: ModuleType, case: dict[str, Any]) -> str | None:
    """Run `case` through one service's own types and rule; the id of the list it picks."""
    candidates = [
        service.PriceListTerms(
            list_id=c["list_id"],
            scope=c["scope"],
            target_id=c["target_id"],
            valid_from=_instant(c["valid_from"]),
            valid_until=_instant(c["valid_until"]),
            price_minor=c["price"],
            currency=c["currency"],
            active=c["active"],
        )
        for c in case["candidates"]
    ]
    chosen = service.resolve_price(
        candidates,
        brand_id=case["brand_id"],
        group_id=case["group_id"],
        organisation_id=case["organisation_id"],
        at=_instant(case["at"]),
    )
    if chosen is None:
        return None
    picked = next(c for c in case["candidates"] if c["list_id"] == chosen.list_id)
    assert (chosen.price_minor, chosen.currency) == (picked["price"], picked["currency"])
    return str(chosen.list_id)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("case", CASES)
def test_price_resolution(service: str, case: str) -> None:
    assert _resolve(SERVICES[service], CASES[case]) == CASES[case]["expected"]


def test_both_services_agree_on_every_case() -> None:
    answers = {
        name: {case: _resolve(module, CASES[case]) for case in CASES} for name, module in SERVICES.items()
    }
    assert answers["catalog"] == answers["ordering"]


def test_both_services_take_the_same_terms_and_arguments() -> None:
    assert [f.name for f in fields(catalog.PriceListTerms)] == [
        f.name for f in fields(ordering.PriceListTerms)
    ]

    def parameters(function: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert parameters(catalog.resolve_price) == parameters(ordering.resolve_price)


# A seller's own price: the resolved price less the tenant's seller discount, the discount rounded
# half up to the minor unit. (price, discount in basis points, what she pays)
SELLER_CASES: dict[str, tuple[int, int, int]] = {
    "seed's 20 % on 12.90": (1290, 2000, 1032),
    "no discount": (1290, 0, 1290),
    "15 % of 9.99 is 1.4985: 1.50 off": (999, 1500, 849),
    "20 % of 0.01 is 0.002: nothing off": (1, 2000, 1),
    "20 % of 0.25 is exactly 0.05": (25, 2000, 20),
    "10 % of 0.05 is half a cent: 0.01 off": (5, 1000, 4),
    "everything off": (1290, 10_000, 0),
    "a free product stays free": (0, 2000, 0),
    "the largest unit price": (10**8, 3333, 66_670_000),
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("case", SELLER_CASES)
def test_a_sellers_price_is_her_organisations_less_the_discount(service: str, case: str) -> None:
    price, discount, expected = SELLER_CASES[case]
    assert SERVICES[service].seller_price(price, discount) == expected


def test_the_seller_discount_applies_to_the_price_the_lists_resolve_in_both_services() -> None:
    """Catalog's price_for (what a seller sees) and ordering's Offer.price_for (what she is charged)
    take 20 % off the organisation list's 7.00, not off the base price."""
    at = _instant(AT)
    assert at is not None
    product_id = uuid.UUID(int=7)
    lists = [
        ordering.PriceListTerms(ORG_LIST, "organisation", ORG, None, None, 700, "EUR"),
        ordering.PriceListTerms(BRAND_LIST, "brand", BRAND, None, None, 900, "EUR"),
    ]
    product = ordering.Product(
        product_id=product_id,
        code="C",
        name="C",
        price_minor=1000,
        currency="EUR",
        active=True,
        brand_id=uuid.UUID(BRAND),
    )
    offer = ordering.Offer(product, True, tuple(lists))
    charged, _, list_id = offer.price_for(ordering.Buyer(ORG, GROUP, seller_discount_bp=2000), at)
    shown = catalog.ShownProduct(
        product=_catalog_product(product_id),
        offers=[catalog.PriceListTerms(**{f.name: getattr(t, f.name) for f in fields(t)}) for t in lists],
        group_id=GROUP,
    )
    viewer = catalog.Viewer("t", uuid.UUID(ORG), sees_everything=False, seller_discount_bp=2000)
    seen = catalog.price_for(shown, viewer, at)
    assert (charged, str(list_id)) == (560, ORG_LIST)
    assert seen.price_minor == charged


def _catalog_product(product_id: uuid.UUID) -> Any:
    moment = _instant(AT)
    return catalog.Product(
        id=product_id,
        tenant_id="t",
        code="C",
        name="C",
        price_minor=1000,
        currency="EUR",
        active=True,
        version=1,
        created_at=moment,
        updated_at=moment,
        brand_id=uuid.UUID(BRAND),
    )
