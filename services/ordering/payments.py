"""Payments taken through the payment provider: account top-ups and instalments of orders. A payment
is recorded pending when it starts (its id is the reference the provider's notices name) and moves
once, to succeeded or failed, on the first notice that decides it; the same notice twice, or any
notice for a payment already decided, changes nothing. What a decided payment does (credit a
balance, pay an instalment) is its purpose's business."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common.errors import Invalid
from libs.common.payments import Notice, PaymentProvider, StartPayment

Purpose = Literal["top_up", "instalment"]
PaymentStatus = Literal["pending", "succeeded", "failed"]


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: uuid.UUID = Field(description="Ours; the provider's notices name it")
    account_id: str = Field(description="Who pays")
    purpose: Purpose = Field(description="What the payment is for: top_up or instalment")
    order_id: uuid.UUID | None = Field(None, description="The order an instalment pays")
    instalment: int | None = Field(None, description="Which of its instalments")
    amount_minor: int = Field(description="How much, in minor units")
    currency: str = Field(description="ISO 4217 currency")
    status: PaymentStatus = Field(description="pending until the provider's notice, then succeeded or failed")
    failure_reason: str | None = Field(description="Why it failed, as the provider said")
    created_at: datetime = Field(description="When it was started (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")
    provider_payment_id: str | None = Field(None, exclude=True)


@dataclass(frozen=True)
class Asked:
    """A payment to start: whose, what for, how much."""

    tenant_id: str
    account_id: str
    purpose: Purpose
    amount_minor: int
    currency: str
    description: str
    order_id: uuid.UUID | None = None
    instalment: int | None = None


@dataclass(frozen=True)
class Started:
    payment: Payment
    redirect_url: str


_COLUMNS = (
    "payment_id, account_id, purpose, order_id, instalment, amount_minor, currency, status, failure_reason,"
    " created_at, updated_at, provider_payment_id"
)
_ADD = f"""
INSERT INTO payments (tenant_id, {_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
_FIND = f"SELECT tenant_id, {_COLUMNS} FROM payments WHERE payment_id = $1"
_MARK = "UPDATE payments SET status = $2, failure_reason = $3, updated_at = $4 WHERE payment_id = $1"
_NOTICE_SEEN = """
INSERT INTO payment_notices (notice_id, payment_id, status, received_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (notice_id) DO NOTHING
"""


def _pending(asked: Asked, at: datetime) -> Payment:
    return Payment(
        payment_id=uuid.uuid4(),
        account_id=asked.account_id,
        purpose=asked.purpose,
        order_id=asked.order_id,
        instalment=asked.instalment,
        amount_minor=asked.amount_minor,
        currency=asked.currency,
        status="pending",
        failure_reason=None,
        created_at=at,
        updated_at=at,
    )


async def _record(
    conn: asyncpg.Connection, asked: Asked, payment: Payment, provider_payment_id: str
) -> Payment:
    await conn.execute(_ADD, asked.tenant_id, *payment.model_dump().values(), provider_payment_id)
    return payment.model_copy(update={"provider_payment_id": provider_payment_id})


async def start(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    asked: Asked,
    *,
    callback_url: str,
    return_url: str,
    at: datetime,
    save_card: bool = False,
) -> Started:
    """A payment the buyer completes on the provider's page (`redirect_url`)."""
    payment = _pending(asked, at)
    started = await provider.start(
        StartPayment(
            amount_minor=asked.amount_minor,
            currency=asked.currency,
            reference=str(payment.payment_id),
            description=asked.description,
            callback_url=callback_url,
            return_url=return_url,
            save_card=save_card,
        )
    )
    return Started(await _record(conn, asked, payment, started.payment_id), started.redirect_url)


async def record(conn: asyncpg.Connection, asked: Asked, at: datetime) -> Payment:
    """A pending payment recorded before the provider is asked to charge a saved card (the notice
    may come before the provider's answer: it finds the payment)."""
    payment = _pending(asked, at)
    await conn.execute(_ADD, asked.tenant_id, *payment.model_dump().values(), None)
    return payment


async def set_provider_id(conn: asyncpg.Connection, payment: Payment, provider_payment_id: str) -> None:
    await conn.execute(
        "UPDATE payments SET provider_payment_id = $2 WHERE payment_id = $1",
        payment.payment_id,
        provider_payment_id,
    )


async def find(
    db: asyncpg.Connection | asyncpg.Pool, payment_id: uuid.UUID, *, for_update: bool = False
) -> tuple[str, Payment] | None:
    """The payment with its tenant."""
    row = await db.fetchrow(_FIND + (" FOR UPDATE" if for_update else ""), payment_id)
    if row is None:
        return None
    values = dict(row)
    return values.pop("tenant_id"), Payment.model_validate(values)


async def mark(
    conn: asyncpg.Connection, payment: Payment, status: PaymentStatus, reason: str | None, at: datetime
) -> Payment:
    await conn.execute(_MARK, payment.payment_id, status, reason, at)
    return payment.model_copy(update={"status": status, "failure_reason": reason, "updated_at": at})


class UnknownPayment(Exception):
    """A notice for a payment not recorded (yet): the provider sends it again later."""


@dataclass(frozen=True)
class Decided:
    tenant_id: str
    payment: Payment
    now_decided: bool  # False: a notice seen before, or one for a payment decided already


async def decide(conn: asyncpg.Connection, notice: Notice, at: datetime) -> Decided:
    """Apply a verified notice to its payment, once (the payment row locked)."""
    try:
        payment_id = uuid.UUID(notice.reference)
    except ValueError as exc:
        raise UnknownPayment(notice.reference) from exc
    found = await find(conn, payment_id, for_update=True)
    if found is None:
        raise UnknownPayment(notice.reference)
    tenant_id, payment = found
    first_time = await conn.execute(_NOTICE_SEEN, notice.notice_id, payment_id, notice.status, at)
    if first_time == "INSERT 0 0" or payment.status != "pending":
        return Decided(tenant_id, payment, now_decided=False)
    if (notice.amount_minor, notice.currency) != (payment.amount_minor, payment.currency):
        raise Invalid.field("amount_minor", "the notice's amount is not the payment's", "amount-mismatch")
    reason = None if notice.status == "succeeded" else notice.reason or "refused"
    return Decided(tenant_id, await mark(conn, payment, notice.status, reason, at), now_decided=True)


async def of_account(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str, purpose: Purpose, limit: int
) -> list[Payment]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM payments WHERE tenant_id = $1 AND account_id = $2 AND purpose = $3"
        " ORDER BY seq DESC LIMIT $4",
        tenant_id,
        account_id,
        purpose,
        limit,
    )
    return [Payment.model_validate(dict(row)) for row in rows]
