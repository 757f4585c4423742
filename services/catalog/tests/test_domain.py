"""Catalog's pure rules: codes, EANs, product details, the category tree, price lists, entitlements."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.domain import (
    MAX_PRICES_PER_LIST,
    NewProduct,
    PriceListDetails,
    Product,
    ProductDetails,
    TermsDetails,
    code_key,
    is_valid_code,
    is_valid_gtin,
    missing_entitlement,
    moves_under_itself,
)

pytestmark = pytest.mark.fast


def test_codes_compare_upper_cased_and_keep_their_spelling() -> None:
    assert code_key("Sku-1.a_b") == code_key("SKU-1.A_B") == "SKU-1.A_B"
    new = NewProduct.model_validate({"code": "Sku-1.a_b", "name": "x", "price_minor": 0, "currency": "EUR"})
    assert new.code == "Sku-1.a_b" and new.active is True


def test_a_new_product_needs_only_code_name_and_price_and_defaults_the_rest() -> None:
    new = NewProduct.model_validate({"code": "MUG", "name": "Mug", "price_minor": 0, "currency": "EUR"})

    details = new.details()
    assert (details.brand_id, details.category_id, details.ean) == (None, None, None)
    assert (details.names, details.descriptions, details.images) == ({}, {}, [])
    assert details.vat_rate_bp == 2000 and details.active is True


@pytest.mark.parametrize("code", ["A", "mug-1", "Sku_2.b", "0" * 32])
def test_codes_of_letters_digits_dots_underscores_and_dashes_are_valid(code: str) -> None:
    assert is_valid_code(code)


FULL_WIDTH_MUG = "\uff2d\uff35\uff27"


@pytest.mark.parametrize("code", ["", "0" * 33, "a b", "a/b", "crème", "MUG\n", FULL_WIDTH_MUG])
def test_other_codes_are_invalid(code: str) -> None:
    assert not is_valid_code(code)
    with pytest.raises(ValidationError):
        NewProduct.model_validate({"code": code, "name": "x", "price_minor": 0, "currency": "EUR"})


@pytest.mark.parametrize("ean", ["4006381333931", "3337875597210", "96385074", "00000000", "5901234123457"])
def test_eans_with_the_right_gs1_check_digit_are_valid(ean: str) -> None:
    assert is_valid_gtin(ean)


@pytest.mark.parametrize(
    "ean",
    [
        "4006381333932",  # wrong check digit
        "96385075",
        "400638133393",  # 12 digits
        "40063813339311",
        "4OO6381333931",  # letters O
        "\uff14006381333931",  # a full-width digit
        "",
    ],
)
def test_eans_of_a_wrong_length_digit_or_check_digit_are_invalid(ean: str) -> None:
    assert not is_valid_gtin(ean)


VALID_DETAILS: dict[str, Any] = {
    "name": "Mug",
    "price_minor": 1250,
    "currency": "EUR",
    "active": True,
    "brand_id": None,
    "category_id": None,
    "ean": "4006381333931",
    "names": {"fr": "Tasse", "ru": "Кружка"},
    "descriptions": {"en": "A mug.\nDishwasher safe."},
    "images": ["https://cdn.example.com/mug.png"],
    "vat_rate_bp": 550,
}


def test_full_product_details_are_accepted() -> None:
    details = ProductDetails.model_validate_json(json.dumps(VALID_DETAILS))
    assert details.names == {"fr": "Tasse", "ru": "Кружка"} and details.vat_rate_bp == 550


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_minor": -1}, "price_minor"),
        ({"price_minor": True}, "price_minor"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EUR\n"}, "currency"),
        ({"name": "\t"}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"active": 1}, "active"),
        ({"code": "MUG"}, "code"),
        ({"ean": "4006381333932"}, "ean"),
        ({"names": {"de": "Becher"}}, "names.de.[key]"),
        ({"names": {"fr": " "}}, "names.fr"),
        ({"descriptions": {"fr": "a\x00b"}}, "descriptions.fr"),
        ({"images": ["javascript:alert(1)"]}, "images.0"),
        ({"images": ["https://x/" + str(i) for i in range(21)]}, "images"),
        ({"vat_rate_bp": 10_001}, "vat_rate_bp"),
        ({"vat_rate_bp": 5.5}, "vat_rate_bp"),
        ({"brand_id": "not-a-uuid"}, "brand_id"),
    ],
)
def test_product_details_refuse_what_the_contract_cannot_carry(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProductDetails.model_validate_json(json.dumps({**VALID_DETAILS, **change}))
    assert [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()] == [field]


def test_a_product_shows_its_locale_name_or_falls_back_to_its_default_name() -> None:
    now = datetime.now(UTC)
    product = Product(
        id=uuid.uuid4(),
        tenant_id="brand-a",
        code="MUG",
        name="Mug",
        price_minor=1,
        currency="EUR",
        active=False,
        version=2,
        created_at=now,
        updated_at=now,
        names={"fr": "Tasse"},
    )
    assert (product.name_in("fr"), product.name_in("ru"), product.name_in(None)) == ("Tasse", "Mug", "Mug")
    assert product.status == "retired"
    assert product.model_copy(update={"active": True}).status == "active"


# --- the category tree ---

ROOT, CHILD, GRANDCHILD, OTHER = (uuid.uuid4() for _ in range(4))
TREE = {ROOT: None, CHILD: ROOT, GRANDCHILD: CHILD, OTHER: None}


@pytest.mark.parametrize(
    ("category", "new_parent", "loops"),
    [
        (ROOT, GRANDCHILD, True),  # under its own grandchild
        (ROOT, CHILD, True),
        (CHILD, CHILD, True),  # under itself
        (CHILD, OTHER, False),
        (GRANDCHILD, ROOT, False),
        (CHILD, None, False),  # to the top
        (OTHER, GRANDCHILD, False),
    ],
)
def test_a_category_cannot_move_under_itself_or_its_descendants(
    category: uuid.UUID, new_parent: uuid.UUID | None, loops: bool
) -> None:
    assert moves_under_itself(category, new_parent, TREE) is loops


def test_a_tree_that_already_loops_refuses_any_move_into_the_loop() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert moves_under_itself(c, a, {a: b, b: a, c: None})


# --- price lists and terms ---

BRAND, GROUP, ORG, PRODUCT = (uuid.uuid4() for _ in range(4))


def a_list(**fields: Any) -> dict[str, Any]:
    return {
        "name": "CeraVe 2025",
        "scope": "brand",
        "brand_id": str(BRAND),
        "currency": "EUR",
        "prices": [{"product_id": str(PRODUCT), "price_minor": 990}],
        **fields,
    }


def test_a_price_lists_dates_are_kept_in_utc() -> None:
    listed = PriceListDetails.model_validate_json(
        json.dumps(a_list(valid_from="2025-01-01T01:00:00+01:00", valid_until="2025-07-01T00:00:00Z"))
    )
    assert listed.valid_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert listed.valid_from is not None and listed.valid_from.tzinfo == UTC


@pytest.mark.parametrize(
    "fields",
    [
        {"scope": "group"},  # without its group
        {"scope": "organisation"},  # without its organisation
        {"group_id": str(GROUP)},  # a brand list naming a group
        {"scope": "group", "group_id": str(GROUP), "organisation_id": str(ORG)},
        {"valid_from": "2025-02-01T00:00:00Z", "valid_until": "2025-02-01T00:00:00Z"},
        {"valid_from": "2025-02-01T00:00:00"},  # no offset: which instant is it?
        {"prices": [{"product_id": str(PRODUCT), "price_minor": 1}] * 2},
        {"prices": [{"product_id": str(PRODUCT), "price_minor": -1}]},
        {
            "prices": [
                {"product_id": str(uuid.uuid4()), "price_minor": 1} for _ in range(MAX_PRICES_PER_LIST + 1)
            ]
        },
        {"scope": "everyone"},
    ],
)
def test_inconsistent_price_lists_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PriceListDetails.model_validate_json(json.dumps(a_list(**fields)))


def test_terms_keep_one_of_each_entitlement_and_product_sorted() -> None:
    p1, p2 = sorted([uuid.uuid4(), uuid.uuid4()], key=str)
    terms = TermsDetails.model_validate(
        {"assortment": [str(p2), str(p1), str(p2)], "entitlements": ["ecommerce", "b2b", "ecommerce"]}
    )
    assert terms.assortment == [p1, p2] and terms.entitlements == ["b2b", "ecommerce"]
    assert TermsDetails().assortment is None  # no assortment: the whole catalog
    with pytest.raises(ValidationError):
        TermsDetails.model_validate({"entitlements": ["E-Commerce"]})


def test_an_entitlement_is_missing_only_when_required_and_not_granted() -> None:
    assert missing_entitlement("ecommerce", []) == "ecommerce"
    assert missing_entitlement("ecommerce", ["b2b"]) == "ecommerce"
    assert missing_entitlement("ecommerce", ["b2b", "ecommerce"]) is None
    assert missing_entitlement(None, []) is None
