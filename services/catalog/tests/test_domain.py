"""Catalog's pure rules: codes, product details, visibility."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.domain import NewProduct, Product, ProductDetails, code_key, is_valid_code, visible_to


def test_codes_compare_upper_cased_and_keep_their_spelling() -> None:
    assert code_key("Sku-1.a_b") == code_key("SKU-1.A_B") == "SKU-1.A_B"
    new = NewProduct.model_validate({"code": "Sku-1.a_b", "name": "x", "price_minor": 0, "currency": "EUR"})
    assert new.code == "Sku-1.a_b" and new.active is True


@pytest.mark.parametrize("code", ["A", "mug-1", "Sku_2.b", "0" * 32])
def test_codes_of_letters_digits_dots_underscores_and_dashes_are_valid(code: str) -> None:
    assert is_valid_code(code)


FULL_WIDTH_MUG = "\uff2d\uff35\uff27"


@pytest.mark.parametrize("code", ["", "0" * 33, "a b", "a/b", "crème", "MUG\n", FULL_WIDTH_MUG])
def test_other_codes_are_invalid(code: str) -> None:
    assert not is_valid_code(code)
    with pytest.raises(ValidationError):
        NewProduct.model_validate({"code": code, "name": "x", "price_minor": 0, "currency": "EUR"})


@pytest.mark.parametrize(
    "change",
    [
        {"price_minor": -1},
        {"price_minor": True},
        {"currency": "eur"},
        {"currency": "EUR\n"},
        {"name": "\t"},
        {"name": "a\x00b"},
        {"active": 1},
        {"code": "MUG"},
    ],
)
def test_product_details_refuse_what_the_contract_cannot_carry(change: dict[str, Any]) -> None:
    body = {"name": "Mug", "price_minor": 1250, "currency": "EUR", "active": True, **change}
    with pytest.raises(ValidationError):
        ProductDetails.model_validate_json(json.dumps(body))


def test_inactive_products_are_seen_by_admins_only() -> None:
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
    )
    assert visible_to(product, is_admin=True)
    assert not visible_to(product, is_admin=False)
    assert visible_to(product.model_copy(update={"active": True}), is_admin=False)
