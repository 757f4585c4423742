"""Ordering's pure rules: merging requested lines, pricing them from the read model, the order total."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

MAX_QUANTITY = 9999
MAX_MINOR = 2**63 - 1  # amounts are stored as PostgreSQL bigint


def code_key(code: str) -> str:
    """Product codes match case-insensitively."""
    return code.upper()


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class Product(_Value):
    """A product as ordering last heard of it from catalog."""

    product_id: uuid.UUID
    code: str
    name: str
    price_minor: int
    currency: str
    active: bool


class RequestedLine(_Value):
    """One distinct product code of a request; `position` is its first line's index in the request."""

    code: str
    quantity: int
    position: int


class PricedLine(_Value):
    product_id: uuid.UUID
    code: str
    name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


class PricedOrder(_Value):
    lines: list[PricedLine]
    total_minor: int
    currency: str


class Order(_Value):
    """A submitted order: who placed it, what it holds and what it costs."""

    order_id: uuid.UUID
    tenant_id: str
    account_id: str
    organisation_id: str | None
    status: str
    lines: list[PricedLine]
    total_minor: int
    currency: str
    submitted_at: datetime


class LineProblem(_Value):
    """Why one requested line cannot be ordered; `field` points into the request body."""

    field: str
    message: str
    type: str


class OrderRejected(Exception):
    """The request cannot become an order; every problem found is listed."""

    def __init__(self, problems: Sequence[LineProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


def merge_lines(lines: Iterable[tuple[str, int]]) -> list[RequestedLine]:
    """Add up the quantities of lines naming the same code (in any case), in first-seen order.

    Merging rather than refusing: a shopper who adds the same article twice means "twice as many".
    """
    merged: dict[str, RequestedLine] = {}
    for position, (code, quantity) in enumerate(lines):
        seen = merged.get(code_key(code))
        if seen is None:
            merged[code_key(code)] = RequestedLine(code=code, quantity=quantity, position=position)
        else:
            merged[code_key(code)] = seen.model_copy(update={"quantity": seen.quantity + quantity})
    too_many = [
        LineProblem(
            field=f"lines.{line.position}.quantity",
            message=f"the lines for code {line.code} add up to {line.quantity}, more than {MAX_QUANTITY}",
            type="quantity-too-large",
        )
        for line in merged.values()
        if line.quantity > MAX_QUANTITY
    ]
    if too_many:
        raise OrderRejected(too_many)
    return list(merged.values())


def price_order(requested: Sequence[RequestedLine], products: Mapping[str, Product]) -> PricedOrder:
    """Price each line at the read model's price (`products` keyed by `code_key`).

    Refuses unknown and inactive codes and a mix of currencies; the order's currency is that of its
    first orderable line.
    """
    problems: list[LineProblem] = []
    lines: list[PricedLine] = []
    currency: str | None = None
    for line in requested:
        field = f"lines.{line.position}.code"
        product = products.get(code_key(line.code))
        if product is None:
            problems.append(
                LineProblem(field=field, message=f"unknown product code {line.code}", type="unknown-product")
            )
            continue
        if not product.active:
            problems.append(
                LineProblem(
                    field=field, message=f"product {line.code} is not for sale", type="inactive-product"
                )
            )
            continue
        currency = currency or product.currency
        if product.currency != currency:
            problems.append(
                LineProblem(
                    field=field,
                    message=f"product {line.code} is priced in {product.currency}, the order in {currency}",
                    type="currency-mismatch",
                )
            )
            continue
        lines.append(
            PricedLine(
                product_id=product.product_id,
                code=product.code,
                name=product.name,
                quantity=line.quantity,
                unit_price_minor=product.price_minor,
                line_total_minor=line.quantity * product.price_minor,
            )
        )
    if problems:
        raise OrderRejected(problems)
    if currency is None:
        raise OrderRejected([LineProblem(field="lines", message="an order needs a line", type="no-lines")])
    total = sum(line.line_total_minor for line in lines)
    if total > MAX_MINOR:
        raise OrderRejected(
            [LineProblem(field="lines", message="the order total is too large", type="total-too-large")]
        )
    return PricedOrder(lines=lines, total_minor=total, currency=currency)
