"""Earning rules of the shop counter, pure: what a rule says, and how many points a visit or a
purchase earns under it.

A tenant has any number of rules; each change of one is a new version, and every ledger entry
records the rule and version that made it, so that changing a rule never changes what was earned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from libs.common.limits import MAX_ENTRY_POINTS, MAX_ORDER_TOTAL_MINOR
from services.loyalty.domain import MINOR_PER_UNIT

Earns = Literal["per_amount", "percent", "per_visit", "nth_visit", "welcome"]
WelcomeAt = Literal["card", "first_purchase"]
VisitKind = Literal["visit", "purchase"]
MAX_IDS = 100
BASIS_POINTS = 10_000  # in 100 %

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Ids = Annotated[list[Id], Field(max_length=MAX_IDS)]


class RuleSpec(BaseModel):
    """What a rule awards and when. The conditions all hold for the rule to apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="What staff and customers read, e.g. “1 point per euro”")
    earns: Earns = Field(
        description="per_amount: `points` per currency unit of a purchase (rounded down); percent:"
        " `percent_bp` of the purchase's amount, in points of one currency unit (rounded down);"
        " per_visit: `points` at each visit or purchase; nth_visit: `points` at every `every`-th;"
        " welcome: `points` once, when she gets her card or at her first purchase (`welcome_at`)"
    )
    points: int = Field(
        0, ge=0, le=MAX_ENTRY_POINTS, description="Points per unit (per_amount) or points awarded (others)"
    )
    percent_bp: int = Field(
        0, ge=0, le=BASIS_POINTS, description="For percent: the share in basis points (500 = 5 %)"
    )
    every: int = Field(0, ge=0, le=1000, description="For nth_visit: every how many visits (2 or more)")
    welcome_at: WelcomeAt = Field(
        "card", description="For welcome: card (when she gets it) or first_purchase"
    )
    professionals_only: bool = Field(False, description="Only for professional customers")
    min_amount_minor: int = Field(
        0, ge=0, le=MAX_ORDER_TOTAL_MINOR, description="A purchase of at least this amount (minor units)"
    )
    shop_ids: Ids | None = Field(None, description="Only at these shops; null: at every shop")
    categories_included: Ids = Field([], description="Only purchases of one of these categories")
    categories_excluded: Ids = Field([], description="Not purchases of any of these categories")
    brands_included: Ids = Field([], description="Only purchases of one of these brands' products")
    brands_excluded: Ids = Field([], description="Not purchases of any of these brands' products")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.earns == "percent" and self.percent_bp == 0:
            raise ValueError("a percent rule needs percent_bp")
        if self.earns != "percent" and self.points == 0:
            raise ValueError("a rule that awards no points: give points")
        if self.earns == "nth_visit" and self.every < 2:
            raise ValueError("an nth_visit rule needs every of 2 or more")
        return self

    @property
    def on_amount(self) -> bool:
        """The rule awards on a purchase's amount (a visit without a purchase earns nothing by it)."""
        return self.earns in ("per_amount", "percent")


class Rule(BaseModel):
    """One version of a tenant's rule."""

    model_config = ConfigDict(frozen=True)

    rule_id: uuid.UUID
    version: int
    spec: RuleSpec
    retired: bool = False
    created_at: datetime


class Sale(BaseModel):
    """What a visit or purchase is, as the rules read it."""

    model_config = ConfigDict(frozen=True)

    kind: VisitKind
    amount_minor: int = 0
    shop_id: str | None = None
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    professional: bool = False
    number: int = 1  # her how-many-th visit in the tenant, this one included
    first_purchase: bool = False


def applies(spec: RuleSpec, sale: Sale) -> bool:
    """Whether every condition of the rule holds for this sale (not when it is triggered)."""
    if spec.professionals_only and not sale.professional:
        return False
    if spec.shop_ids is not None and sale.shop_id not in spec.shop_ids:
        return False
    if sale.amount_minor < spec.min_amount_minor:
        return False
    if spec.categories_included and not sale.categories & set(spec.categories_included):
        return False
    if spec.brands_included and not sale.brands & set(spec.brands_included):
        return False
    return not (sale.categories & set(spec.categories_excluded) or sale.brands & set(spec.brands_excluded))


def points_for(spec: RuleSpec, sale: Sale) -> int:
    """Points this sale earns under the rule (0 when it does not apply or is not triggered)."""
    if not applies(spec, sale):
        return 0
    match spec.earns:
        case "per_amount":
            return sale.amount_minor * spec.points // MINOR_PER_UNIT if sale.kind == "purchase" else 0
        case "percent":
            return sale.amount_minor * spec.percent_bp // (BASIS_POINTS * MINOR_PER_UNIT)
        case "per_visit":
            return spec.points
        case "nth_visit":
            return spec.points if sale.number % spec.every == 0 else 0
        case "welcome":
            return spec.points if spec.welcome_at == "first_purchase" and sale.first_purchase else 0


def welcome_points(spec: RuleSpec, professional: bool, shop_id: str | None) -> int:
    """Points of a welcome rule given when a customer gets her card (at her home shop)."""
    if spec.earns != "welcome" or spec.welcome_at != "card":
        return 0
    card = Sale(kind="visit", shop_id=shop_id, professional=professional)
    return spec.points if applies(spec, card) else 0
