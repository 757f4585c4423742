"""The account balance: money a buyer tops up by card through the payment provider and spends on her
orders (the payment mode `account_balance`), refunded to it when an order paid so is refused or
cancelled (less the tenant's cancellation costs once it was confirmed).

The ledger is append-only: one entry per kind and source (a payment, an order), so an entry is never
posted twice whatever is retried. `post` moves the balance and writes the entry under the balance's
row lock: of two spends racing for the same money one wins, and no balance goes below zero or above
`MAX_BALANCE`. Every entry is announced on ordering.balance.v1.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.common import outbox
from libs.common.errors import Conflict, Invalid
from libs.common.limits import MAX_BALANCE
from libs.common.payments import Notice, PaymentProvider, StartPayment
from services.ordering.checkout import CheckoutSettings
from services.ordering.domain import Order
from services.ordering.events import SERVICE, BalanceCredited, BalanceDebited

EntryKind = Literal["top_up", "spend", "refund", "return"]
PaymentStatus = Literal["pending", "succeeded", "failed"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class BalanceEntry(_Value):
    entry_id: uuid.UUID = Field(description="The entry's id")
    account_id: str = Field(description="Whose balance")
    kind: EntryKind = Field(
        description="top_up (a card payment), spend (an order), refund (of an order), return (goods back)"
    )
    amount_minor: int = Field(description="What it moved: positive credits, negative debits")
    balance_after_minor: int = Field(description="The balance after it")
    currency: str = Field(description="ISO 4217 currency of the balance")
    source: str = Field(
        description="What caused it: the payment or the order (one entry per kind and source)"
    )
    order_id: uuid.UUID | None = Field(description="The order it paid or refunded")
    costs_minor: int = Field(description="Cancellation costs kept back from a refund")
    created_at: datetime = Field(description="When (UTC)")


class Payment(_Value):
    payment_id: uuid.UUID = Field(description="Ours; the provider's notices name it")
    account_id: str = Field(description="Who pays")
    purpose: Literal["top_up"] = Field(description="What the payment is for")
    amount_minor: int = Field(description="How much, in minor units")
    currency: str = Field(description="ISO 4217 currency")
    status: PaymentStatus = Field(description="pending until the provider's notice, then succeeded or failed")
    failure_reason: str | None = Field(description="Why it failed, as the provider said")
    created_at: datetime = Field(description="When it was started (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")


class InsufficientBalance(Conflict):
    def __init__(self, balance_minor: int, needed_minor: int) -> None:
        super().__init__(
            "insufficient-balance",
            "The balance is too low",
            f"the balance is {balance_minor}, {needed_minor} is needed",
            extensions={"balance_minor": balance_minor, "needed_minor": needed_minor},
        )


def over_limit(field: str, balance_minor: int) -> Invalid:
    return Invalid.field(
        field,
        f"a balance holds at most {MAX_BALANCE} minor units (it holds {balance_minor})",
        "balance-limit",
    )


def cancellation_costs(paid_minor: int, settings: CheckoutSettings) -> int:
    """What the tenant keeps of `paid_minor` when a confirmed order is cancelled: its fixed costs plus
    its percentage (rounded half up), never more than was paid."""
    percent = (paid_minor * settings.cancellation_costs_bp + 5_000) // 10_000
    return min(paid_minor, settings.cancellation_costs_minor + percent)


# --- the ledger ---

_OPEN = """
INSERT INTO balances (tenant_id, account_id, balance_minor, currency, updated_at) VALUES ($1, $2, 0, $3, $4)
ON CONFLICT (tenant_id, account_id) DO NOTHING
"""
_LOCK = "SELECT balance_minor, currency FROM balances WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE"
_POSTED = "SELECT entry_id FROM balance_entries WHERE tenant_id = $1 AND kind = $2 AND source = $3"
_MOVE = """
UPDATE balances SET balance_minor = $3, currency = $4, updated_at = $5
WHERE tenant_id = $1 AND account_id = $2
"""
_ENTRY_COLUMNS = (
    "entry_id, account_id, kind, amount_minor, balance_after_minor, currency, source, order_id, costs_minor,"
    " created_at"
)
_ADD_ENTRY = f"""
INSERT INTO balance_entries (tenant_id, {_ENTRY_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


async def post(
    conn: asyncpg.Connection,
    tenant_id: str,
    account_id: str,
    kind: EntryKind,
    amount_minor: int,
    currency: str,
    source: str,
    at: datetime,
    *,
    order_id: uuid.UUID | None = None,
    costs_minor: int = 0,
    field: str = "amount_minor",
) -> BalanceEntry | None:
    """Move the balance by `amount_minor` (negative: a debit) and write its entry; None when an entry
    of this kind and source is there already. InsufficientBalance (409) for a debit larger than the
    balance; 422 naming `field` above the limit or in another currency than a balance holding money."""
    await conn.execute(_OPEN, tenant_id, account_id, currency, at)
    row = await conn.fetchrow(_LOCK, tenant_id, account_id)
    assert row is not None
    if await conn.fetchval(_POSTED, tenant_id, kind, source) is not None:
        return None
    balance = row["balance_minor"]
    if row["currency"] != currency and balance != 0:
        raise Invalid.field(
            "currency", f"the balance is in {row['currency']}, not {currency}", "currency-mismatch"
        )
    after = balance + amount_minor
    if after < 0:
        raise InsufficientBalance(balance, -amount_minor)
    if after > MAX_BALANCE:
        raise over_limit(field, balance)
    entry = BalanceEntry(
        entry_id=uuid.uuid4(),
        account_id=account_id,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=after,
        currency=currency,
        source=source,
        order_id=order_id,
        costs_minor=costs_minor,
        created_at=at,
    )
    await conn.execute(_MOVE, tenant_id, account_id, after, currency, at)
    await conn.execute(_ADD_ENTRY, tenant_id, *entry.model_dump().values())
    event = BalanceCredited.of(entry) if amount_minor > 0 else BalanceDebited.of(entry)
    await outbox.publish(conn, SERVICE, event, subject=account_id, tenant_id=tenant_id)
    return entry


@dataclass(frozen=True)
class Balance:
    balance_minor: int
    currency: str | None  # None: never topped up


async def balance_of(db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str) -> Balance:
    row = await db.fetchrow(
        "SELECT balance_minor, currency FROM balances WHERE tenant_id = $1 AND account_id = $2",
        tenant_id,
        account_id,
    )
    return Balance(row["balance_minor"], row["currency"]) if row else Balance(0, None)


async def entries(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str, limit: int
) -> list[BalanceEntry]:
    rows = await db.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM balance_entries WHERE tenant_id = $1 AND account_id = $2"
        " ORDER BY seq DESC LIMIT $3",
        tenant_id,
        account_id,
        limit,
    )
    return [BalanceEntry.model_validate(dict(row)) for row in rows]


# --- paying an order from the balance, and refunding it ---


async def spend_on(conn: asyncpg.Connection, order: Order, amount_minor: int, at: datetime) -> None:
    """Debit the buyer's balance for her order (InsufficientBalance when it does not hold enough)."""
    await post(
        conn,
        order.tenant_id,
        order.account_id,
        "spend",
        -amount_minor,
        order.currency,
        f"order:{order.order_id}:{order.version}",
        at,
        order_id=order.order_id,
        field="payment_mode",
    )


async def paid_for(conn: asyncpg.Connection, order: Order) -> int:
    """What the order's buyer has paid for it from her balance, less what was refunded."""
    total = await conn.fetchval(
        "SELECT coalesce(-sum(amount_minor), 0) FROM balance_entries WHERE tenant_id = $1 AND order_id = $2",
        order.tenant_id,
        order.order_id,
    )
    return int(total)


async def settle_change(conn: asyncpg.Connection, order: Order, new_total_minor: int, at: datetime) -> None:
    """A validator changed an order paid from the balance: debit what it costs more, or credit back
    what it costs less (InsufficientBalance when the balance cannot pay the difference)."""
    difference = new_total_minor - await paid_for(conn, order)
    if difference > 0:
        await spend_on(conn, order, difference, at)
    elif difference < 0:
        await _refund(conn, order, -difference, 0, at)


class BalancePayment(_Value):
    """What an order took from its buyer's balance and what came back."""

    paid_minor: int = Field(description="Taken from the balance for it, in minor units")
    refunded_minor: int = Field(description="Given back to the balance")
    costs_minor: int = Field(description="Cancellation costs kept back")


async def payment_of(db: asyncpg.Connection | asyncpg.Pool, order: Order) -> BalancePayment | None:
    """None when the order was not paid from the balance."""
    row = await db.fetchrow(
        "SELECT coalesce(-sum(amount_minor) FILTER (WHERE kind = 'spend'), 0) AS paid_minor,"
        " coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0) AS refunded_minor,"
        " coalesce(sum(costs_minor), 0) AS costs_minor"
        " FROM balance_entries WHERE tenant_id = $1 AND order_id = $2",
        order.tenant_id,
        order.order_id,
    )
    assert row is not None
    return BalancePayment.model_validate(dict(row)) if row["paid_minor"] else None


@dataclass(frozen=True)
class Refund:
    refunded_minor: int
    costs_minor: int


async def refund_order(
    conn: asyncpg.Connection, order: Order, costs_minor: int, at: datetime
) -> Refund | None:
    """Give back to the balance what the order took from it, less `costs_minor`; None when it took
    nothing."""
    paid = await paid_for(conn, order)
    if paid <= 0:
        return None
    costs = min(paid, costs_minor)
    await _refund(conn, order, paid - costs, costs, at)
    return Refund(paid - costs, costs)


async def _refund(
    conn: asyncpg.Connection, order: Order, amount_minor: int, costs_minor: int, at: datetime
) -> None:
    if amount_minor == 0:  # the costs took it all: nothing moves (an entry moves something)
        return
    await post(
        conn,
        order.tenant_id,
        order.account_id,
        "refund",
        amount_minor,
        order.currency,
        f"order:{order.order_id}:{order.version}",
        at,
        order_id=order.order_id,
        costs_minor=costs_minor,
    )


# --- top-ups through the payment provider ---

_PAYMENT_COLUMNS = (
    "payment_id, account_id, purpose, amount_minor, currency, status, failure_reason, created_at, updated_at"
)
_ADD_PAYMENT = f"""
INSERT INTO payments (tenant_id, {_PAYMENT_COLUMNS}, provider_payment_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
_FIND_PAYMENT = f"SELECT tenant_id, {_PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1"
_DECIDE_PAYMENT = (
    "UPDATE payments SET status = $2, failure_reason = $3, updated_at = $4 WHERE payment_id = $1"
)
_NOTICE_SEEN = """
INSERT INTO payment_notices (notice_id, payment_id, status, received_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (notice_id) DO NOTHING
"""


@dataclass(frozen=True)
class StartedTopUp:
    payment: Payment
    redirect_url: str


async def start_top_up(
    conn: asyncpg.Connection,
    provider: PaymentProvider,
    tenant_id: str,
    account_id: str,
    amount_minor: int,
    currency: str,
    *,
    callback_url: str,
    return_url: str,
    at: datetime,
) -> StartedTopUp:
    """Ask the provider for a card payment of `amount_minor` the buyer completes on its page; the
    balance is credited when its notice says it succeeded. 422 when the balance could not hold it."""
    balance = await balance_of(conn, tenant_id, account_id)
    if balance.balance_minor + amount_minor > MAX_BALANCE:
        raise over_limit("amount_minor", balance.balance_minor)
    if balance.currency not in (None, currency) and balance.balance_minor != 0:
        raise Invalid.field(
            "currency", f"the balance is in {balance.currency}, not {currency}", "currency-mismatch"
        )
    payment = Payment(
        payment_id=uuid.uuid4(),
        account_id=account_id,
        purpose="top_up",
        amount_minor=amount_minor,
        currency=currency,
        status="pending",
        failure_reason=None,
        created_at=at,
        updated_at=at,
    )
    started = await provider.start(
        StartPayment(
            amount_minor=amount_minor,
            currency=currency,
            reference=str(payment.payment_id),
            description="Top-up of your account balance",
            callback_url=callback_url,
            return_url=return_url,
        )
    )
    await conn.execute(_ADD_PAYMENT, tenant_id, *payment.model_dump().values(), started.payment_id)
    return StartedTopUp(payment, started.redirect_url)


async def find_payment(
    db: asyncpg.Connection | asyncpg.Pool, payment_id: uuid.UUID, *, for_update: bool = False
) -> tuple[str, Payment] | None:
    """The payment with its tenant."""
    row = await db.fetchrow(_FIND_PAYMENT + (" FOR UPDATE" if for_update else ""), payment_id)
    if row is None:
        return None
    values = dict(row)
    return values.pop("tenant_id"), Payment.model_validate(values)


class UnknownPayment(Exception):
    """A notice for a payment not recorded (yet): the provider sends it again later."""


async def receive_notice(
    conn: asyncpg.Connection, provider: PaymentProvider, notice: Notice, at: datetime
) -> Payment:
    """Apply a verified notice once: a pending payment succeeds (its top-up is credited) or fails. The
    same notice twice, or any notice for a payment already decided, changes nothing. A top-up the
    balance can no longer hold (others came first) is refunded through the provider and fails."""
    try:
        payment_id = uuid.UUID(notice.reference)
    except ValueError as exc:
        raise UnknownPayment(notice.reference) from exc
    found = await find_payment(conn, payment_id, for_update=True)
    if found is None:
        raise UnknownPayment(notice.reference)
    tenant_id, payment = found
    first_time = await conn.execute(_NOTICE_SEEN, notice.notice_id, payment_id, notice.status, at)
    if first_time == "INSERT 0 0" or payment.status != "pending":
        return payment
    if (notice.amount_minor, notice.currency) != (payment.amount_minor, payment.currency):
        raise Invalid.field("amount_minor", "the notice's amount is not the payment's", "amount-mismatch")
    status, reason = notice.status, None if notice.status == "succeeded" else notice.reason or "refused"
    if status == "succeeded":
        balance = await balance_of(conn, tenant_id, payment.account_id)
        if balance.balance_minor + payment.amount_minor > MAX_BALANCE:
            await provider.refund(notice.payment_id, payment.amount_minor, f"limit:{payment_id}")
            status, reason = "failed", "the balance cannot hold more: the payment was refunded"
    await conn.execute(_DECIDE_PAYMENT, payment_id, status, reason, at)
    if status == "succeeded":
        await post(
            conn,
            tenant_id,
            payment.account_id,
            "top_up",
            payment.amount_minor,
            payment.currency,
            f"payment:{payment_id}",
            at,
        )
    return payment.model_copy(update={"status": status, "failure_reason": reason, "updated_at": at})


async def payments(
    db: asyncpg.Connection | asyncpg.Pool, tenant_id: str, account_id: str, limit: int
) -> list[Payment]:
    rows = await db.fetch(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE tenant_id = $1 AND account_id = $2"
        " ORDER BY seq DESC LIMIT $3",
        tenant_id,
        account_id,
        limit,
    )
    return [Payment.model_validate(dict(row)) for row in rows]
