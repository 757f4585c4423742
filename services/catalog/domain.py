"""Catalog's pure rules: what a product is, how codes compare, who sees which products."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

CODE_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
MAX_NAME_LENGTH = 200
MAX_PRICE_MINOR = 2**63 - 1  # prices are stored as PostgreSQL bigint

_CODE = re.compile(CODE_PATTERN)


def code_key(code: str) -> str:
    """Codes are kept as the admin typed them but compared upper-cased: partners type them by hand."""
    return code.upper()


def is_valid_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


class ProductDetails(BaseModel):
    """What an admin may change on a product: everything but its code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="The product's name")
    price_minor: int = Field(
        strict=True, ge=0, le=MAX_PRICE_MINOR, description="Unit price in minor units of `currency` (cents)"
    )
    currency: str = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 currency, three capitals: EUR")
    active: bool = Field(strict=True, description="False withdraws the product: partners no longer see it")

    @field_validator("name")
    @classmethod
    def _readable_name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("must not be blank")
        # Control characters (NUL above all, which PostgreSQL refuses) have no place in a name.
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise ValueError("must not contain control characters")
        return name


class NewProduct(ProductDetails):
    """A product to add to the tenant's catalog."""

    code: str = Field(
        pattern=CODE_PATTERN,
        description="The code partners type to order it: 1 to 32 of A-Z a-z 0-9 . _ -, unique in the"
        " tenant whatever the case; it never changes",
    )
    active: bool = Field(True, strict=True, description="False adds it withdrawn: partners do not see it")


class Product(BaseModel):
    """A product of one tenant's catalog, as stored."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    tenant_id: str
    code: str
    name: str
    price_minor: int
    currency: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


def visible_to(product: Product, *, is_admin: bool) -> bool:
    """An inactive product is withdrawn: only the tenant's admins still see it."""
    return product.active or is_admin
