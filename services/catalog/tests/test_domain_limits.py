"""Catalog's product and price list rules at their exact limits, what validation keeps, and the
helpers behind a product's locale text and unit price. Limits are written as the contract states
them (docs/contracts.md), not read from the module."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.domain import (
    NewProduct,
    PriceListDetails,
    PriceListTerms,
    Product,
    ProductDetails,
    ShownProduct,
    TermsDetails,
    Viewer,
    _only_for_scope,
    price_for,
    unit_price,
)

pytestmark = pytest.mark.fast

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
EAN_13, EAN_8 = "4006381333931", "96385074"
PICTURE = "https://cdn.example.com/mug.png"


def new_product(**fields: Any) -> NewProduct:
    return NewProduct.model_validate(
        {"code": "MUG", "name": "Mug", "price_minor": 1250, "currency": "EUR", **fields}
    )


def refused_fields(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        new_product(**fields)
    return [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]


def refusal_message(**fields: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        new_product(**fields)
    return str(refused.value.errors()[0]["msg"])


# --- what validation keeps ---


def test_a_new_product_keeps_every_field_it_was_given() -> None:
    brand, category = uuid.uuid4(), uuid.uuid4()
    new = new_product(
        active=False,
        brand_id=str(brand),
        category_id=str(category),
        ean=EAN_13,
        names={"fr": "Tasse", "ru": "Кружка"},
        descriptions={"en": "A mug.\nDishwasher safe."},
        images=[PICTURE, "http://cdn.example.com/mug-back.png"],
        vat_rate_bp=550,
    )
    details = new.details()
    assert details == ProductDetails(
        name="Mug",
        price_minor=1250,
        currency="EUR",
        active=False,
        brand_id=brand,
        category_id=category,
        ean=EAN_13,
        names={"fr": "Tasse", "ru": "Кружка"},
        descriptions={"en": "A mug.\nDishwasher safe."},
        images=[PICTURE, "http://cdn.example.com/mug-back.png"],
        vat_rate_bp=550,
    )
    assert new.code == "MUG"


@pytest.mark.parametrize("ean", [EAN_13, EAN_8])
def test_a_valid_ean_is_kept_as_given(ean: str) -> None:
    assert new_product(ean=ean).ean == ean


def test_a_stored_product_gives_back_its_editable_details() -> None:
    brand = uuid.uuid4()
    product = stored(
        brand_id=brand,
        ean=EAN_8,
        names={"en": "Mug"},
        descriptions={"fr": "Une tasse."},
        images=[PICTURE],
        vat_rate_bp=1000,
    )
    assert product.details() == ProductDetails(
        name="Mug",
        price_minor=1250,
        currency="EUR",
        active=True,
        brand_id=brand,
        category_id=None,
        ean=EAN_8,
        names={"en": "Mug"},
        descriptions={"fr": "Une tasse."},
        images=[PICTURE],
        vat_rate_bp=1000,
    )


# --- the refusals and their messages ---


def test_refusals_say_what_is_expected() -> None:
    assert refusal_message(ean="4006381333932") == (
        "Value error, must be an EAN-13 or EAN-8 of digits whose last digit is the GS1 check digit"
    )
    assert refusal_message(images=["ftp://cdn.example.com/a.png"]) == (
        "Value error, must be an absolute http(s) URL without spaces"
    )
    assert refusal_message(name="   ") == "Value error, must not be blank"
    assert refusal_message(descriptions={"fr": " \n "}) == "Value error, must not be blank"


# --- limits, exactly at them ---


def test_a_product_code_is_1_to_32_characters() -> None:
    assert new_product(code="A").code == "A"
    assert new_product(code="C" * 32).code == "C" * 32
    assert refused_fields(code="C" * 33) == ["code"]
    assert refused_fields(code="") == ["code"]


def test_a_name_is_1_to_200_characters() -> None:
    assert new_product(name="n" * 200).name == "n" * 200
    assert refused_fields(name="n" * 201) == ["name"]
    assert refused_fields(name="") == ["name"]
    assert new_product(names={"fr": "n" * 200}).names == {"fr": "n" * 200}
    assert refused_fields(names={"fr": "n" * 201}) == ["names.fr"]


def test_a_description_is_1_to_5000_characters() -> None:
    assert new_product(descriptions={"fr": "d" * 5000}).descriptions == {"fr": "d" * 5000}
    assert refused_fields(descriptions={"fr": "d" * 5001}) == ["descriptions.fr"]
    assert refused_fields(descriptions={"fr": ""}) == ["descriptions.fr"]


def test_a_product_has_at_most_20_images() -> None:
    twenty = [f"https://cdn.example.com/{i}.png" for i in range(20)]
    assert new_product(images=twenty).images == twenty
    assert refused_fields(images=[*twenty, PICTURE]) == ["images"]


def test_an_image_url_is_http_or_https_of_at_most_2000_characters_after_the_scheme() -> None:
    longest = "https://" + "a" * 2000
    assert new_product(images=[longest]).images == [longest]
    assert refused_fields(images=[longest + "a"]) == ["images.0"]
    assert refused_fields(images=["https://"]) == ["images.0"]
    assert refused_fields(images=["https://cdn.example.com/a mug.png"]) == ["images.0"]


def test_a_unit_price_is_0_to_100_million_minor_units() -> None:
    assert new_product(price_minor=0).price_minor == 0
    assert new_product(price_minor=100_000_000).price_minor == 100_000_000
    assert refused_fields(price_minor=100_000_001) == ["price_minor"]
    assert refused_fields(price_minor=-1) == ["price_minor"]


def test_a_vat_rate_is_0_to_10000_basis_points_and_20_percent_by_default() -> None:
    assert new_product().vat_rate_bp == 2000
    assert new_product(vat_rate_bp=0).vat_rate_bp == 0
    assert new_product(vat_rate_bp=10_000).vat_rate_bp == 10_000
    assert refused_fields(vat_rate_bp=10_001) == ["vat_rate_bp"]
    assert refused_fields(vat_rate_bp=-1) == ["vat_rate_bp"]


def test_terms_hold_at_most_50_entitlements_of_at_most_64_characters() -> None:
    fifty = [f"e{i}" for i in range(50)]
    assert TermsDetails(entitlements=fifty).entitlements == sorted(fifty)
    with pytest.raises(ValidationError):
        TermsDetails(entitlements=[*fifty, "one-more"])
    assert TermsDetails(entitlements=["e" * 64]).entitlements == ["e" * 64]
    with pytest.raises(ValidationError):
        TermsDetails(entitlements=["e" * 65])


# --- a product's text in a locale ---


def stored(**fields: Any) -> Product:
    return Product(
        id=uuid.uuid4(),
        tenant_id="brand-a",
        code="MUG",
        name="Mug",
        price_minor=1250,
        currency="EUR",
        active=True,
        version=1,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def test_a_description_is_the_locales_own_else_the_first_one_given_else_none() -> None:
    product = stored(descriptions={"fr": "Une tasse.", "en": "A mug."})
    assert product.description_in("en") == "A mug."
    assert product.description_in("fr") == "Une tasse."
    assert product.description_in("ru") == "Une tasse."
    assert product.description_in(None) == "Une tasse."
    assert stored().description_in("fr") is None
    assert stored().description_in(None) is None


def test_without_a_locale_a_product_shows_its_default_name_even_with_translations() -> None:
    assert stored(names={"fr": "Tasse"}).name_in(None) == "Mug"
    assert stored().name_in("fr") == "Mug"


# --- price lists ---


def a_list(**fields: Any) -> PriceListDetails:
    return PriceListDetails.model_validate(
        {
            "name": "CeraVe 2025",
            "scope": "brand",
            "brand_id": str(uuid.uuid4()),
            "currency": "EUR",
            "prices": [{"product_id": str(uuid.uuid4()), "price_minor": 990}],
            **fields,
        }
    )


def test_open_dates_given_as_null_stay_null() -> None:
    listed = a_list(valid_from=None, valid_until=None)
    assert (listed.valid_from, listed.valid_until) == (None, None)


@pytest.fixture
def tokyo_machine() -> Iterator[None]:
    """The machine's own time zone is Tokyo's (UTC+9) for the test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("tokyo_machine")
def test_dates_are_kept_in_utc_whatever_the_machines_time_zone() -> None:
    listed = a_list(valid_from="2025-01-01T01:00:00+01:00", valid_until="2025-07-01T09:00:00+09:00")
    assert listed.valid_from is not None and listed.valid_until is not None
    assert listed.valid_from.utcoffset() == timedelta(0) and listed.valid_from.hour == 0
    assert listed.valid_until.utcoffset() == timedelta(0) and listed.valid_until.hour == 0


def test_a_scoped_target_is_required_for_its_scope_and_null_for_the_others_in_the_json_schema() -> None:
    assert _only_for_scope("group_id", "group") == {
        "if": {"properties": {"scope": {"const": "group"}}, "required": ["scope"]},
        "then": {"required": ["group_id"], "properties": {"group_id": {"not": {"type": "null"}}}},
        "else": {"properties": {"group_id": {"type": "null"}}},
    }


# --- a product's unit price for an organisation ---

BRAND, GROUP, ORG = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())


def offer(list_id: str, scope: str, target: str, price: int, currency: str = "EUR") -> PriceListTerms:
    return PriceListTerms(list_id, scope, target, None, None, price, currency)  # type: ignore[arg-type]


def test_a_brand_list_prices_the_products_of_its_brand_in_its_own_currency() -> None:
    product = stored(brand_id=BRAND)
    brand_list = offer("brand", "brand", str(BRAND), 990, currency="USD")
    price = unit_price(product, [brand_list], group_id=None, organisation_id=None, at=NOW)
    assert (price.price_minor, price.currency, price.offer) == (990, "USD", brand_list)


def test_a_brand_list_never_prices_a_product_without_a_brand() -> None:
    listed = [offer("brand", "brand", "None", 990)]
    price = unit_price(stored(), listed, group_id=None, organisation_id=None, at=NOW)
    assert (price.price_minor, price.offer) == (1250, None)


def test_an_organisations_own_list_prices_its_products() -> None:
    own = offer("own", "organisation", ORG, 800)
    price = unit_price(stored(brand_id=BRAND), [own], group_id=GROUP, organisation_id=ORG, at=NOW)
    assert (price.price_minor, price.offer) == (800, own)


def test_a_list_prices_only_within_its_validity() -> None:
    dated = PriceListTerms("dated", "brand", str(BRAND), NOW, NOW + timedelta(days=1), 700, "EUR")
    product = stored(brand_id=BRAND)
    assert unit_price(product, [dated], group_id=None, organisation_id=None, at=NOW).price_minor == 700
    later = NOW + timedelta(days=1)
    assert unit_price(product, [dated], group_id=None, organisation_id=None, at=later).price_minor == 1250


def test_a_viewer_pays_the_price_of_her_organisation_and_its_group_at_that_moment() -> None:
    own, group_list = offer("own", "organisation", ORG, 800), offer("group", "group", GROUP, 900)
    shown = ShownProduct(stored(brand_id=BRAND), [group_list, own], group_id=GROUP)
    member = Viewer("brand-a", uuid.UUID(ORG), sees_everything=False)
    price = price_for(shown, member, NOW)
    assert (price.price_minor, price.currency, price.offer) == (800, "EUR", own)
    # A viewer of no organisation: no organisation list applies; the group the query found still does.
    nobody = Viewer("brand-a", None, sees_everything=True)
    assert price_for(shown, nobody, NOW).offer == group_list
    # "None" is no organisation's id: a viewer of none is never taken for it.
    trap = offer("trap", "organisation", "None", 1)
    assert price_for(ShownProduct(stored(brand_id=BRAND), [trap], None), nobody, NOW).offer is None
    alone = ShownProduct(stored(brand_id=BRAND), [group_list, own], group_id=None)
    assert (price_for(alone, nobody, NOW).price_minor, price_for(alone, nobody, NOW).offer) == (1250, None)
    dated = PriceListTerms("dated", "organisation", ORG, NOW + timedelta(days=1), None, 700, "EUR")
    later = ShownProduct(stored(brand_id=BRAND), [dated], group_id=None)
    assert price_for(later, member, NOW).price_minor == 1250
    assert price_for(later, member, NOW + timedelta(days=1)).price_minor == 700
