"""Paying in instalments: at confirmation the order's total (VAT included) is split into the
tenant's number of parts, the first due at once, the next every interval. The buyer pays the first
on the provider's page, where her card is saved; a worker charges the next ones to that card when
they are due. A failed charge is tried again after a delay; after the last try the instalment is
flagged for the admin. A cancelled order's paid instalments are refunded through the provider,
less the tenant's cancellation costs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field

from libs.common.errors import Conflict
from libs.common.payments import Charge, Notice, PaymentError, PaymentProvider
from libs.common.runtime import every
from services.ordering import payments
from services.ordering.checkout import CheckoutSettings
from services.ordering.domain import Order
from services.ordering.payments import Payment

log = structlog.get_logger(__name__)

InstalmentStatus = Literal["scheduled", "charging", "paid", "flagged", "cancelled"]


@dataclass(frozen=True)
class Rules:
    """How hard the worker tries: `attempts` charges per instalment, `retry_after` apart."""

    attempts: int = 3
    retry_after: timedelta = timedelta(days=1)


class Instalment(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: uuid.UUID = Field(description="The order")
    number: int = Field(description="1 for the first")
    account_id: str = Field(description="Who pays")
    amount_minor: int = Field(description="How much, in minor units")
    currency: str = Field(description="ISO 4217 currency")
    due_at: datetime = Field(description="When it is due (UTC)")
    status: InstalmentStatus = Field(
        description="scheduled (waits for its time or a retry), charging (at the provider), paid, flagged"
        " (every try failed: the admin must act), cancelled (the order was)"
    )
    attempts: int = Field(description="Charges tried and failed")
    next_attempt_at: datetime = Field(description="When the next charge is tried")
    failure_reason: str | None = Field(description="Why the last charge failed")


def split(total_minor: int, parts: int) -> list[int]:
    """The total in `parts` amounts that differ by a cent at most, the larger ones first."""
    whole, rest = divmod(total_minor, parts)
    return [whole + (1 if number < rest else 0) for number in range(parts) if whole or number < rest]


def plan(order: Order, settings: CheckoutSettings, at: datetime) -> list[Instalment]:
    assert order.checkout is not None
    interval = timedelta(days=settings.instalment_interval_days)
    return [
        Instalment(
            order_id=order.order_id,
            number=number,
            account_id=order.account_id,
            amount_minor=amount,
            currency=order.currency,
            due_at=at + (number - 1) * interval,
            status="scheduled",
            attempts=0,
            next_attempt_at=at + (number - 1) * interval,
            failure_reason=None,
        )
        for number, amount in enumerate(
            split(order.checkout.totals.total_incl_vat_minor, settings.instalments), 1
        )
    ]


# --- SQL ---

_COLUMNS = (
    "order_id, number, account_id, amount_minor, currency, due_at, status, attempts, next_attempt_at,"
    " failure_reason"
)
_OF_I = ", ".join(f"i.{column.strip()}" for column in _COLUMNS.split(","))  # the same, of `instalments i`
_ADD = f"""
INSERT INTO instalments (tenant_id, {_COLUMNS})
SELECT $1, $2, number, $3, amount, $4, due, 'scheduled', 0, due, NULL
FROM unnest($5::int[], $6::bigint[], $7::timestamptz[]) AS t(number, amount, due)
"""
_OF_ORDER = f"SELECT {_COLUMNS} FROM instalments WHERE order_id = $1 ORDER BY number"
_LOCK = f"SELECT {_COLUMNS} FROM instalments WHERE order_id = $1 AND number = $2 FOR UPDATE"
_SET = """
UPDATE instalments SET status = $3, attempts = $4, next_attempt_at = $5, failure_reason = $6,
       payment_id = coalesce($7, payment_id)
WHERE order_id = $1 AND number = $2
"""
# The next ones due, each with the card to charge, locked: a second worker takes others.
# Charges recorded but never answered by the provider (a crash, a lost connection), sent again
# under the same reference: the provider charges once.
_STALLED = f"""
SELECT i.tenant_id, {_OF_I}, c.card_id, p.payment_id
FROM instalments i JOIN instalment_cards c USING (order_id)
     JOIN payments p ON p.order_id = i.order_id AND p.instalment = i.number
WHERE i.status = 'charging' AND p.status = 'pending' AND p.provider_payment_id IS NULL AND p.created_at <= $1
LIMIT $2
FOR UPDATE OF i SKIP LOCKED
"""
STALLED_AFTER = timedelta(minutes=5)
_DUE = f"""
SELECT i.tenant_id, {_OF_I}, c.card_id
FROM instalments i JOIN instalment_cards c USING (order_id)
WHERE i.status = 'scheduled' AND i.number > 1 AND i.next_attempt_at <= $1
ORDER BY i.next_attempt_at
LIMIT $2
FOR UPDATE OF i SKIP LOCKED
"""


def _instalment(row: asyncpg.Record) -> Instalment:
    return Instalment.model_validate({k: row[k] for k in Instalment.model_fields})


async def schedule(conn: asyncpg.Connection, order: Order, settings: CheckoutSettings, at: datetime) -> None:
    """Record the order's instalments (at its confirmation)."""
    parts = plan(order, settings, at)
    await conn.execute(
        _ADD,
        order.tenant_id,
        order.order_id,
        order.account_id,
        order.currency,
        [p.number for p in parts],
        [p.amount_minor for p in parts],
        [p.due_at for p in parts],
    )


async def of_order(db: asyncpg.Connection | asyncpg.Pool, order_id: uuid.UUID) -> list[Instalment]:
    return [_instalment(row) for row in await db.fetch(_OF_ORDER, order_id)]


async def of_tenant(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, status: InstalmentStatus | None, limit: int
) -> list[Instalment]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM instalments WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)"
        " ORDER BY next_attempt_at LIMIT $3",
        tenant_id,
        status,
        limit,
    )
    return [_instalment(row) for row in rows]


class NothingToPay(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "nothing-to-pay", "Nothing to pay", "no instalment of this order waits for the buyer"
        )


async def start_payment(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    order: Order,
    *,
    callback_url: str,
    return_url: str,
    at: datetime,
) -> payments.Started:
    """The buyer pays on the provider's page the first instalment waiting for her (the first one, or
    one whose charges all failed), saving her card for the next ones (409 when none waits: the next
    ones are charged to her card when due)."""
    parts = await of_order(conn, order.order_id)
    card = await conn.fetchval("SELECT card_id FROM instalment_cards WHERE order_id = $1", order.order_id)
    waiting = [
        p
        for p in parts
        if p.status == "flagged" or (p.status == "scheduled" and (p.number == 1 or card is None))
    ]
    if not waiting:
        raise NothingToPay
    first = waiting[0]
    return await payments.start(
        conn,
        provider,
        payments.Asked(
            tenant_id=order.tenant_id,
            account_id=order.account_id,
            purpose="instalment",
            amount_minor=first.amount_minor,
            currency=first.currency,
            description=f"Instalment {first.number} of {len(parts)} of your order",
            order_id=order.order_id,
            instalment=first.number,
        ),
        callback_url=callback_url,
        return_url=return_url,
        at=at,
        save_card=True,
    )


async def settle(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    rules: Rules,
    payment: Payment,
    notice: Notice,
    at: datetime,
) -> None:
    """What a decided instalment payment does: paid (and her card saved for the next ones), or one
    more failed try (flagged after the last). A payment for an instalment paid or cancelled meanwhile
    is refunded."""
    assert payment.order_id is not None and payment.instalment is not None
    row = await conn.fetchrow(_LOCK, payment.order_id, payment.instalment)
    assert row is not None
    part = _instalment(row)
    if payment.status == "succeeded":
        if part.status in ("paid", "cancelled"):
            await provider.refund(notice.payment_id, payment.amount_minor, f"twice:{payment.payment_id}")
            log.info("instalment paid twice: refunded", order_id=str(part.order_id), number=part.number)
            return
        await _set(conn, part, "paid", part.attempts, part.next_attempt_at, None, payment.payment_id)
        if notice.card_id:
            await conn.execute(
                "INSERT INTO instalment_cards (order_id, card_id) VALUES ($1, $2)"
                " ON CONFLICT (order_id) DO UPDATE SET card_id = EXCLUDED.card_id",
                part.order_id,
                notice.card_id,
            )
        return
    if part.status in ("scheduled", "charging", "flagged"):
        await _failed(conn, rules, part, payment.failure_reason or "refused", at)


async def _set(
    conn: asyncpg.Connection,
    part: Instalment,
    status: InstalmentStatus,
    attempts: int,
    next_at: datetime,
    reason: str | None,
    payment_id: uuid.UUID | None = None,
) -> None:
    await conn.execute(_SET, part.order_id, part.number, status, attempts, next_at, reason, payment_id)


async def _failed(
    conn: asyncpg.Connection, rules: Rules, part: Instalment, reason: str, at: datetime
) -> None:
    attempts = part.attempts + 1
    status: InstalmentStatus = "flagged" if attempts >= rules.attempts else "scheduled"
    await _set(conn, part, status, attempts, at + rules.retry_after, reason)
    if status == "flagged":
        log.warning("instalment flagged", order_id=str(part.order_id), number=part.number, reason=reason)


async def charge_due(
    pool: asyncpg.Pool,
    provider: PaymentProvider,
    rules: Rules,
    callback_url: str,
    at: datetime,
    batch: int = 20,
) -> int:
    """Charge the instalments due to the cards saved for them; how many were sent to the provider.

    Each is marked `charging` with its pending payment before the provider is asked, in a committed
    transaction. A crash or a lost answer after that leaves it charging: the next round after
    `STALLED_AFTER` sends the same charge again under the same reference, which the provider charges
    once. The provider refusing the request itself counts as a failed try."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            pending = []
            for row in await conn.fetch(_STALLED, at - STALLED_AFTER, batch):
                found = await payments.find(conn, row["payment_id"])
                assert found is not None
                pending.append((_instalment(row), found[1], row["card_id"]))
            due = await conn.fetch(_DUE, at, batch)
            for row in due:
                part = _instalment(row)
                await _set(conn, part, "charging", part.attempts, part.next_attempt_at, part.failure_reason)
                asked = payments.Asked(
                    tenant_id=row["tenant_id"],
                    account_id=part.account_id,
                    purpose="instalment",
                    amount_minor=part.amount_minor,
                    currency=part.currency,
                    description=f"Instalment {part.number} of your order",
                    order_id=part.order_id,
                    instalment=part.number,
                )
                pending.append((part, await payments.record(conn, asked, at), row["card_id"]))
        for part, payment, card_id in pending:
            try:
                provider_id = await provider.charge(
                    Charge(
                        amount_minor=payment.amount_minor,
                        currency=payment.currency,
                        reference=str(payment.payment_id),
                        card_id=card_id,
                        callback_url=callback_url,
                    )
                )
            except PaymentError as exc:
                async with conn.transaction():
                    await payments.mark(conn, payment, "failed", "the provider could not be reached", at)
                    await _failed(conn, rules, part, f"the provider could not be reached: {exc}", at)
                continue
            await payments.set_provider_id(conn, payment, provider_id)
    return len(pending)


async def charging_worker(
    pool: asyncpg.Pool,
    stopping: asyncio.Event,
    *,
    provider_of: Callable[[aiohttp.ClientSession], PaymentProvider],
    rules: Rules,
    callback_url: str,
    clock: Callable[[], datetime],
    interval_s: float,
) -> None:
    """Charge what is due: at start, then every interval (the worker role)."""
    async with aiohttp.ClientSession() as http:
        provider = provider_of(http)

        async def charge() -> None:
            if sent := await charge_due(pool, provider, rules, callback_url, clock()):
                log.info("instalments charged", count=sent)

        await every(stopping, interval_s, "instalment charges", charge)


async def stop(conn: asyncpg.Connection, order: Order) -> None:
    """Cancel the order's instalments still to come (none is charged any more)."""
    await conn.execute(
        "UPDATE instalments SET status = 'cancelled' WHERE order_id = $1 AND status <> 'paid'", order.order_id
    )


async def cancel(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    order: Order,
    costs_of: Callable[[int], int],
    at: datetime,
) -> tuple[int, int] | None:
    """Cancel the instalments still to come and refund what was paid through the provider, less
    the costs `costs_of(paid)`; (refunded, costs), or None when nothing was paid."""
    await stop(conn, order)
    paid = await conn.fetch(
        "SELECT p.payment_id, p.provider_payment_id, p.amount_minor FROM instalments i"
        " JOIN payments p ON p.payment_id = i.payment_id WHERE i.order_id = $1 AND i.status = 'paid'"
        " ORDER BY i.number",
        order.order_id,
    )
    total = sum(row["amount_minor"] for row in paid)
    if total == 0:
        return None
    costs = costs_of(total)
    left = total - costs
    for row in paid:
        amount = min(left, row["amount_minor"])
        if amount > 0:
            await provider.refund(row["provider_payment_id"], amount, f"cancel:{row['payment_id']}")
            left -= amount
    return total - costs, costs
