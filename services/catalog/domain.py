"""Catalog's pure rules: products and their codes and EANs, the category tree, price resolution,
assortments and entitlements. No I/O here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from libs.common.limits import MAX_UNIT_PRICE_MINOR
from libs.common.text import MultiLine, SingleLine

CODE_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
ENTITLEMENT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5_000
MAX_PRICE_MINOR = MAX_UNIT_PRICE_MINOR
MAX_IMAGES = 20
MAX_PRICES_PER_LIST = 5_000  # docs/contracts.md: one list's event carries them all
MAX_ASSORTMENT = 5_000  # one terms event carries the whole assortment: it must stay well under 1 MB
MAX_ENTITLEMENTS = 50
DEFAULT_VAT_RATE_BP = 2_000  # 20 %, France's standard rate: a product's VAT when none is given
LOCALES = ("fr", "en", "ru")

Locale = Literal["fr", "en", "ru"]
PriceScope = Literal["brand", "group", "organisation"]
ProductStatus = Literal["active", "retired"]

_CODE = re.compile(CODE_PATTERN)


def code_key(code: str) -> str:
    """Codes are kept as the admin typed them but compared upper-cased: partners type them by hand."""
    return code.upper()


def is_valid_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def is_valid_gtin(ean: str) -> bool:
    """A GTIN-13 (EAN-13) or GTIN-8 (EAN-8) whose last digit is the GS1 check digit of the others."""
    if len(ean) not in (8, 13) or not (ean.isascii() and ean.isdigit()):
        return False
    *body, check = (int(digit) for digit in ean)
    # GS1 weights alternate 3, 1, 3… starting from the digit next to the check digit.
    total = sum(digit * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _not_blank(text: str) -> str:
    """Text people read (its characters are checked by `SingleLine`/`MultiLine`) is not blank."""
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _gtin(ean: str | None) -> str | None:
    if ean is not None and not is_valid_gtin(ean):
        raise ValueError("must be an EAN-13 or EAN-8 of digits whose last digit is the GS1 check digit")
    return ean


def _image(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s<>\"]{1,2000}", url):
        raise ValueError("must be an absolute http(s) URL without spaces")
    return url


Name = Annotated[SingleLine, Field(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_not_blank)]
Description = Annotated[
    MultiLine, Field(min_length=1, max_length=MAX_DESCRIPTION_LENGTH), AfterValidator(_not_blank)
]
Names = Annotated[
    dict[Locale, Name],
    Field(description="The name per locale (fr, en, ru); a locale without one shows `name`"),
]
Descriptions = Annotated[
    dict[Locale, Description], Field(description="The description per locale (fr, en, ru)")
]
Ean = Annotated[
    str | None,
    AfterValidator(_gtin),
    Field(description="EAN-13 or EAN-8 barcode, check digit verified; unique in the tenant; null if none"),
]
Images = Annotated[
    list[Annotated[SingleLine, AfterValidator(_image)]],
    Field(max_length=MAX_IMAGES, description="URLs of the product's pictures (http or https), first is main"),
]
VatRate = Annotated[
    int, Field(strict=True, ge=0, le=10_000, description="VAT rate in basis points: 2000 = 20 %, 550 = 5.5 %")
]
BrandRef = Annotated[uuid.UUID | None, Field(description="The product's brand (GET /brands), or null")]
CategoryRef = Annotated[
    uuid.UUID | None, Field(description="The product's category (GET /categories), or null")
]


class ProductDetails(BaseModel):
    """What an admin may change on a product: everything but its code. A PUT gives all of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="The product's default name, shown where its locale has none")
    price_minor: int = Field(
        strict=True,
        ge=0,
        le=MAX_PRICE_MINOR,
        description="Base unit price in minor units of `currency` (cents): paid where no price list applies",
    )
    currency: str = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 currency, three capitals: EUR")
    active: bool = Field(strict=True, description="False retires the product: partners no longer see it")
    brand_id: BrandRef
    category_id: CategoryRef
    ean: Ean
    names: Names
    descriptions: Descriptions
    images: Images
    vat_rate_bp: VatRate


class NewProduct(ProductDetails):
    """A product to add to the tenant's catalog; only code, name, price and currency are required."""

    code: str = Field(
        pattern=CODE_PATTERN,
        description="The code partners type to order it: 1 to 32 of A-Z a-z 0-9 . _ -, unique in the"
        " tenant whatever the case; it never changes",
    )
    active: bool = Field(True, strict=True, description="False adds it retired: partners do not see it")
    brand_id: BrandRef = None
    category_id: CategoryRef = None
    ean: Ean = None
    names: Names = Field(default_factory=dict)
    descriptions: Descriptions = Field(default_factory=dict)
    images: Images = Field(default_factory=list)
    vat_rate_bp: VatRate = DEFAULT_VAT_RATE_BP

    def details(self) -> ProductDetails:
        return ProductDetails.model_validate(self.model_dump(exclude={"code"}))


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
    brand_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    ean: str | None = None
    names: dict[Locale, str] = Field(default_factory=dict)
    descriptions: dict[Locale, str] = Field(default_factory=dict)
    images: list[str] = Field(default_factory=list)
    vat_rate_bp: int = DEFAULT_VAT_RATE_BP

    @property
    def status(self) -> ProductStatus:
        """Retiring a product is withdrawing it (`active` false): both names stay for their readers."""
        return "active" if self.active else "retired"

    def details(self) -> ProductDetails:
        return ProductDetails.model_validate(self.model_dump(include=set(ProductDetails.model_fields)))

    def name_in(self, locale: Locale | None) -> str:
        """The name to show in a locale: its own where it has one, else the default name."""
        return self.names.get(locale, self.name) if locale else self.name

    def description_in(self, locale: Locale | None) -> str | None:
        if locale and locale in self.descriptions:
            return self.descriptions[locale]
        return next(iter(self.descriptions.values()), None) if self.descriptions else None


# --- brands and categories ---


class BrandDetails(BaseModel):
    """A brand of the tenant (L'Oréal's CeraVe, Vichy…): price lists and documents are per brand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="The brand's name, unique in the tenant whatever its case")


class CategoryDetails(BaseModel):
    """Where a category sits in the tree and what it is called; a PUT gives both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parent_id: uuid.UUID | None = Field(description="The parent category, or null for a top-level one")
    names: dict[Locale, Name] = Field(
        min_length=1, description="The category's name per locale (fr, en, ru): at least one"
    )


class NewCategory(CategoryDetails):
    parent_id: uuid.UUID | None = Field(None, description="The parent category, or null for a top-level one")


def moves_under_itself(
    category_id: uuid.UUID, new_parent_id: uuid.UUID | None, parent_of: Mapping[uuid.UUID, uuid.UUID | None]
) -> bool:
    """Whether putting a category under `new_parent_id` would close a loop in the tree: the new
    parent is the category itself or one of its descendants (found walking up from the new parent)."""
    seen: set[uuid.UUID] = set()
    node = new_parent_id
    while node is not None:
        if node == category_id or node in seen:
            return True
        seen.add(node)
        node = parent_of.get(node)
    return False


# --- customer groups and organisation terms ---


class GroupDetails(BaseModel):
    """A customer group: organisations in it share the group's price lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="The group's name, unique in the tenant whatever its case")


Entitlement = Annotated[str, Field(pattern=ENTITLEMENT_PATTERN)]


class TermsDetails(BaseModel):
    """An organisation's terms with the tenant, as a whole (a PUT replaces them; omitted = none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_id: uuid.UUID | None = Field(
        None, description="The customer group whose price lists apply, or null"
    )
    assortment: list[uuid.UUID] | None = Field(
        None,
        max_length=MAX_ASSORTMENT,
        description="The only products the organisation sees and may order; null = the whole catalog",
    )
    entitlements: list[Entitlement] = Field(
        default_factory=list,
        max_length=MAX_ENTITLEMENTS,
        description="Contract entitlements, e.g. 'ecommerce' (the e-commerce amendment unlocking assets):"
        " lower-case letters, digits and dashes",
    )

    @field_validator("assortment")
    @classmethod
    def _sorted_assortment(cls, ids: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
        return None if ids is None else sorted(set(ids), key=str)

    @field_validator("entitlements")
    @classmethod
    def _sorted_entitlements(cls, names: list[str]) -> list[str]:
        return sorted(set(names))


class OrganisationTerms(TermsDetails):
    """Stored terms of an organisation; an organisation without any has the defaults at version 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation_id: uuid.UUID
    version: int = 0


def missing_entitlement(required: str | None, granted: Collection[str]) -> str | None:
    """The entitlement an organisation lacks to get something, or None when nothing is missing."""
    return required if required is not None and required not in granted else None


# --- price lists ---


class PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: uuid.UUID = Field(description="A product of the list's brand")
    price_minor: int = Field(strict=True, ge=0, le=MAX_PRICE_MINOR, description="Unit price in minor units")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _only_for_scope(field: str, scope: str) -> dict[str, Any]:
    """JSON Schema: `field` is given (not null) for a list of this scope, and null or absent otherwise."""
    return {
        "if": {"properties": {"scope": {"const": scope}}, "required": ["scope"]},
        "then": {"required": [field], "properties": {field: {"not": {"type": "null"}}}},
        "else": {"properties": {field: {"type": "null"}}},
    }


class PriceListDetails(BaseModel):
    """A price list as an admin writes it: whose prices, for whom, when, and the prices."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "allOf": [
                _only_for_scope("group_id", "group"),
                _only_for_scope("organisation_id", "organisation"),
            ]
        },
    )

    name: Name = Field(description="What admins call the list, e.g. 'CeraVe 2025 cycle 1'")
    scope: PriceScope = Field(
        description="brand: every organisation; group: the organisations of `group_id`; organisation:"
        " only `organisation_id`. The most specific list valid at a moment wins"
    )
    brand_id: uuid.UUID = Field(description="The brand whose products the list prices")
    group_id: uuid.UUID | None = Field(None, description="The customer group (scope group only)")
    organisation_id: uuid.UUID | None = Field(None, description="The organisation (scope organisation only)")
    currency: str = Field(
        pattern=CURRENCY_PATTERN, description="ISO 4217 currency of every price of the list"
    )
    valid_from: AwareDatetime | None = Field(
        None, description="Start of validity (with offset); null = always"
    )
    valid_until: AwareDatetime | None = Field(
        None, description="End of validity, exclusive (with offset); null = open-ended"
    )
    prices: list[PriceEntry] = Field(
        max_length=MAX_PRICES_PER_LIST, description=f"At most {MAX_PRICES_PER_LIST}, one per product"
    )

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        return _utc(moment)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.scope == "group") != (self.group_id is not None):
            raise ValueError("group_id is required for a group list and refused for the others")
        if (self.scope == "organisation") != (self.organisation_id is not None):
            raise ValueError(
                "organisation_id is required for an organisation list and refused for the others"
            )
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must come after valid_from")
        products = [entry.product_id for entry in self.prices]
        if len(set(products)) != len(products):
            raise ValueError("a product may have only one price in a list")
        return self


class PriceList(PriceListDetails):
    """A stored price list; `active` false once withdrawn."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    tenant_id: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PriceListTerms:
    """One list's offer for one product."""

    list_id: str
    scope: Literal["brand", "group", "organisation"]
    target_id: str | None  # brand id, group id or organisation id, by scope
    valid_from: datetime | None
    valid_until: datetime | None  # exclusive
    price_minor: int
    currency: str
    active: bool = True


_SPECIFICITY = {"brand": 1, "group": 2, "organisation": 3}


def resolve_price(
    candidates: Iterable[PriceListTerms],
    *,
    brand_id: str | None,
    group_id: str | None,
    organisation_id: str | None,
    at: datetime,
) -> PriceListTerms | None:
    """The offer that sets the price at `at`, or None (the product's base price applies).

    An offer applies when its list is active, valid at `at` (valid_from <= at < valid_until, nulls
    open) and aimed at this product's brand, this organisation's group or this organisation. The most
    specific scope wins (organisation > group > brand); among lists of one scope, the latest
    `valid_from` (none counts as earliest), then the greatest list id, so the answer is deterministic.
    """
    wanted = {"brand": brand_id, "group": group_id, "organisation": organisation_id}

    def applies(offer: PriceListTerms) -> bool:
        target = wanted[offer.scope]
        return (
            offer.active
            and target is not None
            and offer.target_id == target
            and (offer.valid_from is None or offer.valid_from <= at)
            and (offer.valid_until is None or at < offer.valid_until)
        )

    # Comparing `valid_from is not None` first never compares a moment with a stand-in.
    return max(
        (offer for offer in candidates if applies(offer)),
        key=lambda o: (_SPECIFICITY[o.scope], o.valid_from is not None, o.valid_from or at, o.list_id),
        default=None,
    )


@dataclass(frozen=True)
class UnitPrice:
    """What a product costs one organisation at a moment, and which list's offer set it (None: base)."""

    price_minor: int
    currency: str
    offer: PriceListTerms | None


def unit_price(
    product: Product,
    offers: Iterable[PriceListTerms],
    *,
    group_id: str | None,
    organisation_id: str | None,
    at: datetime,
) -> UnitPrice:
    """The product's price for an organisation (and its group) at `at`: the resolved offer, else base."""
    brand_id = str(product.brand_id) if product.brand_id else None
    offer = resolve_price(
        offers, brand_id=brand_id, group_id=group_id, organisation_id=organisation_id, at=at
    )
    if offer is None:
        return UnitPrice(product.price_minor, product.currency, None)
    return UnitPrice(offer.price_minor, offer.currency, offer)


# --- what one viewer sees, and pays ---


@dataclass(frozen=True)
class Viewer:
    """Who looks at the catalog: their tenant, their organisation (its terms restrict and price what
    they see), whether they see everything (admins: retired products, no assortment) and the seller
    discount their own orders get (0 but for a seller)."""

    tenant_id: str
    organisation_id: uuid.UUID | None
    sees_everything: bool
    seller_discount_bp: int = 0


def seller_price(price_minor: int, discount_bp: int) -> int:
    """A unit price less the seller discount, the discount rounded half up to the minor unit (15 %
    of 9.99 is 1.4985, so 1.50 off: 8.49). Ordering charges the same (tests/contracts)."""
    return price_minor - (price_minor * discount_bp + 5_000) // 10_000


@dataclass(frozen=True)
class ShownProduct:
    """A product as one viewer sees it: with the offers of the price lists that may price it for them
    (still to be resolved at a moment) and the viewer's organisation's customer group."""

    product: Product
    offers: list[PriceListTerms]
    group_id: str | None


def price_for(shown: ShownProduct, viewer: Viewer, at: datetime) -> UnitPrice:
    """The price the viewer pays at `at`, resolved here from her organisation's terms (never sent
    in), less the seller discount when she is a seller."""
    organisation_id = str(viewer.organisation_id) if viewer.organisation_id else None
    price = unit_price(
        shown.product, shown.offers, group_id=shown.group_id, organisation_id=organisation_id, at=at
    )
    if not viewer.seller_discount_bp:
        return price
    return replace(price, price_minor=seller_price(price.price_minor, viewer.seller_discount_bp))
